package envelope_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/envelope"
)

// wireExample is the documented wire shape, compact, byte for byte.
const wireExample = `{"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","topic":"payment.completed",` +
	`"published_at":"2024-01-15T10:30:00.123Z","producer":"payment-service",` +
	`"data":{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"},` +
	`"metadata":{"correlation_id":"req_abc123","schema_version":"1.0","content_type":"application/json"}}`

// validEnvelope returns the Go value of wireExample.
func validEnvelope() envelope.Envelope {
	return envelope.Envelope{
		MessageID:   "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",
		Topic:       "payment.completed",
		PublishedAt: time.Date(2024, 1, 15, 10, 30, 0, 123e6, time.UTC),
		Producer:    "payment-service",
		Data:        json.RawMessage(`{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}`),
		Metadata: envelope.Metadata{
			CorrelationID: "req_abc123",
			SchemaVersion: "1.0",
			ContentType:   "application/json",
		},
	}
}

func TestMarshalMatchesWireExample(t *testing.T) {
	b, err := envelope.Marshal(validEnvelope())
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if string(b) != wireExample {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, wireExample)
	}
}

func TestRoundTripByteExact(t *testing.T) {
	e, err := envelope.Unmarshal([]byte(wireExample))
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := validEnvelope()
	if e.MessageID != want.MessageID || e.Topic != want.Topic || e.Producer != want.Producer ||
		!e.PublishedAt.Equal(want.PublishedAt) || e.PublishedAt.Location() != time.UTC ||
		!bytes.Equal(e.Data, want.Data) || e.Metadata != want.Metadata {
		t.Errorf("Unmarshal = %+v\nwant %+v", e, want)
	}
	b, err := envelope.Marshal(e)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if string(b) != wireExample {
		t.Errorf("round trip =\n%s\nwant\n%s", b, wireExample)
	}
}

