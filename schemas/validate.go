package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// ValidateJSON checks JSON data against the schema of eventType at version,
// field by field. It returns nil when data conforms; otherwise one
// *ValidationError per problem (joined with errors.Join when there are
// several), each naming the field and wrapping ErrInvalidData. An unknown
// type or version returns ErrUnknownType or ErrUnknownVersion.
//
// The JSON form expected for each Avro type:
//
//   - record: an object. Fields without a default are required; fields with
//     a default may be left out; keys the schema does not declare are
//     refused (each is named).
//   - null: null. boolean: true or false.
//   - int, long: a JSON integer (no fraction, no exponent) within the
//     type's range; logical types on them (date, time-millis,
//     timestamp-millis, timestamp-micros...) take the underlying integer, e.g.
//     milliseconds since the Unix epoch for timestamp-millis.
//   - float, double: any JSON number (within range for float).
//   - string (also with logical type uuid): a JSON string.
//   - bytes, fixed: a JSON string whose code points are 0-255, one byte
//     each, as in Avro's own JSON encoding; fixed needs exactly size bytes.
//   - enum: a string listed in the enum's symbols.
//   - array: an array; map: an object whose values match the map's type.
//   - union: the plain value. null matches a null branch; any other value is
//     tried against the non-null branches in order. Avro's JSON encoding
//     would wrap a non-null union value as {"string": "a@b.c"}; kbus
//     payloads do not, so that "customer_email": "a@b.c" is valid as it is
//     written by ordinary JSON encoders.
func (r *Registry) ValidateJSON(eventType, version string, data []byte) error {
	v, err := r.lookup(eventType, version)
	if err != nil {
		return err
	}
	if conforms(v.schema, data) {
		return nil
	}
	_, err = validateJSON(v.schema, eventType, version, data)
	return err
}

