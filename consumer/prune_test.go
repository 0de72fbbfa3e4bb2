package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/kbustest"
)

func TestPruneDeletesOnlyTheGroupsOldRows(t *testing.T) {
	db := kbustest.DB(t)
	ctx := context.Background()
	// 25,000 old rows of group a (more than one batch), 10 recent ones, and
	// old rows of group b.
	if _, err := db.Pool.Exec(ctx, `
		INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset", processed_at)
		SELECT 'a', 'old_' || i, 't', 0, i, now() - interval '40 days' FROM generate_series(1, 25000) i;
		INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset", processed_at)
		SELECT 'a', 'new_' || i, 't', 0, i, now() - interval '1 day' FROM generate_series(1, 10) i;
		INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset", processed_at)
		SELECT 'b', 'old_' || i, 't', 0, i, now() - interval '40 days' FROM generate_series(1, 5) i;`); err != nil {
		t.Fatal(err)
	}
	n, err := consumer.Prune(ctx, db.Pool, "a", 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 25000 {
		t.Errorf("Prune deleted %d rows, want 25000", n)
	}
	count := func(group string) (c int) {
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE consumer_group = $1`, group).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if a, b := count("a"), count("b"); a != 10 || b != 5 {
		t.Errorf("left %d rows of a (want the 10 recent ones) and %d of b (want 5)", a, b)
	}
	if _, err := consumer.Prune(ctx, db.Pool, "", time.Hour); err == nil {
		t.Error("Prune without a group: no error")
	}
}