func TestMarshalKeyNamesAndOrder(t *testing.T) {
	b, err := envelope.Marshal(validEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	keys := func(b []byte) []string {
		dec := json.NewDecoder(bytes.NewReader(b))
		var ks []string
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for dec.More() {
			k, _ := dec.Token()
			ks = append(ks, k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		return ks
	}
	if got, want := strings.Join(keys(b), ","), "message_id,topic,published_at,producer,data,metadata"; got != want {
		t.Errorf("top-level keys = %s, want %s", got, want)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(keys(top["metadata"]), ","), "correlation_id,schema_version,content_type"; got != want {
		t.Errorf("metadata keys = %s, want %s", got, want)
	}
}

func TestMarshalKeepsDataVerbatimWithoutHTMLEscaping(t *testing.T) {
	e := validEnvelope()
	data := "{\n  \"note\": \"<b>a & b</b>\",\n  \"n\": [1, 2]\n}"
	e.Data = json.RawMessage(" \n" + data + "\n")
	b, err := envelope.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"data":` + data + `,`; !strings.Contains(string(b), want) {
		t.Errorf("Marshal = %s, want it to contain %s", b, want)
	}
	back, err := envelope.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Data) != data {
		t.Errorf("data after a round trip = %q, want %q", back.Data, data)
	}
}

func TestPublishedAtEncoding(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC), "2024-01-15T10:30:00.000Z"},
		{time.Date(2024, 1, 15, 10, 30, 0, 120e6, time.UTC), "2024-01-15T10:30:00.120Z"},
		{time.Date(2024, 1, 15, 5, 30, 0, 123e6, est), "2024-01-15T10:30:00.123Z"},
		{time.Date(2024, 1, 15, 10, 30, 0, 123456000, time.UTC), "2024-01-15T10:30:00.123456Z"},
		{time.Date(2024, 1, 15, 10, 30, 0, 123456789, time.UTC), "2024-01-15T10:30:00.123456789Z"},
	}
	for _, tt := range tests {
		e := validEnvelope()
		e.PublishedAt = tt.in
		b, err := envelope.Marshal(e)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", tt.in, err)
		}
		if want := `"published_at":"` + tt.want + `"`; !strings.Contains(string(b), want) {
			t.Errorf("Marshal(%v) = %s, want %s", tt.in, b, want)
		}
		got, err := envelope.Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal: %v", err)
		}
		if !got.PublishedAt.Equal(tt.in) {
			t.Errorf("PublishedAt round trip = %v, want %v", got.PublishedAt, tt.in)
		}
	}
}

func TestEnvelopeMarshalJSON(t *testing.T) {
	// json.Marshal of an Envelope (for example inside a DLQ record) has the
	// wire shape, and does not validate.
	type dlq struct {
		Reason   string            `json:"reason"`
		Envelope envelope.Envelope `json:"envelope"`
	}
	b, err := json.Marshal(dlq{Reason: "boom", Envelope: validEnvelope()})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"reason":"boom","envelope":` + wireExample + `}`; string(b) != want {
		t.Errorf("json.Marshal = %s\nwant %s", b, want)
	}
	if _, err := json.Marshal(envelope.Envelope{}); err != nil {
		t.Errorf("json.Marshal(zero Envelope) = %v, want success", err)
	}
	bad := validEnvelope()
	bad.Data = json.RawMessage(`{`)
	_, err = json.Marshal(bad)
	if !errors.Is(err, envelope.ErrNotJSON) {
		t.Errorf("json.Marshal(bad data) = %v, want ErrNotJSON", err)
	}
}

func TestNew(t *testing.T) {
	ctx := envelope.WithCorrelationID(context.Background(), "req_1")
	data := []byte(`{"k":1}`)
	before := time.Now().Truncate(time.Millisecond)
	e := envelope.New(ctx, "order.created", data)
	after := time.Now()

	if e.Topic != "order.created" || string(e.Data) != `{"k":1}` || e.Producer != "" {
		t.Errorf("New = %+v", e)
	}
	if e.Metadata != (envelope.Metadata{CorrelationID: "req_1", SchemaVersion: envelope.DefaultSchemaVersion, ContentType: envelope.ContentTypeJSON}) {
		t.Errorf("Metadata = %+v", e.Metadata)
	}
	if e.PublishedAt.Location() != time.UTC || e.PublishedAt.Nanosecond()%1e6 != 0 {
		t.Errorf("PublishedAt = %v, want UTC at millisecond precision", e.PublishedAt)
	}
	if e.PublishedAt.Before(before) || e.PublishedAt.After(after) {
		t.Errorf("PublishedAt = %v, want within [%v, %v]", e.PublishedAt, before, after)
	}
	idTime, err := envelope.MessageIDTime(e.MessageID)
	if err != nil || !idTime.Equal(e.PublishedAt) {
		t.Errorf("MessageIDTime = %v, %v; want %v", idTime, err, e.PublishedAt)
	}
	data[2] = 'X'
	if string(e.Data) != `{"k":1}` {
		t.Errorf("New aliases data: %s", e.Data)
	}

	// Only Producer is missing.
	err = e.Validate()
	var ve *envelope.ValidationError
	if !errors.As(err, &ve) || ve.Field != "producer" || !errors.Is(err, envelope.ErrMissingField) {
		t.Errorf("Validate(New(...)) = %v, want only a missing producer", err)
	}
	e.Producer = "svc"
	if err := e.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}

	if got := envelope.New(context.Background(), "t", nil).Metadata.CorrelationID; got != "" {
		t.Errorf("correlation id without one in ctx = %q", got)
	}
}

func TestCheckSize(t *testing.T) {
	tests := []struct {
		n, limit int
		tooLarge bool
	}{
		{0, 0, false},
		{envelope.DefaultMaxSize, 0, false},
		{envelope.DefaultMaxSize + 1, 0, true},
		{envelope.DefaultMaxSize + 1, -5, true},
		{100, 100, false},
		{101, 100, true},
		{2 << 20, 4 << 20, false},
	}
	for _, tt := range tests {
		err := envelope.CheckSize(tt.n, tt.limit)
		if (err != nil) != tt.tooLarge {
			t.Errorf("CheckSize(%d, %d) = %v, want too large: %v", tt.n, tt.limit, err, tt.tooLarge)
			continue
		}
		if err == nil {
			continue
		}
		var ve *envelope.ValidationError
		if !errors.As(err, &ve) || ve.Field != "" || !errors.Is(err, envelope.ErrTooLarge) || !errors.Is(err, envelope.ErrInvalid) {
			t.Errorf("CheckSize(%d, %d) = %#v, want *ValidationError{Field: \"\"} wrapping ErrTooLarge", tt.n, tt.limit, err)
		}
	}
}
