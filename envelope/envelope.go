package envelope

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Content types, schema version and format limits.
const (
	// ContentTypeJSON means Data holds the event payload as a JSON value.
	ContentTypeJSON = "application/json"

	// ContentTypeAvro means Data holds Avro-encoded bytes as a JSON string of
	// standard, padded base64 (base64.StdEncoding), for example "AgRVU0Q=".
	ContentTypeAvro = "application/avro"

	// DefaultSchemaVersion is the schema version New puts in Metadata.
	DefaultSchemaVersion = "1.0"

	// DefaultMaxSize is the default limit, in bytes, on an encoded envelope
	// used by CheckSize. It matches the order of magnitude of Kafka's default
	// max.message.bytes (about 1 MiB).
	DefaultMaxSize = 1 << 20

	// Version is the version of the envelope format itself. It travels in
	// the HeaderEnvelopeVersion header, not in the JSON body.
	Version = "1"
)

// Envelope is the wrapper every kbus event travels in. On the wire it is a
// JSON object with exactly these keys, in this order:
//
//	{
//	  "message_id": "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW",
//	  "topic": "payment.completed",
//	  "published_at": "2024-01-15T10:30:00.123Z",
//	  "producer": "payment-service",
//	  "data": {"payment_id": "pay_x7k9", "amount": 4999},
//	  "metadata": {"correlation_id": "req_abc123", "schema_version": "1.0", "content_type": "application/json"}
//	}
//
// Build envelopes with New, check them with Validate, encode them with
// Marshal and decode them with Unmarshal. An Envelope is a plain value:
// copies share the Data bytes, so treat Data as immutable once the envelope
// is shared. Under that rule, reading an Envelope from several goroutines is
// safe; writing it while others read is not.
type Envelope struct {
	// MessageID is IDPrefix followed by a ULID (see NewMessageID). It is
	// unique per event and sorts by publication time; consumers use it for
	// de-duplication and SSE clients as Last-Event-ID.
	MessageID string `json:"message_id"`

	// Topic is the event type, such as "payment.completed". Each event type
	// has its own Kafka topic of the same name, so it must be a legal Kafka
	// topic name (see ValidTopic).
	Topic string `json:"topic"`

	// PublishedAt is when the event was published, with millisecond
	// precision. It is encoded in UTC as RFC 3339 with at least three
	// fractional digits, e.g. "2024-01-15T10:30:00.123Z".
	PublishedAt time.Time `json:"published_at"`

	// Producer names the service that published the event. New leaves it
	// empty; the producer client fills it in.
	Producer string `json:"producer"`

	// Data is the event payload: any JSON value except null. Its meaning
	// depends on Metadata.ContentType; see ContentTypeJSON and
	// ContentTypeAvro.
	Data json.RawMessage `json:"data"`

	// Metadata holds information about the payload and its request.
	Metadata Metadata `json:"metadata"`
}

// Metadata is the "metadata" object of an envelope. It is a plain value;
// see Envelope for the rules on concurrent use.
type Metadata struct {
	// CorrelationID ties together all events caused by one request. It is
	// optional; New copies it from the context (see CorrelationID).
	CorrelationID string `json:"correlation_id"`

	// SchemaVersion is the version of the Data schema for this Topic.
	SchemaVersion string `json:"schema_version"`

	// ContentType is ContentTypeJSON or ContentTypeAvro.
	ContentType string `json:"content_type"`
}

// New returns an envelope for an event of type topic with payload data
// (JSON, copied), ready for the producer to fill in Producer:
//
//   - MessageID is a fresh id from NewMessageID;
//   - PublishedAt is the current time in UTC, truncated to the millisecond,
//     and equal to MessageIDTime(MessageID);
//   - Metadata.CorrelationID is CorrelationID(ctx), possibly empty;
//   - Metadata.SchemaVersion is DefaultSchemaVersion;
//   - Metadata.ContentType is ContentTypeJSON.
//
// New does not validate its arguments; Marshal does. It is safe for
// concurrent use.
func New(ctx context.Context, topic string, data []byte) Envelope {
	ms := timestampMS(time.Now())
	return Envelope{
		MessageID:   prefixedID(IDPrefix, ids.next(ms)),
		Topic:       topic,
		PublishedAt: time.UnixMilli(int64(ms)).UTC(),
		Data:        bytes.Clone(data),
		Metadata: Metadata{
			CorrelationID: CorrelationID(ctx),
			SchemaVersion: DefaultSchemaVersion,
			ContentType:   ContentTypeJSON,
		},
	}
}

// Marshal validates e and, if it is valid, encodes it as JSON with the keys
// in the documented order and no whitespace between them. Data is written
// verbatim, as the producer gave it (only surrounding whitespace is dropped),
// so a consumer receives exactly the bytes that were published; HTML
// characters (<, >, &) are not escaped. If e is invalid, the error is the
// one Validate returns.
//
// Marshal does not enforce a size limit, because the limit is a property of
// the Kafka topic; call CheckSize on the result.
func Marshal(e Envelope) ([]byte, error) {
	return AppendMarshal(nil, e)
}

// AppendMarshal is Marshal appending to dst, so that a caller can reuse
// buffers. On error dst is returned unchanged.
func AppendMarshal(dst []byte, e Envelope) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	b, err := encode(dst, e, false)
	if err != nil {
		return dst, err
	}
	return b, nil
}

// MarshalJSON encodes e exactly as Marshal does but without validating it,
// so that an Envelope embedded in another JSON document (a dead-letter
// record, a log line) has the same shape as on the wire. It fails only when
// Data is not valid JSON or PublishedAt cannot be written as RFC 3339.
func (e Envelope) MarshalJSON() ([]byte, error) {
	return encode(nil, e, true)
}

// Unmarshal decodes an envelope from JSON and validates it.
//
// If b is not a JSON object, is truncated, has trailing data, repeats a key,
// or gives a field the wrong JSON type (for example a number for "topic" or
// an array for "metadata"), the error wraps ErrMalformed and the returned
// Envelope is the zero value.
//
// Otherwise the decoded envelope is returned even when it is invalid, so
// that it can be logged or dead-lettered, together with the problems found
// (see Validate). In addition to Validate's checks, Unmarshal reports
// string fields whose raw bytes are not valid UTF-8 (ErrInvalidUTF8) and
// published_at values that are not RFC 3339 (ErrBadTimestamp).
//
// Key names are matched exactly (case-sensitively). Unknown keys, at the top
// level and inside "metadata", are ignored, so that older consumers accept
// envelopes from newer producers that add fields; such fields are dropped
// if the envelope is re-encoded. A JSON null counts as an absent field.
// PublishedAt is returned in UTC.
func Unmarshal(b []byte) (Envelope, error) {
	return unmarshal(b) // see decode.go
}

// CheckSize reports whether an encoded envelope of n bytes fits in limit
// bytes; a limit <= 0 means DefaultMaxSize. When n > limit it returns a
// *ValidationError with an empty Field wrapping ErrTooLarge; otherwise nil.
//
// Producers call it on the output of Marshal, with the max.message.bytes of
// the target topic, to fail fast instead of waiting for the broker to
// reject the record.
func CheckSize(n, limit int) error {
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	if n > limit {
		return &ValidationError{Err: fmt.Errorf("%w: %d bytes exceeds the limit of %d", ErrTooLarge, n, limit)}
	}
	return nil
}

// joinErrors returns nil, the only error, or errors.Join of all of them.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
