// Package schemas is kbus's schema catalog: versioned Avro schemas for each
// event type, validation of JSON event data against them, Avro encoding
// with schema resolution between versions, and a compatibility gate.
//
// The package depends on the standard library, github.com/hamba/avro/v2
// and kbus's envelope package only; producers, consumers and the kbus
// command build on it: the producer validates every event against a
// Registry (and encodes Avro data with it), and the consumer decodes and
// resolves events with [Registry.DecodeEnvelope].
//
// # The catalog
//
// A catalog is a directory with one subdirectory per event type (named as
// the type, which is also its Kafka topic) and one file per version, named
// "<major>.<minor>.avsc":
//
//	payment.completed/1.0.avsc
//	payment.completed/1.1.avsc
//	payment.failed/1.0.avsc
//	...
//
// Each file holds an Avro record schema. Give each type its own namespace
// ("kbus.events.payment_completed") and keep the record name across
// versions; every version is parsed with its own avro.SchemaCache, so the
// same names in different versions never collide. Amounts are longs in
// minor units (4999 is 49.99 USD); timestamps use the logical type
// timestamp-millis.
//
// Default loads the catalog embedded in kbus (payment.completed,
// payment.failed and refund.created, in versions 1.0 and 1.1); Load reads
// any fs.FS, such as os.DirFS("schemas") for a user's own catalog:
//
//	reg, err := schemas.Load(os.DirFS("./events"))
//	v, _ := reg.Latest("payment.completed") // "1.1"
//
// Versions compare numerically: 1.9 < 1.10 < 2.0.
//
// # Validating JSON data
//
// ValidateJSON checks an event's JSON data against the schema named by the
// envelope's topic and metadata.schema_version:
//
//	err := reg.ValidateJSON(e.Topic, e.Metadata.SchemaVersion, e.Data)
//	var ve *schemas.ValidationError
//	if errors.As(err, &ve) {
//		// ve.Field is "amount", "metadata.source", "items[2].sku"...
//	}
//
// Fields without a default are required, fields the schema does not
// declare are refused, and union values are written plainly
// ("customer_email": "jane@example.com"), not in Avro's wrapped JSON form;
// see [Registry.ValidateJSON] for every type's rule.
//
// # Avro on the wire, and resolution
//
// EncodeAvro turns validated JSON data into Avro binary with a version's
// schema. DecodeAvro reads it back as JSON shaped by the version the
// reader understands, which need not be the writer's: Avro schema
// resolution fills in defaults for fields the writer did not know and drops
// fields the reader does not know. ResolveJSON does the same for JSON data,
// so a consumer can see every event in its own version whatever the
// producer sent:
//
//	data, err := reg.DecodeAvro("payment.completed", "1.0", "1.1", value)
//	if errors.Is(err, schemas.ErrIncompatible) {
//		// permanent: dead-letter with reason "schema_incompatible"
//	}
//
// On the wire, Avro data travels in the envelope as a base64 JSON string
// with content type application/avro ([Registry.AvroData]).
// [Registry.DecodeEnvelope] turns any envelope, JSON or Avro, into JSON at
// the version a reader wants; the consumer runtime calls it for handlers
// that declare a version and for Avro events.
//
// # Adding a version
//
//  1. Copy the latest file to the next version (1.1.avsc to 1.2.avsc;
//     a major version, 2.0, for changes no mode allows).
//  2. Make the change. Safe in every mode: add a field with a default
//     (an optional field is ["null", T] with default null), or remove a
//     field that has one. Never rename a field without an alias, change a
//     field's type other than by Avro's promotions (int to long, float to
//     double, string to bytes...), or remove a symbol from an enum.
//  3. Run `kbus schemas check` (or Registry.Check) and fix what it names.
//
// # Compatibility modes
//
// Check compares every consecutive pair of versions of every type:
//
//   - Backward (the default): the newer version reads data written with
//     the older one. New fields need defaults; fields may be removed.
//   - Forward: the older version reads data written with the newer one.
//     Fields may be added; removed fields must have had defaults.
//   - Full: both. Only fields with defaults may come and go.
//
// The shipped catalog passes all three. Each Problem names the type, the
// reading and the written version, and the field at fault.
//
// # Upgrading producers and consumers independently
//
// Every event carries its schema version in the envelope, and the catalog
// keeps every version, so the two sides need not upgrade together. Under
// Backward compatibility, upgrade consumers first: a consumer on 1.1 reads
// the 1.0 events still being produced, with 1.1's defaults filled in. Under
// Forward, upgrade producers first: old consumers read the new events and
// ignore the new fields. Under Full, either order works, which is why the
// shipped catalog keeps to it.
//
// # Concurrency
//
// A Registry is immutable once loaded and safe for concurrent use; its one
// internal cache (resolved schema pairs) is synchronised. Problem,
// ValidationError and Mode are plain values. The package keeps no global
// state.
package schemas
