package envelope_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/envelope"
)

func TestUnmarshalMalformed(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"whitespace", " \n\t"},
		{"garbage", "\x00\x01garbage"},
		{"null", "null"},
		{"array", `[` + wireExample + `]`},
		{"number", "42"},
		{"string", `"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"`},
		{"bare word", "true"},
		{"unclosed object", `{`},
		{"unterminated string", `{"topic": "pay`},
		{"missing value", `{"topic": }`},
		{"trailing comma", `{"topic": "a",}`},
		{"trailing data", wireExample + `x`},
		{"two objects", wireExample + " " + wireExample},
		{"duplicate key", `{"topic": "a", "topic": "b"}`},
		{"duplicate metadata key", `{"metadata": {"content_type": "a", "content_type": "b"}}`},
		{"message_id is a number", strings.Replace(wireExample, `"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"`, `7`, 1)},
		{"topic is an object", `{"topic": {"name": "a"}}`},
		{"producer is a boolean", `{"producer": true}`},
		{"published_at is a number", `{"published_at": 1705314600123}`},
		{"metadata is an array", `{"metadata": ["1.0"]}`},
		{"metadata is a string", `{"metadata": "1.0"}`},
		{"schema_version is a number", `{"metadata": {"schema_version": 1.0}}`},
		{"bad nested value", `{"metadata": {"x": [}}`},
		{"data not JSON", strings.Replace(wireExample, `"data":{`, `"data":{{`, 1)},
		{"raw control character", "{\"topic\": \"a\x01b\"}"},
	}
	// Every proper prefix of a valid envelope is truncated, hence malformed.
	for i := range len(wireExample) {
		tests = append(tests, struct{ name, in string }{"truncated at " + strconv.Itoa(i), wireExample[:i]})
	}
	for _, tt := range tests {
		e, err := envelope.Unmarshal([]byte(tt.in))
		if !errors.Is(err, envelope.ErrMalformed) {
			t.Errorf("%s: Unmarshal(%q) error = %v, want ErrMalformed", tt.name, tt.in, err)
			continue
		}
		if errors.Is(err, envelope.ErrInvalid) {
			t.Errorf("%s: malformed error %v also matches ErrInvalid", tt.name, err)
		}
		if e.MessageID != "" || e.Topic != "" || e.Data != nil {
			t.Errorf("%s: Unmarshal returned a non-zero envelope %+v with a malformed error", tt.name, e)
		}
	}
}

func TestUnmarshalInvalid(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(wireExample, old) {
			t.Fatalf("wireExample lacks %s", old)
		}
		return strings.Replace(wireExample, old, new, 1)
	}
	tests := []struct {
		name string
		in   string
		want []problem
	}{
		{"missing message_id", replace(`"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",`, ``),
			[]problem{{"message_id", envelope.ErrMissingField}}},
		{"null message_id", replace(`"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"`, `null`),
			[]problem{{"message_id", envelope.ErrMissingField}}},
		{"lower-case message_id", replace(`msg_01HM6AQH5VX7K9PAYM3NTQ8RSW`, `msg_01hm6aqh5vx7k9paym3ntq8rsw`),
			[]problem{{"message_id", envelope.ErrBadMessageID}}},
		{"bad topic", replace(`"payment.completed"`, `"payment completed"`),
			[]problem{{"topic", envelope.ErrBadTopic}}},
		{"keys are case-sensitive", replace(`"topic":`, `"Topic":`),
			[]problem{{"topic", envelope.ErrMissingField}}},
		{"published_at not RFC 3339 (reported once)", replace(`"2024-01-15T10:30:00.123Z"`, `"15/01/2024 10:30"`),
			[]problem{{"published_at", envelope.ErrBadTimestamp}}},
		{"producer raw invalid UTF-8 (reported once)", replace(`"payment-service"`, "\"pay\xffment\""),
			[]problem{{"producer", envelope.ErrInvalidUTF8}}},
		{"correlation_id raw invalid UTF-8", replace(`"req_abc123"`, "\"req\xc3\""),
			[]problem{{"metadata.correlation_id", envelope.ErrInvalidUTF8}}},
		{"null data", replace(`{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}`, `null`),
			[]problem{{"data", envelope.ErrMissingField}}},
		{"no metadata", replace(`,"metadata":{"correlation_id":"req_abc123","schema_version":"1.0","content_type":"application/json"}`, ``),
			[]problem{{"metadata.schema_version", envelope.ErrMissingField}, {"metadata.content_type", envelope.ErrMissingField}}},
		{"unsupported content type", replace(`"application/json"`, `"application/xml"`),
			[]problem{{"metadata.content_type", envelope.ErrBadContentType}}},
		{"empty object", `{}`, []problem{
			{"message_id", envelope.ErrMissingField},
			{"topic", envelope.ErrMissingField},
			{"published_at", envelope.ErrMissingField},
			{"producer", envelope.ErrMissingField},
			{"data", envelope.ErrMissingField},
			{"metadata.schema_version", envelope.ErrMissingField},
			{"metadata.content_type", envelope.ErrMissingField},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := envelope.Unmarshal([]byte(tt.in))
			checkProblems(t, err, tt.want)
			// The decoded envelope is returned alongside the problems.
			if tt.in != "{}" && e.Producer == "" && e.Topic == "" {
				t.Errorf("Unmarshal did not return the decoded envelope: %+v", e)
			}
		})
	}
}

func TestUnmarshalForwardCompatible(t *testing.T) {
	in := `{"schema":"kbus/v2","message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","topic":"payment.completed",` +
		`"published_at":"2024-01-15T10:30:00.123Z","producer":"payment-service","priority":{"level":[1,2]},` +
		`"data":{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"},` +
		`"metadata":{"tenant":"t1","correlation_id":"req_abc123","schema_version":"1.0","content_type":"application/json"}}`
	e, err := envelope.Unmarshal([]byte(in))
	if err != nil {
		t.Fatalf("Unmarshal with unknown fields: %v", err)
	}
	b, err := envelope.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != wireExample {
		t.Errorf("re-encoded = %s\nwant (unknown fields dropped) %s", b, wireExample)
	}
}

func TestUnmarshalAcceptsWhitespaceAndOffsets(t *testing.T) {
	in := "\n {\n \"metadata\" : { \"content_type\" : \"application/json\", \"schema_version\" : \"1.0\" } ,\n" +
		" \"data\" : [ 1 , 2 ] , \"producer\" : \"p\" , \"published_at\" : \"2024-01-15T12:30:00.123+02:00\" ,\n" +
		" \"topic\" : \"t\" , \"message_id\" : \"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW\" } \n"
	e, err := envelope.Unmarshal([]byte(in))
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	b, err := envelope.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","topic":"t","published_at":"2024-01-15T10:30:00.123Z",` +
		`"producer":"p","data":[ 1 , 2 ],"metadata":{"correlation_id":"","schema_version":"1.0","content_type":"application/json"}}`
	if string(b) != want {
		t.Errorf("Marshal(Unmarshal(x)) = %s\nwant %s", b, want)
	}
}

func TestUnmarshalDoesNotAliasInput(t *testing.T) {
	in := []byte(wireExample)
	e, err := envelope.Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = ' '
	}
	if string(e.Data) != `{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}` {
		t.Errorf("Data changed with the input buffer: %q", e.Data)
	}
}
