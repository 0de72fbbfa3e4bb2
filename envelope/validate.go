package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// maxTopicLen is Kafka's limit on topic name length.
const maxTopicLen = 249

// Validate reports whether e is a well-formed envelope. It returns nil, or
// one *ValidationError per problem (combined with errors.Join when there
// are several), checking, in field order:
//
//   - message_id: present, valid UTF-8, and accepted by ParseMessageID
//     (ErrMissingField, ErrInvalidUTF8, ErrBadMessageID);
//   - topic: present, valid UTF-8, and a legal Kafka topic name per
//     ValidTopic (ErrMissingField, ErrInvalidUTF8, ErrBadTopic);
//   - published_at: not the zero time, and with a year in 0000..9999 so it
//     can be written as RFC 3339 (ErrMissingField, ErrBadTimestamp);
//   - producer: present and valid UTF-8;
//   - data: present and not JSON null (ErrMissingField), UTF-8
//     (ErrInvalidUTF8), and a single valid JSON value (ErrNotJSON), whatever
//     the content type, since it is embedded in the JSON envelope. With
//     ContentTypeAvro it must moreover be a JSON string holding standard,
//     padded base64 of the Avro bytes (ErrNotBase64);
//   - metadata.correlation_id: optional, valid UTF-8 when present;
//   - metadata.schema_version: present and valid UTF-8;
//   - metadata.content_type: present, valid UTF-8, and exactly
//     ContentTypeJSON or ContentTypeAvro (ErrBadContentType); parameters
//     such as "; charset=utf-8" are not accepted.
//
// Validate does not compare PublishedAt with the time inside MessageID,
// does not limit the size (see CheckSize), and does not look inside Data
// beyond the checks above.
func (e Envelope) Validate() error {
	return joinErrors(e.validate())
}

func (e Envelope) validate() []error {
	var errs []error
	add := func(field string, err error) {
		errs = append(errs, &ValidationError{Field: field, Err: err})
	}
	// required checks presence and UTF-8, and reports whether further
	// checks make sense.
	required := func(field, v string) bool {
		switch {
		case v == "":
			add(field, ErrMissingField)
		case !utf8.ValidString(v):
			add(field, ErrInvalidUTF8)
		default:
			return true
		}
		return false
	}

	if required("message_id", e.MessageID) {
		if _, err := ParseMessageID(e.MessageID); err != nil {
			errs = append(errs, err)
		}
	}
	if required("topic", e.Topic) && !ValidTopic(e.Topic) {
		add("topic", fmt.Errorf("%w: want 1 to %d characters of [a-zA-Z0-9._-], not \".\" or \"..\"", ErrBadTopic, maxTopicLen))
	}
	if e.PublishedAt.IsZero() {
		add("published_at", ErrMissingField)
	} else if y := e.PublishedAt.UTC().Year(); y < 0 || y > 9999 {
		add("published_at", fmt.Errorf("%w: year %d outside 0000..9999", ErrBadTimestamp, y))
	}
	required("producer", e.Producer)
	if err := validateData(e.Data, e.Metadata.ContentType); err != nil {
		add("data", err)
	}
	if !utf8.ValidString(e.Metadata.CorrelationID) {
		add("metadata.correlation_id", ErrInvalidUTF8)
	}
	required("metadata.schema_version", e.Metadata.SchemaVersion)
	if ct := e.Metadata.ContentType; required("metadata.content_type", ct) &&
		ct != ContentTypeJSON && ct != ContentTypeAvro {
		add("metadata.content_type", fmt.Errorf("%w: %q (want %q or %q)", ErrBadContentType, ct, ContentTypeJSON, ContentTypeAvro))
	}
	return errs
}

func validateData(data json.RawMessage, contentType string) error {
	if len(bytes.TrimSpace(data)) == 0 || isNull(data) {
		return ErrMissingField
	}
	if !utf8.Valid(data) {
		return ErrInvalidUTF8
	}
	if !validJSON(data) {
		return ErrNotJSON
	}
	if contentType == ContentTypeAvro {
		var s string
		if json.Unmarshal(data, &s) != nil {
			return fmt.Errorf("%w: got %s", ErrNotBase64, kind(bytes.TrimSpace(data)))
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(s); err != nil {
			return fmt.Errorf("%w: %v", ErrNotBase64, err)
		}
	}
	return nil
}

// ValidTopic reports whether name is a legal Kafka topic name: 1 to 249
// characters from [a-zA-Z0-9._-], other than "." and "..".
//
// Kafka additionally warns against mixing "." and "_" in topic names,
// because they collide in metric names; ValidTopic allows both.
func ValidTopic(name string) bool {
	if name == "" || len(name) > maxTopicLen || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
