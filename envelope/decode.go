package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Unmarshal runs once per consumed event, so it decodes by hand in one pass
// over the input instead of using encoding/json's Decoder and reflection
// (for a 1.4 KB envelope: about 2 µs and 2 allocations instead of 25 µs and
// 149; see BenchmarkUnmarshal). The object structure is scanned by scan.go;
// strings without escapes are copied out in a single allocation; strings
// with escapes fall back to encoding/json, which also defines how invalid
// escapes decode. Data is validated by the scanner and copied. The result,
// including which inputs are malformed, is fuzzed against the
// straightforward encoding/json implementation in
// reference_internal_test.go.

// Known keys. The string fields come first so that they index
// decoder.spans; keyUnknown is any other key.
const (
	keyMessageID = iota
	keyTopic
	keyProducer
	keyCorrelationID
	keySchemaVersion
	keyContentType
	numStringKeys
	keyPublishedAt = iota - 1
	keyData
	keyMetadata
	keyUnknown
)

// fieldNames are the ValidationError field names of the keys.
var fieldNames = [...]string{
	keyMessageID:     "message_id",
	keyTopic:         "topic",
	keyProducer:      "producer",
	keyCorrelationID: "metadata.correlation_id",
	keySchemaVersion: "metadata.schema_version",
	keyContentType:   "metadata.content_type",
	keyPublishedAt:   "published_at",
	keyData:          "data",
	keyMetadata:      "metadata",
}

func lookupKey(k []byte, inMetadata bool) int {
	if inMetadata {
		switch string(k) {
		case "correlation_id":
			return keyCorrelationID
		case "schema_version":
			return keySchemaVersion
		case "content_type":
			return keyContentType
		}
		return keyUnknown
	}
	switch string(k) {
	case "message_id":
		return keyMessageID
	case "topic":
		return keyTopic
	case "published_at":
		return keyPublishedAt
	case "producer":
		return keyProducer
	case "data":
		return keyData
	case "metadata":
		return keyMetadata
	}
	return keyUnknown
}

type span struct{ start, end int }

type decoder struct {
	b        []byte
	e        Envelope
	problems []error // reported while decoding, in input order
	reported uint16  // 1<<key for each key in problems
	// spans locates the contents of string fields that need no unescaping
	// and have not been set otherwise; finish copies them.
	spans [numStringKeys]span
}

func unmarshal(b []byte) (Envelope, error) {
	d := decoder{b: b}
	i := skipWS(b, 0)
	if i >= len(b) {
		return Envelope{}, errEOF
	}
	if b[i] != '{' {
		return Envelope{}, malformed("not a JSON object")
	}
	i, err := d.object(i, false)
	if err != nil {
		return Envelope{}, err
	}
	if skipWS(b, i) != len(b) {
		return Envelope{}, malformed("trailing data after the object")
	}
	d.finish()
	problems := d.problems
	for _, err := range d.e.validate() {
		if ve, ok := err.(*ValidationError); ok && d.wasReported(ve.Field) {
			continue
		}
		problems = append(problems, err)
	}
	return d.e, joinErrors(problems)
}

func (d *decoder) report(key int, err error) {
	d.problems = append(d.problems, &ValidationError{Field: fieldNames[key], Err: err})
	d.reported |= 1 << key
}

func (d *decoder) wasReported(field string) bool {
	if d.reported == 0 {
		return false
	}
	for k, name := range fieldNames {
		if d.reported&(1<<k) != 0 && name == field {
			return true
		}
	}
	return false
}

