// Package envelope defines the envelope every kbus event travels in, and
// the identifiers, Kafka headers and correlation ids that go with it.
//
// The package depends only on the standard library and
// github.com/oklog/ulid/v2; it knows nothing of Kafka clients, so it can be
// used by producers, consumers, gateways and tools alike.
//
// # The envelope
//
// On the wire an envelope is a JSON object with exactly these keys,
// in this order:
//
//	{"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",
//	 "topic":"payment.completed",
//	 "published_at":"2024-01-15T10:30:00.123Z",
//	 "producer":"payment-service",
//	 "data":{"payment_id":"pay_x7k9","amount":4999,"currency":"USD"},
//	 "metadata":{"correlation_id":"req_abc123","schema_version":"1.0","content_type":"application/json"}}
//
// The topic is the event type; each event type has a Kafka topic of the
// same name. The data is the payload, opaque to kbus.
//
// # Publishing
//
// A producer builds an envelope with New, fills in its own name, encodes it
// with Marshal (which validates first) and checks the size against the
// topic's limit:
//
//	data, _ := json.Marshal(payment)
//	e := envelope.New(ctx, "payment.completed", data)
//	e.Producer = "payment-service"
//	value, err := envelope.Marshal(e)
//	if err == nil {
//		err = envelope.CheckSize(len(value), 0) // 0: DefaultMaxSize
//	}
//	if err != nil {
//		return err
//	}
//	// produce value with e.Headers() as record headers
//
// New takes the message id, the publication time and the correlation id
// (from ctx) so that the caller cannot get them subtly wrong.
//
// # Consuming
//
// A consumer decodes with Unmarshal, which also validates:
//
//	e, err := envelope.Unmarshal(record.Value)
//	switch {
//	case errors.Is(err, envelope.ErrMalformed):
//		// not an envelope at all: dead-letter the raw bytes
//	case errors.Is(err, envelope.ErrInvalid):
//		// an envelope that breaks the rules: e holds what was decoded
//	}
//
// Every field problem is a *ValidationError naming the field, and matches
// both ErrInvalid and a detail sentinel such as ErrMissingField or
// ErrBadTopic. Unknown JSON fields are ignored, so consumers keep working
// when producers add fields.
//
// # Message ids
//
// A message id is "msg_" followed by a ULID (NewMessageID). Ids sort by
// creation time, and ids made in the same millisecond by one process sort
// in creation order. MessageIDTime recovers the time from an id, which lets
// an SSE server translate a client's Last-Event-ID into a Kafka offset
// lookup by timestamp.
//
// # Headers
//
// Headers copies the identifying fields into Kafka record headers, and
// ParseHeaders reads them back, so that routing and dead-lettering need not
// decode the record value. Header has the layout of franz-go's
// kgo.RecordHeader and converts to it directly.
//
// # Correlation ids
//
// A correlation id follows one request through every service and event it
// causes. CorrelationMiddleware accepts the X-Correlation-ID header of an
// incoming HTTP request, or makes a new id, and stores it in the request
// context; New copies it into the envelope; a consumer continues the chain
// with WithCorrelationID(ctx, e.Metadata.CorrelationID).
//
// # Concurrency
//
// All functions may be called from several goroutines at once. Values of
// the package's types (Envelope, Metadata, Header, HeaderFields) are plain
// data: share them read-only, or copy them.
//
// The package keeps no configurable global state. Its one piece of internal
// state is the mutex-guarded generator behind NewMessageID, which must
// remember recent ids to keep them monotonic.
package envelope
