package envelope_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/envelope"
)

// problem is one expected ValidationError.
type problem struct {
	field string
	err   error
}

// problems flattens err into its ValidationErrors, failing on anything else.
func problems(t *testing.T, err error) []problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var ps []problem
	for _, e := range errs {
		var ve *envelope.ValidationError
		if !errors.As(e, &ve) {
			t.Fatalf("error %v (%T) is not a *ValidationError", e, e)
		}
		if !errors.Is(e, envelope.ErrInvalid) {
			t.Errorf("error %v does not match ErrInvalid", e)
		}
		if errors.Is(e, envelope.ErrMalformed) {
			t.Errorf("validation error %v matches ErrMalformed", e)
		}
		ps = append(ps, problem{ve.Field, ve.Err})
	}
	return ps
}

// checkProblems asserts that err holds exactly want, in order, each
// matching its sentinel with errors.Is.
func checkProblems(t *testing.T, err error, want []problem) {
	t.Helper()
	got := problems(t, err)
	if len(got) != len(want) {
		t.Fatalf("got %d problems %v, want %d: %v", len(got), err, len(want), want)
	}
	for i := range want {
		if got[i].field != want[i].field || !errors.Is(got[i].err, want[i].err) {
			t.Errorf("problem %d = %s: %v, want %s: %v", i, got[i].field, got[i].err, want[i].field, want[i].err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*envelope.Envelope)
		want   []problem
	}{
		{"valid", func(*envelope.Envelope) {}, nil},
		{"no correlation id", func(e *envelope.Envelope) { e.Metadata.CorrelationID = "" }, nil},
		{"topic of 249 chars", func(e *envelope.Envelope) { e.Topic = strings.Repeat("a", 249) }, nil},
		{"topic with all legal characters", func(e *envelope.Envelope) { e.Topic = "Aa0._-" }, nil},
		{"data is an array", func(e *envelope.Envelope) { e.Data = json.RawMessage(`[1,2]`) }, nil},
		{"data is a string", func(e *envelope.Envelope) { e.Data = json.RawMessage(`"x"`) }, nil},
		{"avro", func(e *envelope.Envelope) {
			e.Metadata.ContentType = envelope.ContentTypeAvro
			e.Data = json.RawMessage(`"AgRVU0Q="`)
		}, nil},
		{"avro empty payload", func(e *envelope.Envelope) {
			e.Metadata.ContentType = envelope.ContentTypeAvro
			e.Data = json.RawMessage(`""`)
		}, nil},

		{"missing message_id", func(e *envelope.Envelope) { e.MessageID = "" }, []problem{{"message_id", envelope.ErrMissingField}}},
		{"missing topic", func(e *envelope.Envelope) { e.Topic = "" }, []problem{{"topic", envelope.ErrMissingField}}},
		{"missing published_at", func(e *envelope.Envelope) { e.PublishedAt = time.Time{} }, []problem{{"published_at", envelope.ErrMissingField}}},
		{"missing producer", func(e *envelope.Envelope) { e.Producer = "" }, []problem{{"producer", envelope.ErrMissingField}}},
		{"missing data", func(e *envelope.Envelope) { e.Data = nil }, []problem{{"data", envelope.ErrMissingField}}},
		{"blank data", func(e *envelope.Envelope) { e.Data = json.RawMessage(" \n") }, []problem{{"data", envelope.ErrMissingField}}},
		{"null data", func(e *envelope.Envelope) { e.Data = json.RawMessage(`null`) }, []problem{{"data", envelope.ErrMissingField}}},
		{"missing schema_version", func(e *envelope.Envelope) { e.Metadata.SchemaVersion = "" }, []problem{{"metadata.schema_version", envelope.ErrMissingField}}},
		{"missing content_type", func(e *envelope.Envelope) { e.Metadata.ContentType = "" }, []problem{{"metadata.content_type", envelope.ErrMissingField}}},

		{"message_id without prefix", func(e *envelope.Envelope) { e.MessageID = "01HM6AQH5VX7K9PAYM3NTQ8RSW" }, []problem{{"message_id", envelope.ErrBadMessageID}}},
		{"message_id not a ULID", func(e *envelope.Envelope) { e.MessageID = "msg_123" }, []problem{{"message_id", envelope.ErrBadMessageID}}},

		{"topic .", func(e *envelope.Envelope) { e.Topic = "." }, []problem{{"topic", envelope.ErrBadTopic}}},
		{"topic ..", func(e *envelope.Envelope) { e.Topic = ".." }, []problem{{"topic", envelope.ErrBadTopic}}},
		{"topic of 250 chars", func(e *envelope.Envelope) { e.Topic = strings.Repeat("a", 250) }, []problem{{"topic", envelope.ErrBadTopic}}},
		{"topic with slash", func(e *envelope.Envelope) { e.Topic = "payment/completed" }, []problem{{"topic", envelope.ErrBadTopic}}},
		{"topic with space", func(e *envelope.Envelope) { e.Topic = "payment completed" }, []problem{{"topic", envelope.ErrBadTopic}}},
		{"topic non-ASCII", func(e *envelope.Envelope) { e.Topic = "paiement.effectué" }, []problem{{"topic", envelope.ErrBadTopic}}},

		{"published_at year 10000", func(e *envelope.Envelope) { e.PublishedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, []problem{{"published_at", envelope.ErrBadTimestamp}}},

		{"topic invalid UTF-8", func(e *envelope.Envelope) { e.Topic = "a\xffb" }, []problem{{"topic", envelope.ErrInvalidUTF8}}},
		{"message_id invalid UTF-8", func(e *envelope.Envelope) { e.MessageID = "msg_\xff" }, []problem{{"message_id", envelope.ErrInvalidUTF8}}},
		{"producer invalid UTF-8", func(e *envelope.Envelope) { e.Producer = "svc\xc3" }, []problem{{"producer", envelope.ErrInvalidUTF8}}},
		{"correlation_id invalid UTF-8", func(e *envelope.Envelope) { e.Metadata.CorrelationID = "\xed\xa0\x80" }, []problem{{"metadata.correlation_id", envelope.ErrInvalidUTF8}}},
		{"schema_version invalid UTF-8", func(e *envelope.Envelope) { e.Metadata.SchemaVersion = "1.\xff" }, []problem{{"metadata.schema_version", envelope.ErrInvalidUTF8}}},
		{"content_type invalid UTF-8", func(e *envelope.Envelope) { e.Metadata.ContentType = "\xff" }, []problem{{"metadata.content_type", envelope.ErrInvalidUTF8}}},
		{"data invalid UTF-8", func(e *envelope.Envelope) { e.Data = json.RawMessage("{\"a\":\"\xff\"}") }, []problem{{"data", envelope.ErrInvalidUTF8}}},

		{"data truncated", func(e *envelope.Envelope) { e.Data = json.RawMessage(`{"a":1`) }, []problem{{"data", envelope.ErrNotJSON}}},
		{"data two values", func(e *envelope.Envelope) { e.Data = json.RawMessage(`{} {}`) }, []problem{{"data", envelope.ErrNotJSON}}},
		{"data bare word", func(e *envelope.Envelope) { e.Data = json.RawMessage(`hello`) }, []problem{{"data", envelope.ErrNotJSON}}},
		{"avro data not JSON", func(e *envelope.Envelope) {
			e.Metadata.ContentType = envelope.ContentTypeAvro
			e.Data = json.RawMessage(`AgRVU0Q=`)
		}, []problem{{"data", envelope.ErrNotJSON}}},
		{"avro data is an object", func(e *envelope.Envelope) { e.Metadata.ContentType = envelope.ContentTypeAvro }, []problem{{"data", envelope.ErrNotBase64}}},
		{"avro data not base64", func(e *envelope.Envelope) {
			e.Metadata.ContentType = envelope.ContentTypeAvro
			e.Data = json.RawMessage(`"not base64!"`)
		}, []problem{{"data", envelope.ErrNotBase64}}},
		{"avro data unpadded", func(e *envelope.Envelope) {
			e.Metadata.ContentType = envelope.ContentTypeAvro
			e.Data = json.RawMessage(`"AgRVU0Q"`)
		}, []problem{{"data", envelope.ErrNotBase64}}},

		{"unknown content type", func(e *envelope.Envelope) { e.Metadata.ContentType = "text/plain" }, []problem{{"metadata.content_type", envelope.ErrBadContentType}}},
		{"content type with parameters", func(e *envelope.Envelope) { e.Metadata.ContentType = "application/json; charset=utf-8" }, []problem{{"metadata.content_type", envelope.ErrBadContentType}}},
		{"content type case", func(e *envelope.Envelope) { e.Metadata.ContentType = "Application/JSON" }, []problem{{"metadata.content_type", envelope.ErrBadContentType}}},

		{"everything missing", func(e *envelope.Envelope) { *e = envelope.Envelope{} }, []problem{
			{"message_id", envelope.ErrMissingField},
			{"topic", envelope.ErrMissingField},
			{"published_at", envelope.ErrMissingField},
			{"producer", envelope.ErrMissingField},
			{"data", envelope.ErrMissingField},
			{"metadata.schema_version", envelope.ErrMissingField},
			{"metadata.content_type", envelope.ErrMissingField},
		}},
		{"several problems in field order", func(e *envelope.Envelope) {
			e.Metadata.ContentType = "text/xml"
			e.Topic = "a b"
			e.MessageID = "msg_x"
		}, []problem{
			{"message_id", envelope.ErrBadMessageID},
			{"topic", envelope.ErrBadTopic},
			{"metadata.content_type", envelope.ErrBadContentType},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnvelope()
			tt.modify(&e)
			err := e.Validate()
			checkProblems(t, err, tt.want)

			// Marshal refuses exactly what Validate refuses, with the same error.
			b, merr := envelope.Marshal(e)
			if (merr == nil) != (err == nil) || (merr != nil && merr.Error() != err.Error()) {
				t.Errorf("Marshal error = %v, want %v", merr, err)
			}
			if merr != nil && b != nil {
				t.Errorf("Marshal returned bytes with an error")
			}
		})
	}
}

func TestValidTopic(t *testing.T) {
	tests := map[string]bool{
		"payment.completed":      true,
		"a":                      true,
		"_":                      true,
		"-":                      true,
		"...":                    true,
		"a..b":                   true,
		strings.Repeat("x", 249): true,
		"":                       false,
		".":                      false,
		"..":                     false,
		strings.Repeat("x", 250): false,
		"a b":                    false,
		"a/b":                    false,
		"a:b":                    false,
		"é":                      false,
		"a\x00":                  false,
	}
	for name, want := range tests {
		if got := envelope.ValidTopic(name); got != want {
			t.Errorf("ValidTopic(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestValidationError(t *testing.T) {
	tests := []struct {
		err  *envelope.ValidationError
		want string
	}{
		{&envelope.ValidationError{Field: "topic", Err: envelope.ErrMissingField}, "envelope: topic: missing field"},
		{&envelope.ValidationError{Err: envelope.ErrTooLarge}, "envelope: too large"},
		{&envelope.ValidationError{Field: "data"}, "envelope: data: <nil>"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, envelope.ErrInvalid) {
			t.Errorf("%v does not match ErrInvalid", tt.err)
		}
		if tt.err.Err != nil && !errors.Is(tt.err, tt.err.Err) {
			t.Errorf("%v does not match its Err", tt.err)
		}
		if errors.Is(tt.err, envelope.ErrMalformed) {
			t.Errorf("%v matches ErrMalformed", tt.err)
		}
	}

	// Wrapped further, it is still found.
	wrapped := fmt.Errorf("publish: %w", &envelope.ValidationError{Field: "topic", Err: envelope.ErrBadTopic})
	var ve *envelope.ValidationError
	if !errors.As(wrapped, &ve) || ve.Field != "topic" || !errors.Is(wrapped, envelope.ErrInvalid) || !errors.Is(wrapped, envelope.ErrBadTopic) {
		t.Errorf("wrapped ValidationError not found: %v", wrapped)
	}
}
