package schemas

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package matches one of
// them with [errors.Is].
var (
	// ErrUnknownType reports an event type the registry has no schema for.
	// Returned by Schema, Latest, ValidateJSON, EncodeAvro, DecodeAvro and
	// ResolveJSON.
	ErrUnknownType = errors.New("schemas: unknown event type")

	// ErrUnknownVersion reports a version the event type does not have,
	// including a version string that is not "<major>.<minor>".
	ErrUnknownVersion = errors.New("schemas: unknown schema version")

	// ErrInvalidData reports data that does not conform to the schema: JSON
	// refused by ValidateJSON (always as a *ValidationError), or Avro bytes
	// that DecodeAvro cannot decode with the writer's schema.
	ErrInvalidData = errors.New("schemas: data does not match schema")

	// ErrIncompatible reports a writer and reader version whose schemas
	// cannot be resolved against each other (DecodeAvro, ResolveJSON). A
	// consumer treats it as a permanent failure (reason
	// "schema_incompatible").
	ErrIncompatible = errors.New("schemas: incompatible schema versions")

	// ErrBadCatalog reports a catalog Load cannot use: a file or directory
	// out of place, a file name that is not a version, or schema text that
	// does not parse. The message names the offending path.
	ErrBadCatalog = errors.New("schemas: bad catalog")
)

// ValidationError describes one problem with one field of a JSON payload,
// as found by [Registry.ValidateJSON].
//
// Field is the path of the offending value: field names joined by dots,
// array indexes in brackets and map keys as names, e.g. "amount",
// "metadata.source" or "items[2].sku". It is empty when the problem is the
// payload as a whole (not JSON, not an object).
//
// Every *ValidationError matches [ErrInvalidData] through its Unwrap
// method. When a payload has several problems they are combined with
// [errors.Join]; errors.As finds the first.
type ValidationError struct {
	Type    string // event type, e.g. "payment.completed"
	Version string // schema version, e.g. "1.0"
	Field   string // path of the offending value; "" for the whole payload
	Reason  string // what is wrong, e.g. "required field is missing"
}

// Error returns "schemas: <type> <version>: field <field>: <reason>".
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("schemas: %s %s: %s", e.Type, e.Version, e.Reason)
	}
	return fmt.Sprintf("schemas: %s %s: field %s: %s", e.Type, e.Version, e.Field, e.Reason)
}

// Unwrap returns ErrInvalidData.
func (e *ValidationError) Unwrap() error { return ErrInvalidData }
