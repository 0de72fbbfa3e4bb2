package schemas

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/kbus-dev/kbus/envelope"
)

// AvroData encodes JSON data (validated as by EncodeAvro) as the Data of an
// envelope whose content type is envelope.ContentTypeAvro: the Avro binary
// as a JSON string of standard, padded base64.
func (r *Registry) AvroData(eventType, version string, jsonData []byte) (json.RawMessage, error) {
	b, err := r.EncodeAvro(eventType, version, jsonData)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(b))+2)
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, b)
	return append(out, '"'), nil
}

// DecodeEnvelope returns e with its Data as JSON shaped by readerVersion of
// its type (the topic), whatever the producer wrote:
//
//   - ContentTypeAvro data is base64-decoded and decoded with the writer's
//     version (Metadata.SchemaVersion), resolved to readerVersion;
//   - ContentTypeJSON data is validated against the writer's version and
//     resolved to readerVersion, as by EncodeAvro then DecodeAvro, even
//     when the two versions are the same: fields left out take their
//     defaults, so a handler always sees every field of its version.
//
// An empty readerVersion means the writer's version. The result has
// ContentType ContentTypeJSON and SchemaVersion readerVersion; the other
// fields are e's. Consumers use it so that handlers see one shape.
//
// Errors: ErrUnknownType, ErrUnknownVersion and ErrIncompatible when the
// event cannot be read at readerVersion (a consumer dead-letters it with
// reason "schema_incompatible"); ErrInvalidData when the data does not
// decode with the writer's schema.
func (r *Registry) DecodeEnvelope(e envelope.Envelope, readerVersion string) (envelope.Envelope, error) {
	writer := e.Metadata.SchemaVersion
	if readerVersion == "" {
		readerVersion = writer
	}
	var (
		data []byte
		err  error
	)
	switch e.Metadata.ContentType {
	case envelope.ContentTypeAvro:
		var raw []byte
		// A JSON string of base64 unmarshals into []byte as its decoding.
		if jerr := json.Unmarshal(e.Data, &raw); jerr != nil {
			return e, fmt.Errorf("%w: %s %s: avro data is not a base64 JSON string: %w", ErrInvalidData, e.Topic, writer, jerr)
		}
		data, err = r.DecodeAvro(e.Topic, writer, readerVersion, raw)
	case envelope.ContentTypeJSON:
		data, err = r.reshapeJSON(e.Topic, writer, readerVersion, e.Data)
	default:
		return e, fmt.Errorf("%w: %s: content type %q", ErrInvalidData, e.Topic, e.Metadata.ContentType)
	}
	if err != nil {
		return e, err
	}
	e.Data = data
	e.Metadata.ContentType = envelope.ContentTypeJSON
	e.Metadata.SchemaVersion = readerVersion
	return e, nil
}
