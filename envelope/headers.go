package envelope

import "slices"

// Kafka record header keys. Headers mirrors the identifying fields of an
// envelope into these headers so that routers, dead-letter handlers and
// metrics can act on a record without decoding its value.
const (
	HeaderMessageID       = "kbus-message-id"       // Envelope.MessageID
	HeaderType            = "kbus-type"             // Envelope.Topic (the event type)
	HeaderSchemaVersion   = "kbus-schema-version"   // Metadata.SchemaVersion
	HeaderCorrelationID   = "kbus-correlation-id"   // Metadata.CorrelationID, omitted when empty
	HeaderContentType     = "kbus-content-type"     // Metadata.ContentType
	HeaderProducer        = "kbus-producer"         // Envelope.Producer
	HeaderEnvelopeVersion = "kbus-envelope-version" // Version
)

// Header is one Kafka record header. It has the same field layout as
// franz-go's kgo.RecordHeader, so a value converts with kgo.RecordHeader(h)
// without this package importing a Kafka client.
//
// A Header is a plain value; Value is shared between copies.
type Header struct {
	Key   string // the header's name, such as HeaderMessageID
	Value []byte // its value, raw bytes (UTF-8 text for kbus's own headers)
}

// Headers returns the identifying fields of e as Kafka headers, in this
// fixed order: HeaderMessageID, HeaderType, HeaderSchemaVersion,
// HeaderCorrelationID (only when the correlation id is not empty),
// HeaderContentType, HeaderProducer, HeaderEnvelopeVersion (always
// Version). Other fields are written even when empty. Each call returns
// new slices that the caller may modify.
func (e Envelope) Headers() []Header {
	hs, _ := e.AppendHeaders(make([]Header, 0, 7), nil)
	return hs
}

// AppendHeaders is Headers appending to hs, with the header values copied
// into buf (grown once as needed); it returns both extended. Producers use it
// to reuse one buffer per record. The returned headers' values alias buf.
func (e Envelope) AppendHeaders(hs []Header, buf []byte) ([]Header, []byte) {
	buf = slices.Grow(buf, len(e.MessageID)+len(e.Topic)+len(e.Metadata.SchemaVersion)+
		len(e.Metadata.CorrelationID)+len(e.Metadata.ContentType)+len(e.Producer)+len(Version))
	add := func(k, v string) {
		start := len(buf)
		buf = append(buf, v...)
		hs = append(hs, Header{Key: k, Value: buf[start:len(buf):len(buf)]})
	}
	add(HeaderMessageID, e.MessageID)
	add(HeaderType, e.Topic)
	add(HeaderSchemaVersion, e.Metadata.SchemaVersion)
	if e.Metadata.CorrelationID != "" {
		add(HeaderCorrelationID, e.Metadata.CorrelationID)
	}
	add(HeaderContentType, e.Metadata.ContentType)
	add(HeaderProducer, e.Producer)
	add(HeaderEnvelopeVersion, Version)
	return hs, buf
}

// HeaderFields holds the values of the kbus headers of a record, as read by
// ParseHeaders. A header that is absent leaves its field empty. It is a
// plain value, safe to copy and to read concurrently.
type HeaderFields struct {
	MessageID       string // HeaderMessageID
	Type            string // HeaderType
	SchemaVersion   string // HeaderSchemaVersion
	CorrelationID   string // HeaderCorrelationID
	ContentType     string // HeaderContentType
	Producer        string // HeaderProducer
	EnvelopeVersion string // HeaderEnvelopeVersion
}

// ParseHeaders reads the kbus headers from hs; other headers are ignored.
// Keys match exactly (Kafka header keys are case-sensitive). When a key is
// repeated, the last occurrence wins, as with Kafka's Headers.lastHeader,
// so a stage that appends a header overrides an earlier one.
//
// The values are not validated: headers are a routing aid, and the
// envelope in the record value remains authoritative.
func ParseHeaders(hs []Header) HeaderFields {
	var f HeaderFields
	for _, h := range hs {
		var dst *string
		switch h.Key {
		case HeaderMessageID:
			dst = &f.MessageID
		case HeaderType:
			dst = &f.Type
		case HeaderSchemaVersion:
			dst = &f.SchemaVersion
		case HeaderCorrelationID:
			dst = &f.CorrelationID
		case HeaderContentType:
			dst = &f.ContentType
		case HeaderProducer:
			dst = &f.Producer
		case HeaderEnvelopeVersion:
			dst = &f.EnvelopeVersion
		default:
			continue
		}
		*dst = string(h.Value)
	}
	return f
}

// HeaderValue returns the value of the last header in hs whose key is
// exactly key, and whether there was one.
func HeaderValue(hs []Header, key string) (string, bool) {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value), true
		}
	}
	return "", false
}
