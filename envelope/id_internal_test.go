package envelope

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestIncrementCarryAndOverflow(t *testing.T) {
	var id ulid.ULID
	for i := 6; i < 16; i++ {
		id[i] = 0xFF
	}
	id[6], id[7] = 0x00, 0x00 // hi = 0, lo = max: must carry
	next, ok := increment(id)
	if !ok || next[7] != 0x01 || next.Compare(id) <= 0 {
		t.Errorf("increment with carry = %v, %v", next, ok)
	}
	id[6], id[7] = 0xFF, 0xFF // all ones: must overflow
	if _, ok := increment(id); ok {
		t.Errorf("increment of maximal entropy did not report overflow")
	}
}

func TestIDSourceOverflowFallsBackToRandom(t *testing.T) {
	var s idSource
	const ms = 1705314600123
	first := s.next(ms)
	// Force the remembered id for ms to the maximum entropy.
	for i := range s.slots {
		if s.slots[i].last == first {
			for j := 6; j < 16; j++ {
				s.slots[i].last[j] = 0xFF
			}
		}
	}
	id := s.next(ms) // must not panic, must keep the time
	if id.Time() != ms {
		t.Errorf("time after overflow = %d, want %d", id.Time(), ms)
	}
	if again := s.next(ms); again.Compare(id) <= 0 {
		t.Errorf("not monotonic after reseeding: %v then %v", id, again)
	}
}

func TestIDSourceEvictsLeastRecentlyUsed(t *testing.T) {
	var s idSource
	hot := timestampMS(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC))
	last := s.next(hot)
	// Many other milliseconds, with the hot one used in between, must not
	// evict the hot one.
	for i := range uint64(100) {
		s.next(hot + 1000 + i)
		id := s.next(hot)
		if id.Compare(last) <= 0 {
			t.Fatalf("step %d: hot millisecond lost its order", i)
		}
		last = id
	}
}

func TestTimestampMSClamps(t *testing.T) {
	if got := timestampMS(time.Unix(-1, 0)); got != 0 {
		t.Errorf("timestampMS(before epoch) = %d, want 0", got)
	}
	if got := timestampMS(time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)); got != ulid.MaxTime() {
		t.Errorf("timestampMS(year 20000) = %d, want MaxTime", got)
	}
}
