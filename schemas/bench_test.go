package schemas_test

import (
	"encoding/json"
	"testing"

	"github.com/hamba/avro/v2"
)

// benchPayment is the seed's payment.completed event, tagged for both
// encoders.
type benchPayment struct {
	PaymentID     string            `json:"payment_id" avro:"payment_id"`
	Amount        int64             `json:"amount" avro:"amount"`
	Currency      string            `json:"currency" avro:"currency"`
	MerchantID    string            `json:"merchant_id" avro:"merchant_id"`
	OrderID       *string           `json:"order_id,omitempty" avro:"order_id"`
	CustomerEmail *string           `json:"customer_email,omitempty" avro:"customer_email"`
	Metadata      map[string]string `json:"metadata" avro:"metadata"`
}

func seedPayment(b *testing.B) benchPayment {
	var p benchPayment
	if err := json.Unmarshal([]byte(seed), &p); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkJSONvsAvro encodes and decodes the seed's payment.completed
// event as JSON (encoding/json) and as Avro (hamba/avro with the catalog's
// 1.0 schema), reporting the encoded size as bytes/event; RegistryEncodeDecode
// measures EncodeAvro+DecodeAvro, which start and end with JSON.
func BenchmarkJSONvsAvro(b *testing.B) {
	p := seedPayment(b)
	b.Run("JSON", func(b *testing.B) {
		var size int
		for b.Loop() {
			data, err := json.Marshal(p)
			if err != nil {
				b.Fatal(err)
			}
			var out benchPayment
			if err := json.Unmarshal(data, &out); err != nil {
				b.Fatal(err)
			}
			size = len(data)
		}
		b.ReportMetric(float64(size), "bytes/event")
	})
	b.Run("Avro", func(b *testing.B) {
		reg := mustDefault(b)
		s, err := reg.Schema("payment.completed", "1.0")
		if err != nil {
			b.Fatal(err)
		}
		var size int
		for b.Loop() {
			data, err := avro.Marshal(s, p)
			if err != nil {
				b.Fatal(err)
			}
			var out benchPayment
			if err := avro.Unmarshal(s, data, &out); err != nil {
				b.Fatal(err)
			}
			size = len(data)
		}
		b.ReportMetric(float64(size), "bytes/event")
	})
	// What the registry's helpers cost: JSON data in, validated, Avro
	// bytes, JSON data out (the path a producer and consumer would take).
	b.Run("RegistryEncodeDecode", func(b *testing.B) {
		reg := mustDefault(b)
		var size int
		for b.Loop() {
			data, err := reg.EncodeAvro("payment.completed", "1.0", []byte(seed))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := reg.DecodeAvro("payment.completed", "1.0", "1.0", data); err != nil {
				b.Fatal(err)
			}
			size = len(data)
		}
		b.ReportMetric(float64(size), "bytes/event")
	})
}

// BenchmarkValidateJSON is the producer's per-event check of the seed's
// payment against payment.completed 1.0, beside encoding/json decoding the
// same bytes into a struct (no validation) as the baseline.
func BenchmarkValidateJSON(b *testing.B) {
	reg := mustDefault(b)
	b.Run("ValidateJSON", func(b *testing.B) {
		for b.Loop() {
			if err := reg.ValidateJSON("payment.completed", "1.0", []byte(seed)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var p benchPayment
			if err := json.Unmarshal([]byte(seed), &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
