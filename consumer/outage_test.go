package consumer_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
)

// TestDatabaseConnectionLostInHandlerIsNotAnAttempt kills the handler's
// own PostgreSQL backend in the middle of its transaction (as a database
// restart does) with retries set to one attempt: the event is not
// dead-lettered for the database's failure; it is handled again once the
// database answers, and has exactly one effect.
func TestDatabaseConnectionLostInHandlerIsNotAnAttempt(t *testing.T) {
	e := newEnv(t, 1)
	group := e.group()
	evs := e.publish(3)
	target := evs[1].MessageID
	var killed atomic.Int64
	c := newTx(t, e, group, func(ctx context.Context, tx pgx.Tx, ev envelope.Envelope) error {
		if err := recordEffect(ctx, tx, ev, group); err != nil {
			return err
		}
		if ev.MessageID == target && killed.Add(1) == 1 {
			// FATAL: terminating connection due to administrator command.
			_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			if err == nil {
				return fmt.Errorf("the backend survived pg_terminate_backend")
			}
			return fmt.Errorf("write the order: %w", err)
		}
		return nil
	}, func(cfg *consumer.Config) { cfg.Retry.Attempts = 1 })
	start(t, c)
	eventually(t, "all processed or dead-lettered", func() (bool, string) {
		s := c.Stats()
		return s.Processed+s.DeadLettered == 3, fmt.Sprintf("%+v", s)
	})
	if n := killed.Load(); n < 2 {
		t.Fatalf("the handler ran %d times for the event whose connection was killed, want it run again", n)
	}
	rows, distinct, _ := e.effects(group)
	if rows != 3 || distinct != 3 {
		t.Fatalf("rows=%d distinct=%d, want 3 and 3", rows, distinct)
	}
	if s := c.Stats(); s.DeadLettered != 0 {
		t.Fatalf("stats %+v: an event was dead-lettered for a lost database connection", s)
	}
}
