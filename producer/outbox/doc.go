// Package outbox is kbus's transactional outbox: it publishes an event if
// and only if the database transaction that describes the change commits.
//
// Publishing from a request handler after COMMIT loses the event when the
// process dies in between; publishing before COMMIT announces a change that
// may roll back. The outbox closes the gap: the event is a row written in
// the same transaction as the change, and a relay publishes committed rows
// to Kafka.
//
//	ob, err := outbox.New(outbox.Config{Producer: p, DB: pool})
//	go ob.Run(ctx) // the relay; run it in every instance, one leads
//
//	tx, err := pool.Begin(ctx)
//	_, err = tx.Exec(ctx, `UPDATE payments SET status = 'completed' WHERE id = $1`, id)
//	_, err = ob.Enqueue(ctx, tx, "payment.completed", id, data) // checked like Publish
//	err = tx.Commit(ctx) // the event now exists, and will be published
//
// Enqueue checks the event as Publish would (envelope, schema, size) and
// inserts it into kbus_outbox (created by kbus's migrations). On commit the
// relay is notified (LISTEN/NOTIFY) and publishes the rows in insertion
// order with their message ids, deleting each once the broker has
// acknowledged it.
//
// # Guarantees
//
//   - Atomic: the event exists if and only if the transaction commits.
//   - At-least-once: a row is deleted only after its acknowledgement, so a
//     crash in between publishes it again under the same message id, which
//     kbus consumers deduplicate.
//   - Ordered: one relay at a time holds a PostgreSQL advisory lock and
//     publishes in id order, keyed as enqueued; the other instances' relays
//     wait to take over. (A failed publish is retried after the rest of its
//     round, which may put it behind later events of its key.)
//   - Loud: a row that fails to publish stays in the table with its
//     attempts and last error (see [Pending] for alerts), and the relay
//     retries it with backoff. Nothing leaves the table unpublished.
//   - Outage-proof: Run returns only when its context ends. While Kafka or
//     PostgreSQL is down it logs and retries; when the relay's connection
//     is lost (a database restart), it leads again on a new one, and a
//     standby may lead meanwhile (TestRelaySurvivesLosingItsConnection).
//
// The relay publishes through the [producer.Producer] given in [Config],
// which is idempotent with acks=all.
package outbox
