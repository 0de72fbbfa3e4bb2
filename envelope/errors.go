package envelope

import "errors"

// Sentinel errors. Every error returned by this package can be inspected
// with [errors.Is] against these values, and field-level problems can be
// extracted with [errors.As] into a *[ValidationError].
//
// The two top-level categories are mutually exclusive:
//
//   - [ErrMalformed]: the bytes could not be decoded into an envelope at all
//     (not JSON, not a JSON object, truncated, a field of the wrong JSON type,
//     duplicate keys, trailing data). Such input cannot be repaired and is
//     typically sent straight to a dead-letter queue.
//   - [ErrInvalid]: the bytes decoded, or the Go value was built, but the
//     envelope breaks a rule. Every *[ValidationError] matches ErrInvalid, and
//     additionally matches exactly one of the detail sentinels below.
var (
	// ErrInvalid is matched by every *ValidationError (through its Is method).
	ErrInvalid = errors.New("envelope: invalid")

	// ErrMalformed reports that the bytes given to Unmarshal are not an
	// envelope at all. Errors wrapping ErrMalformed do not match ErrInvalid.
	ErrMalformed = errors.New("envelope: malformed")

	// ErrMissingField reports a required field that is empty.
	ErrMissingField = errors.New("missing field")

	// ErrTooLarge reports an encoded envelope larger than the allowed size;
	// see CheckSize.
	ErrTooLarge = errors.New("too large")

	// ErrInvalidUTF8 reports a string field (or JSON data) that is not valid
	// UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")

	// ErrNotJSON reports data that is not a single valid JSON value. Data
	// is embedded in the JSON envelope, so this applies to every content
	// type.
	ErrNotJSON = errors.New("data is not valid JSON")

	// ErrNotBase64 reports data that is not a JSON string holding standard,
	// padded base64 while the content type is ContentTypeAvro.
	ErrNotBase64 = errors.New("data is not a base64 JSON string")

	// ErrBadMessageID reports a message id that is not "msg_" followed by a
	// canonical (upper-case) ULID.
	ErrBadMessageID = errors.New("malformed message id")

	// ErrBadTopic reports a topic that is not a legal Kafka topic name; see
	// ValidTopic.
	ErrBadTopic = errors.New("invalid topic name")

	// ErrBadTimestamp reports a published_at that is not an RFC 3339
	// timestamp, or whose year is outside 0000..9999.
	ErrBadTimestamp = errors.New("invalid timestamp")

	// ErrBadContentType reports a content type other than ContentTypeJSON
	// and ContentTypeAvro.
	ErrBadContentType = errors.New("unsupported content type")
)

// ValidationError describes one problem with one field of an envelope.
//
// Field is the JSON path of the offending field: "message_id", "topic",
// "published_at", "producer", "data", "metadata.correlation_id",
// "metadata.schema_version" or "metadata.content_type". It is empty when the
// problem concerns the envelope as a whole (see CheckSize).
//
// Err is the cause; it is, or wraps, one of the package's detail sentinels
// (ErrMissingField, ErrBadTopic, ...), so both of these hold for a missing
// topic:
//
//	errors.Is(err, envelope.ErrInvalid)
//	errors.Is(err, envelope.ErrMissingField)
//
// When an envelope has several problems they are combined with [errors.Join];
// use errors.As on the joined error to find the first, or walk the tree
// (interface{ Unwrap() []error }) to list them all.
//
// A ValidationError is an immutable value once created and is safe for
// concurrent use.
type ValidationError struct {
	Field string // JSON path of the field, or "" for the whole envelope
	Err   error  // underlying cause, wrapping a detail sentinel
}

// Error returns "envelope: <field>: <err>", or "envelope: <err>" when Field
// is empty.
func (e *ValidationError) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Field == "" {
		return "envelope: " + msg
	}
	return "envelope: " + e.Field + ": " + msg
}

// Unwrap returns e.Err.
func (e *ValidationError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid, so that every ValidationError
// matches ErrInvalid in addition to whatever e.Err matches.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }
