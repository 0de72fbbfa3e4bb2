package sse

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file defines the SSE event id, a resume cursor:
//
//	<message id>.<position>
//	msg_01HM6AQH5VX7K9PAYM3NTQ8RSW.AUbx3QoBAAA
//
// A message id alone cannot be a lossless resume position: Kafka's order is
// not id order (a retried publish keeps the id of its first attempt, the
// outbox relays rows long after their ids were made, partitions are fetched
// independently), so "every event after this id" is not "every event after
// this one". The position is where the event stands in the server's read of
// Kafka: for every partition the server reads, the offset after the last
// record of that partition that precedes the event in the stream (the event's
// own record included). Resuming from it reads each partition from that
// offset: exactly the events the client has not been sent, on any instance
// reading the same topics.
//
// The position is base64url without padding of: a version byte (1); the
// 4-byte FNV-1a hash of the layout (the sorted topic names with their
// partition counts), big-endian; then, per topic in layout order, the
// smallest offset of its partitions as a uvarint followed by each partition's
// offset minus that smallest one, as uvarints. A 12-partition topic gives a
// position of 30 to 50 characters.

// idSep separates the message id from the position in an event id. It
// cannot occur in a message id (msg_ and Crockford base32) nor in base64url.
const idSep = '.'

// cursorVersion is the first byte of a position.
const cursorVersion = 1

// maxCursorLen bounds the position of a Last-Event-ID (in characters) that a
// server decodes at all; a longer one is refused.
const maxCursorLen = 64 << 10

// MessageID returns the message id of an SSE event id sent by a kbus
// [Server] (<message id>.<position>): the part before the first '.', or the
// whole id if it has none. It does not check that the result is a valid
// message id.
func MessageID(eventID string) string {
	if i := strings.IndexByte(eventID, idSep); i >= 0 {
		return eventID[:i]
	}
	return eventID
}

// MessageID returns the message id of the event's ID; see the function
// [MessageID].
func (e Event) MessageID() string { return MessageID(e.ID) }

// layout is the list of partitions a server reads, in a fixed order: topics
// sorted by name, partitions by number. It is immutable once built.
type layout struct {
	parts  []tp       // in layout order
	topics []int      // index in parts of each topic's first partition, plus len(parts)
	index  map[tp]int // position of each partition in parts
	hash   [4]byte
}

// newLayout returns the layout of topics with the given partition counts.
func newLayout(counts map[string]int32) *layout {
	names := make([]string, 0, len(counts))
	for t := range counts {
		names = append(names, t)
	}
	slices.Sort(names)
	l := &layout{index: map[tp]int{}}
	h := fnv.New32a()
	for _, t := range names {
		n := counts[t]
		_, _ = h.Write([]byte(t))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write(strconv.AppendInt(nil, int64(n), 10))
		_, _ = h.Write([]byte{'\n'})
		l.topics = append(l.topics, len(l.parts))
		for p := range n {
			l.index[tp{t, p}] = len(l.parts)
			l.parts = append(l.parts, tp{t, p})
		}
	}
	l.topics = append(l.topics, len(l.parts))
	binary.BigEndian.PutUint32(l.hash[:], h.Sum32())
	return l
}

// appendID appends the event id <msgID>.<position of pos> to dst; pos holds
// one offset per partition of l, in layout order, each >= 0.
func (l *layout) appendID(dst []byte, msgID string, pos []int64) []byte {
	var raw [256]byte
	b := append(raw[:0], cursorVersion)
	b = append(b, l.hash[:]...)
	for i := 0; i+1 < len(l.topics); i++ {
		ps := pos[l.topics[i]:l.topics[i+1]]
		if len(ps) == 0 {
			continue
		}
		lo := slices.Min(ps)
		b = binary.AppendUvarint(b, uint64(lo))
		for _, o := range ps {
			b = binary.AppendUvarint(b, uint64(o-lo))
		}
	}
	dst = append(dst, msgID...)
	dst = append(dst, idSep)
	return base64.RawURLEncoding.AppendEncode(dst, b)
}

// Errors of parseCursor.
var (
	// errBadCursor: the position is malformed, or claims this server's
	// layout and does not decode as one.
	errBadCursor = errors.New("malformed position")
	// errOtherLayout: a well-formed position of another layout or version.
	errOtherLayout = errors.New("position of another topic layout")
)

// parseCursor decodes the position part of an event id (after the '.') into
// one offset per partition of l, in layout order. It returns errOtherLayout
// for a position of another version or layout (resume by time), and
// errBadCursor for anything else that is not a position this server wrote.
func (l *layout) parseCursor(s string) ([]int64, error) {
	if len(s) > maxCursorLen || strings.ContainsAny(s, "\r\n") { // the decoder would skip CR and LF
		return nil, errBadCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 5 {
		return nil, errBadCursor
	}
	if b[0] != cursorVersion || [4]byte(b[1:5]) != l.hash {
		return nil, errOtherLayout
	}
	b = b[5:]
	pos := make([]int64, len(l.parts))
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	for i := 0; i+1 < len(l.topics); i++ {
		if l.topics[i] == l.topics[i+1] {
			continue
		}
		lo, ok := next()
		if !ok || lo > math.MaxInt64 {
			return nil, errBadCursor
		}
		for j := l.topics[i]; j < l.topics[i+1]; j++ {
			d, ok := next()
			if !ok || d > math.MaxInt64-lo {
				return nil, errBadCursor
			}
			pos[j] = int64(lo + d)
		}
	}
	if len(b) != 0 {
		return nil, errBadCursor
	}
	return pos, nil
}
