package kbustest_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/kbustest"
)

// TestOrderFlow is the example from the package documentation, run as a test:
// a fresh topic, a fresh schema, a record produced and read back, and a write
// to a migrated table. Copy it as the start of your own integration tests.
func TestOrderFlow(t *testing.T) {
	ctx := context.Background()
	topic := kbustest.Topic(t, 3) // deleted when the test ends
	db := kbustest.DB(t)          // dropped when the test ends

	cl := kbustest.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	rec := &kgo.Record{Topic: topic, Key: []byte("pay_x7k9"), Value: []byte(`{"amount":4999}`)}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := cl.PollFetches(ctx).Records()
	if len(got) != 1 || string(got[0].Key) != "pay_x7k9" {
		t.Fatalf("read back %v", got)
	}

	if _, err := db.Pool.Exec(ctx, `INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset")
		VALUES ('orders', 'msg_1', $1, $2, $3)`, topic, got[0].Partition, got[0].Offset); err != nil {
		t.Fatal(err)
	}
}

// Example shows the shape of an integration test. Examples cannot receive a
// *testing.T, so this one is compiled but not run; TestOrderFlow in this file
// runs the same code.
func Example() {
	_ = func(t *testing.T) {
		brokers := kbustest.Brokers(t) // fails under KBUS_REQUIRE_SERVICES=1 when no broker answers
		topic := kbustest.Topic(t, 3)  // a fresh topic with 3 partitions
		db := kbustest.DB(t)           // a fresh schema with kbus's migrations; db.Pool, db.URL
		_, _, _ = brokers, topic, db
	}
}
