package envelope

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDPrefix is the prefix of every message id.
const IDPrefix = "msg_"

// CorrelationIDPrefix is the prefix of correlation ids made by
// NewCorrelationID. Correlation ids received from elsewhere may have any
// form.
const CorrelationIDPrefix = "corr_"

// NewMessageID returns IDPrefix followed by a new ULID whose timestamp is t,
// at millisecond precision. Times before the Unix epoch are clamped to the
// epoch and times after the largest ULID time (year 10889) to that time.
//
// The 80 random bits come from crypto/rand, and ids made for the same
// millisecond are monotonic: each is the previous one plus a random
// increment, so they sort (as strings, and as ULIDs) in the order they were
// made, across goroutines, even when many are made within one millisecond.
// Because the timestamp comes first, ids for different milliseconds sort by
// time. Monotonicity is tracked for the few most recently used
// milliseconds, so goroutines racing across a millisecond boundary, or
// occasional calls with an unrelated t, do not disturb it.
//
// NewMessageID is safe for concurrent use.
func NewMessageID(t time.Time) string {
	return prefixedID(IDPrefix, ids.next(timestampMS(t)))
}

// prefixedID is prefix + u.String() in one allocation.
func prefixedID(prefix string, u ulid.ULID) string {
	var b [8 + ulid.EncodedSize]byte
	n := copy(b[:], prefix)
	if n+ulid.EncodedSize > len(b) {
		return prefix + u.String()
	}
	_ = u.MarshalTextTo(b[n : n+ulid.EncodedSize])
	return string(b[:n+ulid.EncodedSize])
}

// NewCorrelationID returns CorrelationIDPrefix followed by a new ULID for the
// current time. It is safe for concurrent use.
func NewCorrelationID() string {
	return CorrelationIDPrefix + ids.next(timestampMS(time.Now())).String()
}

// ParseMessageID checks that id is IDPrefix followed by a canonical ULID (26
// characters of upper-case Crockford base32) and returns the ULID.
//
// On failure the error is a *ValidationError for field "message_id" wrapping
// ErrBadMessageID. Lower-case ULIDs are rejected so that a message has
// exactly one spelling of its id, which matters for de-duplication and for
// comparing ids as strings.
func ParseMessageID(id string) (ulid.ULID, error) {
	if u, ok := parseCanonicalID(id); ok {
		return u, nil
	}
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok {
		return ulid.ULID{}, badMessageID("missing \"" + IDPrefix + "\" prefix")
	}
	u, err := ulid.ParseStrict(rest)
	if err != nil {
		return ulid.ULID{}, badMessageID(err.Error())
	}
	if u.String() != rest {
		return ulid.ULID{}, badMessageID("ULID is not in canonical upper case")
	}
	return u, nil
}

// MessageIDTime returns the time encoded in a message id, in UTC with
// millisecond precision. For an envelope made by New it equals PublishedAt.
//
// This allows seeking a Kafka partition by timestamp when all that is known
// is a message id, for example the Last-Event-ID of a resuming SSE client.
// Errors are those of ParseMessageID.
func MessageIDTime(id string) (time.Time, error) {
	u, err := ParseMessageID(id)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(u.Time())).UTC(), nil
}

func badMessageID(reason string) error {
	return &ValidationError{Field: "message_id", Err: fmt.Errorf("%w: %s", ErrBadMessageID, reason)}
}

// timestampMS converts t to Unix milliseconds clamped to the ULID range.
func timestampMS(t time.Time) uint64 {
	ms := t.UnixMilli()
	switch {
	case ms < 0:
		return 0
	case uint64(ms) > ulid.MaxTime():
		return ulid.MaxTime()
	}
	return uint64(ms)
}

// ids is the process-wide id source. It is the package's only package-level
// state: it is unexported, not configurable, and guarded by a mutex; it
// exists because monotonic ids require remembering the last id issued.
var ids idSource

// idSlots is how many recently used milliseconds idSource remembers.
const idSlots = 8

