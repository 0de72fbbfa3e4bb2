package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
)

// Events of one key are handled in the order they were published, while
// four partitions are processed at once, small chunks interleave and one
// event fails twice before it succeeds (its retry holds the events behind
// it).
func TestOrderPerKeyWithConcurrentPartitions(t *testing.T) {
	e := newEnv(t, 4)
	const n = 2000
	evs := e.publish(n) // amounts 1..n over 16 payment ids, in order per id

	// The committed effects, in commit order: a handler may run more than
	// once for an event (a chunk redone after another event failed), but
	// only one run commits.
	if _, err := e.db.Pool.Exec(context.Background(),
		`CREATE TABLE handled (seq bigserial PRIMARY KEY, payment_id text NOT NULL, amount bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var failures int
	c, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: e.group(), Topics: []string{e.topic},
		DB: e.db.Pool, Concurrency: 4, MaxBatch: 7, Retry: fastRetry, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	poison := evs[n/2].MessageID
	c.HandleTx(e.topic, func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		var p struct {
			ID     string `json:"payment_id"`
			Amount int64  `json:"amount"`
		}
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			return consumer.Permanent(err)
		}
		if ev.MessageID == poison {
			mu.Lock()
			failures++
			f := failures
			mu.Unlock()
			if f <= 2 {
				return fmt.Errorf("transient failure %d", f)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO handled (payment_id, amount) VALUES ($1, $2)`, p.ID, p.Amount)
		return err
	})
	start(t, c)
	count := func() (n int) {
		if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM handled`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, "every event handled", func() (bool, string) { k := count(); return k >= n, fmt.Sprint(k, " of ", n) })
	if k := count(); k != n {
		t.Fatalf("%d effects, want %d", k, n)
	}
	// Per payment id, in commit order, the amounts must increase.
	var bad int
	var first string
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*), coalesce(min(payment_id || ': ' || amount || ' after ' || prev), '')
		FROM (SELECT payment_id, amount, lag(amount) OVER (PARTITION BY payment_id ORDER BY seq) AS prev FROM handled) x
		WHERE amount <= prev`).Scan(&bad, &first); err != nil {
		t.Fatal(err)
	}
	if bad > 0 {
		t.Fatalf("%d events out of order per key, e.g. %s", bad, first)
	}
	mu.Lock()
	defer mu.Unlock()
	if failures != 3 {
		t.Errorf("the flaky event ran %d times, want 3 (two failures, then success)", failures)
	}
}
