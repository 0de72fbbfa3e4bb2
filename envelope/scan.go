package envelope

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// A small validating JSON scanner for Unmarshal. It accepts exactly what
// encoding/json accepts (RFC 8259 syntax, at most maxDepth nested arrays and
// objects per value, any bytes >= 0x20 inside strings, since UTF-8 is
// checked separately) and is fuzzed against it in this package's tests.
// Positions are indices into the input; nothing is copied or allocated
// except on errors.

// maxDepth is encoding/json's limit on nested arrays and objects in a value.
const maxDepth = 10000

// Flags reported by scanString about the string's contents.
const (
	strEscaped  = 1 << iota // contains a backslash escape
	strNonASCII             // contains a byte >= 0x80
)

var errEOF = malformed("unexpected end of input")

// syntaxErr reports an unexpected byte, worded like encoding/json's errors.
func syntaxErr(c byte, context string) error {
	var q string
	switch c {
	case '\'':
		q = `'\''`
	case '"':
		q = `'"'`
	default:
		s := strconv.Quote(string(rune(c)))
		if c >= 0x80 {
			s = strconv.Quote(string([]byte{c}))
		}
		q = "'" + s[1:len(s)-1] + "'"
	}
	return malformed("invalid character %s %s", q, context)
}

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\n', '\r', '\t':
			i++
		default:
			return i
		}
	}
	return i
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialBytes returns a word whose lowest set bit is the high bit of the
// first byte of x (little-endian) that is a control character, '"' or '\\',
// or 0 if there is none. (The classic "has zero byte" tricks may flag
// further bytes spuriously, but never one before the first real match.)
func specialBytes(x uint64) uint64 {
	q := x ^ ('"' * lsb)
	s := x ^ ('\\' * lsb)
	return ((x - 0x20*lsb) &^ x & msb) |
		((q - lsb) &^ q & msb) |
		((s - lsb) &^ s & msb)
}

// scanString validates the JSON string starting at b[i] == '"' and returns
// the index just after its closing quote, with strEscaped and strNonASCII
// flags describing its contents.
func scanString(b []byte, i int) (end int, flags int, err error) {
	i++
	var high uint64 // OR of the bulk-scanned words, for strNonASCII
	for {
		for len(b)-i >= 16 { // two words per round while nothing is special
			x, y := binary.LittleEndian.Uint64(b[i:]), binary.LittleEndian.Uint64(b[i+8:])
			if specialBytes(x)|specialBytes(y) != 0 {
				break
			}
			high |= x | y
			i += 16
		}
		for len(b)-i >= 8 {
			x := binary.LittleEndian.Uint64(b[i:])
			if m := specialBytes(x); m != 0 {
				n := bits.TrailingZeros64(m) &^ 7 // bit offset of the byte
				high |= x & (1<<n - 1)
				i += n >> 3
				break
			}
			high |= x
			i += 8
		}
		if i >= len(b) {
			return 0, 0, errEOF
		}
		switch c := b[i]; {
		case c == '"':
			if high&msb != 0 {
				flags |= strNonASCII
			}
			return i + 1, flags, nil
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(b) {
				return 0, 0, errEOF
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				i += 2
				for j := 0; j < 4; j, i = j+1, i+1 {
					if i >= len(b) {
						return 0, 0, errEOF
					}
					if c := b[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
						return 0, 0, syntaxErr(c, "in \\u hexadecimal character escape")
					}
				}
			default:
				return 0, 0, syntaxErr(b[i+1], "in string escape code")
			}
		case c < 0x20:
			return 0, 0, syntaxErr(c, "in string literal")
		default:
			if c >= 0x80 {
				flags |= strNonASCII
			}
			i++
		}
	}
}

// scanNumber validates the JSON number starting at b[i] ('-' or a digit)
// and returns the index just after it.
func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, errEOF
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = skipDigits(b, i+1)
	default:
		return 0, syntaxErr(c, "in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) {
			return 0, errEOF
		}
		if c := b[i]; c < '0' || c > '9' {
			return 0, syntaxErr(c, "after decimal point in numeric literal")
		}
		i = skipDigits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			return 0, errEOF
		}
		if c := b[i]; c < '0' || c > '9' {
			return 0, syntaxErr(c, "in exponent of numeric literal")
		}
		i = skipDigits(b, i)
	}
	return i, nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// scanLiteral checks that b[i:] starts with lit (true, false or null) and
// returns the index just after it.
func scanLiteral(b []byte, i int, lit string) (int, error) {
	for j := 0; j < len(lit); j++ {
		if i+j >= len(b) {
			return 0, errEOF
		}
		if b[i+j] != lit[j] {
			return 0, syntaxErr(b[i+j], "in literal "+lit+" (expecting "+strconv.QuoteRune(rune(lit[j]))+")")
		}
	}
	return i + len(lit), nil
}

// scanKey validates an object key and the colon after it, starting at
// b[i], and returns the index after the colon.
func scanKey(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errEOF
	}
	if b[i] != '"' {
		return 0, syntaxErr(b[i], "looking for beginning of object key string")
	}
	i, _, err := scanString(b, i)
	if err != nil {
		return 0, err
	}
	return scanColon(b, i)
}

// scanColon skips whitespace and the ':' after an object key.
func scanColon(b []byte, i int) (int, error) {
	if i = skipWS(b, i); i >= len(b) {
		return 0, errEOF
	}
	if b[i] != ':' {
		return 0, syntaxErr(b[i], "after object key")
	}
	return skipWS(b, i+1), nil
}

// skipValue validates the JSON value starting at b[i] (leading whitespace
// allowed) and returns the index just after it.
func skipValue(b []byte, i int) (int, error) {
	var buf [32]byte
	stack := buf[:0] // '{' or '[' for each open container
	var err error
	for {
		// At the start of a value.
		if i = skipWS(b, i); i >= len(b) {
			return 0, errEOF
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) >= maxDepth {
				return 0, malformed("exceeded max depth")
			}
			stack = append(stack, c)
			if i = skipWS(b, i+1); i >= len(b) {
				return 0, errEOF
			}
			if b[i] == c+2 { // '}' or ']': empty container
				i++
				stack = stack[:len(stack)-1]
				break
			}
			if c == '{' {
				if i, err = scanKey(b, i); err != nil {
					return 0, err
				}
			}
			continue
		case '"':
			i, _, err = scanString(b, i)
		case 't':
			i, err = scanLiteral(b, i, "true")
		case 'f':
			i, err = scanLiteral(b, i, "false")
		case 'n':
			i, err = scanLiteral(b, i, "null")
		default:
			if c != '-' && (c < '0' || c > '9') {
				return 0, syntaxErr(c, "looking for beginning of value")
			}
			i, err = scanNumber(b, i)
		}
		if err != nil {
			return 0, err
		}
		// After a value: close containers until a comma or the end.
	after:
		for {
			if len(stack) == 0 {
				return i, nil
			}
			if i = skipWS(b, i); i >= len(b) {
				return 0, errEOF
			}
			open := stack[len(stack)-1]
			switch c := b[i]; {
			case c == ',':
				i = skipWS(b, i+1)
				if open == '{' {
					if i, err = scanKey(b, i); err != nil {
						return 0, err
					}
				}
				break after
			case c == open+2:
				i++
				stack = stack[:len(stack)-1]
			case open == '{':
				return 0, syntaxErr(c, "after object key:value pair")
			default:
				return 0, syntaxErr(c, "after array element")
			}
		}
	}
}
