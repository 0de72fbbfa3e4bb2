package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/sse"
)

// A sink receives every event a stream parses: its publish time in Unix
// milliseconds (from the message id) and the time it was parsed.
type sink interface {
	event(idMS int64, recv time.Time)
	comment(text []byte)
}

var errBadID = errors.New("kbus-ssebench: event id is not a kbus message id")

// readSSE parses a stream with sse.Reader, the package's spec-complete
// parser, and takes the publish time with envelope.MessageIDTime.
func readSSE(body io.Reader, s sink) error {
	r := sse.NewReader(body)
	r.OnComment = func(text string) { s.comment([]byte(text)) }
	for {
		ev, err := r.Next()
		if err != nil {
			return err
		}
		recv := time.Now()
		t, err := envelope.MessageIDTime(ev.MessageID())
		if err != nil {
			return errBadID
		}
		s.event(t.UnixMilli(), recv)
	}
}

// readFast parses a stream as kbus's server writes it (LF line breaks,
// "field: value" with one space, an id in every event) without allocating:
// it looks only at id lines and blank lines, and decodes the time straight
// from the ULID's first ten characters. It is not a general SSE parser.
func readFast(body io.Reader, s sink) error {
	br := bufio.NewReaderSize(body, 16<<10)
	var (
		idMS  int64 = -1
		hasID bool
	)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				// A line longer than the buffer (a huge data line): skip it.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
				if err == nil {
					continue
				}
			}
			return err
		}
		line = line[:len(line)-1]
		switch {
		case len(line) == 0:
			if hasID {
				s.event(idMS, time.Now())
				hasID = false
			}
		case line[0] == ':':
			s.comment(bytes.TrimPrefix(line[1:], []byte(" ")))
		case bytes.HasPrefix(line, []byte("id: ")):
			ms, ok := ulidMS(line[4:])
			if !ok {
				return errBadID
			}
			idMS, hasID = ms, true
		}
	}
}

// ulidMS decodes the millisecond timestamp of a message id "msg_<ULID>":
// the ULID's first ten Crockford base32 characters.
func ulidMS(id []byte) (int64, bool) {
	if i := bytes.IndexByte(id, '.'); i >= 0 {
		id = id[:i] // <message id>.<position>: see sse.MessageID
	}
	id = bytes.TrimPrefix(id, []byte(envelope.IDPrefix))
	if len(id) != 26 {
		return 0, false
	}
	var ms int64
	for _, c := range id[:10] {
		d := strings.IndexByte(crockford, c)
		if d < 0 {
			return 0, false
		}
		ms = ms<<5 | int64(d)
	}
	return ms, true
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
