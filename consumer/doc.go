// Package consumer runs kbus consumer groups: it fetches events from Kafka,
// hands each to the handler registered for its type, retries handlers that
// fail, dead-letters events that cannot be processed, and commits offsets
// according to an explicit delivery guarantee.
//
// A [Consumer] is one member of one consumer group ([Config].Group) over one
// or more topics. Instances of a group share the topics' partitions; each
// group sees every event. The runtime is built on franz-go (kgo) with the
// cooperative-sticky balancer, and, in the default Transactional mode, on a
// PostgreSQL dedup table, processed_events.
//
// # A first consumer
//
// Configure the group, register a handler per event type, and Run:
//
//	db, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	if err != nil { ... }
//	c, err := consumer.New(consumer.Config{
//		Brokers: []string{"127.0.0.1:9092"},
//		Group:   "orders",
//		Topics:  []string{"payment.completed"},
//		DB:      db, // Mode is Transactional, the default
//	})
//	if err != nil { ... }
//
//	c.HandleTx("payment.completed", func(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
//		var p struct{ OrderID string `json:"order_id"` }
//		if err := json.Unmarshal(e.Data, &p); err != nil {
//			return consumer.Permanent(err) // no retry: straight to the DLQ
//		}
//		_, err := tx.Exec(ctx, `UPDATE orders SET status = 'paid' WHERE order_id = $1`, p.OrderID)
//		return err
//	})
//
//	// Blocks until ctx ends, then drains and returns nil.
//	err = c.Run(ctx)
//
// The handler writes through tx and neither commits nor rolls it back: the
// runtime does, together with the event's row in processed_events. Events
// are dispatched on the envelope's topic field, the event type. [New] checks
// the configuration without connecting and returns an error wrapping
// [ErrConfig] when it is unusable; registration mistakes (a type registered
// twice, a Handle method of the wrong mode, no handler at all) are reported
// by [Consumer.Run], also wrapping [ErrConfig]. In Transactional mode Run applies kbus's database migrations
// before joining the group, unless [Config].SkipMigrations is set (then run
// `kbus migrate`). Run may be called once.
//
// # Delivery guarantees
//
// [Config].Mode chooses one of three guarantees; its zero value is
// Transactional.
//
//	                 Transactional          AtLeastOnce            AtMostOnce
//	                 (the default)
//	handlers         HandleTx,              Handle                 Handle
//	                 HandleBatchTx
//	offset commit    after the PostgreSQL   after the handlers     before the handlers
//	                 transaction commits    (or the DLQ write)     run
//	a crash          redelivers events      redelivers events      loses the events in
//	                 since the last commit; handled since the      flight (up to
//	                 their dedup rows make  last commit: they      MaxBatch, already
//	                 them no-ops            run again              committed)
//	a duplicate      skipped: its dedup     handled again:         handled again if
//	(same id)        row exists; counted    handlers must be       published twice; never
//	                 in Stats.Duplicates    idempotent             redelivered by kbus
//	effects          exactly once, in the   at least once          at most once per
//	                 handler's tx                                  record
//	needs            Config.DB              nothing                nothing
//
// Transactional gives exactly-once effects for effects written through tx:
// the dedup row (consumer_group, message_id) and the handler's writes commit
// in one transaction, and the offset is committed after it. A handler that
// also calls out (an HTTP request, a publish) may repeat that call when the
// transaction fails or is retried. AtLeastOnce suits stateless or
// naturally idempotent handlers. AtMostOnce suits events whose loss is
// cheaper than their repetition (cache invalidation, metrics); in it,
// failing handlers are still retried and dead-lettered, but a consumer
// stopped or revoked while retrying also loses the rest of its chunk. The
// commit before the handlers is synchronous and retried until it succeeds;
// the handlers run only after it.
//
// # Batching
//
// A partition's events are processed in chunks of up to [Config].MaxBatch
// (default 500) events. In
// Transactional mode a chunk is one database transaction while its handlers
// succeed: the dedup rows of all its events are inserted in one round trip,
//
//	INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset")
//	SELECT $1, m, t, p, o FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[]) AS u(m, t, p, o)
//	ON CONFLICT DO NOTHING
//	RETURNING message_id
//
// and only the events whose ids come back are handled (an id repeated within
// the chunk is handled once). When a handler fails, the transaction is rolled
// back; the events before the failing one are committed in a new
// transaction, the failing one is retried alone (see Retries), and the
// events after it go on in the next transaction. There is no savepoint per
// event, so a chunk whose handlers succeed costs one transaction. A database
// failure outside the handlers (begin, the dedup insert, commit) is retried
// with backoff until it succeeds, without counting as an attempt: nothing is
// skipped or committed meanwhile. MaxBatch 1 gives one transaction per event.
//
// A batch handler, registered with [Consumer.HandleBatchTx], receives a run
// of consecutive events of its type from one chunk, deduplicated and in
// partition order, in the chunk's transaction, for bulk writes (COPY,
// multi-row INSERT). When it fails, the events before the run are committed,
// and the run's events are then handled one at a time, each in its own
// transaction (the handler called with one event) with its own attempts, so
// that only the failing event is retried and dead-lettered. Batch handlers'
// context carries no correlation id (their events may have several); read
// e.Metadata.CorrelationID.
//
// # Retries and the dead-letter queue
//
// A failing handler (an error or a panic) is retried in place, within its
// partition, with the events after it waiting, following [Config].Retry, a
// [RetryPolicy]: Attempts (default 5, the first included), BaseDelay
// (default 200ms, doubled each retry) and MaxDelay (default 10s), with ±20%
// jitter. An error wrapped with [Permanent] is not retried.
//
// An event that cannot be processed goes to the group's dead-letter topic,
// dlq.<group> (see package dlq for the entry format and `kbus dlq replay`),
// with a reason:
//
//   - handler_error: the attempts ran out;
//   - permanent_error: the handler returned [Permanent](err);
//   - decode_error: a poison record, one that is not a valid envelope or is
//     larger than [Config].MaxEnvelopeSize; it never reaches a handler and
//     is not retried, and the entry keeps its raw bytes;
//   - no_handler: the event type has no handler and [Config].UnknownType is
//     [DeadLetterUnknown];
//   - schema_incompatible: the event's schema version cannot be read at the
//     version its handler declares (see "Schema versions" below).
//
// With the default [SkipUnknown], events of types without a handler are
// skipped, counted (skipped_total, reason no_handler) and logged at debug
// level. Records replayed from a DLQ are addressed to one group
// ([dlq.ReplayTarget]); other groups skip them (reason
// replay_for_other_group). Nothing else is skipped: except in AtMostOnce,
// the offset of a failed event is committed only once its DLQ entry is
// written, and when the DLQ cannot be written the partition waits and
// retries the write (logging each failure) rather than move past the event.
//
// A replayed event keeps its message id, so its dedup row decides: a
// replay of an event whose transaction failed (no row) is processed once,
// and replaying it again is a duplicate. A replay scoped to one webhook
// endpoint carries a replay key (dlq.HeaderReplayKey); it is deduplicated on
// the message id and that key, so it is processed once even though the
// event itself was processed before. A handler that needs the Kafka record
// (headers, key, partition, offset) gets it with [Record].
//
// # Schema versions and Avro
//
// Every envelope names its schema version (metadata.schema_version) and
// its content type. A handler declares the version it is written for with
// [SchemaVersion]:
//
//	c.HandleTx("payment.completed", markPaid, consumer.SchemaVersion("1.1"))
//
// Each event is then resolved to 1.1 with Avro schema resolution against
// [Config].Schemas (default: kbus's shipped catalog) before the handler
// runs: events written with 1.0 arrive with 1.1's defaults for the fields
// 1.0 did not have, events written with a later compatible version arrive
// without the fields 1.1 does not know, and the handler's envelope says
// 1.1. An event that cannot be resolved (an incompatible or unknown
// version) is dead-lettered with reason schema_incompatible, and the
// partition goes on; replay it once a handler that reads it is deployed.
//
// Events whose data is Avro binary (content type application/avro, see
// producer.AvroTopics) are decoded to JSON before any handler sees them,
// with or without SchemaVersion, so a topic can carry both forms. Without
// SchemaVersion, JSON data reaches the handler exactly as it was published.
// See docs/schemas.md for upgrading producers and consumers independently.
//
// # Ordering and concurrency
//
// Events of one partition are handled one at a time, in offset order, so
// events with the same key are handled in the order they were published.
// Up to [Config].Concurrency partitions (default 4) are processed at once;
// a partition holds its slot while it retries or waits for the DLQ. Each
// partition has a bounded queue of fetched records: beyond
// [Config].MaxBufferedRecords (default 4 × MaxBatch) its fetches are paused,
// and resumed once at most MaxBatch records wait, so a slow partition holds
// up neither the others nor memory.
//
// # Rebalancing and shutdown
//
// Offsets are committed explicitly, never by franz-go's autocommit: a chunk's
// offset is recorded once its effects are durable (the transaction committed,
// or the DLQ entry written) and committed to Kafka within
// [Config].CommitInterval (default 500ms) by one committer, so that
// partitions do not queue behind each other's OffsetCommit round trips. When
// partitions are revoked in a rebalance, their workers finish the chunk in
// flight and its offset is committed before the partitions move (in
// OnPartitionsRevoked); records fetched but not started are
// fetched again by the new owner. Partitions lost (the session expired)
// commit nothing more, because another member may own them already; in
// Transactional mode the dedup rows make the redelivery harmless.
//
// When Run's context ends, Run drains in this order: it stops fetching, lets
// the chunks in flight finish, commits them, and leaves the group; then it
// returns nil. Handlers keep a context that is not canceled when Run's
// context ends, but is canceled after [Config].ShutdownTimeout (default
// 30s). An event waiting for a retry or for the DLQ when the drain starts is
// not finished: its chunk is not committed and is redelivered.
//
// # Observability
//
// Logs go to [Config].Logger (log/slog; discarded by default) with messages
// prefixed "kbus:" and the fields group, topic, partition, offset,
// message_id, correlation_id, attempt, reason, dlq and error where they
// apply (docs/operations.md lists every key). Failed offset commits are
// logged and retried at the next interval; until then a crash would
// redeliver those events.
//
// With [Config].Registerer, the consumer registers these Prometheus
// metrics, each with a constant group label:
//
//	kbus_consumer_consumed_total{topic}               records fetched for processing
//	kbus_consumer_processed_total{topic}              events handled, effects committed
//	kbus_consumer_duplicates_total{topic}             events skipped: their dedup row existed
//	kbus_consumer_skipped_total{topic,reason}         no_handler, replay_for_other_group
//	kbus_consumer_retries_total{topic}                handler attempts after the first
//	kbus_consumer_dead_lettered_total{topic,reason}   events written to dlq.<group>
//	kbus_consumer_handler_duration_seconds{topic}     time in handlers, per call
//	kbus_consumer_lag_records{topic,partition}        records after the last one fetched
//
// A partition's lag series is dropped when the partition is revoked or lost.
// [Consumer.Stats] returns the same counters without Prometheus.
//
// # Correlation ids
//
// The context passed to a HandleTx or Handle handler carries the event's
// correlation id ([envelope.CorrelationID]), so events the handler publishes
// with it continue the chain. A HandleBatchTx handler gets each event's id
// in e.Metadata.CorrelationID.
//
// # Concurrency
//
// Register handlers before calling Run: the Handle methods are not safe to
// call concurrently with Run. [Consumer.Stats] is safe for concurrent use.
// Handlers of different partitions run concurrently; handlers of one
// partition never do.
package consumer
