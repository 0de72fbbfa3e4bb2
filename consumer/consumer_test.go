package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
)

func newTx(t *testing.T, e *env, group string, h consumer.TxHandlerFunc, mod ...func(*consumer.Config)) *consumer.Consumer {
	t.Helper()
	cfg := consumer.Config{Brokers: kbustest.Brokers(t), Group: group, Topics: []string{e.topic}, DB: e.db.Pool, Retry: fastRetry, Logger: testLogger()}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := consumer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.HandleTx(e.topic, h)
	return c
}

func effectHandler(group string) consumer.TxHandlerFunc {
	return func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		return recordEffect(ctx, tx, ev, group)
	}
}

func TestSameEventTwiceHasOneEffect(t *testing.T) {
	e := newEnv(t, 2)
	group := e.group()
	ev := e.publish(1)[0]
	// The same event again, same message_id, as a producer retry would send it.
	if _, err := e.p.PublishEnvelope(context.Background(), "pay_0", ev); err != nil {
		t.Fatal(err)
	}
	c := newTx(t, e, group, effectHandler(group))
	start(t, c)
	eventually(t, "both copies consumed", func() (bool, string) {
		s := c.Stats()
		return s.Processed+s.Duplicates == 2, fmt.Sprintf("%+v", s)
	})
	if s := c.Stats(); s.Processed != 1 || s.Duplicates != 1 {
		t.Fatalf("stats %+v, want 1 processed and 1 duplicate", s)
	}
	if rows, _, _ := e.effects(group); rows != 1 {
		t.Fatalf("handler table has %d rows, want 1", rows)
	}
	var n int
	if err := e.db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM processed_events WHERE consumer_group = $1 AND message_id = $2`, group, ev.MessageID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("processed_events has %d rows for the event, want 1", n)
	}
}

func TestBatchOfManyEventsEachOnceAndCorrelationPassedOn(t *testing.T) {
	e := newEnv(t, 4)
	group := e.group()
	ctx := envelope.WithCorrelationID(context.Background(), "req_corr_1")
	if _, err := e.p.Publish(ctx, e.topic, "k", []byte(`{"payment_id":"pay_c","amount":7}`)); err != nil {
		t.Fatal(err)
	}
	evs := e.publish(1000)
	var sawCorr atomic.Bool
	c := newTx(t, e, group, func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		if ev.Metadata.CorrelationID == "req_corr_1" && envelope.CorrelationID(ctx) == "req_corr_1" {
			sawCorr.Store(true)
		}
		return recordEffect(ctx, tx, ev, group)
	})
	start(t, c)
	eventually(t, "all events processed", func() (bool, string) {
		rows, _, _ := e.effects(group)
		return rows == int64(len(evs))+1, fmt.Sprintf("%d rows, %+v", rows, c.Stats())
	})
	rows, distinct, sum := e.effects(group)
	if rows != distinct || sum != int64(len(evs)*(len(evs)+1)/2)+7 {
		t.Fatalf("rows=%d distinct=%d sum=%d", rows, distinct, sum)
	}
	if !sawCorr.Load() {
		t.Fatal("the handler's context did not carry the event's correlation id")
	}
}

func TestHandlerFailingTwiceThenSucceedingHasThreeAttemptsOneEffect(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	evs := e.publish(5)
	target := evs[2].MessageID
	var calls atomic.Int64
	c := newTx(t, e, group, func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		if err := recordEffect(ctx, tx, ev, group); err != nil {
			return err
		}
		if ev.MessageID == target && calls.Add(1) <= 2 {
			return errors.New("downstream unavailable") // after writing: the write must roll back
		}
		return nil
	})
	start(t, c)
	eventually(t, "all processed", func() (bool, string) {
		s := c.Stats()
		return s.Processed == 5, fmt.Sprintf("%+v", s)
	})
	if got := calls.Load(); got != 3 {
		t.Fatalf("handler called %d times for the flaky event, want 3", got)
	}
	rows, distinct, _ := e.effects(group)
	if rows != 5 || distinct != 5 {
		t.Fatalf("rows=%d distinct=%d, want 5 and 5", rows, distinct)
	}
	if s := c.Stats(); s.Retries != 2 || s.DeadLettered != 0 {
		t.Fatalf("stats %+v, want 2 retries and nothing dead-lettered", s)
	}
}

func TestAlwaysFailingEventGoesToDLQAndPartitionFlows(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	evs := e.publish(6)
	bad := evs[1]
	c := newTx(t, e, group, func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		if ev.MessageID == bad.MessageID {
			return fmt.Errorf("merchant %s not found", "merch_zzz")
		}
		return recordEffect(ctx, tx, ev, group)
	})
	start(t, c)
	eventually(t, "the others processed and one dead-lettered", func() (bool, string) {
		s := c.Stats()
		return s.Processed == 5 && s.DeadLettered == 1, fmt.Sprintf("%+v", s)
	})
	entries := dlqEntries(t, group)
	if len(entries) != 1 {
		t.Fatalf("%d DLQ entries, want 1", len(entries))
	}
	d := entries[0]
	if d.OriginalMessageID != bad.MessageID || d.Topic != e.topic || d.ConsumerGroup != group ||
		d.FailureReason != dlq.ReasonHandlerError || d.Attempts != fastRetry.Attempts ||
		!strings.Contains(d.LastError, "merchant merch_zzz not found") ||
		d.FirstAttempt.IsZero() || d.LastAttempt.Before(d.FirstAttempt) {
		t.Fatalf("DLQ entry %+v", d)
	}
	var orig envelope.Envelope
	if err := json.Unmarshal(d.OriginalPayload, &orig); err != nil || orig.MessageID != bad.MessageID {
		t.Fatalf("original_payload %s (%v)", d.OriginalPayload, err)
	}
	if string(d.Key) != "pay_1" || d.Offset != 1 || len(d.Value) == 0 {
		t.Fatalf("replay fields key=%q offset=%d value=%d bytes", d.Key, d.Offset, len(d.Value))
	}
	// Nothing of the failed event's effect, and its dedup row rolled back.
	var n int
	_ = e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM processed_events WHERE message_id = $1`, bad.MessageID).Scan(&n)
	if n != 0 {
		t.Fatalf("the dead-lettered event has %d dedup rows, want 0 (a replay must be processed)", n)
	}
}

