package schemas

import (
	"fmt"

	"github.com/hamba/avro/v2"
)

// Mode is a compatibility rule between consecutive versions of an event
// type. The zero value is Backward.
type Mode int

const (
	// Backward: each version can read data written with the previous one,
	// so consumers upgrade first (a new field needs a default; a field may
	// be removed).
	Backward Mode = iota
	// Forward: each version's data can be read by the previous version, so
	// producers upgrade first (a removed field needs a default in the old
	// version; a field may be added).
	Forward
	// Full: both Backward and Forward, so producers and consumers upgrade
	// in any order (only fields with defaults may be added or removed).
	Full
)

// String returns "backward", "forward" or "full".
func (m Mode) String() string {
	switch m {
	case Backward:
		return "backward"
	case Forward:
		return "forward"
	case Full:
		return "full"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "backward", "forward" or "full" (as a command-line flag
// gives it). The empty string is Backward.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "backward":
		return Backward, nil
	case "forward":
		return Forward, nil
	case "full":
		return Full, nil
	}
	return 0, fmt.Errorf("schemas: unknown compatibility mode %q (want backward, forward or full)", s)
}

// Problem is one failed compatibility check between two consecutive
// versions of an event type.
type Problem struct {
	Type string // event type
	// Reader and Writer are the versions involved: Reader could not read
	// data written with Writer. In Backward mode Reader is the newer one.
	Reader, Writer string
	// Field is the dotted path of the field at fault in the reader's
	// schema, e.g. "amount", when it could be located; "" otherwise.
	Field string
	// Message is hamba/avro's explanation.
	Message string
}

// String describes the problem in one line, naming the type, the versions
// and the field.
func (p Problem) String() string {
	where := ""
	if p.Field != "" {
		where = "field " + p.Field + ": "
	}
	return fmt.Sprintf("%s: version %s cannot read data written with %s: %s%s",
		p.Type, p.Reader, p.Writer, where, p.Message)
}

// Check verifies every consecutive pair of versions of every event type
// under mode and returns the problems found, ordered by type and version;
// none means the catalog passes. A type with one version always passes.
func (r *Registry) Check(mode Mode) []Problem {
	var problems []Problem
	for _, name := range r.names {
		t := r.types[name]
		for i := 1; i < len(t.versions); i++ {
			older, newer := t.versions[i-1], t.versions[i]
			if mode == Backward || mode == Full {
				if p, bad := checkPair(name, newer, older); bad {
					problems = append(problems, p)
				}
			}
			if mode == Forward || mode == Full {
				if p, bad := checkPair(name, older, newer); bad {
					problems = append(problems, p)
				}
			}
		}
	}
	return problems
}

func checkPair(typ string, reader, writer *version) (Problem, bool) {
	err := avro.NewSchemaCompatibility().Compatible(reader.schema, writer.schema)
	if err == nil {
		return Problem{}, false
	}
	field, msg := locate(reader.schema, writer.schema, "")
	if msg == "" {
		msg = err.Error()
	}
	return Problem{Type: typ, Reader: reader.name, Writer: writer.name, Field: field, Message: msg}, true
}

// locate descends records (by field name), arrays and maps of a reader and
// writer schema that are not compatible and returns the deepest path at
// fault with its message; ("", "") when the fault is not inside a record
// field.
func locate(reader, writer avro.Schema, path string) (field, msg string) {
	reader, writer = deref(reader), deref(writer)
	switch {
	case reader.Type() == avro.Record && writer.Type() == avro.Record:
		wfields := writer.(*avro.RecordSchema).Fields()
		for _, rf := range reader.(*avro.RecordSchema).Fields() {
			p := join(path, rf.Name())
			wf := findField(wfields, rf)
			if wf == nil {
				if !rf.HasDefault() {
					return p, "missing in the writer's schema and has no default"
				}
				continue
			}
			if err := avro.NewSchemaCompatibility().Compatible(rf.Type(), wf.Type()); err != nil {
				if f, m := locate(rf.Type(), wf.Type(), p); f != "" {
					return f, m
				}
				return p, err.Error()
			}
		}
	case reader.Type() == avro.Array && writer.Type() == avro.Array:
		return locate(reader.(*avro.ArraySchema).Items(), writer.(*avro.ArraySchema).Items(), path+"[]")
	case reader.Type() == avro.Map && writer.Type() == avro.Map:
		return locate(reader.(*avro.MapSchema).Values(), writer.(*avro.MapSchema).Values(), join(path, "*"))
	}
	return "", ""
}

func findField(fields []*avro.Field, f *avro.Field) *avro.Field {
	for _, w := range fields {
		if w.Name() == f.Name() {
			return w
		}
	}
	for _, w := range fields {
		for _, a := range f.Aliases() {
			if w.Name() == a {
				return w
			}
		}
	}
	return nil
}
