package outbox_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/producer/outbox"
)

// A payment service marks a payment completed and announces it in one
// transaction: the event exists if and only if the update commits. (Needs
// Kafka and PostgreSQL, so it is compiled, not run.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	p, err := producer.New(producer.Brokers("127.0.0.1:9092"), producer.Name("payment-service"))
	if err != nil {
		log.Fatal(err)
	}
	ob, err := outbox.New(outbox.Config{Producer: p, DB: pool})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = ob.Run(ctx) }() // the relay: every instance runs one, one leads

	// In a request handler:
	ctx = envelope.WithCorrelationID(ctx, "req_abc123")
	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `UPDATE payments SET status = 'completed' WHERE id = $1`, "pay_x7k9"); err != nil {
		log.Fatal(err)
	}
	e, err := ob.Enqueue(ctx, tx, "payment.completed", "pay_x7k9",
		[]byte(`{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":"ord_1"}`))
	if err != nil {
		log.Fatal(err) // refused like Publish would: nothing is committed
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	log.Printf("payment completed; event %s will be published", e.MessageID)
}
