package containers_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/kbustest/containers"
	"github.com/kbus-dev/kbus/producer"
)

// TestMain is the one line a package of integration tests adds: its tests
// then run on containers when Docker answers and KAFKA_BROKERS and
// DATABASE_URL are unset, and on the services they name otherwise (see the
// package documentation).
func TestMain(m *testing.M) { os.Exit(containers.Main(m)) }

// TestPaymentCompletedIsPublishedAndRecorded is an integration test as a
// user writes it, on whatever services Main chose: copy it with TestMain as
// the start of your own. It publishes an event with kbus's producer on a fresh
// topic, reads it back, and records it in a fresh database schema.
func TestPaymentCompletedIsPublishedAndRecorded(t *testing.T) {
	ctx := context.Background()
	topic := kbustest.Topic(t, 3)                          // deleted when the test ends
	reg := kbustest.Catalog(t, "payment.completed", topic) // the event type's schemas, for this topic
	db := kbustest.DB(t)                                   // a fresh schema with kbus's migrations; dropped at the end
	p, err := producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"), producer.Schemas(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	rcpt, err := p.Publish(ctx, topic, "pay_x7k9",
		[]byte(`{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}`))
	if err != nil {
		t.Fatal(err)
	}

	cl := kbustest.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := cl.PollFetches(ctx).Records()
	if len(recs) != 1 {
		t.Fatalf("read back %d records", len(recs))
	}
	e, err := envelope.Unmarshal(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Amount int `json:"amount"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil || e.MessageID != rcpt.MessageID || data.Amount != 4999 {
		t.Fatalf("read back %s with %s (%v), published %s", e.MessageID, e.Data, err, rcpt.MessageID)
	}

	if _, err := db.Pool.Exec(ctx, `INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset")
		VALUES ('order-service', $1, $2, $3, $4)`, e.MessageID, topic, recs[0].Partition, recs[0].Offset); err != nil {
		t.Fatal(err)
	}
}

// Example shows the TestMain that runs a package's tests on containers
// (examples cannot define TestMain, so this one is compiled, not run; the
// TestMain of this file is the same line).
func Example() {
	_ = func(m *testing.M) {
		// KBUS_SERVICES=containers: always containers, failing without Docker;
		// KBUS_SERVICES=native: never; unset: when Docker answers and
		// KAFKA_BROKERS / DATABASE_URL are unset.
		os.Exit(containers.Main(m))
	}
}

// ExampleStart starts the containers in a TestMain of your own, when the
// services should come from containers whatever the environment says.
func ExampleStart() {
	_ = func(m *testing.M) {
		ctx := context.Background()
		s, err := containers.Start(ctx, kbustest.Plan{Kafka: true, Postgres: true})
		if err != nil {
			panic(err) // no Docker engine, or an image that does not start
		}
		os.Setenv("KAFKA_BROKERS", s.Brokers[0])
		os.Setenv("DATABASE_URL", s.DatabaseURL)
		code := m.Run()
		_ = s.Terminate(ctx)
		os.Exit(code)
	}
}
