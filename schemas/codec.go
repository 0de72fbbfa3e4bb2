package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"
)

// maxAvroItems bounds the items of one Avro array that DecodeAvro reads.
// hamba/avro allocates an array's items from the count the data gives (up
// to 2^48 by default), so a few bytes could ask for terabytes and bring the
// process down with them. Every item but a null takes at least a byte, and
// an envelope at most envelope.DefaultMaxSize (1 MiB): no real event comes
// near the bound.
const maxAvroItems = 1 << 20

// avroDecoding is hamba/avro's default configuration with arrays bounded
// by maxAvroItems.
var avroDecoding = avro.Config{MaxSliceAllocSize: maxAvroItems}.Freeze()

// EncodeAvro validates JSON data against eventType at version, as
// ValidateJSON does, and encodes it as Avro binary with that version's
// schema. Fields left out take their schema defaults. The result carries no
// schema id or header: the version travels beside it (the envelope's
// metadata.schema_version).
func (r *Registry) EncodeAvro(eventType, version string, jsonData []byte) ([]byte, error) {
	v, err := r.lookup(eventType, version)
	if err != nil {
		return nil, err
	}
	x, err := validateJSON(v.schema, eventType, version, jsonData)
	if err != nil {
		return nil, err
	}
	b, err := avro.Marshal(v.schema, toAvro(v.schema, x))
	if err != nil {
		return nil, fmt.Errorf("schemas: %s %s: encode avro: %w", eventType, version, err)
	}
	return b, nil
}

// DecodeAvro decodes Avro binary written with eventType's writerVersion and
// returns it as JSON shaped by readerVersion: Avro schema resolution fills
// in the defaults of fields the writer did not know, drops fields the
// reader does not know and promotes types where Avro allows (int to long,
// ...). Records keep their schema's field order; union values are plain
// (see ValidateJSON), timestamps are integers.
//
// Errors: ErrUnknownType, ErrUnknownVersion; ErrIncompatible when the two
// versions cannot be resolved (a consumer dead-letters the event with
// reason "schema_incompatible"); ErrInvalidData when b is not valid Avro for
// the writer's schema.
func (r *Registry) DecodeAvro(eventType, writerVersion, readerVersion string, b []byte) ([]byte, error) {
	reader, resolved, err := r.resolve(eventType, writerVersion, readerVersion)
	if err != nil {
		return nil, err
	}
	var x any
	if err := avroDecoding.Unmarshal(resolved, b, &x); err != nil {
		return nil, fmt.Errorf("%w: %s %s: decode avro: %w", ErrInvalidData, eventType, writerVersion, err)
	}
	var buf bytes.Buffer
	if err := appendJSON(&buf, reader.schema, x); err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrInvalidData, eventType, readerVersion, err)
	}
	return buf.Bytes(), nil
}

// ResolveJSON converts JSON data written against eventType's writerVersion
// into the shape of readerVersion, with the same rules as DecodeAvro: it
// lets a consumer written for one version read JSON events produced with
// another. The data is validated against writerVersion first
// (ErrInvalidData). Equal versions return the data validated but unchanged.
func (r *Registry) ResolveJSON(eventType, writerVersion, readerVersion string, data []byte) ([]byte, error) {
	if writerVersion == readerVersion {
		if err := r.ValidateJSON(eventType, writerVersion, data); err != nil {
			return nil, err
		}
		return data, nil
	}
	return r.reshapeJSON(eventType, writerVersion, readerVersion, data)
}

// reshapeJSON validates JSON data at writerVersion and returns it in
// readerVersion's shape, through Avro: resolution errors come first, then
// validation errors. Equal versions are reshaped too (defaults filled in,
// fields in schema order).
func (r *Registry) reshapeJSON(eventType, writerVersion, readerVersion string, data []byte) ([]byte, error) {
	if _, _, err := r.resolve(eventType, writerVersion, readerVersion); err != nil {
		return nil, err
	}
	b, err := r.EncodeAvro(eventType, writerVersion, data)
	if err != nil {
		return nil, err
	}
	return r.DecodeAvro(eventType, writerVersion, readerVersion, b)
}

type resolveKey struct{ typ, writer, reader string }

type resolveResult struct {
	schema avro.Schema
	err    error
}

// resolve returns the reader's version and the schema resolving writer
// data into it, cached per triple.
func (r *Registry) resolve(eventType, writerVersion, readerVersion string) (*version, avro.Schema, error) {
	w, err := r.lookup(eventType, writerVersion)
	if err != nil {
		return nil, nil, err
	}
	rd, err := r.lookup(eventType, readerVersion)
	if err != nil {
		return nil, nil, err
	}
	key := resolveKey{eventType, writerVersion, readerVersion}
	if res, ok := r.resolved.Load(key); ok {
		res := res.(resolveResult)
		return rd, res.schema, res.err
	}
	var res resolveResult
	if w == rd {
		res.schema = w.schema
	} else {
		s, err := avro.NewSchemaCompatibility().Resolve(rd.schema, w.schema)
		if err != nil {
			where := ""
			if field, _ := locate(rd.schema, w.schema, ""); field != "" {
				where = "field " + field + ": "
			}
			res.err = fmt.Errorf("%w: %s: %s data cannot be read as %s: %s%w",
				ErrIncompatible, eventType, writerVersion, readerVersion, where, err)
		}
		res.schema = s
	}
	r.resolved.Store(key, res)
	return rd, res.schema, res.err
}

