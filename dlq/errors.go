package dlq

import "errors"

// Sentinel errors. Every error returned by this package that has one of
// these causes matches it with [errors.Is]; the wrapped message adds the
// detail (the field, the topic, the broker's answer).
var (
	// ErrMalformed reports a DLQ record whose value is not a DLQ entry:
	// not JSON, a field of the wrong JSON type, or an entry missing its
	// version, consumer group, source topic or failure reason. It surfaces
	// from [Decode] and, per record, through the callback of [Read]; the
	// kbus CLI lists such records instead of hiding them.
	ErrMalformed = errors.New("dlq: malformed entry")

	// ErrNoTopic reports that the DLQ topic of a consumer group does not
	// exist, which usually means nothing was ever dead-lettered for that
	// group (the topic is created by the first [Writer.Write]). It surfaces
	// from [Read].
	ErrNoTopic = errors.New("dlq: no such DLQ topic")

	// ErrInvalidEntry reports an [Entry] that cannot be written: it lacks
	// its consumer group, source topic or failure reason, or its consumer
	// group does not make a legal Kafka topic name. It surfaces from
	// [Entry.Record] and [Writer.Write], before anything is sent.
	ErrInvalidEntry = errors.New("dlq: invalid entry")
)
