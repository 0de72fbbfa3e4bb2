package sse

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// Event is one event as a client receives it from an event stream, after
// the parsing rules of the WHATWG HTML standard ("Interpreting an event
// stream").
type Event struct {
	// Type is the value of the block's event field, or "" if it had none.
	// A browser's EventSource reports "" as "message"; Type keeps the ""
	// so that a missing field and "event: message" can be told apart.
	Type string
	// ID is the stream's last event id when the event was dispatched, as
	// EventSource reports it in MessageEvent.lastEventId: set by the
	// block's id field if it had one, otherwise carried over from the
	// previous block with an id field ("" if there was none, or if an
	// empty id field reset it).
	ID string
	// Data is the block's data fields joined with LF, without a trailing
	// LF. Line breaks inside data arrive as separate data fields, so data
	// written with CRLF or CR line breaks is received with LF.
	Data string
	// Retry is the stream's reconnection time when the event was
	// dispatched: the value of the last valid retry field read so far,
	// in this block or an earlier one, or 0 if there was none.
	Retry time.Duration
}

// Reader reads events from a text/event-stream body such as the response
// to a GET on an SSE endpoint. It follows the parsing rules of the WHATWG
// HTML standard, so it sees a stream as a browser's EventSource would:
//
//   - a leading UTF-8 byte order mark is skipped, and invalid UTF-8 is
//     replaced with U+FFFD as the standard's UTF-8 decoder does;
//   - lines end in CRLF, LF or CR;
//   - a line "name:value" is a field, with one space after the colon
//     removed; a line without a colon is a field name with an empty value;
//   - a line starting with ":" is a comment, passed to OnComment;
//   - the fields data, event, id and retry are used, all others ignored;
//     an id containing NUL and a retry that is not all ASCII digits are
//     ignored;
//   - a blank line dispatches the event built so far, unless it has no
//     data field, in which case its id still becomes the last event id
//     but no event is returned;
//   - at the end of the stream an unfinished event (and an unfinished
//     last line) is discarded.
//
// Reader does not reconnect: it reads one stream. To resume, open a new
// request with the Last-Event-ID header set to LastEventID and wait Retry
// before doing so. Lines and events are held in memory whole, so read only
// from servers trusted not to send endless lines.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	// OnComment, if not nil, is called by Next with the text of every
	// comment line it reads, without the colon and without one space
	// after it: ": ping" gives "ping", and ":" gives "". Tests use it to
	// see heartbeats; it must not call the Reader.
	OnComment func(text string)

	br      *bufio.Reader
	line    []byte // the line being read, reused
	dec     []byte // line decoded from invalid UTF-8, reused
	started bool   // the first line has been read (and its BOM removed)
	skipLF  bool   // the last line ended in CR: skip an LF that follows
	err     error  // sticky error from the underlying reader

	data   []byte // data buffer: every data field followed by LF
	typ    string // event type buffer
	idBuf  string // last event id buffer
	lastID string // last event id, set from idBuf at each blank line
	retry  time.Duration
}

// NewReader returns a Reader reading the stream from r. It buffers r, so
// it may read more bytes from r than the events it has returned.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReader(r)}
}

// Next blocks until the next event is dispatched and returns it. Blocks
// without a data field and comments are consumed on the way without being
// returned. It returns io.EOF at the end of the stream, discarding an
// unfinished event, and any other error from the underlying reader as it
// is; once it has returned an error it returns the same error again.
func (r *Reader) Next() (Event, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			r.data, r.typ = r.data[:0], ""
			return Event{}, err
		}
		if len(line) == 0 {
			// Dispatch.
			r.lastID = r.idBuf
			if len(r.data) == 0 {
				r.typ = ""
				continue
			}
			ev := Event{
				Type:  r.typ,
				ID:    r.lastID,
				Data:  string(r.data[:len(r.data)-1]),
				Retry: r.retry,
			}
			r.data, r.typ = r.data[:0], ""
			return ev, nil
		}
		r.field(line)
	}
}

// LastEventID returns the stream's last event id: the value of the id
// field of the last complete block (one ended by a blank line) that had an
// id field, whether or not that block was dispatched as an event, or "" if
// there was none. An id field in a block cut off by the end of the stream
// does not count. It is the value to send as Last-Event-ID when
// reconnecting.
func (r *Reader) LastEventID() string {
	return r.lastID
}

