package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
)

// Topics are the event types the order service consumes.
var Topics = []string{"payment.completed", "payment.failed", "refund.created"}

// Order statuses.
const (
	StatusAwaitingPayment = "awaiting_payment"
	StatusPaid            = "paid"
	StatusPaymentFailed   = "payment_failed"
	StatusRefunded        = "refunded"
	StatusPartlyRefunded  = "partially_refunded"
)

// errUnknownOrder is wrapped (and marked permanent) when an event names an
// order that does not exist.
var errUnknownOrder = errors.New("unknown order")

// schemaSQL creates the service's own table, in the first schema of the
// connection's search_path. kbus's tables (processed_events) are created by
// the consumer's migrations.
const schemaSQL = `CREATE TABLE IF NOT EXISTS orders (
	id              text PRIMARY KEY,
	merchant_id     text NOT NULL,
	amount          bigint NOT NULL,
	currency        text NOT NULL,
	status          text NOT NULL DEFAULT 'awaiting_payment',
	payment_id      text,
	refunded        bigint NOT NULL DEFAULT 0,
	updates         integer NOT NULL DEFAULT 0,
	last_message_id text,
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now()
)`

func createSchema(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, schemaSQL); err != nil {
		return fmt.Errorf("create the orders table: %w", err)
	}
	return nil
}

// register adds the handlers to c. Each runs inside the transaction that
// also inserts the event's dedup row: both commit, or neither does.
func register(c *consumer.Consumer) {
	c.HandleTx("payment.completed", paymentCompleted)
	c.HandleTx("payment.failed", paymentFailed)
	c.HandleTx("refund.created", refundCreated)
}

// eventData is the part of the three event types the handlers read.
type eventData struct {
	PaymentID string `json:"payment_id"`
	OrderID   string `json:"order_id"`
	Amount    int64  `json:"amount"`
}

func decodeData(e envelope.Envelope) (eventData, error) {
	var d eventData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return d, consumer.Permanent(fmt.Errorf("data is not a %s payload: %w", e.Topic, err))
	}
	if d.OrderID == "" {
		return d, consumer.Permanent(fmt.Errorf("%s without an order_id", e.Topic))
	}
	return d, nil
}

// update runs one UPDATE of an order and turns "no such row" into a
// permanent error: retrying cannot make the order exist.
func update(ctx context.Context, tx pgx.Tx, e envelope.Envelope, orderID, sql string, args ...any) error {
	tag, err := tx.Exec(ctx, sql, append([]any{orderID, e.MessageID}, args...)...)
	if err != nil {
		return fmt.Errorf("order %s: %w", orderID, err)
	}
	if tag.RowsAffected() == 0 {
		// Short and to the point: the DLQ entry has the event's id and topic,
		// and `kbus dlq list` shows the start of this text.
		return consumer.Permanent(fmt.Errorf("order %s: %w", orderID, errUnknownOrder))
	}
	return nil
}

func paymentCompleted(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
	d, err := decodeData(e)
	if err != nil {
		return err
	}
	return update(ctx, tx, e, d.OrderID, `UPDATE orders SET status = 'paid', payment_id = $3,
		updates = updates + 1, last_message_id = $2, updated_at = now() WHERE id = $1`, d.PaymentID)
}

func paymentFailed(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
	d, err := decodeData(e)
	if err != nil {
		return err
	}
	return update(ctx, tx, e, d.OrderID, `UPDATE orders SET status = 'payment_failed', payment_id = $3,
		updates = updates + 1, last_message_id = $2, updated_at = now() WHERE id = $1`, d.PaymentID)
}

func refundCreated(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
	d, err := decodeData(e)
	if err != nil {
		return err
	}
	return update(ctx, tx, e, d.OrderID, `UPDATE orders SET refunded = refunded + $3,
		status = CASE WHEN refunded + $3 >= amount THEN 'refunded' ELSE 'partially_refunded' END,
		updates = updates + 1, last_message_id = $2, updated_at = now() WHERE id = $1`, d.Amount)
}
