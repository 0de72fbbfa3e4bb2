package sse

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// This file writes the event stream format of the WHATWG HTML standard,
// section "Server-sent events" (text/event-stream). The Append functions
// follow strconv.AppendInt: they append to dst and return the extended
// slice, and allocate only when dst must grow. They may be called from
// several goroutines at once on different dst slices.

// AppendEvent appends one event to dst and returns the extended slice:
//
//	event: <typ>
//	id: <id>
//	data: <first line of data>
//	data: <second line of data>
//	<blank line>
//
// The event line is left out when typ is empty (the client then sees the
// type "message"), and the id line when id is empty (the client then keeps
// the last event id it had; an empty id cannot be sent to reset it). Both
// are checked after the removals described below.
//
// data is split on every line break: LF, CRLF and a CR on its own each end a
// line, and each line becomes one "data:" line. A client joins the lines
// with LF, so it receives data with its line breaks normalized to LF. An
// empty data gives one "data: " line and reaches the client as an event
// with empty data; a trailing line break gives a trailing empty "data: "
// line, so it survives the trip. The bytes of data are copied as they are:
// the stream is UTF-8, and a client replaces invalid sequences with U+FFFD.
//
// A line break in typ or id would end the field early and could inject
// fields or whole events into the stream, so every CR and LF is removed
// from both. A NUL is also removed from id, because a client ignores an id
// field that contains one.
func AppendEvent(dst []byte, typ, id string, data []byte) []byte {
	dst = appendField(dst, "event: ", typ, false)
	dst = appendField(dst, "id: ", id, true)
	dst = appendLines(dst, "data: ", "data: ", data, bytes.IndexByte)
	return append(dst, '\n')
}

// AppendComment appends a comment to dst and returns the extended slice:
// ": <text>" and a blank line. Clients ignore comments; servers send them as
// heartbeats to keep idle connections and proxies from timing out. A text
// with line breaks (LF, CRLF or CR) gives one comment line per line, and an
// empty line of text gives a bare ":" line, so an empty text appends
// ":\n\n", the shortest heartbeat.
//
// The blank line ends the comment as a block of its own; it must therefore
// be appended between events, never inside one, where it would dispatch the
// event early.
func AppendComment(dst []byte, text string) []byte {
	dst = appendLines(dst, ": ", ":", text, strings.IndexByte)
	return append(dst, '\n')
}

// AppendRetry appends a retry field and a blank line to dst and returns the
// extended slice: "retry: <ms>\n\n". It tells the client how long to wait
// before reconnecting after the connection is lost. d is truncated to whole
// milliseconds; a negative d is written as 0.
func AppendRetry(dst []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	if ms < 0 {
		ms = 0
	}
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '\n', '\n')
}

// appendField appends the line name+s+LF, with the CRs and LFs of s
// removed, and its NULs too if noNUL is set. It appends nothing if that
// leaves s empty.
func appendField(dst []byte, name, s string, noNUL bool) []byte {
	n := len(dst)
	dst = append(dst, name...)
	m := len(dst)
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || (noNUL && c == 0) {
			clean = false
			break
		}
	}
	if clean {
		dst = append(dst, s...)
	} else {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c != '\r' && c != '\n' && !(noNUL && c == 0) {
				dst = append(dst, c)
			}
		}
	}
	if len(dst) == m {
		return dst[:n]
	}
	return append(dst, '\n')
}

// appendLines appends one line per line of b, each ended by LF and
// prefixed by prefix, or by emptyPrefix if the line is empty. Lines of b end
// in LF, CRLF or CR; b with no line break (an empty b too) is one line, and
// a line break at the end of b is followed by one more, empty, line.
//
// Each byte of b is searched at most once for LF and once for CR, with
// index (bytes.IndexByte or strings.IndexByte), so that long data without
// CRs costs two vectorized scans and data with many CR-only lines does not
// go quadratic. b is generic so that a string is never copied to []byte.
func appendLines[T string | []byte](dst []byte, prefix, emptyPrefix string, b T, index func(T, byte) int) []byte {
	start, lf, cr := 0, -1, -1
	for {
		if lf < start {
			lf = nextByte(b, start, '\n', index)
		}
		if cr < start {
			cr = nextByte(b, start, '\r', index)
		}
		end := min(lf, cr)
		if end == start {
			dst = append(dst, emptyPrefix...)
		} else {
			dst = append(dst, prefix...)
			dst = append(dst, b[start:end]...)
		}
		dst = append(dst, '\n')
		if end == len(b) {
			return dst
		}
		start = end + 1
		if b[end] == '\r' && start < len(b) && b[start] == '\n' {
			start++
		}
	}
}

// nextByte returns the index of the first c in b at or after from, or
// len(b) if there is none.
func nextByte[T string | []byte](b T, from int, c byte, index func(T, byte) int) int {
	if i := index(b[from:], c); i >= 0 {
		return from + i
	}
	return len(b)
}