func TestPermanentErrorSkipsRetries(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	e.publish(1)
	var calls atomic.Int64
	c := newTx(t, e, group, func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		calls.Add(1)
		return consumer.Permanent(errors.New("invalid currency"))
	})
	start(t, c)
	eventually(t, "dead-lettered", func() (bool, string) { return c.Stats().DeadLettered == 1, fmt.Sprintf("%+v", c.Stats()) })
	if calls.Load() != 1 {
		t.Fatalf("handler called %d times, want 1", calls.Load())
	}
	if d := dlqEntries(t, group); len(d) != 1 || d[0].FailureReason != dlq.ReasonPermanent || d[0].Attempts != 1 {
		t.Fatalf("DLQ %+v", d)
	}
}

func TestPoisonRecordsGoToDLQAndNothingAfterIsLost(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	ctx := context.Background()
	good := e.p.Envelope(ctx, e.topic, []byte(`{"payment_id":"pay_1","amount":10}`))
	full, err := envelope.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	noID := strings.Replace(string(full), `"message_id":"`+good.MessageID+`",`, "", 1)
	poison := [][]byte{[]byte("\x00\xffgarbage"), full[:len(full)/2], []byte(noID), []byte(`{"not":"an envelope"}`)}
	cl := kbustest.Client(t)
	for _, v := range poison {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: e.topic, Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.p.PublishEnvelope(ctx, "pay_1", good); err != nil {
		t.Fatal(err)
	}
	c := newTx(t, e, group, effectHandler(group))
	start(t, c)
	eventually(t, "poison dead-lettered, good processed", func() (bool, string) {
		s := c.Stats()
		return s.DeadLettered == int64(len(poison)) && s.Processed == 1, fmt.Sprintf("%+v", s)
	})
	entries := dlqEntries(t, group)
	if len(entries) != len(poison) {
		t.Fatalf("%d DLQ entries, want %d", len(entries), len(poison))
	}
	for i, d := range entries {
		if d.FailureReason != dlq.ReasonDecodeError || string(d.Value) != string(poison[i]) || d.LastError == "" {
			t.Errorf("entry %d: reason %q, value %q, error %q", i, d.FailureReason, d.Value, d.LastError)
		}
	}
	if rows, _, _ := e.effects(group); rows != 1 {
		t.Fatalf("%d effects, want 1", rows)
	}
}

func TestTwoGroupsEachSeeEveryEvent(t *testing.T) {
	e := newEnv(t, 4)
	g1, g2 := e.group(), e.group()
	evs := e.publish(300)
	c1 := newTx(t, e, g1, effectHandler(g1))
	c2 := newTx(t, e, g2, effectHandler(g2))
	start(t, c1)
	start(t, c2)
	for _, g := range []string{g1, g2} {
		eventually(t, "group "+g+" saw every event", func() (bool, string) {
			rows, _, _ := e.effects(g)
			return rows == int64(len(evs)), fmt.Sprint(rows)
		})
	}
}

func TestTwoInstancesOneStoppedMidStreamExactlyOnce(t *testing.T) {
	e := newEnv(t, 4)
	group := e.group()
	const n = 3000
	e.publish(n)
	slow := func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		return recordEffect(ctx, tx, ev, group)
	}
	small := func(c *consumer.Config) { c.MaxBatch = 20 } // many commits, so a stop lands mid-stream
	a := newTx(t, e, group, slow, small)
	b := newTx(t, e, group, slow, small)
	stopA := start(t, a)
	start(t, b)
	eventually(t, "some progress", func() (bool, string) {
		rows, _, _ := e.effects(group)
		return rows > n/5, fmt.Sprint(rows)
	})
	stopA() // rebalance: b takes over a's partitions
	eventually(t, "every event processed", func() (bool, string) {
		rows, distinct, _ := e.effects(group)
		return distinct == n, fmt.Sprintf("rows %d distinct %d; a %+v b %+v", rows, distinct, a.Stats(), b.Stats())
	})
	rows, distinct, sum := e.effects(group)
	if rows != n || distinct != n || sum != n*(n+1)/2 {
		t.Fatalf("rows=%d distinct=%d sum=%d, want %d, %d, %d", rows, distinct, sum, n, n, n*(n+1)/2)
	}
}

