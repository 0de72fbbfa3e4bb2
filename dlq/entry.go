package dlq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
)

// TopicPrefix starts the name of every DLQ topic; see [Topic].
const TopicPrefix = "dlq."

// Version is the version of the entry format that this package writes
// (Entry.Version). Later versions may only add fields, so [Decode] accepts
// entries of any version from 1 up.
const Version = 1

// Failure reasons, the values of Entry.FailureReason and of the
// HeaderReason header.
const (
	ReasonHandlerError       = "handler_error"       // the handler failed and retries are exhausted
	ReasonPermanent          = "permanent_error"     // the handler returned consumer.Permanent(err): not retried
	ReasonDecodeError        = "decode_error"        // the record value is not a valid envelope
	ReasonNoHandler          = "no_handler"          // no handler for the event type (when configured to dead-letter it)
	ReasonSchemaIncompatible = "schema_incompatible" // the event's schema version cannot be handled
)

// Header keys. The first three are on every DLQ record, so that tools can
// filter a DLQ topic without decoding its values; the replay headers are on
// records re-published by [Entry.Replay].
const (
	HeaderReason      = "kbus-dlq-reason"       // Entry.FailureReason
	HeaderGroup       = "kbus-dlq-group"        // Entry.ConsumerGroup
	HeaderSourceTopic = "kbus-dlq-source-topic" // Entry.Topic

	// HeaderReplayGroup names the only consumer group that must process a
	// replayed record; every other group skips it (see [ReplayTarget]).
	HeaderReplayGroup = "kbus-replay-group"
	// HeaderReplayCount is how many times the event has been replayed, in
	// decimal: 1 on the first replay.
	HeaderReplayCount = "kbus-replay-count"
	// HeaderReplayedAt is when the replay was published, RFC 3339 in UTC
	// with up to nanosecond precision.
	HeaderReplayedAt = "kbus-replayed-at"
	// HeaderReplayEndpoint, on a replay of an entry about one webhook
	// endpoint, names that endpoint: only it gets a new delivery.
	HeaderReplayEndpoint = "kbus-replay-endpoint"
	// HeaderReplayKey, on such a replay, names the DLQ entry replayed; the
	// consumer runtime deduplicates on the message id and this key.
	HeaderReplayKey = "kbus-replay-key"
)

// Topic returns the DLQ topic of a consumer group: TopicPrefix + group.
func Topic(group string) string { return TopicPrefix + group }

// Entry is one dead-lettered event: why and where it failed, and the
// original record byte for byte, which is what an exact replay needs.
//
// Its JSON form is the DLQ record's value; the package documentation shows
// an example. Byte slices (Key, Value, header values) are base64 in JSON,
// and a nil slice is null, distinct from an empty one, as Kafka
// distinguishes a null key from an empty one. Strings are written as JSON
// strings, so invalid UTF-8 in them (in LastError, say) is replaced with
// U+FFFD; the bytes that matter for a replay are all byte slices.
//
// An Entry is a plain value. Its slices are shared between copies: share it
// read-only between goroutines, or copy it.
type Entry struct {
	// Version is the format version, [Version] when written by this
	// package. [Entry.Record] sets it when it is 0.
	Version int `json:"version"`
	// OriginalMessageID is the envelope's message_id; "" when the record was
	// not a decodable envelope and carried no envelope.HeaderMessageID
	// header.
	OriginalMessageID string `json:"original_message_id"`
	// Topic is the source topic, the one the failed record was consumed
	// from.
	Topic string `json:"topic"`
	// ConsumerGroup is the group that failed to process the record, and the
	// one a replay is addressed to.
	ConsumerGroup string `json:"consumer_group"`
	// FailureReason is one of the Reason constants.
	FailureReason string `json:"failure_reason"`
	// Attempts is how many times the handler ran (0 when it never did, for
	// example on a decode error).
	Attempts int `json:"attempts"`
	// FirstAttempt and LastAttempt bound the handler attempts; zero when
	// there were none.
	FirstAttempt time.Time `json:"first_attempt"`
	LastAttempt  time.Time `json:"last_attempt"`
	// LastError is the text of the last error.
	LastError string `json:"last_error"`
	// OriginalPayload is the original record value embedded as JSON when it
	// is valid JSON (normally the envelope), for people reading the DLQ; nil
	// (JSON null) otherwise. It is informational: replays use Value.
	OriginalPayload json.RawMessage `json:"original_payload"`
	// Key is the original record key.
	Key []byte `json:"key"`
	// Headers are the original record headers, in order. In JSON:
	// [{"key":"kbus-message-id","value":"<base64>"}, ...].
	Headers []envelope.Header `json:"headers"`
	// Partition and Offset locate the original record in Topic.
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	// Value is the original record value byte for byte, even when it is not
	// valid JSON.
	Value []byte `json:"original_value"`
	// DeadLetteredAt is when the entry was written. [Entry.Record] sets it
	// to the current time when it is zero.
	DeadLetteredAt time.Time `json:"dead_lettered_at"`
	// EndpointID is, for the webhook fan-out, the endpoint this failure
	// concerns; omitted from JSON when empty.
	EndpointID string `json:"endpoint_id,omitempty"`
}

