package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
)

// testLogger logs to stderr when KBUS_TEST_LOG=1.
func testLogger() *slog.Logger {
	if os.Getenv("KBUS_TEST_LOG") != "1" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fastRetry keeps tests quick: the schedule is configuration.
var fastRetry = consumer.RetryPolicy{Attempts: 3, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

// env is one test's world: a topic, a database schema, a producer and a
// table that handlers write their effects to.
type env struct {
	t     *testing.T
	topic string
	db    *kbustest.Database
	p     *producer.Producer
}

func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	e := &env{t: t, topic: kbustest.Topic(t, partitions), db: kbustest.DB(t)}
	p, err := producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"), producer.SkipSchemaValidation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	e.p = p
	// No unique constraint: a double effect would show as a second row.
	if _, err := e.db.Pool.Exec(context.Background(),
		`CREATE TABLE payments_seen (message_id text NOT NULL, payment_id text NOT NULL, amount bigint NOT NULL, grp text NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	return e
}

// group returns a fresh consumer group name whose DLQ topic is deleted at cleanup.
func (e *env) group() string {
	g := kbustest.Name(e.t, "g.")
	adm := kbustest.Admin(e.t)
	e.t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), dlq.Topic(g)) })
	return g
}

// publish publishes n payment events on e.topic with amounts 1..n, keyed
// over 16 payment ids, and returns their envelopes in order.
func (e *env) publish(n int) []envelope.Envelope {
	e.t.Helper()
	ctx := context.Background()
	out := make([]envelope.Envelope, n)
	var mu sync.Mutex
	var errs []error
	for i := range n {
		key := fmt.Sprintf("pay_%d", i%16)
		ev := e.p.Envelope(ctx, e.topic, fmt.Appendf(nil, `{"payment_id":%q,"amount":%d}`, key, i+1))
		out[i] = ev
	}
	for i := range out {
		e.p.PublishEnvelopeAsync(ctx, fmt.Sprintf("pay_%d", i%16), out[i], func(_ producer.Receipt, err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	if err := e.p.Flush(ctx); err != nil {
		e.t.Fatal(err)
	}
	if len(errs) > 0 {
		e.t.Fatalf("%d publishes failed: %v", len(errs), errs[0])
	}
	return out
}

// recordEffect is the handler's effect: one row per handled event.
func recordEffect(ctx context.Context, tx pgx.Tx, ev envelope.Envelope, group string) error {
	_, err := tx.Exec(ctx, `INSERT INTO payments_seen (message_id, payment_id, amount, grp)
		VALUES ($1, $2::jsonb->>'payment_id', ($2::jsonb->>'amount')::bigint, $3)`, ev.MessageID, string(ev.Data), group)
	return err
}

// start runs c until the test ends (or stop is called) and returns stop,
// which cancels Run and waits for it to return.
func start(t *testing.T, c *consumer.Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("Run did not return within 60 s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or 60 s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// effects returns the number of rows, distinct message ids and the sum of
// amounts in payments_seen for group.
func (e *env) effects(group string) (rows, distinct, sum int64) {
	e.t.Helper()
	err := e.db.Pool.QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT message_id), coalesce(sum(amount), 0) FROM payments_seen WHERE grp = $1`, group).
		Scan(&rows, &distinct, &sum)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows, distinct, sum
}

// dlqEntries reads group's DLQ topic.
func dlqEntries(t *testing.T, group string) []dlq.Entry {
	t.Helper()
	var out []dlq.Entry
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := dlq.Read(ctx, kbustest.Client(t), group, func(e dlq.Entry, _ *kgo.Record, err error) error {
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil && !errors.Is(err, dlq.ErrNoTopic) {
		t.Fatal(err)
	}
	return out
}
