package envelope_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/envelope"
)

func benchEnvelope() envelope.Envelope {
	data := `{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","note":"` + strings.Repeat("QWERTYUIOP", 92) + `"}`
	e := envelope.New(envelope.WithCorrelationID(context.Background(), "req_abc123"), "payment.completed", []byte(data))
	e.Producer = "payment-service"
	return e
}

// BenchmarkMarshal measures validating and encoding an envelope with a
// 1 KiB payload, the work kbus adds to every publish.
func BenchmarkMarshal(b *testing.B) {
	e := benchEnvelope()
	b.ReportAllocs()
	b.SetBytes(int64(len(e.Data)))
	for b.Loop() {
		if _, err := envelope.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal measures decoding and validating the same envelope, the
// work a consumer does per event.
func BenchmarkUnmarshal(b *testing.B) {
	raw, err := envelope.Marshal(benchEnvelope())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := envelope.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewMessageID(b *testing.B) {
	e := benchEnvelope()
	b.ReportAllocs()
	for b.Loop() {
		_ = envelope.NewMessageID(e.PublishedAt)
	}
}