func TestReplayAddressedToAnotherGroupIsSkipped(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	ctx := context.Background()
	other := e.p.Envelope(ctx, e.topic, []byte(`{"payment_id":"pay_o","amount":1}`))
	mine := e.p.Envelope(ctx, e.topic, []byte(`{"payment_id":"pay_m","amount":2}`))
	// Replay headers are written by `kbus dlq replay` (dlq.Entry.Replay), not
	// by the producer, which reserves kbus- headers: build the records raw.
	cl := kbustest.Client(t)
	for _, x := range []struct {
		e     envelope.Envelope
		group string
	}{{other, "someone-else"}, {mine, group}} {
		raw, err := envelope.Marshal(x.e)
		if err != nil {
			t.Fatal(err)
		}
		hs := []kgo.RecordHeader{{Key: dlq.HeaderReplayGroup, Value: []byte(x.group)}}
		for _, h := range x.e.Headers() {
			hs = append(hs, kgo.RecordHeader(h))
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: e.topic, Key: []byte("k"), Value: raw, Headers: hs}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c := newTx(t, e, group, effectHandler(group))
	start(t, c)
	eventually(t, "both seen", func() (bool, string) {
		s := c.Stats()
		return s.Processed == 1 && s.Skipped == 1, fmt.Sprintf("%+v", s)
	})
	if _, _, sum := e.effects(group); sum != 2 {
		t.Fatalf("sum %d: the replay addressed to this group must be processed, the other skipped", sum)
	}
}

func TestBatchHandlerGetsDedupedRunsAndIsolatesFailure(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	evs := e.publish(200)
	if _, err := e.p.PublishEnvelope(context.Background(), "pay_0", evs[0]); err != nil { // a duplicate
		t.Fatal(err)
	}
	bad := evs[100].MessageID
	var mu sync.Mutex
	var sizes []int
	// One attempt: the failing event must still be isolated from the others
	// in its batch, not blamed for them.
	cfg := consumer.Config{Brokers: kbustest.Brokers(t), Group: group, Topics: []string{e.topic}, DB: e.db.Pool,
		Retry: consumer.RetryPolicy{Attempts: 1}}
	c, err := consumer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.HandleBatchTx(e.topic, func(ctx context.Context, tx pgx.Tx, events []envelope.Envelope) error {
		mu.Lock()
		sizes = append(sizes, len(events))
		mu.Unlock()
		for _, ev := range events {
			if ev.MessageID == bad {
				return errors.New("bad row")
			}
			if err := recordEffect(ctx, tx, ev, group); err != nil {
				return err
			}
		}
		return nil
	})
	start(t, c)
	eventually(t, "processed and dead-lettered", func() (bool, string) {
		s := c.Stats()
		return s.Processed == 199 && s.DeadLettered == 1 && s.Duplicates == 1, fmt.Sprintf("%+v", s)
	})
	rows, distinct, _ := e.effects(group)
	if rows != 199 || distinct != 199 {
		t.Fatalf("rows=%d distinct=%d, want 199", rows, distinct)
	}
	if d := dlqEntries(t, group); len(d) != 1 || d[0].OriginalMessageID != bad {
		t.Fatalf("DLQ holds %+v, want only the failing event %s", d, bad)
	}
	mu.Lock()
	defer mu.Unlock()
	if sizes[0] < 2 {
		t.Fatalf("first batch call got %d events; batching did not happen (calls: %v)", sizes[0], sizes)
	}
}

func TestStatelessModes(t *testing.T) {
	for _, mode := range []consumer.Mode{consumer.AtLeastOnce, consumer.AtMostOnce} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, 2)
			group := e.group()
			evs := e.publish(50)
			c, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: group, Topics: []string{e.topic}, Mode: mode, Retry: fastRetry})
			if err != nil {
				t.Fatal(err)
			}
			var seen sync.Map
			var fails atomic.Int64
			c.Handle(e.topic, func(ctx context.Context, ev envelope.Envelope) error {
				if ev.MessageID == evs[7].MessageID && fails.Add(1) == 1 {
					return errors.New("flaky")
				}
				seen.Store(ev.MessageID, true)
				return nil
			})
			start(t, c)
			eventually(t, "all handled", func() (bool, string) { return c.Stats().Processed == 50, fmt.Sprintf("%+v", c.Stats()) })
			for _, ev := range evs {
				if _, ok := seen.Load(ev.MessageID); !ok {
					t.Fatalf("event %s not handled", ev.MessageID)
				}
			}
		})
	}
}