// idSource issues monotonic ULIDs. The zero value is ready to use.
type idSource struct {
	mu    sync.Mutex
	tick  uint64 // use counter for least-recently-used eviction
	slots [idSlots]idSlot

	// Random bytes from crypto/rand, read a block at a time so that an id
	// costs no system call: rnd[rndUsed:] is still unused.
	rnd     [512]byte
	rndUsed int
}

// random fills b (at most len(s.rnd) bytes) from s's block of crypto/rand
// bytes, reading a new block when it runs out. s.mu must be held.
func (s *idSource) random(b []byte) {
	if s.rndUsed == 0 || len(s.rnd)-s.rndUsed < len(b) {
		_, _ = rand.Read(s.rnd[:])
		s.rndUsed = 0
	}
	s.rndUsed += copy(b, s.rnd[s.rndUsed:])
}

type idSlot struct {
	used uint64    // tick of last use; 0 means the slot is empty
	last ulid.ULID // last id issued for last.Time()
}

// next returns a ULID for millisecond ms that is greater than every id
// previously returned for ms, as long as ms stayed among the idSlots most
// recently used milliseconds.
func (s *idSource) next(ms uint64) ulid.ULID {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick++

	victim := 0
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.used != 0 && sl.last.Time() == ms {
			var r [4]byte
			s.random(r[:])
			if id, ok := incrementBy(sl.last, r); ok {
				sl.last, sl.used = id, s.tick
				return id
			}
			// The 80-bit entropy overflowed (probability about 2^-48 per
			// id): start over with fresh randomness. Order within this
			// millisecond is lost, uniqueness is not.
			victim = i
			break
		}
		if sl.used < s.slots[victim].used {
			victim = i
		}
	}

	var id ulid.ULID
	_ = id.SetTime(ms) // ms is clamped to MaxTime, so this cannot fail
	s.random(id[6:])
	s.slots[victim] = idSlot{used: s.tick, last: id}
	return id
}

// increment adds a random number in [1, 2^32] to the 80-bit entropy of id.
// It reports false on overflow.
func increment(id ulid.ULID) (ulid.ULID, bool) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return incrementBy(id, b)
}

// incrementBy is increment with the random number given, as 4 big-endian
// bytes (the increment is that number plus one).
func incrementBy(id ulid.ULID, b [4]byte) (ulid.ULID, bool) {
	inc := uint64(binary.BigEndian.Uint32(b[:])) + 1

	lo := binary.BigEndian.Uint64(id[8:])
	hi := binary.BigEndian.Uint16(id[6:8])
	sum := lo + inc
	if sum < lo { // carry
		if hi == 0xFFFF {
			return id, false
		}
		hi++
	}
	binary.BigEndian.PutUint16(id[6:8], hi)
	binary.BigEndian.PutUint64(id[8:], sum)
	return id, true
}

// crockford is the upper-case Crockford base32 alphabet of canonical ULIDs.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// canonicalChar[c] is whether c is in crockford.
var canonicalChar = func() (t [256]bool) {
	for i := 0; i < len(crockford); i++ {
		t[crockford[i]] = true
	}
	return t
}()

// parseCanonicalID is ParseMessageID's fast path, without allocating: it
// accepts exactly the ids that are IDPrefix and a canonical upper-case ULID
// that does not overflow, and reports false for anything else, which
// ParseMessageID then examines the slow way to name the problem.
func parseCanonicalID(id string) (ulid.ULID, bool) {
	if len(id) != len(IDPrefix)+ulid.EncodedSize || id[:len(IDPrefix)] != IDPrefix {
		return ulid.ULID{}, false
	}
	rest := id[len(IDPrefix):]
	if rest[0] > '7' { // more than 128 bits
		return ulid.ULID{}, false
	}
	for i := 0; i < len(rest); i++ {
		if !canonicalChar[rest[i]] {
			return ulid.ULID{}, false
		}
	}
	u, err := ulid.ParseStrict(rest)
	return u, err == nil
}