// Retry returns the stream's reconnection time: the value of the last
// valid retry field read, or 0 if there was none. Unlike Event.Retry it
// also reflects blocks that were not dispatched, such as the one written
// by AppendRetry.
func (r *Reader) Retry() time.Duration {
	return r.retry
}

// field processes one non-empty line.
func (r *Reader) field(line []byte) {
	if line[0] == ':' {
		if r.OnComment != nil {
			r.OnComment(string(trimSpace1(line[1:])))
		}
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], trimSpace1(line[i+1:])
	}
	switch string(name) {
	case "data":
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
	case "event":
		r.typ = string(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != r.idBuf {
			r.idBuf = string(value)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			r.retry = ms
		}
	}
}

// trimSpace1 removes one leading space from b.
func trimSpace1(b []byte) []byte {
	if len(b) > 0 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// parseDigits parses a retry value in milliseconds. It reports false unless
// b is one or more ASCII digits; a value too large for a time.Duration is
// capped at the largest one.
func parseDigits(b []byte) (time.Duration, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const maxMS = math.MaxInt64 / int64(time.Millisecond)
	var ms int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= maxMS {
			ms = ms*10 + int64(c-'0')
		}
	}
	if ms > maxMS {
		return math.MaxInt64, true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// readLine returns the next line without its line break, decoded to valid
// UTF-8 and, for the first line, without a byte order mark. The slice is
// valid until the next call. A last line without a line break is not
// returned: readLine returns the error that ended it.
//
// After a CR it does not wait for the next byte to see whether it is an
// LF: it returns the line at once and skips an LF at the start of the next
// call, so that a stream using CR line breaks gets its events dispatched
// without delay.
func (r *Reader) readLine() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.line = r.line[:0]
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				r.err = err
				return nil, err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if r.skipLF {
			r.skipLF = false
			if buf[0] == '\n' {
				_, _ = r.br.Discard(1)
				continue
			}
		}
		i := indexLineBreak(buf)
		if i < 0 {
			r.line = append(r.line, buf...)
			_, _ = r.br.Discard(len(buf))
			continue
		}
		r.line = append(r.line, buf[:i]...)
		r.skipLF = buf[i] == '\r'
		_, _ = r.br.Discard(i + 1)
		break
	}
	line := r.line
	if !r.started {
		r.started = true
		line = bytes.TrimPrefix(line, []byte("\uFEFF"))
	}
	if !utf8.Valid(line) {
		r.dec = appendUTF8Decoded(r.dec[:0], line)
		line = r.dec
	}
	return line, nil
}

// indexLineBreak returns the index of the first CR or LF in b, or -1.
func indexLineBreak(b []byte) int {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

// appendUTF8Decoded appends src to dst with every invalid UTF-8 sequence
// replaced by U+FFFD the way the WHATWG Encoding standard's UTF-8 decoder
// does it: one U+FFFD per maximal subpart of an ill-formed sequence, as
// Unicode recommends. (strings.ToValidUTF8 uses one U+FFFD per run of
// invalid bytes, and utf8.DecodeRune one per invalid byte, so neither
// gives the same result as a browser.)
func appendUTF8Decoded(dst, src []byte) []byte {
	const bad = "\uFFFD"
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xBF)
	start := 0 // start of the sequence being decoded
	for i := 0; i < len(src); i++ {
		b := src[i]
		if needed == 0 {
			start = i
			switch {
			case b <= 0x7F:
				dst = append(dst, b)
			case b >= 0xC2 && b <= 0xDF:
				needed = 1
			case b >= 0xE0 && b <= 0xEF:
				if b == 0xE0 {
					lower = 0xA0
				} else if b == 0xED {
					upper = 0x9F
				}
				needed = 2
			case b >= 0xF0 && b <= 0xF4:
				if b == 0xF0 {
					lower = 0x90
				} else if b == 0xF4 {
					upper = 0x8F
				}
				needed = 3
			default:
				dst = append(dst, bad...)
			}
			continue
		}
		if b < lower || b > upper {
			// The sequence is cut short: replace what was read and read
			// b again as the start of a new one.
			needed, seen = 0, 0
			lower, upper = 0x80, 0xBF
			dst = append(dst, bad...)
			i--
			continue
		}
		lower, upper = 0x80, 0xBF
		seen++
		if seen == needed {
			// The bounds checked above make src[start:i+1] valid UTF-8.
			dst = append(dst, src[start:i+1]...)
			needed, seen = 0, 0
		}
	}
	if needed != 0 {
		dst = append(dst, bad...)
	}
	return dst
}