func TestUnknownTypePolicy(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	// An event of another type on the same topic (its envelope names another type).
	otherType := e.p.Envelope(ctx, "refund.created", []byte(`{"refund_id":"ref_1"}`))
	raw, _ := envelope.Marshal(otherType)
	if err := kbustest.Client(t).ProduceSync(ctx, &kgo.Record{Topic: e.topic, Value: raw}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, policy := range []consumer.UnknownTypePolicy{consumer.SkipUnknown, consumer.DeadLetterUnknown} {
		group := e.group()
		c := newTx(t, e, group, effectHandler(group), func(c *consumer.Config) { c.UnknownType = policy })
		stop := start(t, c)
		eventually(t, "the event accounted for", func() (bool, string) {
			s := c.Stats()
			return s.Skipped+s.DeadLettered == 1, fmt.Sprintf("%+v", s)
		})
		stop()
		if policy == consumer.DeadLetterUnknown {
			if d := dlqEntries(t, group); len(d) != 1 || d[0].FailureReason != dlq.ReasonNoHandler {
				t.Fatalf("DLQ %+v", d)
			}
		} else if c.Stats().Skipped != 1 {
			t.Fatalf("stats %+v, want 1 skipped", c.Stats())
		}
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := consumer.New(consumer.Config{Group: "g", Topics: []string{"t"}}); !errors.Is(err, consumer.ErrConfig) {
		t.Fatalf("transactional mode without DB: err = %v", err)
	}
	if _, err := consumer.New(consumer.Config{Topics: []string{"t"}, Mode: consumer.AtLeastOnce}); !errors.Is(err, consumer.ErrConfig) {
		t.Fatalf("no group: err = %v", err)
	}
	c, err := consumer.New(consumer.Config{Group: "g", Topics: []string{"t"}, Mode: consumer.AtLeastOnce})
	if err != nil {
		t.Fatal(err)
	}
	c.HandleTx("payment.completed", func(context.Context, pgx.Tx, envelope.Envelope) error { return nil })
	if err := c.Run(context.Background()); !errors.Is(err, consumer.ErrConfig) || !strings.Contains(err.Error(), "not available in at-least-once mode") {
		t.Fatalf("HandleTx in at-least-once mode: Run = %v", err)
	}
}

func TestPrometheusMetrics(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	e.publish(3)
	reg := prometheus.NewRegistry()
	c := newTx(t, e, group, effectHandler(group), func(c *consumer.Config) { c.Registerer = reg })
	start(t, c)
	eventually(t, "processed", func() (bool, string) { return c.Stats().Processed == 3, fmt.Sprintf("%+v", c.Stats()) })
	if got := testutil.ToFloat64(prometheusCounter(t, reg, "kbus_consumer_processed_total")); got != 3 {
		t.Fatalf("kbus_consumer_processed_total = %v, want 3", got)
	}
	names := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"kbus_consumer_consumed_total", "kbus_consumer_processed_total",
		"kbus_consumer_handler_duration_seconds", "kbus_consumer_lag_records"} {
		if !names[want] {
			t.Errorf("metric %s not exported (have %v)", want, names)
		}
	}
	// A second consumer on the same registry is refused, not a panic.
	if _, err := consumer.New(consumer.Config{Group: group, Topics: []string{e.topic}, DB: e.db.Pool, Registerer: reg}); !errors.Is(err, consumer.ErrConfig) {
		t.Fatalf("duplicate registration: err = %v", err)
	}
}

// prometheusCounter sums the named counter over its label values.
func prometheusCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	c.Add(sum)
	return c
}

