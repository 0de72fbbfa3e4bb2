package envelope_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/envelope"
)

func benchEnvelope() envelope.Envelope {
	data := `{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","note":"` + strings.Repeat("QWERTYUIOP", 92) + `"}`
	e := envelope.New(envelope.WithCorrelationID(context.Background(), "req_abc123"), "payment.completed", []byte(data))
	e.Producer = "payment-service"
	return e
}

// stdEnvelope is the envelope as a plain struct for encoding/json, the
// baseline: what a service would do without kbus (and without validation).
type stdEnvelope struct {
	MessageID   string          `json:"message_id"`
	Topic       string          `json:"topic"`
	PublishedAt time.Time       `json:"published_at"`
	Producer    string          `json:"producer"`
	Data        json.RawMessage `json:"data"`
	Metadata    struct {
		CorrelationID string `json:"correlation_id"`
		SchemaVersion string `json:"schema_version"`
		ContentType   string `json:"content_type"`
	} `json:"metadata"`
}

// BenchmarkMarshal measures validating and encoding an envelope with a
// 1 KiB payload, the work kbus adds to every publish, against encoding/json
// encoding the same fields without any validation.
func BenchmarkMarshal(b *testing.B) {
	e := benchEnvelope()
	b.Run("kbus", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(e.Data)))
		for b.Loop() {
			if _, err := envelope.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		s := stdEnvelope{MessageID: e.MessageID, Topic: e.Topic, PublishedAt: e.PublishedAt, Producer: e.Producer, Data: e.Data}
		s.Metadata.CorrelationID, s.Metadata.SchemaVersion, s.Metadata.ContentType = e.Metadata.CorrelationID, e.Metadata.SchemaVersion, e.Metadata.ContentType
		b.ReportAllocs()
		b.SetBytes(int64(len(e.Data)))
		for b.Loop() {
			if _, err := json.Marshal(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUnmarshal measures decoding and validating the same envelope, the
// work a consumer does per event, against encoding/json decoding it into a
// struct without any validation.
func BenchmarkUnmarshal(b *testing.B) {
	raw, err := envelope.Marshal(benchEnvelope())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("kbus", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := envelope.Unmarshal(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var s stdEnvelope
			if err := json.Unmarshal(raw, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkNewMessageID(b *testing.B) {
	t := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		_ = envelope.NewMessageID(t)
	}
}
