package schemas

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
	"unsafe"
)

// parseJSON decodes data into the values encoding/json produces with
// UseNumber (map[string]any, []any, json.Number, string, bool, nil) in one
// pass, without encoding/json's separate validation scan. Its strings share
// data's memory: the result must not outlive the caller's use of data. It
// handles the common case only: ok is false for anything unusual (a string
// with an escape or invalid UTF-8, a syntax error, deep nesting), and the
// caller then decodes with encoding/json, which also gives the error
// message. FuzzParseJSON checks it against encoding/json.
func parseJSON(data []byte) (x any, ok bool) {
	p := jsonParser{b: data}
	p.space()
	x, ok = p.value(0)
	if !ok {
		return nil, false
	}
	p.space()
	return x, p.i == len(p.b)
}

type jsonParser struct {
	b []byte
	i int
}

const maxJSONDepth = 64

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (any, bool) {
	if p.i >= len(p.b) || depth > maxJSONDepth {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, ok := p.string()
		return s, ok
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, false
}

func (p *jsonParser) literal(lit string) bool {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

func (p *jsonParser) object(depth int) (any, bool) {
	p.i++ // {
	m := make(map[string]any)
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		k, ok := p.string()
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.space()
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v
		p.space()
		if p.i >= len(p.b) {
			return nil, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
			p.space()
		case '}':
			p.i++
			return m, true
		default:
			return nil, false
		}
	}
}

func (p *jsonParser) array(depth int) (any, bool) {
	p.i++ // [
	a := []any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, true
	}
	for {
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
			p.space()
		case ']':
			p.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// string reads a string without escapes; anything else is not ok.
func (p *jsonParser) string() (string, bool) {
	start := p.i + 1
	end := bytes.IndexByte(p.b[start:], '"')
	if end < 0 {
		return "", false
	}
	seg := p.b[start : start+end]
	if !plainString(seg) {
		return "", false
	}
	p.i = start + end + 1
	if len(seg) == 0 {
		return "", true
	}
	// A view of the input, not a copy: parsed values never outlive the
	// call that parsed them (validation, or conversion to Avro).
	return unsafe.String(&seg[0], len(seg)), true
}

// plainString reports whether s, the bytes between two quotes, is a JSON
// string as it is: no escapes, no control characters, valid UTF-8. It checks
// eight bytes at a time while they are printable ASCII.
func plainString(s []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ascii := true
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		// A byte below 0x20, or one with its high bit set, or a backslash.
		q := x ^ (ones * '\\')
		if ((x-ones*0x20)&^x|x|(q-ones)&^q)&highs != 0 {
			break
		}
		s = s[8:]
	}
	for _, c := range s {
		switch {
		case c == '\\' || c < 0x20:
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	return ascii || utf8.Valid(s)
}

func (p *jsonParser) number() (any, bool) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return nil, false
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	return json.Number(p.b[start:p.i]), true
}