func TestReplayKeyScopesDedup(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	ctx := context.Background()
	ev := e.publish(1)[0]
	raw, _ := envelope.Marshal(ev)
	cl := kbustest.Client(t)
	// The same event replayed twice under one replay key, once under another.
	for _, key := range []string{"ep_1@t1", "ep_1@t1", "ep_1@t2"} {
		hs := []kgo.RecordHeader{{Key: dlq.HeaderReplayGroup, Value: []byte(group)}, {Key: dlq.HeaderReplayKey, Value: []byte(key)}}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: e.topic, Value: raw, Headers: hs}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	var mu sync.Mutex
	c := newTx(t, e, group, func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		if rec, ok := consumer.Record(ctx); ok {
			if v, ok := headerValue(rec.Headers, dlq.HeaderReplayKey); ok {
				mu.Lock()
				keys = append(keys, v)
				mu.Unlock()
			}
		}
		return recordEffect(ctx, tx, ev, group)
	})
	start(t, c)
	eventually(t, "all four records", func() (bool, string) {
		s := c.Stats()
		return s.Processed+s.Duplicates == 4, fmt.Sprintf("%+v", s)
	})
	if s := c.Stats(); s.Processed != 3 || s.Duplicates != 1 {
		t.Fatalf("stats %+v: want the event, and each replay key once", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(keys, ",") != "ep_1@t1,ep_1@t2" {
		t.Fatalf("handler saw replay keys %v", keys)
	}
}

func headerValue(hs []kgo.RecordHeader, key string) (string, bool) {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value), true
		}
	}
	return "", false
}
