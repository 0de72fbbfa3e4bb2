package schemas_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/schemas"
)

// seed is the seed's payment.completed event.
const seed = `{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":"ord_1001",` +
	`"customer_email":"jane@example.com","metadata":{"source":"checkout"}}`

// sameJSON compares two JSON texts as values.
func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got invalid JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("got  %s\nwant %s", gb, wb)
	}
}

func TestRoundTripAllTypes(t *testing.T) {
	r := allTypesRegistry(t)
	for _, data := range []string{
		allValid,
		with("multi", "42"),
		with("multi", `"text"`),
		with("multi", "null"),
		with("notnull", "7"),
		with("nested", "null"),
		with("opt", "null"),
	} {
		b, err := r.EncodeAvro("all.types", "1.0", []byte(data))
		if err != nil {
			t.Fatalf("EncodeAvro(%s): %v", data, err)
		}
		got, err := r.DecodeAvro("all.types", "1.0", "1.0", b)
		if err != nil {
			t.Fatalf("DecodeAvro: %v", err)
		}
		// The item without qty gets its default.
		sameJSON(t, string(got), strings.Replace(data, `{"sku":"B"}`, `{"sku":"B","qty":1}`, 1))
	}
	// Omitted fields come back with their defaults.
	b, err := r.EncodeAvro("all.types", "1.0", []byte(with("metadata", "")))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.DecodeAvro("all.types", "1.0", "1.0", b)
	if !strings.Contains(string(got), `"metadata":{}`) {
		t.Errorf("metadata default missing: %s", got)
	}
}

func TestRoundTripCatalog(t *testing.T) {
	r := mustDefault(t)
	events := map[string]string{
		"payment.completed": seed,
		"payment.failed":    `{"payment_id":"pay_1","amount":100,"currency":"USD","merchant_id":"m","reason":"card declined"}`,
		"refund.created":    `{"refund_id":"ref_1","payment_id":"pay_1","amount":50,"currency":"USD","merchant_id":"m","order_id":"o"}`,
	}
	for typ, data := range events {
		for _, v := range r.Versions(typ) {
			b, err := r.EncodeAvro(typ, v, []byte(data))
			if err != nil {
				t.Fatalf("%s %s: %v", typ, v, err)
			}
			got, err := r.DecodeAvro(typ, v, v, b)
			if err != nil {
				t.Fatalf("%s %s: %v", typ, v, err)
			}
			var m map[string]any
			_ = json.Unmarshal(got, &m)
			var in map[string]any
			_ = json.Unmarshal([]byte(data), &in)
			for k, want := range in {
				if gb, wb := mustJSON(m[k]), mustJSON(want); gb != wb {
					t.Errorf("%s %s: %s = %s, want %s", typ, v, k, gb, wb)
				}
			}
			if err := r.ValidateJSON(typ, v, got); err != nil {
				t.Errorf("%s %s: decoded JSON does not validate: %v", typ, v, err)
			}
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDecodeAvroResolution(t *testing.T) {
	r := mustDefault(t)
	v10, err := r.EncodeAvro("payment.completed", "1.0", []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	// Old writer, new reader: defaults filled in.
	got, err := r.DecodeAvro("payment.completed", "1.0", "1.1", v10)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, string(got), strings.TrimSuffix(seed, "}")+`,"fee_amount":0,"captured_at":null}`)

	// New writer, old reader: the new fields are dropped.
	v11, err := r.EncodeAvro("payment.completed", "1.1",
		[]byte(strings.TrimSuffix(seed, "}")+`,"fee_amount":30,"captured_at":1705314600123}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err = r.DecodeAvro("payment.completed", "1.1", "1.0", v11)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, string(got), seed)

	// payment.failed: the new enum in a union and the boolean default.
	pf, err := r.EncodeAvro("payment.failed", "1.1",
		[]byte(`{"payment_id":"p","amount":1,"currency":"USD","merchant_id":"m","reason":"r","failure_code":"EXPIRED_CARD","retryable":true}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = r.DecodeAvro("payment.failed", "1.1", "1.1", pf)
	if !strings.Contains(string(got), `"failure_code":"EXPIRED_CARD","retryable":true`) {
		t.Errorf("payment.failed 1.1: %s", got)
	}
}

func TestResolveJSON(t *testing.T) {
	r := mustDefault(t)
	got, err := r.ResolveJSON("payment.completed", "1.0", "1.1", []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, string(got), strings.TrimSuffix(seed, "}")+`,"fee_amount":0,"captured_at":null}`)
	if got, err := r.ResolveJSON("payment.completed", "1.0", "1.0", []byte(seed)); err != nil || string(got) != seed {
		t.Errorf("same version: %s, %v", got, err)
	}
	if _, err := r.ResolveJSON("payment.completed", "1.0", "1.1", []byte(`{"amount":"x"}`)); !errors.Is(err, schemas.ErrInvalidData) {
		t.Errorf("invalid data: %v", err)
	}
	if _, err := r.ResolveJSON("payment.completed", "1.0", "1.0", []byte(`{}`)); !errors.Is(err, schemas.ErrInvalidData) {
		t.Errorf("invalid data, same version: %v", err)
	}
}

func TestDecodeAvroErrors(t *testing.T) {
	r := mustDefault(t)
	if _, err := r.DecodeAvro("payment.completed", "1.0", "1.1", []byte{0x07}); !errors.Is(err, schemas.ErrInvalidData) {
		t.Errorf("garbage bytes: %v", err)
	}
	if _, err := r.EncodeAvro("payment.completed", "1.0", []byte(`{"amount":"x"}`)); !errors.Is(err, schemas.ErrInvalidData) {
		t.Errorf("EncodeAvro invalid: %v", err)
	}

	br, err := schemas.Load(os.DirFS("testdata/breaking"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := br.EncodeAvro("changed.type", "1.0", []byte(`{"payment_id":"p","amount":5,"currency":"USD"}`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second call is served from the cache
		_, err = br.DecodeAvro("changed.type", "1.0", "1.1", b)
		if !errors.Is(err, schemas.ErrIncompatible) || !strings.Contains(err.Error(), "field amount") {
			t.Errorf("call %d: err = %v, want ErrIncompatible naming amount", i, err)
		}
	}
	if _, err := br.ResolveJSON("removed.field", "1.1", "1.0", []byte(`{"payment_id":"p","currency":"USD"}`)); !errors.Is(err, schemas.ErrIncompatible) {
		t.Errorf("ResolveJSON removed field: %v", err)
	}
}