// toAvro converts a JSON value (validated against s) to the Go value that
// avro.Marshal encodes with s. Union values take hamba/avro's wrapped form
// map[string]any{branchName: value}; a null union is a nil map.
func toAvro(s avro.Schema, x any) any {
	s = deref(s)
	switch s.Type() {
	case avro.Int:
		n, _ := strconv.ParseInt(string(x.(json.Number)), 10, 32)
		return int32(n)
	case avro.Long:
		n, _ := strconv.ParseInt(string(x.(json.Number)), 10, 64)
		return n
	case avro.Float:
		f, _ := strconv.ParseFloat(string(x.(json.Number)), 32)
		return float32(f)
	case avro.Double:
		f, _ := strconv.ParseFloat(string(x.(json.Number)), 64)
		return f
	case avro.Bytes:
		b, _ := latin1(x.(string))
		return b
	case avro.Fixed:
		b, _ := latin1(x.(string))
		arr := reflect.New(reflect.ArrayOf(len(b), reflect.TypeFor[byte]())).Elem()
		reflect.Copy(arr, reflect.ValueOf(b))
		return arr.Interface()
	case avro.Array:
		items := s.(*avro.ArraySchema).Items()
		in := x.([]any)
		out := make([]any, len(in))
		for i, e := range in {
			out[i] = toAvro(items, e)
		}
		return out
	case avro.Map:
		values := s.(*avro.MapSchema).Values()
		in := x.(map[string]any)
		out := make(map[string]any, len(in))
		for k, e := range in {
			out[k] = toAvro(values, e)
		}
		return out
	case avro.Record:
		in := x.(map[string]any)
		out := make(map[string]any, len(in))
		for _, f := range s.(*avro.RecordSchema).Fields() {
			if e, ok := in[f.Name()]; ok {
				out[f.Name()] = toAvro(f.Type(), e)
			} // else hamba/avro encodes the field's default
		}
		return out
	case avro.Union:
		if x == nil {
			return map[string]any(nil)
		}
		b, _ := pickBranch(s.(*avro.UnionSchema), x)
		return map[string]any{branchName(b): toAvro(b, x)}
	}
	return x // null, boolean, string, enum
}

// appendJSON writes v, as decoded by avro.Unmarshal into an any, as JSON
// shaped by s.
func appendJSON(buf *bytes.Buffer, s avro.Schema, v any) error {
	s = deref(s)
	switch s.Type() {
	case avro.Record:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("decoded record %T", v)
		}
		buf.WriteByte('{')
		for i, f := range s.(*avro.RecordSchema).Fields() {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, f.Name())
			buf.WriteByte(':')
			if err := appendJSON(buf, f.Type(), m[f.Name()]); err != nil {
				return fmt.Errorf("%s: %w", f.Name(), err)
			}
		}
		buf.WriteByte('}')
		return nil
	case avro.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("decoded map %T", v)
		}
		buf.WriteByte('{')
		for i, k := range sortedKeys(m) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := appendJSON(buf, s.(*avro.MapSchema).Values(), m[k]); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		buf.WriteByte('}')
		return nil
	case avro.Array:
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("decoded array %T", v)
		}
		buf.WriteByte('[')
		for i, e := range arr {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := appendJSON(buf, s.(*avro.ArraySchema).Items(), e); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		buf.WriteByte(']')
		return nil
	case avro.Union:
		if v == nil {
			buf.WriteString("null")
			return nil
		}
		u := s.(*avro.UnionSchema)
		// Named types come back wrapped as {fullName: value}; others plain.
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for k, inner := range m {
				if b, _ := u.Types().Get(k); b != nil {
					return appendJSON(buf, b, inner)
				}
			}
		}
		for _, b := range u.Types() {
			if b.Type() != avro.Null && goMatches(deref(b), v) {
				return appendJSON(buf, b, v)
			}
		}
		return fmt.Errorf("decoded %T matches no branch of the union", v)
	}
	return appendScalar(buf, s, v)
}

func appendScalar(buf *bytes.Buffer, s avro.Schema, v any) error {
	var lt avro.LogicalType
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		lt = ls.Logical().Type()
	}
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case time.Time:
		switch lt {
		case avro.Date:
			buf.WriteString(strconv.FormatInt(x.Unix()/86400, 10))
		case avro.TimestampMicros, avro.LocalTimestampMicros:
			buf.WriteString(strconv.FormatInt(x.UnixMicro(), 10))
		default:
			buf.WriteString(strconv.FormatInt(x.UnixMilli(), 10))
		}
	case time.Duration:
		if lt == avro.TimeMicros {
			buf.WriteString(strconv.FormatInt(x.Microseconds(), 10))
		} else {
			buf.WriteString(strconv.FormatInt(x.Milliseconds(), 10))
		}
	case []byte:
		writeString(buf, latin1String(x))
	case string:
		writeString(buf, x)
	case *big.Rat:
		buf.WriteString(x.FloatString(10))
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			writeString(buf, latin1String(b))
			return nil
		}
		b, err := json.Marshal(v) // bool, numbers
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

// goMatches reports whether a value decoded by hamba/avro into an any can
// be of schema s.
func goMatches(s avro.Schema, v any) bool {
	switch v.(type) {
	case bool:
		return s.Type() == avro.Boolean
	case int, int32:
		return s.Type() == avro.Int || s.Type() == avro.Long
	case int64, time.Time, time.Duration:
		return s.Type() == avro.Long || s.Type() == avro.Int
	case float32:
		return s.Type() == avro.Float
	case float64:
		return s.Type() == avro.Double
	case string:
		return s.Type() == avro.String || s.Type() == avro.Enum
	case []byte:
		return s.Type() == avro.Bytes
	case []any:
		return s.Type() == avro.Array
	case map[string]any:
		return s.Type() == avro.Map || s.Type() == avro.Record
	}
	return s.Type() == avro.Fixed
}

func latin1String(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // cannot fail for a string
	buf.Truncate(buf.Len() - 1) // Encode's newline
}
