package kbustest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/kbustest"
)

func TestTopicIsFreshAndUsable(t *testing.T) {
	topic := kbustest.Topic(t, 3)
	if !strings.HasPrefix(topic, "kbustest.") {
		t.Fatalf("topic %q lacks the kbustest. prefix", topic)
	}
	if other := kbustest.Topic(t, 1); other == topic {
		t.Fatalf("two calls returned the same topic %q", topic)
	}

	md, err := kbustest.Admin(t).Metadata(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(md.Topics[topic].Partitions); got != 3 {
		t.Fatalf("partitions = %d, want 3", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := kbustest.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatalf("poll: %v", err)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "hello" {
		t.Fatalf("read back %v", recs)
	}
}

func TestTopicDeletedAtCleanup(t *testing.T) {
	var topic string
	t.Run("sub", func(t *testing.T) { topic = kbustest.Topic(t, 1) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Deletion propagates to metadata asynchronously: poll until it is gone.
	adm := kbustest.Admin(t)
	for {
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !topics.Has(topic) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s still exists 30 s after its test ended", topic)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestDBHasMigrationsAndIsIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := kbustest.DB(t), kbustest.DB(t)
	if a.Schema == b.Schema {
		t.Fatalf("two calls returned schema %q", a.Schema)
	}
	if _, err := a.Pool.Exec(ctx,
		`INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset") VALUES ('g', 'msg_1', 't', 0, 0)`); err != nil {
		t.Fatalf("insert into migrated table: %v", err)
	}
	var n int
	if err := b.Pool.QueryRow(ctx, `SELECT count(*) FROM processed_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("schema %s sees %d rows written in schema %s", b.Schema, n, a.Schema)
	}
}

func TestDBDroppedAtCleanup(t *testing.T) {
	var schema string
	t.Run("sub", func(t *testing.T) { schema = kbustest.DB(t).Schema })
	var exists bool
	err := kbustest.DB(t).Pool.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)`, schema).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("schema %s still exists after its test ended", schema)
	}
}
