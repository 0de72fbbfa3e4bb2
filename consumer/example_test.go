package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/producer"
)

// The runnable examples use kfake, franz-go's in-process Kafka, so that they
// run anywhere; the package's tests use a real broker and PostgreSQL.

// fakeCluster starts a one-broker kfake cluster with one partition per
// topic, so that the examples' output order is deterministic.
func fakeCluster(topics ...string) *kfake.Cluster {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		panic(err)
	}
	return c
}

// publishPayments publishes one payment.completed event per payment id,
// keyed by the id.
func publishPayments(brokers []string, ids ...string) {
	p, err := producer.New(producer.Brokers(brokers...), producer.Name("payment-service"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	ctx := envelope.WithCorrelationID(context.Background(), "req_abc123")
	for i, id := range ids {
		data := fmt.Appendf(nil, `{"payment_id":%q,"amount":%d,"currency":"USD","merchant_id":"merch_abc"}`, id, 1000*(i+1))
		if _, err := p.Publish(ctx, "payment.completed", id, data); err != nil {
			panic(err)
		}
	}
}

// A stateless consumer in AtLeastOnce mode: the offset is committed after the
// handler returns, so a crash in between redelivers the event, and the
// handler must be idempotent (printing is).
func Example_atLeastOnce() {
	cluster := fakeCluster("payment.completed")
	defer cluster.Close()
	publishPayments(cluster.ListenAddrs(), "pay_x7k9", "pay_m2q4", "pay_b8n1")

	c, err := consumer.New(consumer.Config{
		Brokers: cluster.ListenAddrs(),
		Group:   "receipts",
		Topics:  []string{"payment.completed"},
		Mode:    consumer.AtLeastOnce,
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	seen := 0
	c.Handle("payment.completed", func(ctx context.Context, e envelope.Envelope) error {
		var p struct {
			PaymentID string `json:"payment_id"`
		}
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return consumer.Permanent(err) // retrying will not fix bad JSON
		}
		// ctx carries the event's correlation id: events published with it
		// continue the chain.
		fmt.Println(p.PaymentID, envelope.CorrelationID(ctx))
		// Events of one partition are handled one at a time, in order, so
		// seen needs no lock here (with one partition).
		if seen++; seen == 3 {
			stop() // Run drains: this handler returns, its offset is committed
		}
		return nil
	})

	// Run blocks until ctx ends, then drains and returns nil.
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	s := c.Stats()
	fmt.Printf("processed %d of %d consumed\n", s.Processed, s.Consumed)
	// Output:
	// pay_x7k9 req_abc123
	// pay_m2q4 req_abc123
	// pay_b8n1 req_abc123
	// processed 3 of 3 consumed
}

// A Transactional consumer: the order service marks an order paid when its
// payment completes. The UPSERT goes through tx, the transaction that also
// inserts the event's row in processed_events, so the order is updated
// exactly once however often the event is delivered, and the Kafka offset is
// committed only after the transaction.
//
// This example needs a Kafka broker and PostgreSQL (KAFKA_BROKERS,
// DATABASE_URL), so it is compiled but not run: it has no Output comment.
func ExampleConsumer_HandleTx() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop() // in a service: signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)

	db, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer db.Close()

	c, err := consumer.New(consumer.Config{
		Brokers: []string{os.Getenv("KAFKA_BROKERS")},
		Group:   "orders",
		Topics:  []string{"payment.completed"},
		DB:      db, // kbus applies its migrations (processed_events) when Run starts
		// Mode: consumer.Transactional, the default
	})
	if err != nil {
		panic(err)
	}
	c.HandleTx("payment.completed", func(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
		var p struct {
			PaymentID string `json:"payment_id"`
			OrderID   string `json:"order_id"`
		}
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return consumer.Permanent(err)
		}
		// Write through tx; never commit or roll it back here. A failure
		// rolls back this write together with the dedup row, and the event
		// is retried.
		_, err := tx.Exec(ctx, `INSERT INTO orders (order_id, status, payment_id, paid_at)
			VALUES ($1, 'paid', $2, $3)
			ON CONFLICT (order_id) DO UPDATE SET status = 'paid', payment_id = $2, paid_at = $3`,
			p.OrderID, p.PaymentID, e.PublishedAt)
		return err
	})
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
}

// A handler marks an event that can never succeed with Permanent: it is not
// retried but written to the group's DLQ, dlq.<group>, with reason
// permanent_error, and the partition moves on.
func ExamplePermanent() {
	cluster := fakeCluster("payment.completed")
	defer cluster.Close()
	publishPayments(cluster.ListenAddrs(), "pay_x7k9", "pay_unknown", "pay_b8n1")

	c, err := consumer.New(consumer.Config{
		Brokers: cluster.ListenAddrs(),
		Group:   "ledger",
		Topics:  []string{"payment.completed"},
		Mode:    consumer.AtLeastOnce,
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	errNoAccount := errors.New("ledger: no account for this payment")
	c.Handle("payment.completed", func(ctx context.Context, e envelope.Envelope) error {
		var p struct {
			PaymentID string `json:"payment_id"`
		}
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return consumer.Permanent(err)
		}
		if p.PaymentID == "pay_unknown" {
			return consumer.Permanent(errNoAccount) // retrying will not create the account
		}
		fmt.Println("booked", p.PaymentID)
		return nil
	})

	go func() { // stop once every event is processed or dead-lettered
		for s := c.Stats(); s.Processed+s.DeadLettered < 3; s = c.Stats() {
			time.Sleep(10 * time.Millisecond)
		}
		stop()
	}()
	if err := c.Run(ctx); err != nil {
		panic(err)
	}
	s := c.Stats()
	fmt.Printf("processed %d, retries %d, dead-lettered %d\n", s.Processed, s.Retries, s.DeadLettered)

	// The DLQ entry says why, and keeps the original record for a replay.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	err = dlq.Read(context.Background(), cl, "ledger", func(e dlq.Entry, rec *kgo.Record, err error) error {
		if err != nil {
			return err
		}
		fmt.Println(rec.Topic+":", e.FailureReason, e.Attempts, e.LastError, string(e.Key))
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// booked pay_x7k9
	// booked pay_b8n1
	// processed 2, retries 0, dead-lettered 1
	// dlq.ledger: permanent_error 1 permanent: ledger: no account for this payment pay_unknown
}