// entryJSON is Entry as encoded: the same fields and tags, with headers in
// their lower-case JSON form (envelope.Header has no JSON tags). The field
// order here is the key order on the wire.
type entryJSON struct {
	Version           int             `json:"version"`
	OriginalMessageID string          `json:"original_message_id"`
	Topic             string          `json:"topic"`
	ConsumerGroup     string          `json:"consumer_group"`
	FailureReason     string          `json:"failure_reason"`
	Attempts          int             `json:"attempts"`
	FirstAttempt      time.Time       `json:"first_attempt"`
	LastAttempt       time.Time       `json:"last_attempt"`
	LastError         string          `json:"last_error"`
	OriginalPayload   json.RawMessage `json:"original_payload"`
	Key               []byte          `json:"key"`
	Headers           []headerJSON    `json:"headers"`
	Partition         int32           `json:"partition"`
	Offset            int64           `json:"offset"`
	Value             []byte          `json:"original_value"`
	DeadLetteredAt    time.Time       `json:"dead_lettered_at"`
	EndpointID        string          `json:"endpoint_id,omitempty"`
}

type headerJSON struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// MarshalJSON encodes e in the DLQ entry format, with keys in the order of
// the fields. The payload is embedded compacted; HTML characters (<, >, &)
// are not escaped, so it stays readable in DLQ records (json.Marshal of an
// Entry escapes them again, which is equivalent JSON). OriginalPayload is
// written as null when it is not valid JSON.
func (e Entry) MarshalJSON() ([]byte, error) {
	j := entryJSON{
		Version:           e.Version,
		OriginalMessageID: e.OriginalMessageID,
		Topic:             e.Topic,
		ConsumerGroup:     e.ConsumerGroup,
		FailureReason:     e.FailureReason,
		Attempts:          e.Attempts,
		FirstAttempt:      e.FirstAttempt,
		LastAttempt:       e.LastAttempt,
		LastError:         e.LastError,
		OriginalPayload:   e.OriginalPayload,
		Key:               e.Key,
		Partition:         e.Partition,
		Offset:            e.Offset,
		Value:             e.Value,
		DeadLetteredAt:    e.DeadLetteredAt,
		EndpointID:        e.EndpointID,
	}
	if len(j.OriginalPayload) == 0 || !json.Valid(j.OriginalPayload) {
		// A payload that is not JSON cannot be embedded; Value keeps the bytes.
		j.OriginalPayload = nil
	}
	if e.Headers != nil {
		j.Headers = make([]headerJSON, len(e.Headers))
		for i, h := range e.Headers {
			j.Headers[i] = headerJSON(h)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, fmt.Errorf("dlq: encode entry: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON decodes the DLQ entry format into e. It only decodes; use
// [Decode] to also check that the entry is complete. Unknown keys are
// ignored, so that readers keep working when later versions add fields.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j entryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Entry{
		Version:           j.Version,
		OriginalMessageID: j.OriginalMessageID,
		Topic:             j.Topic,
		ConsumerGroup:     j.ConsumerGroup,
		FailureReason:     j.FailureReason,
		Attempts:          j.Attempts,
		FirstAttempt:      j.FirstAttempt,
		LastAttempt:       j.LastAttempt,
		LastError:         j.LastError,
		OriginalPayload:   j.OriginalPayload,
		Key:               j.Key,
		Partition:         j.Partition,
		Offset:            j.Offset,
		Value:             j.Value,
		DeadLetteredAt:    j.DeadLetteredAt,
		EndpointID:        j.EndpointID,
	}
	if bytes.Equal(e.OriginalPayload, []byte("null")) {
		e.OriginalPayload = nil
	}
	if j.Headers != nil {
		e.Headers = make([]envelope.Header, len(j.Headers))
		for i, h := range j.Headers {
			e.Headers[i] = envelope.Header(h)
		}
	}
	return nil
}

// NewEntry starts the entry for a record that group failed to process for
// reason. It fills Version, Topic, ConsumerGroup, FailureReason and the
// replay fields: Key, Headers, Partition, Offset and Value (copies, so rec
// may be reused afterwards), and OriginalPayload when the value is valid
// JSON. OriginalMessageID is messageID, or when that is "" the value of the
// record's last envelope.HeaderMessageID header, if any.
//
// The caller fills in Attempts, FirstAttempt, LastAttempt, LastError and,
// for webhooks, EndpointID. DeadLetteredAt is left zero for
// [Entry.Record] to stamp.
func NewEntry(rec *kgo.Record, group, reason string, messageID string) Entry {
	e := Entry{
		Version:           Version,
		OriginalMessageID: messageID,
		Topic:             rec.Topic,
		ConsumerGroup:     group,
		FailureReason:     reason,
		Key:               slices.Clone(rec.Key),
		Partition:         rec.Partition,
		Offset:            rec.Offset,
		Value:             slices.Clone(rec.Value),
	}
	if rec.Headers != nil {
		e.Headers = make([]envelope.Header, len(rec.Headers))
		for i, h := range rec.Headers {
			e.Headers[i] = envelope.Header{Key: h.Key, Value: slices.Clone(h.Value)}
		}
	}
	if len(e.Value) > 0 && json.Valid(e.Value) {
		e.OriginalPayload = json.RawMessage(e.Value)
	}
	if e.OriginalMessageID == "" {
		e.OriginalMessageID, _ = envelope.HeaderValue(e.Headers, envelope.HeaderMessageID)
	}
	return e
}

// problem describes what keeps e from being written, or returns "".
func (e Entry) problem() string {
	var missing []string
	if e.ConsumerGroup == "" {
		missing = append(missing, "consumer_group")
	}
	if e.Topic == "" {
		missing = append(missing, "topic")
	}
	if e.FailureReason == "" {
		missing = append(missing, "failure_reason")
	}
	if len(missing) > 0 {
		return "missing " + strings.Join(missing, ", ")
	}
	if t := Topic(e.ConsumerGroup); !envelope.ValidTopic(t) {
		return fmt.Sprintf("consumer group %q: %q is not a legal topic name", e.ConsumerGroup, t)
	}
	return ""
}

// Record encodes e as the DLQ record of its consumer group:
//
//   - topic: Topic(e.ConsumerGroup);
//   - key: e.OriginalMessageID, or e.Key when there is no message id (so
//     entries about one event, or one key, share a partition);
//   - value: the JSON entry;
//   - headers, in this order: HeaderReason, HeaderGroup, HeaderSourceTopic,
//     envelope.HeaderMessageID when there is a message id, then the W3C
//     trace context of the original record (traceparent, tracestate) when
//     its headers carry one, so that tools tracing the DLQ topic see the
//     event's trace;
//   - timestamp: e.DeadLetteredAt.
//
// A zero Version is written as [Version], and a zero DeadLetteredAt as the
// current time in UTC. Record returns an error wrapping [ErrInvalidEntry]
// if e lacks its consumer group, topic or failure reason, or if the group
// does not make a legal topic name. The record shares no memory with e.
func (e Entry) Record() (*kgo.Record, error) {
	if p := e.problem(); p != "" {
		return nil, fmt.Errorf("%w: %s", ErrInvalidEntry, p)
	}
	if e.Version == 0 {
		e.Version = Version
	}
	if e.DeadLetteredAt.IsZero() {
		e.DeadLetteredAt = time.Now().UTC()
	}
	value, err := e.MarshalJSON()
	if err != nil {
		return nil, err
	}
	key := []byte(e.OriginalMessageID)
	if e.OriginalMessageID == "" {
		key = slices.Clone(e.Key)
	}
	headers := []kgo.RecordHeader{
		{Key: HeaderReason, Value: []byte(e.FailureReason)},
		{Key: HeaderGroup, Value: []byte(e.ConsumerGroup)},
		{Key: HeaderSourceTopic, Value: []byte(e.Topic)},
	}
	if e.OriginalMessageID != "" {
		headers = append(headers, kgo.RecordHeader{Key: envelope.HeaderMessageID, Value: []byte(e.OriginalMessageID)})
	}
	for _, key := range traceHeaders {
		if v, ok := envelope.HeaderValue(e.Headers, key); ok {
			headers = append(headers, kgo.RecordHeader{Key: key, Value: []byte(v)})
		}
	}
	return &kgo.Record{
		Topic:     Topic(e.ConsumerGroup),
		Key:       key,
		Value:     value,
		Headers:   headers,
		Timestamp: e.DeadLetteredAt,
	}, nil
}

// traceHeaders are the W3C trace-context headers that a DLQ record repeats
// from the original record's (which the entry keeps whole, so a replay
// carries them too).
var traceHeaders = [...]string{"traceparent", "tracestate"}

// Decode parses the value of a DLQ record. An error wraps [ErrMalformed]
// when value is not JSON of the entry format, or when the entry lacks its
// version (or has one below 1), consumer group, source topic or failure
// reason; the returned Entry then holds whatever could be decoded. Entries
// of versions above [Version] are decoded as far as this version knows
// them.
func Decode(value []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(value, &e); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Version < 1 {
		return e, fmt.Errorf("%w: missing or invalid version %d", ErrMalformed, e.Version)
	}
	if p := e.problem(); p != "" {
		return e, fmt.Errorf("%w: %s", ErrMalformed, p)
	}
	return e, nil
}
