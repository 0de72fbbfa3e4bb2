package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/schemas"
)

// fakePublisher checks every event against the shipped catalog, as the real
// producer does with producer.Schemas, and records it.
type fakePublisher struct {
	t   *testing.T
	reg *schemas.Registry

	mu     sync.Mutex
	events []published
}

type published struct {
	topic, key, correlation string
	data                    map[string]any
}

func (f *fakePublisher) Publish(ctx context.Context, topic, key string, data []byte, _ ...producer.PublishOption) (producer.Receipt, error) {
	if err := f.reg.ValidateJSON(topic, envelope.DefaultSchemaVersion, data); err != nil {
		f.t.Errorf("%s does not conform to its schema: %v\n%s", topic, err, data)
		return producer.Receipt{}, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, published{topic, key, envelope.CorrelationID(ctx), m})
	return producer.Receipt{MessageID: envelope.NewMessageID(time.Now()), Topic: topic}, nil
}

func call(t *testing.T, h http.Handler, method, path, body, corr string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if corr != "" {
		r.Header.Set(envelope.CorrelationHeader, corr)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: %d, body %q is not JSON", method, path, w.Code, w.Body)
	}
	return w.Code, out
}

func TestPaymentsPublishCatalogConformantEvents(t *testing.T) {
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePublisher{t: t, reg: reg}
	h := newServer(pub, slog.New(slog.NewTextHandler(io.Discard, nil))).Handler()

	create := func(order string) string {
		code, p := call(t, h, "POST", "/api/payments",
			`{"merchant_id":"merch_abc","order_id":"`+order+`","amount":4999,"currency":"usd"}`, "")
		if code != http.StatusCreated || p["status"] != StatusPending {
			t.Fatalf("create: %d %v", code, p)
		}
		return p["id"].(string)
	}
	a, b := create("ord_1"), create("ord_2")

	if code, out := call(t, h, "POST", "/api/payments/"+a+"/complete", "", "req_abc123"); code != 200 {
		t.Fatalf("complete: %d %v", code, out)
	} else if ev := out["event"].(map[string]any); ev["correlation_id"] != "req_abc123" || ev["type"] != TypeCompleted {
		t.Errorf("complete answered event %v", ev)
	}
	if code, _ := call(t, h, "POST", "/api/payments/"+a+"/complete", "", ""); code != http.StatusConflict {
		t.Errorf("completing twice: %d, want 409", code)
	}
	if code, out := call(t, h, "POST", "/api/payments/"+b+"/fail", `{"reason":"insufficient funds"}`, ""); code != 200 {
		t.Fatalf("fail: %d %v", code, out)
	}
	if code, out := call(t, h, "POST", "/api/payments/"+b+"/refund", "", ""); code != http.StatusConflict {
		t.Errorf("refunding a failed payment: %d %v, want 409", code, out)
	}
	if code, out := call(t, h, "POST", "/api/payments/"+a+"/refund", `{"amount":1000}`, ""); code != 200 {
		t.Fatalf("partial refund: %d %v", code, out)
	}
	if code, out := call(t, h, "POST", "/api/payments/"+a+"/refund", "", ""); code != 200 {
		t.Fatalf("refund of the rest: %d %v", code, out)
	} else if p := out["payment"].(map[string]any); p["status"] != StatusRefunded || p["refunded"] != 4999.0 {
		t.Errorf("after the full refund: %v", p)
	}
	if code, p := call(t, h, "GET", "/api/payments/"+a, "", ""); code != 200 || p["status"] != StatusRefunded {
		t.Errorf("GET: %d %v", code, p)
	}

	want := []struct{ topic, key, order string }{
		{TypeCompleted, a, "ord_1"}, {TypeFailed, b, "ord_2"}, {TypeRefunded, a, "ord_1"}, {TypeRefunded, a, "ord_1"},
	}
	if len(pub.events) != len(want) {
		t.Fatalf("published %d events, want %d: %+v", len(pub.events), len(want), pub.events)
	}
	for i, w := range want {
		e := pub.events[i]
		if e.topic != w.topic || e.key != w.key || e.data["order_id"] != w.order || e.data["merchant_id"] != "merch_abc" ||
			e.data["currency"] != "USD" {
			t.Errorf("event %d: %+v, want %s keyed %s for %s", i, e, w.topic, w.key, w.order)
		}
		if e.correlation == "" {
			t.Errorf("event %d has no correlation id", i)
		}
	}
	if pub.events[3].data["amount"] != 3999.0 {
		t.Errorf("second refund amount %v, want 3999", pub.events[3].data["amount"])
	}
}

func TestPaymentsRejectBadInput(t *testing.T) {
	h := newServer(nil, slog.New(slog.NewTextHandler(io.Discard, nil))).Handler()
	for _, body := range []string{
		`{"order_id":"o","amount":1,"currency":"USD"}`,
		`{"merchant_id":"m","order_id":"o","amount":49.99,"currency":"USD"}`,
		`{"merchant_id":"m","order_id":"o","amount":0,"currency":"USD"}`,
		`{"merchant_id":"m","order_id":"o","amount":1,"currency":"dollars"}`,
		`{"merchant_id":"m","order_id":"o","amount":1,"currency":"USD","surprise":1}`,
	} {
		if code, out := call(t, h, "POST", "/api/payments", body, ""); code != http.StatusBadRequest || out["error"] == nil {
			t.Errorf("POST %s: %d %v, want 400 with an error", body, code, out)
		}
	}
	if code, _ := call(t, h, "POST", "/api/payments/pay_nope/complete", "", ""); code != http.StatusNotFound {
		t.Errorf("unknown payment: %d, want 404", code)
	}
}