// validateJSON decodes and validates data, returning the decoded value
// (json.Number for numbers) for further conversion.
func validateJSON(s avro.Schema, eventType, ver string, data []byte) (any, error) {
	x, err := decodeJSON(data)
	if err != nil {
		return nil, &ValidationError{Type: eventType, Version: ver, Reason: "not valid JSON: " + err.Error()}
	}
	vd := &validator{}
	vd.value(s, x, "")
	if len(vd.problems) == 0 {
		return x, nil
	}
	errs := make([]error, len(vd.problems))
	for i, p := range vd.problems {
		errs[i] = &ValidationError{Type: eventType, Version: ver, Field: p.field, Reason: p.reason}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

func decodeJSON(data []byte) (any, error) {
	if x, ok := parseJSON(data); ok {
		return x, nil
	}
	return decodeJSONStd(data)
}

// decodeJSONStd is decodeJSON with encoding/json alone: the fallback of
// parseJSON, and the reference it is fuzzed against.
func decodeJSONStd(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return x, nil
}

type problem struct{ field, reason string }

type validator struct {
	problems []problem
}

func (vd *validator) fail(field, format string, args ...any) {
	vd.problems = append(vd.problems, problem{field, fmt.Sprintf(format, args...)})
}

func (vd *validator) value(s avro.Schema, x any, path string) {
	s = deref(s)
	switch s.Type() {
	case avro.Null:
		if x != nil {
			vd.fail(path, "expected null, got %s", jsonKind(x))
		}
	case avro.Boolean:
		if _, ok := x.(bool); !ok {
			vd.fail(path, "expected boolean, got %s", jsonKind(x))
		}
	case avro.Int, avro.Long:
		bits := 64
		if s.Type() == avro.Int {
			bits = 32
		}
		n, ok := x.(json.Number)
		if !ok {
			vd.fail(path, "expected %s (an integer), got %s", typeName(s), jsonKind(x))
			return
		}
		if _, err := strconv.ParseInt(n.String(), 10, bits); err != nil {
			if errors.Is(err, strconv.ErrRange) {
				vd.fail(path, "%s is out of range for %s", n, s.Type())
			} else {
				vd.fail(path, "expected %s (an integer), got %s", typeName(s), n)
			}
		}
	case avro.Float, avro.Double:
		n, ok := x.(json.Number)
		if !ok {
			vd.fail(path, "expected %s (a number), got %s", s.Type(), jsonKind(x))
			return
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || (s.Type() == avro.Float && math.Abs(f) > math.MaxFloat32) {
			vd.fail(path, "%s is out of range for %s", n, s.Type())
		}
	case avro.String:
		if _, ok := x.(string); !ok {
			vd.fail(path, "expected %s, got %s", typeName(s), jsonKind(x))
		}
	case avro.Bytes:
		str, ok := x.(string)
		if !ok {
			vd.fail(path, "expected bytes (a string), got %s", jsonKind(x))
			return
		}
		if _, ok := latin1(str); !ok {
			vd.fail(path, "bytes must be a string of code points 0-255")
		}
	case avro.Fixed:
		fx := s.(*avro.FixedSchema)
		str, ok := x.(string)
		if !ok {
			vd.fail(path, "expected fixed %s (a string of %d bytes), got %s", fx.FullName(), fx.Size(), jsonKind(x))
			return
		}
		b, ok := latin1(str)
		if !ok {
			vd.fail(path, "fixed must be a string of code points 0-255")
		} else if len(b) != fx.Size() {
			vd.fail(path, "fixed %s needs %d bytes, got %d", fx.FullName(), fx.Size(), len(b))
		}
	case avro.Enum:
		en := s.(*avro.EnumSchema)
		str, ok := x.(string)
		if !ok {
			vd.fail(path, "expected enum %s (a string), got %s", en.FullName(), jsonKind(x))
			return
		}
		if !slices.Contains(en.Symbols(), str) {
			vd.fail(path, "%q is not a symbol of enum %s (one of %s)", str, en.FullName(), strings.Join(en.Symbols(), ", "))
		}
	case avro.Array:
		arr, ok := x.([]any)
		if !ok {
			vd.fail(path, "expected array, got %s", jsonKind(x))
			return
		}
		items := s.(*avro.ArraySchema).Items()
		for i, e := range arr {
			vd.value(items, e, fmt.Sprintf("%s[%d]", path, i))
		}
	case avro.Map:
		m, ok := x.(map[string]any)
		if !ok {
			vd.fail(path, "expected map (an object), got %s", jsonKind(x))
			return
		}
		values := s.(*avro.MapSchema).Values()
		for _, k := range sortedKeys(m) {
			vd.value(values, m[k], join(path, k))
		}
	case avro.Record:
		vd.record(s.(*avro.RecordSchema), x, path)
	case avro.Union:
		vd.union(s.(*avro.UnionSchema), x, path)
	default:
		vd.fail(path, "schema type %s is not supported", s.Type())
	}
}

func (vd *validator) record(rec *avro.RecordSchema, x any, path string) {
	m, ok := x.(map[string]any)
	if !ok {
		vd.fail(path, "expected record %s (an object), got %s", rec.FullName(), jsonKind(x))
		return
	}
	known := make(map[string]bool, len(rec.Fields()))
	for _, f := range rec.Fields() {
		known[f.Name()] = true
		fv, present := m[f.Name()]
		if !present {
			if !f.HasDefault() {
				vd.fail(join(path, f.Name()), "required field is missing")
			}
			continue
		}
		vd.value(f.Type(), fv, join(path, f.Name()))
	}
	for _, k := range sortedKeys(m) {
		if !known[k] {
			vd.fail(join(path, k), "unknown field (not in record %s)", rec.FullName())
		}
	}
}

func (vd *validator) union(u *avro.UnionSchema, x any, path string) {
	var nonNull []avro.Schema
	for _, b := range u.Types() {
		if b.Type() != avro.Null {
			nonNull = append(nonNull, b)
		}
	}
	if x == nil {
		if u.Nullable() || len(nonNull) < len(u.Types()) {
			return
		}
		vd.fail(path, "null is not allowed (expected one of %s)", branchList(nonNull))
		return
	}
	if len(nonNull) == 1 {
		// The usual optional field ["null", T]: report T's own problems.
		vd.value(nonNull[0], x, path)
		return
	}
	if _, ok := pickBranch(u, x); !ok {
		vd.fail(path, "%s matches none of the union's types (%s)", jsonKind(x), branchList(nonNull))
	}
}

// pickBranch returns the first branch of u that the non-null JSON value x
// validates against.
func pickBranch(u *avro.UnionSchema, x any) (avro.Schema, bool) {
	for _, b := range u.Types() {
		if b.Type() == avro.Null {
			continue
		}
		sub := &validator{}
		sub.value(b, x, "")
		if len(sub.problems) == 0 {
			return b, true
		}
	}
	return nil, false
}

func deref(s avro.Schema) avro.Schema {
	if ref, ok := s.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return s
}

// branchName is the name hamba/avro uses for a union branch: the full name
// of a named type, otherwise the type (with ".<logicalType>" if any).
func branchName(s avro.Schema) string {
	s = deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return typeName(s)
}

func typeName(s avro.Schema) string {
	name := string(s.Type())
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		name += "." + string(ls.Logical().Type())
	}
	return name
}

func branchList(bs []avro.Schema) string {
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = branchName(b)
	}
	return strings.Join(names, ", ")
}

func jsonKind(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", x)
}

// latin1 converts a string of code points 0-255 into bytes, one per code
// point (Avro's JSON encoding of bytes and fixed).
func latin1(s string) ([]byte, bool) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 255 {
			return nil, false
		}
		b = append(b, byte(r))
	}
	return b, true
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
