package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/producer/outbox"
	"github.com/kbus-dev/kbus/schemas"
)

func payment(id string, amount int) []byte {
	return fmt.Appendf(nil, `{"payment_id":%q,"amount":%d,"currency":"USD","merchant_id":"merch_abc"}`, id, amount)
}

type world struct {
	t     testing.TB
	topic string
	db    *kbustest.Database
	p     *producer.Producer
}

func newWorld(t testing.TB, partitions int32) *world {
	t.Helper()
	w := &world{t: t, topic: kbustest.Topic(t, partitions), db: kbustest.DB(t)}
	p, err := producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"),
		producer.Schemas(kbustest.Catalog(t, "payment.completed", w.topic, w.topic+".later")),
		producer.ClientOptions(kgo.UnknownTopicRetries(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	w.p = p
	return w
}

func (w *world) outbox(cfg outbox.Config) (*outbox.Outbox, func()) {
	w.t.Helper()
	cfg.Producer, cfg.DB = w.p, w.db.Pool
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	ob, err := outbox.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					w.t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				w.t.Error("Run did not return within 30 s of its context ending")
			}
		})
	}
	w.t.Cleanup(stop)
	return ob, stop
}

// tx runs f in a transaction and commits it, or rolls it back when f fails.
func (w *world) tx(f func(tx pgx.Tx) error) error {
	ctx := context.Background()
	tx, err := w.db.Pool.Begin(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// read reads n records from topic, failing the test if they do not come, and
// then checks for 1 s that no more come.
func read(t *testing.T, topic string, n int) []envelope.Envelope {
	t.Helper()
	cl := kbustest.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []envelope.Envelope
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read %s: %v (have %d of %d)", topic, err, len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, err := envelope.Unmarshal(r.Value)
			if err != nil {
				t.Fatalf("record is not an envelope: %v", err)
			}
			out = append(out, e)
		})
	}
	extra, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if fs := cl.PollFetches(extra); len(fs.Records()) > 0 {
		t.Fatalf("%d records more than the %d expected on %s", len(fs.Records()), n, topic)
	}
	return out
}

func pendingRows(t *testing.T, w *world) int64 {
	t.Helper()
	n, _, err := outbox.Pending(context.Background(), w.db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An event is published if and only if its transaction commits, with the
// message id Enqueue returned, in order, and leaves the table.
func TestEnqueuePublishesOnlyCommittedTransactions(t *testing.T) {
	w := newWorld(t, 3)
	reg := prometheus.NewRegistry()
	ob, _ := w.outbox(outbox.Config{Registerer: reg})
	ctx := envelope.WithCorrelationID(context.Background(), "req_abc123")

	var ids []string
	if err := w.tx(func(tx pgx.Tx) error {
		for i := range 5 {
			e, err := ob.Enqueue(ctx, tx, w.topic, "pay_1", payment("pay_1", i+1))
			if err != nil {
				return err
			}
			ids = append(ids, e.MessageID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rolledBack := errors.New("the business change failed")
	if err := w.tx(func(tx pgx.Tx) error {
		if _, err := ob.Enqueue(ctx, tx, w.topic, "pay_2", payment("pay_2", 99)); err != nil {
			return err
		}
		return rolledBack
	}); !errors.Is(err, rolledBack) {
		t.Fatal(err)
	}

	got := read(t, w.topic, 5)
	for i, e := range got {
		if e.MessageID != ids[i] || e.Metadata.CorrelationID != "req_abc123" || e.Producer != "payment-service" {
			t.Errorf("record %d: id %s correlation %q producer %q, want id %s (order kept) correlation req_abc123",
				i, e.MessageID, e.Metadata.CorrelationID, e.Producer, ids[i])
		}
	}
	eventually(t, "the outbox to empty", func() bool { return pendingRows(t, w) == 0 })
	if s := ob.Stats(); s.Relayed != 5 || s.Enqueued != 6 || !s.Leader {
		t.Errorf("Stats = %+v, want 6 enqueued (one rolled back), 5 relayed by the leader", s)
	}
	want := "kbus_outbox_enqueued_total 6\nkbus_outbox_leader 1\nkbus_outbox_publish_failures_total 0\nkbus_outbox_relayed_total 5\n"
	if got := metricValues(t, reg); got != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}
}

// metricValues gathers reg and returns "name value" lines, sorted.
func metricValues(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			fmt.Fprintf(&b, "%s %g\n", mf.GetName(), v)
		}
	}
	return b.String()
}

// Enqueue checks the event as Publish does, inside the transaction.
func TestEnqueueRefusesInvalidEvents(t *testing.T) {
	w := newWorld(t, 1)
	ob, err := outbox.New(outbox.Config{Producer: w.p})
	if err != nil {
		t.Fatal(err)
	}
	err = w.tx(func(tx pgx.Tx) error {
		_, err := ob.Enqueue(context.Background(), tx, w.topic, "k", []byte(`{"payment_id":"p","currency":"USD","merchant_id":"m"}`))
		return err
	})
	var ve *schemas.ValidationError
	if !errors.As(err, &ve) || ve.Field != "amount" {
		t.Fatalf("err = %v, want a validation error on amount", err)
	}
	if n := pendingRows(t, w); n != 0 {
		t.Fatalf("%d rows in the outbox", n)
	}
}

// A row that cannot be published stays in the table with its attempts and
// error, and goes out once the cause is fixed; the rest of its round is not
// held up.
func TestFailedPublishKeepsTheRow(t *testing.T) {
	w := newWorld(t, 1)
	missing := w.topic + ".later" // does not exist yet
	ob, _ := w.outbox(outbox.Config{MaxBackoff: 500 * time.Millisecond})
	ctx := context.Background()
	var first, second envelope.Envelope
	if err := w.tx(func(tx pgx.Tx) error {
		var err error
		if first, err = ob.Enqueue(ctx, tx, missing, "k", payment("pay_1", 1)); err != nil {
			return err
		}
		second, err = ob.Enqueue(ctx, tx, w.topic, "k", payment("pay_2", 2))
		return err
	}); err != nil {
		t.Fatal(err)
	}

	var attempts int
	var lastErr string
	eventually(t, "a recorded failure", func() bool {
		err := w.db.Pool.QueryRow(ctx, `SELECT attempts, coalesce(last_error, '') FROM kbus_outbox WHERE message_id = $1`, first.MessageID).
			Scan(&attempts, &lastErr)
		return err == nil && attempts > 0
	})
	if !strings.Contains(lastErr, "UNKNOWN_TOPIC") {
		t.Errorf("last_error = %q, want the broker's reason", lastErr)
	}
	// The other topic's event went out in the same round.
	if got := read(t, w.topic, 1); got[0].MessageID != second.MessageID {
		t.Errorf("got %s, want %s", got[0].MessageID, second.MessageID)
	}
	eventually(t, "only the failed row left", func() bool { return pendingRows(t, w) == 1 })
	if ob.Stats().Failures == 0 {
		t.Error("Stats().Failures = 0")
	}

	// The fix: create the topic.
	adm := kbustest.Admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, missing); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), missing) })
	if got := read(t, missing, 1); got[0].MessageID != first.MessageID {
		t.Errorf("got %s, want %s", got[0].MessageID, first.MessageID)
	}
	eventually(t, "the outbox to empty", func() bool { return pendingRows(t, w) == 0 })
}

