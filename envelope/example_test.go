package envelope_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/kbus-dev/kbus/envelope"
)

// This example publishes and consumes one event.
func Example() {
	ctx := envelope.WithCorrelationID(context.Background(), "req_abc123")

	// Producer side.
	data, _ := json.Marshal(map[string]any{"payment_id": "pay_x7k9", "amount": 4999})
	e := envelope.New(ctx, "payment.completed", data)
	e.Producer = "payment-service"
	value, err := envelope.Marshal(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := envelope.CheckSize(len(value), 0); err != nil {
		fmt.Println(err)
		return
	}

	// Consumer side.
	got, err := envelope.Unmarshal(value)
	if err != nil {
		fmt.Println(err)
		return
	}
	idTime, _ := envelope.MessageIDTime(got.MessageID)
	fmt.Println(got.Topic, got.Producer, string(got.Data))
	fmt.Println(got.Metadata.CorrelationID, got.Metadata.SchemaVersion, got.Metadata.ContentType)
	fmt.Println("id time equals published_at:", idTime.Equal(got.PublishedAt))
	// Output:
	// payment.completed payment-service {"amount":4999,"payment_id":"pay_x7k9"}
	// req_abc123 1.0 application/json
	// id time equals published_at: true
}

func ExampleMarshal() {
	e := envelope.Envelope{
		MessageID:   "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",
		Topic:       "payment.completed",
		PublishedAt: time.Date(2024, 1, 15, 10, 30, 0, 123e6, time.UTC),
		Producer:    "payment-service",
		Data:        json.RawMessage(`{"payment_id":"pay_x7k9","amount":4999}`),
		Metadata: envelope.Metadata{
			CorrelationID: "req_abc123",
			SchemaVersion: envelope.DefaultSchemaVersion,
			ContentType:   envelope.ContentTypeJSON,
		},
	}
	b, err := envelope.Marshal(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","topic":"payment.completed","published_at":"2024-01-15T10:30:00.123Z","producer":"payment-service","data":{"payment_id":"pay_x7k9","amount":4999},"metadata":{"correlation_id":"req_abc123","schema_version":"1.0","content_type":"application/json"}}
}

func ExampleUnmarshal() {
	// Not an envelope at all.
	_, err := envelope.Unmarshal([]byte(`{"message_id": "msg_01HM6AQ`))
	fmt.Println(errors.Is(err, envelope.ErrMalformed), err)

	// An envelope with a problem: the decoded value is still returned.
	e, err := envelope.Unmarshal([]byte(`{
		"message_id": "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",
		"topic": "payment.completed",
		"published_at": "2024-01-15T10:30:00.123Z",
		"data": {"payment_id": "pay_x7k9"},
		"metadata": {"schema_version": "1.0", "content_type": "application/json"}
	}`))
	fmt.Println(errors.Is(err, envelope.ErrInvalid), errors.Is(err, envelope.ErrMissingField), err)
	fmt.Println(e.Topic)
	// Output:
	// true envelope: malformed: unexpected end of input
	// true true envelope: producer: missing field
	// payment.completed
}

func ExampleEnvelope_Validate() {
	e := envelope.Envelope{
		MessageID:   "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",
		Topic:       "payments/completed",
		PublishedAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		Producer:    "payment-service",
		Data:        json.RawMessage(`{"amount": 4999`),
		Metadata:    envelope.Metadata{SchemaVersion: "1.0", ContentType: envelope.ContentTypeJSON},
	}
	err := e.Validate()

	// Each problem is a *ValidationError; errors.Join combines them.
	for _, err := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ve *envelope.ValidationError
		if errors.As(err, &ve) {
			fmt.Printf("%s: %v\n", ve.Field, errors.Is(err, envelope.ErrBadTopic) || errors.Is(err, envelope.ErrNotJSON))
		}
	}
	// Output:
	// topic: true
	// data: true
}

func ExampleNewMessageID() {
	t := time.Date(2024, 1, 15, 10, 30, 0, 123456789, time.UTC)
	a := envelope.NewMessageID(t)
	b := envelope.NewMessageID(t)

	got, _ := envelope.MessageIDTime(a)
	fmt.Println(strings.HasPrefix(a, envelope.IDPrefix), len(a))
	fmt.Println(got)
	fmt.Println("same millisecond, made later, sorts later:", a < b)
	// Output:
	// true 30
	// 2024-01-15 10:30:00.123 +0000 UTC
	// same millisecond, made later, sorts later: true
}

func ExampleMessageIDTime() {
	t, err := envelope.MessageIDTime("msg_01HM6AQH5VX7K9PAYM3NTQ8RSW")
	fmt.Println(t.Format(time.RFC3339Nano), err)

	_, err = envelope.MessageIDTime("01HM6AQH5VX7K9PAYM3NTQ8RSW")
	fmt.Println(errors.Is(err, envelope.ErrBadMessageID), err)
	// Output:
	// 2024-01-15T10:30:00.123Z <nil>
	// true envelope: message_id: malformed message id: missing "msg_" prefix
}

func ExampleEnvelope_Headers() {
	e := envelope.Envelope{
		MessageID: "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",
		Topic:     "payment.completed",
		Producer:  "payment-service",
		Metadata:  envelope.Metadata{CorrelationID: "req_abc123", SchemaVersion: "1.0", ContentType: envelope.ContentTypeJSON},
	}
	for _, h := range e.Headers() {
		fmt.Printf("%s: %s\n", h.Key, h.Value)
	}
	// Output:
	// kbus-message-id: msg_01HM6AQH5VX7K9PAYM3NTQ8RSW
	// kbus-type: payment.completed
	// kbus-schema-version: 1.0
	// kbus-correlation-id: req_abc123
	// kbus-content-type: application/json
	// kbus-producer: payment-service
	// kbus-envelope-version: 1
}

func ExampleParseHeaders() {
	hs := []envelope.Header{
		{Key: "kbus-type", Value: []byte("payment.completed")},
		{Key: "traceparent", Value: []byte("00-abc-def-01")},
		{Key: "kbus-message-id", Value: []byte("msg_01HM6AQH5VX7K9PAYM3NTQ8RSW")},
	}
	f := envelope.ParseHeaders(hs)
	fmt.Println(f.Type, f.MessageID, f.CorrelationID == "")

	v, ok := envelope.HeaderValue(hs, "traceparent")
	fmt.Println(v, ok)
	// Output:
	// payment.completed msg_01HM6AQH5VX7K9PAYM3NTQ8RSW true
	// 00-abc-def-01 true
}

func ExampleCheckSize() {
	fmt.Println(envelope.CheckSize(1000, 0))
	err := envelope.CheckSize(2<<20, 0)
	fmt.Println(errors.Is(err, envelope.ErrTooLarge), err)
	// Output:
	// <nil>
	// true envelope: too large: 2097152 bytes exceeds the limit of 1048576
}

func ExampleCorrelationMiddleware() {
	h := envelope.CorrelationMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Envelopes made from this context carry the request's id.
		e := envelope.New(r.Context(), "order.created", []byte(`{}`))
		fmt.Println("in handler:", e.Metadata.CorrelationID)
	}))

	req := httptest.NewRequest(http.MethodPost, "/orders", nil)
	req.Header.Set(envelope.CorrelationHeader, "req_abc123")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println("response:", rec.Header().Get(envelope.CorrelationHeader))
	// Output:
	// in handler: req_abc123
	// response: req_abc123
}

func ExampleWithCorrelationID() {
	ctx := context.Background()
	fmt.Printf("%q\n", envelope.CorrelationID(ctx))

	ctx = envelope.WithCorrelationID(ctx, "req_abc123")
	fmt.Println(envelope.CorrelationID(ctx))
	// Output:
	// ""
	// req_abc123
}