// object decodes the object at b[i] == '{', the envelope or (inMetadata)
// its metadata, and returns the index after it.
func (d *decoder) object(i int, inMetadata bool) (int, error) {
	b := d.b
	var (
		seen    uint16   // 1<<key for each known key
		unknown []string // unknown keys, decoded, to detect repeats
		many    map[string]bool
	)
	if i = skipWS(b, i+1); i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return 0, errEOF
		}
		if b[i] != '"' {
			return 0, syntaxErr(b[i], "looking for beginning of object key string")
		}
		end, flags, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		raw := b[i+1 : end-1]
		if flags != 0 {
			// Keys are compared after decoding, as encoding/json does:
			// escapes are resolved and invalid UTF-8 becomes U+FFFD.
			var s string
			if err := json.Unmarshal(b[i:end], &s); err != nil {
				return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			raw = []byte(s)
		}
		key := lookupKey(raw, inMetadata)
		if key == keyUnknown {
			dup := false
			if many != nil {
				dup = many[string(raw)]
				many[string(raw)] = true
			} else {
				for _, k := range unknown {
					dup = dup || k == string(raw)
				}
				if unknown = append(unknown, string(raw)); len(unknown) > 16 {
					many = make(map[string]bool)
					for _, k := range unknown {
						many[k] = true
					}
				}
			}
			if dup {
				return 0, malformed("duplicate key %q", raw)
			}
		} else {
			if seen&(1<<key) != 0 {
				return 0, malformed("duplicate key %q", raw)
			}
			seen |= 1 << key
		}
		if i, err = scanColon(b, end); err != nil {
			return 0, err
		}
		if i, err = d.value(i, key); err != nil {
			return 0, err
		}
		if i = skipWS(b, i); i >= len(b) {
			return 0, errEOF
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, syntaxErr(b[i], "after object key:value pair")
		}
	}
}

// value decodes the value of key at b[i] (not whitespace) and returns the
// index after it. Like the original encoding/json implementation, it
// checks the whole value's syntax before its type.
func (d *decoder) value(i, key int) (int, error) {
	b := d.b
	if i >= len(b) {
		return 0, errEOF
	}
	c := b[i]
	if c != '"' || key == keyUnknown || key == keyData || key == keyMetadata {
		end, err := skipValue(b, i)
		switch {
		case err != nil:
			return 0, err
		case key == keyUnknown || c == 'n': // null is absent
			return end, nil
		case key == keyData:
			d.e.Data = bytes.Clone(b[i:end])
			return end, nil
		case key != keyMetadata:
			return 0, malformed("%s: want a JSON string, got %s", fieldNames[key], kind(b[i:]))
		case c != '{':
			return 0, malformed("metadata: want a JSON object, got %s", kind(b[i:]))
		}
		// A metadata object: its syntax is now known to be valid.
		if _, err := d.object(i, true); err != nil {
			return 0, fmt.Errorf("metadata: %w", err)
		}
		return end, nil
	}

	// A string.
	end, flags, err := scanString(b, i)
	if err != nil {
		return 0, err
	}
	raw := b[i:end]
	switch {
	case key == keyPublishedAt:
		// Time.UnmarshalJSON is what encoding/json calls, without
		// unescaping; it does not allocate for the canonical form.
		var t time.Time
		if err := t.UnmarshalJSON(raw); err != nil {
			d.report(key, fmt.Errorf("%w: %v", ErrBadTimestamp, err))
		} else {
			d.e.PublishedAt = t.UTC()
		}
	case flags&strNonASCII != 0 && !utf8.Valid(raw):
		d.report(key, ErrInvalidUTF8)
	case flags&strEscaped != 0:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		*d.field(key) = s
	default:
		s := raw[1 : len(raw)-1]
		switch {
		case key == keySchemaVersion && string(s) == DefaultSchemaVersion:
			d.e.Metadata.SchemaVersion = DefaultSchemaVersion
		case key == keyContentType && string(s) == ContentTypeJSON:
			d.e.Metadata.ContentType = ContentTypeJSON
		case key == keyContentType && string(s) == ContentTypeAvro:
			d.e.Metadata.ContentType = ContentTypeAvro
		default:
			d.spans[key] = span{i + 1, end - 1}
		}
	}
	return end, nil
}

func (d *decoder) field(key int) *string {
	switch key {
	case keyMessageID:
		return &d.e.MessageID
	case keyTopic:
		return &d.e.Topic
	case keyProducer:
		return &d.e.Producer
	case keyCorrelationID:
		return &d.e.Metadata.CorrelationID
	case keySchemaVersion:
		return &d.e.Metadata.SchemaVersion
	}
	return &d.e.Metadata.ContentType
}

// finish copies the plain string fields out of the input, all into one
// allocation.
func (d *decoder) finish() {
	n := 0
	for _, s := range d.spans {
		n += s.end - s.start
	}
	if n == 0 {
		return
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, s := range d.spans {
		sb.Write(d.b[s.start:s.end])
	}
	all := sb.String()
	for key, s := range d.spans {
		if n := s.end - s.start; n > 0 {
			*d.field(key) = all[:n]
			all = all[n:]
		}
	}
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// kind names the JSON type of a raw value for error messages.
func kind(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
