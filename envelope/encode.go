package envelope

import (
	"bytes"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The encoder is hand-written (appends, no reflection) because it runs once
// per published event, on the publisher's goroutine: BenchmarkPublish in the
// producer package measures it against raw franz-go. Data is checked once,
// with the decoder's scanner (scan.go: about fifteen times faster than
// encoding/json.Valid, and fuzzed against it in this package's tests), and
// copied verbatim.

// validJSON reports whether b is one valid JSON value, with the same rules
// as encoding/json.Valid (UTF-8 is checked separately).
func validJSON(b []byte) bool {
	i, err := skipValue(b, 0)
	return err == nil && skipWS(b, i) == len(b)
}

// encode writes e in the wire format: keys in the documented order, no
// whitespace between them, no HTML escaping, published_at in UTC with at
// least milliseconds, data verbatim (without surrounding whitespace). When
// checkData is false the caller has already validated Data.
func encode(dst []byte, e Envelope, checkData bool) ([]byte, error) {
	data := bytes.TrimSpace(e.Data)
	if len(data) == 0 {
		data = []byte("null")
	} else if checkData && !validJSON(data) {
		return nil, &ValidationError{Field: "data", Err: ErrNotJSON}
	}
	u := e.PublishedAt.UTC()
	if y := u.Year(); y < 0 || y > 9999 {
		return nil, &ValidationError{Field: "published_at", Err: fmt.Errorf("%w: year %d outside 0000..9999", ErrBadTimestamp, y)}
	}

	n := 256 + len(e.MessageID) + len(e.Topic) + len(e.Producer) + len(data) +
		len(e.Metadata.CorrelationID) + len(e.Metadata.SchemaVersion) + len(e.Metadata.ContentType)
	b := slices.Grow(dst, n)
	b = append(b, `{"message_id":`...)
	b = appendString(b, e.MessageID)
	b = append(b, `,"topic":`...)
	b = appendString(b, e.Topic)
	b = append(b, `,"published_at":`...)
	b = appendTime(b, u)
	b = append(b, `,"producer":`...)
	b = appendString(b, e.Producer)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, `,"metadata":{"correlation_id":`...)
	b = appendString(b, e.Metadata.CorrelationID)
	b = append(b, `,"schema_version":`...)
	b = appendString(b, e.Metadata.SchemaVersion)
	b = append(b, `,"content_type":`...)
	b = appendString(b, e.Metadata.ContentType)
	return append(b, "}}"...), nil
}

// appendTime appends t (already UTC, year 0..9999) as a JSON string in
// RFC 3339 with at least three fractional digits: the canonical form is
// milliseconds, finer precision is preserved if present. It formats by hand:
// time.AppendFormat costs more than the rest of the envelope's fields.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = append(b, secondText(t)...)
	b = append(b, '.')
	ns, digits := t.Nanosecond(), 9
	for digits > 3 && ns%10 == 0 {
		ns /= 10
		digits--
	}
	b = appendDigits(b, ns, digits)
	return append(b, 'Z', '"')
}

// A formattedSecond is a second's "YYYY-MM-DDTHH:MM:SS" (UTC).
type formattedSecond struct {
	unix int64
	text [19]byte
}

// lastSecond is the second appendTime formatted last: events published
// in the same second share it.
var lastSecond atomic.Pointer[formattedSecond]

// secondText returns t's "YYYY-MM-DDTHH:MM:SS" (t in UTC, year 0..9999).
func secondText(t time.Time) []byte {
	unix := t.Unix()
	if f := lastSecond.Load(); f != nil && f.unix == unix {
		return f.text[:]
	}
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	f := &formattedSecond{unix: unix}
	b := f.text[:0]
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	_ = appendDigits(b, sec, 2)
	lastSecond.Store(f)
	return f.text[:]
}

// appendDigits appends v (non-negative) zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:width]...)
}

// appendString appends s as a JSON string, escaping as encoding/json does
// with HTML escaping off: quotes, backslashes and control characters;
// invalid UTF-8 becomes U+FFFD; U+2028 and U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	// Most strings (ids, names, versions) need no escaping: skip eight
	// plain ASCII bytes at a time.
	i := 0
	for len(s)-i >= 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if specialBytes(x)|x&msb != 0 {
			break
		}
		i += 8
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hex = "0123456789abcdef"
