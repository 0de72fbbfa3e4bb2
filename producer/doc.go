// Package producer publishes kbus events onto Kafka topics.
//
// Every event travels in an [envelope.Envelope]: the producer gives it a
// fresh, time-sortable message id, the publish time, the service's name and
// the correlation id carried by the context, validates it, encodes it as JSON
// and mirrors its identifying fields into record headers. Invalid events are
// refused before anything is sent.
//
// # Publishing
//
// One [Producer] per process, shared by all goroutines:
//
//	p, err := producer.New(producer.Brokers("127.0.0.1:9092"), producer.Name("payment-service"))
//	if err != nil { ... }
//	defer p.Close()
//
//	// Waits for the broker's acknowledgement (acks=all, idempotent).
//	rcpt, err := p.Publish(ctx, "payment.completed", payment.ID, data)
//
// The second argument is the topic, which by kbus's convention is the event
// type. The third is the ordering key: events with the same key (a
// payment_id, a merchant_id) land on the same partition and are consumed in
// the order they were published. An empty key spreads events over
// partitions with no ordering between them.
//
// [Producer.PublishAsync] buffers the event and reports through a callback;
// [Producer.Flush] waits for everything buffered. Use it for bulk
// publishing; use Publish on request paths, where the caller must know that
// the event is durable before answering.
//
// # Schemas
//
// Before an event is sent, its data is checked against the schema of its
// type and metadata.schema_version ([SchemaVersion], default "1.0") in a
// schema catalog: kbus's shipped one ([schemas.Default]) unless [Schemas]
// names your own. A payload that does not match is refused with an error
// naming the field (a *[schemas.ValidationError]); an unknown type or
// version is refused too. Nothing reaches the broker:
//
//	_, err := p.Publish(ctx, "payment.completed", "pay_1", []byte(`{"payment_id":"pay_1","amount":"49.99"}`))
//	// producer: schemas: payment.completed 1.0: field amount: expected long (an integer), got string
//
// [SkipSchemaValidation] turns the check off for producers of topics
// without schemas. [AvroTopics] (or [ContentType] per event) sends the data
// as Avro binary instead of JSON, about half the size; the caller still
// passes JSON, and kbus consumers decode both forms. See docs/schemas.md.
//
// # Guarantees and failures
//
// Records are written idempotently with acks from all in-sync replicas, so a
// retry inside the client never duplicates or reorders a record. Publish
// returns within the caller's context deadline. When the deadline passes
// without an acknowledgement the error wraps [ErrNotAcknowledged]: the event
// may or may not have been written. Publish it again with the same id
// ([MessageID] with the id from the returned [Receipt]); kbus consumers
// deduplicate on the id, so the retry has no second effect. Delivery is
// at-least-once; exactly-once effects come from idempotent consumers.
//
// # Topics
//
// The producer never creates topics implicitly. [Producer.EnsureTopics]
// creates missing topics with a partition count and replication factor of
// your choice (through franz-go's kadm).
//
// # Correlation
//
// A correlation id set with [envelope.WithCorrelationID] (for example by
// [envelope.CorrelationMiddleware] on an HTTP server) is written into every
// event published with that context, and the kbus consumer puts the incoming
// event's correlation id into its handler's context, so a chain of events
// shares one id.
package producer
