package schemas

import (
	"encoding/binary"
	"math/bits"

	"github.com/hamba/avro/v2"
)

// conforms is ValidateJSON's fast path: it checks data against s in one
// pass over the bytes, without decoding into map[string]any, and reports
// true only when data certainly conforms, that is when validateJSON would
// return no problem. It reports false for invalid data and for anything
// it does not handle (an escape in a string, a non-ASCII byte where the
// value is matched against symbols or bytes, a repeated or unknown key, an
// exponent, a very long number, deep nesting): ValidateJSON then runs the
// decoding validator, which names the problems. FuzzConformsAgrees checks
// that it never accepts what the decoding validator refuses.
func conforms(s avro.Schema, data []byte) bool {
	c := conformer{b: data}
	c.space()
	if !c.value(s, 0) {
		return false
	}
	c.space()
	return c.i == len(c.b)
}

type conformer struct {
	b []byte
	i int
}

func (c *conformer) space() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// next skips whitespace and reports whether the next byte is want,
// consuming it if so.
func (c *conformer) next(want byte) bool {
	c.space()
	if c.i < len(c.b) && c.b[c.i] == want {
		c.i++
		return true
	}
	return false
}

func (c *conformer) literal(lit string) bool {
	if len(c.b)-c.i < len(lit) || string(c.b[c.i:c.i+len(lit)]) != lit {
		return false
	}
	c.i += len(lit)
	return true
}

// str consumes a JSON string without escapes or control characters and
// returns its contents; ascii reports whether they are all ASCII.
func (c *conformer) str() (s []byte, ascii, ok bool) {
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, false, false
	}
	start := c.i + 1
	j := start
	// Eight bytes at a time up to the first quote, backslash or control
	// character, as envelope's scanner does.
	var high uint64
	for len(c.b)-j >= 8 {
		x := binary.LittleEndian.Uint64(c.b[j:])
		if m := specialBytes(x); m != 0 {
			n := bits.TrailingZeros64(m) &^ 7
			high |= x & (1<<n - 1)
			j += n >> 3
			break
		}
		high |= x
		j += 8
	}
	ascii = high&msb == 0
	for ; j < len(c.b); j++ {
		switch ch := c.b[j]; {
		case ch == '"':
			c.i = j + 1
			return c.b[start:j], ascii, true
		case ch == '\\' || ch < 0x20:
			return nil, false, false
		case ch >= 0x80:
			ascii = false
		}
	}
	return nil, false, false
}

// number consumes a JSON number and reports its length in digits (integer
// and fraction) and whether it has a fraction or an exponent.
func (c *conformer) number() (digits int, integer, ok bool) {
	b, i := c.b, c.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
		digits = 1
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			digits++
		}
	default:
		return 0, false, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		if n == 0 {
			return 0, false, false
		}
		digits += n
		integer = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		return 0, false, false // rare: left to the decoding validator
	}
	c.i = i
	return digits, integer, true
}

func (c *conformer) value(s avro.Schema, depth int) bool {
	if depth > maxJSONDepth || c.i >= len(c.b) {
		return false
	}
	s = deref(s)
	switch s.Type() {
	case avro.Null:
		return c.literal("null")
	case avro.Boolean:
		return c.literal("true") || c.literal("false")
	case avro.Int, avro.Long:
		// Up to 9 digits always fit an int, up to 18 a long.
		max := 18
		if s.Type() == avro.Int {
			max = 9
		}
		digits, integer, ok := c.number()
		return ok && integer && digits <= max
	case avro.Float, avro.Double:
		// Without an exponent and under 30 digits, within a float's range.
		digits, _, ok := c.number()
		return ok && digits < 30
	case avro.String:
		_, _, ok := c.str()
		return ok
	case avro.Bytes:
		_, ascii, ok := c.str()
		return ok && ascii
	case avro.Fixed:
		v, ascii, ok := c.str()
		return ok && ascii && len(v) == s.(*avro.FixedSchema).Size()
	case avro.Enum:
		v, ascii, ok := c.str()
		if !ok || !ascii {
			return false
		}
		for _, sym := range s.(*avro.EnumSchema).Symbols() {
			if sym == string(v) {
				return true
			}
		}
		return false
	case avro.Array:
		items := s.(*avro.ArraySchema).Items()
		if !c.next('[') {
			return false
		}
		if c.next(']') {
			return true
		}
		for {
			c.space()
			if !c.value(items, depth+1) {
				return false
			}
			if c.next(']') {
				return true
			}
			if !c.next(',') {
				return false
			}
		}
	case avro.Map:
		values := s.(*avro.MapSchema).Values()
		return c.object(depth, func(_ []byte) bool { return c.value(values, depth+1) })
	case avro.Record:
		return c.record(s.(*avro.RecordSchema), depth)
	case avro.Union:
		return c.union(s.(*avro.UnionSchema), depth)
	}
	return false
}

// object consumes a JSON object, calling member for each value with its
// key after the colon.
func (c *conformer) object(_ int, member func(key []byte) bool) bool {
	if !c.next('{') {
		return false
	}
	if c.next('}') {
		return true
	}
	for {
		c.space()
		key, _, ok := c.str()
		if !ok || !c.next(':') {
			return false
		}
		c.space()
		if !member(key) {
			return false
		}
		if c.next('}') {
			return true
		}
		if !c.next(',') {
			return false
		}
	}
}

func (c *conformer) record(rec *avro.RecordSchema, depth int) bool {
	fields := rec.Fields()
	if len(fields) > 64 {
		return false
	}
	var seen uint64
	ok := c.object(depth, func(key []byte) bool {
		for i, f := range fields {
			if f.Name() == string(key) {
				if seen&(1<<i) != 0 {
					return false // repeated key
				}
				seen |= 1 << i
				return c.value(f.Type(), depth+1)
			}
		}
		return false // unknown key
	})
	if !ok {
		return false
	}
	for i, f := range fields {
		if seen&(1<<i) == 0 && !f.HasDefault() {
			return false // required field missing
		}
	}
	return true
}

func (c *conformer) union(u *avro.UnionSchema, depth int) bool {
	types := u.Types()
	if c.b[c.i] == 'n' {
		for _, t := range types {
			if t.Type() == avro.Null {
				return c.literal("null")
			}
		}
		return false
	}
	start := c.i
	for _, t := range types {
		if t.Type() == avro.Null {
			continue
		}
		if c.value(t, depth) {
			return true
		}
		c.i = start
	}
	return false
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialBytes returns a word whose lowest set bit is the high bit of the
// first byte of x (little-endian) that is a control character, '"' or '\\',
// or 0 if there is none (later bytes may be flagged spuriously, never an
// earlier one).
func specialBytes(x uint64) uint64 {
	q := x ^ ('"' * lsb)
	s := x ^ ('\\' * lsb)
	return ((x - 0x20*lsb) &^ x & msb) |
		((q - lsb) &^ q & msb) |
		((s - lsb) &^ s & msb)
}