// Two relays on one table: one leads, every event is published once and in
// order per key, and the other takes over when the leader stops.
func TestOneRelayLeadsAndAnotherTakesOver(t *testing.T) {
	w := newWorld(t, 3)
	a, stopA := w.outbox(outbox.Config{})
	b, stopB := w.outbox(outbox.Config{})
	eventually(t, "a leader", func() bool { return a.Stats().Leader || b.Stats().Leader })
	if a.Stats().Leader && b.Stats().Leader {
		t.Fatal("both relays lead")
	}
	if b.Stats().Leader { // call the leader a, for the takeover below
		a, b, stopA, stopB = b, a, stopB, stopA
	}
	_ = stopB

	ctx := context.Background()
	enqueue := func(from, to int) {
		if err := w.tx(func(tx pgx.Tx) error {
			for i := from; i < to; i++ {
				key := fmt.Sprintf("pay_%d", i%7)
				if _, err := a.Enqueue(ctx, tx, w.topic, key, payment(key, i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(0, 300)
	eventually(t, "300 relayed", func() bool { return a.Stats().Relayed+b.Stats().Relayed == 300 })
	if b.Stats().Relayed != 0 {
		t.Errorf("the standby relayed %d events", b.Stats().Relayed)
	}

	stopA()
	eventually(t, "the standby to lead", func() bool { return b.Stats().Leader })
	enqueue(300, 400)
	got := read(t, w.topic, 400) // exactly once each
	last := map[string]int{}
	for _, e := range got {
		var p struct {
			ID     string `json:"payment_id"`
			Amount int    `json:"amount"`
		}
		if err := json.Unmarshal(e.Data, &p); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[p.ID]; ok && p.Amount <= prev {
			t.Fatalf("%s: amount %d after %d: order per key broken", p.ID, p.Amount, prev)
		}
		last[p.ID] = p.Amount
	}
}

// The relay's connection is killed (as a PostgreSQL restart does) while it
// is retrying a row that cannot be published: it leads again on a new
// connection and relays what follows, instead of retrying on the dead one.
func TestRelaySurvivesLosingItsConnection(t *testing.T) {
	w := newWorld(t, 1)
	missing := w.topic + ".later" // does not exist yet
	ob, _ := w.outbox(outbox.Config{MaxBackoff: 200 * time.Millisecond})
	ctx := context.Background()
	enqueue := func(topic, key string, amount int) envelope.Envelope {
		var e envelope.Envelope
		if err := w.tx(func(tx pgx.Tx) error {
			var err error
			e, err = ob.Enqueue(ctx, tx, topic, key, payment(key, amount))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	stuck := enqueue(missing, "k", 1)
	eventually(t, "the relay retrying a failed row", func() bool { return ob.Stats().Failures > 1 })

	// Kill the relay's backend: the one holding the outbox's advisory lock
	// for this test's schema.
	var killed int
	if err := w.db.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND objid = (hashtext('kbus_outbox:' || current_schema())::bigint & 4294967295)::oid`).
		Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d backends, want the relay's one", killed)
	}
	if _, err := w.db.Pool.Exec(ctx, `DELETE FROM kbus_outbox WHERE message_id = $1`, stuck.MessageID); err != nil {
		t.Fatal(err)
	}
	next := enqueue(w.topic, "k", 2)
	if got := read(t, w.topic, 1); got[0].MessageID != next.MessageID {
		t.Errorf("got %s, want %s", got[0].MessageID, next.MessageID)
	}
	eventually(t, "the outbox to empty", func() bool { return pendingRows(t, w) == 0 })
}
