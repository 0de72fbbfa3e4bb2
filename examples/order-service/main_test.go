package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
)

func event(t *testing.T, typ, data string) envelope.Envelope {
	t.Helper()
	return envelope.New(context.Background(), typ, []byte(data))
}

// handle runs h in a transaction, as the consumer does, committing only if
// it succeeds.
func handle(t *testing.T, db *kbustest.Database, h func(context.Context, pgx.Tx, envelope.Envelope) error, e envelope.Envelope) error {
	t.Helper()
	ctx := context.Background()
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return h(ctx, tx, e) })
}

func TestHandlersUpdateOrders(t *testing.T) {
	db := kbustest.DB(t)
	ctx := context.Background()
	if err := createSchema(ctx, db.Pool); err != nil {
		t.Fatal(err)
	}
	h := newAPI(db.Pool, statsFunc(func() consumer.Stats { return consumer.Stats{Processed: 3} }), "order-service").Handler()
	for _, body := range []string{
		`{"id":"ord_1","merchant_id":"merch_abc","amount":4999,"currency":"USD"}`,
		`{"id":"ord_2","merchant_id":"merch_abc","amount":1250,"currency":"EUR"}`,
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/api/orders", strings.NewReader(body)))
		if w.Code != http.StatusCreated {
			t.Fatalf("POST /api/orders %s: %d %s", body, w.Code, w.Body)
		}
	}

	steps := []struct {
		h    func(context.Context, pgx.Tx, envelope.Envelope) error
		typ  string
		data string
	}{
		{paymentCompleted, "payment.completed", `{"payment_id":"pay_1","order_id":"ord_1","amount":4999}`},
		{refundCreated, "refund.created", `{"refund_id":"re_1","payment_id":"pay_1","order_id":"ord_1","amount":999}`},
		{paymentFailed, "payment.failed", `{"payment_id":"pay_2","order_id":"ord_2","amount":1250,"reason":"declined"}`},
	}
	for _, s := range steps {
		if err := handle(t, db, s.h, event(t, s.typ, s.data)); err != nil {
			t.Fatalf("%s: %v", s.typ, err)
		}
	}
	want := map[string]struct {
		status   string
		refunded int64
		updates  int
	}{"ord_1": {StatusPartlyRefunded, 999, 2}, "ord_2": {StatusPaymentFailed, 0, 1}}
	for id, w := range want {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/orders/"+id, nil))
		var o Order
		if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil || rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", id, rec.Code, rec.Body)
		}
		if o.Status != w.status || o.Refunded != w.refunded || o.Updates != w.updates {
			t.Errorf("%s: %+v, want %+v", id, o, w)
		}
	}

	// An event for an order that does not exist can never succeed: it is
	// permanent, straight to the DLQ, and nothing is written.
	err := handle(t, db, paymentCompleted, event(t, "payment.completed", `{"payment_id":"pay_3","order_id":"ord_404","amount":1}`))
	if !consumer.IsPermanent(err) || !errors.Is(err, errUnknownOrder) {
		t.Errorf("unknown order: %v, want a permanent errUnknownOrder", err)
	}
	err = handle(t, db, paymentCompleted, event(t, "payment.completed", `{"payment_id":"pay_3","amount":1}`))
	if !consumer.IsPermanent(err) {
		t.Errorf("no order_id: %v, want a permanent error", err)
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/stats", nil))
	var st Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Consumer.Processed != 3 || st.Group != "order-service" {
		t.Errorf("GET /stats: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/orders",
		strings.NewReader(`{"id":"ord_1","merchant_id":"merch_abc","amount":1,"currency":"USD"}`)))
	if rec.Code != http.StatusConflict {
		t.Errorf("creating ord_1 twice: %d, want 409", rec.Code)
	}
}

type statsFunc func() consumer.Stats

func (f statsFunc) Stats() consumer.Stats { return f() }
