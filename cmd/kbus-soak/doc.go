// Command kbus-soak proves kbus's delivery guarantees while brokers,
// PostgreSQL and kbus's own processes fail. `make soak` runs it in its long
// form; CI runs `-short`. It expects a three-node cluster and a PostgreSQL
// of its own (scripts/soak.sh starts both), and it drives them:
//
//   - it publishes -events events through producer.Publish from several
//     goroutines (each retried under its message id until acknowledged) and
//     -outbox more through producer/outbox, and writes a few poison records;
//   - three processes of one Transactional consumer group write one effect
//     row per event (in a table without a unique key, so a doubled effect
//     shows); one AtLeastOnce process appends every handler run to a file;
//   - two `kbus serve webhooks` processes deliver to receivers that answer
//     500, hang past the timeout, reset the connection or answer 429 with
//     Retry-After, on a short schedule; two `kbus serve sse` processes serve
//     one client per tenant, which reconnects with Last-Event-ID;
//   - on a schedule it kill -9s a random consumer, dispatcher or SSE server
//     every -fault-every and restarts it, kill -9s the broker leading
//     partition 0 (twice) and restarts it 15 s later, and stops PostgreSQL
//     with `pg_ctl stop -m immediate` (twice) and restarts it 8 s later;
//     -short does each once.
//
// When publishing and faults are over it waits for the system to drain and
// checks: every acknowledged event and every committed outbox row is in
// Kafka; the Transactional effects are exactly the events in Kafka; every
// event ran at least once AtLeastOnce; every webhook was answered 2xx at
// least once with a valid signature; every SSE client received every event
// of its tenant; the DLQs hold exactly the poison records; no process exited
// on its own. It prints a table, writes the figures as JSON (-json) and into
// the block between the kbus-soak markers of a Markdown file (-markdown
// RELIABILITY.md, as `make soak` does), and exits 1 when a check fails.
// While it drains it logs which checks do not hold yet.
//
//	kbus-soak -kbus .soak/bin/kbus -brokers 127.0.0.1:29091,127.0.0.1:29092,127.0.0.1:29093 \
//	  -database-url postgres://postgres@127.0.0.1:5433/kbus_soak?sslmode=disable
//
// The worker subcommand is the consumer process the harness starts; it is
// not meant to be run by hand.
package main
