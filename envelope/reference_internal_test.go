package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// refUnmarshal is the original, encoding/json-based implementation of
// Unmarshal, kept as the reference that FuzzUnmarshalMatchesReference
// compares the hand-written decoder against.
func refUnmarshal(b []byte) (Envelope, error) {
	var (
		e        Envelope
		problems []error
		reported = make(map[string]bool)
	)
	report := func(field string, err error) {
		problems = append(problems, &ValidationError{Field: field, Err: err})
		reported[field] = true
	}
	str := func(field string, dst *string) func(json.RawMessage) error {
		return func(raw json.RawMessage) error {
			if isNull(raw) {
				return nil
			}
			if raw[0] != '"' {
				return malformed("%s: want a JSON string, got %s", field, kind(raw))
			}
			if !utf8.Valid(raw) {
				report(field, ErrInvalidUTF8)
				return nil
			}
			return json.Unmarshal(raw, dst)
		}
	}
	meta := map[string]func(json.RawMessage) error{
		"correlation_id": str("metadata.correlation_id", &e.Metadata.CorrelationID),
		"schema_version": str("metadata.schema_version", &e.Metadata.SchemaVersion),
		"content_type":   str("metadata.content_type", &e.Metadata.ContentType),
	}
	top := map[string]func(json.RawMessage) error{
		"message_id": str("message_id", &e.MessageID),
		"topic":      str("topic", &e.Topic),
		"producer":   str("producer", &e.Producer),
		"published_at": func(raw json.RawMessage) error {
			if isNull(raw) {
				return nil
			}
			if raw[0] != '"' {
				return malformed("published_at: want a JSON string, got %s", kind(raw))
			}
			var t time.Time
			if err := json.Unmarshal(raw, &t); err != nil {
				report("published_at", fmt.Errorf("%w: %v", ErrBadTimestamp, err))
				return nil
			}
			e.PublishedAt = t.UTC()
			return nil
		},
		"data": func(raw json.RawMessage) error {
			if !isNull(raw) {
				e.Data = raw
			}
			return nil
		},
		"metadata": func(raw json.RawMessage) error {
			if isNull(raw) {
				return nil
			}
			if raw[0] != '{' {
				return malformed("metadata: want a JSON object, got %s", kind(raw))
			}
			if err := refDecodeObject(raw, meta); err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			return nil
		},
	}
	if err := refDecodeObject(b, top); err != nil {
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return Envelope{}, err
	}
	for _, err := range e.validate() {
		var ve *ValidationError
		if errors.As(err, &ve) && reported[ve.Field] {
			continue
		}
		problems = append(problems, err)
	}
	return e, joinErrors(problems)
}

// refDecodeObject decodes the JSON object b, calling fields[key] with the
// raw value of each known key. Unknown keys are skipped; repeated keys,
// non-objects, syntax errors and trailing data are malformed.
func refDecodeObject(b []byte, fields map[string]func(json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return refSyntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return malformed("not a JSON object")
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return refSyntaxError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return malformed("object key is not a string")
		}
		if seen[key] {
			return malformed("duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return refSyntaxError(err)
		}
		if f := fields[key]; f != nil {
			if err := f(bytes.TrimSpace(raw)); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return refSyntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("trailing data after the object")
	}
	return nil
}

func refSyntaxError(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed("unexpected end of input")
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}
