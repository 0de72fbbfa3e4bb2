package envelope_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/oklog/ulid/v2"
)

func TestNewMessageIDFormat(t *testing.T) {
	id := envelope.NewMessageID(time.Now())
	if !strings.HasPrefix(id, envelope.IDPrefix) || len(id) != len(envelope.IDPrefix)+ulid.EncodedSize {
		t.Fatalf("NewMessageID = %q, want %q + 26 characters", id, envelope.IDPrefix)
	}
	u, err := envelope.ParseMessageID(id)
	if err != nil {
		t.Fatalf("ParseMessageID(%q): %v", id, err)
	}
	if envelope.IDPrefix+u.String() != id {
		t.Errorf("ParseMessageID(%q) = %v", id, u)
	}
}

func TestMessageIDTime(t *testing.T) {
	tests := []struct {
		in, want time.Time
	}{
		{time.Date(2024, 1, 15, 10, 30, 0, 123e6, time.UTC), time.Date(2024, 1, 15, 10, 30, 0, 123e6, time.UTC)},
		{time.Date(2024, 1, 15, 10, 30, 0, 123999999, time.UTC), time.Date(2024, 1, 15, 10, 30, 0, 123e6, time.UTC)},
		{time.Date(2024, 1, 15, 12, 30, 0, 0, time.FixedZone("X", 2*3600)), time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)},
		{time.Unix(0, 0), time.Unix(0, 0).UTC()},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Unix(0, 0).UTC()}, // clamped
		{time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)},
	}
	for _, tt := range tests {
		got, err := envelope.MessageIDTime(envelope.NewMessageID(tt.in))
		if err != nil {
			t.Errorf("MessageIDTime(NewMessageID(%v)): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("MessageIDTime(NewMessageID(%v)) = %v, want %v in UTC", tt.in, got, tt.want)
		}
	}
}

func TestParseMessageIDErrors(t *testing.T) {
	for _, id := range []string{
		"",
		"msg_",
		"01HM6AQH5VX7K9PAYM3NTQ8RSW",         // no prefix
		"MSG_01HM6AQH5VX7K9PAYM3NTQ8RSW",     // prefix case
		"evt_01HM6AQH5VX7K9PAYM3NTQ8RSW",     // other prefix
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RS",      // 25 characters
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RSWX",    // 27 characters
		"msg_01hm6aqh5vx7k9paym3ntq8rsw",     // lower case
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RSU",     // U is not Crockford base32
		"msg_81HM6AQH5VX7K9PAYM3NTQ8RSW",     // overflows 128 bits
		"msg_ 01HM6AQH5VX7K9PAYM3NTQ8RSW",    // space
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW\n",   // trailing newline
		"msg_msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", // doubled prefix
	} {
		_, err := envelope.ParseMessageID(id)
		var ve *envelope.ValidationError
		if !errors.Is(err, envelope.ErrBadMessageID) || !errors.Is(err, envelope.ErrInvalid) ||
			!errors.As(err, &ve) || ve.Field != "message_id" {
			t.Errorf("ParseMessageID(%q) = %v, want *ValidationError{message_id} wrapping ErrBadMessageID", id, err)
		}
		if _, err := envelope.MessageIDTime(id); !errors.Is(err, envelope.ErrBadMessageID) {
			t.Errorf("MessageIDTime(%q) = %v, want ErrBadMessageID", id, err)
		}
	}
}

func TestMessageIDsSortByTime(t *testing.T) {
	base := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	var ids []string
	for i := range 100 {
		ids = append(ids, envelope.NewMessageID(base.Add(time.Duration(i*37)*time.Millisecond)))
	}
	// Also across a big jump in time, where string length stays constant.
	ids = append(ids, envelope.NewMessageID(base.AddDate(100, 0, 0)))
	if !slices.IsSorted(ids) {
		t.Errorf("ids for increasing times are not sorted: %v", ids)
	}
	// Time order wins over creation order.
	later := envelope.NewMessageID(base.Add(time.Hour))
	earlier := envelope.NewMessageID(base)
	if earlier >= later {
		t.Errorf("id for earlier time %s sorts after id for later time %s", earlier, later)
	}
}

func TestMessageIDsMonotonicWithinMillisecond(t *testing.T) {
	ts := time.Date(2024, 1, 15, 10, 30, 0, 123e6, time.UTC)
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = envelope.NewMessageID(ts.Add(time.Duration(i%1000) * time.Microsecond)) // same millisecond
	}
	for i := 1; i < n; i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("id %d %s <= id %d %s", i, ids[i], i-1, ids[i-1])
		}
	}
	got, _ := envelope.MessageIDTime(ids[n-1])
	if !got.Equal(ts) {
		t.Errorf("time = %v, want %v", got, ts)
	}
}

func TestMessageIDsMonotonicWhenMillisecondsInterleave(t *testing.T) {
	// A goroutine still working on millisecond t1 after another moved on to
	// t2 must not break the order within t1 (or t2).
	t1 := time.Date(2024, 1, 15, 10, 30, 0, 1e6, time.UTC)
	t2 := t1.Add(time.Millisecond)
	var last1, last2 string
	for i := range 1000 {
		a := envelope.NewMessageID(t1)
		b := envelope.NewMessageID(t2)
		if a <= last1 || b <= last2 || a >= b {
			t.Fatalf("iteration %d: order broken: %s %s after %s %s", i, a, b, last1, last2)
		}
		last1, last2 = a, b
	}
}

func TestMessageIDsConcurrent(t *testing.T) {
	ts := time.Now()
	const goroutines, perG = 16, 2000
	results := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ids := make([]string, perG)
			for i := range ids {
				ids[i] = envelope.NewMessageID(ts)
			}
			results[g] = ids
		})
	}
	wg.Wait()
	seen := make(map[string]bool, goroutines*perG)
	for g, ids := range results {
		if !slices.IsSorted(ids) {
			t.Errorf("goroutine %d: ids not in creation order", g)
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
	}
}

func TestNewCorrelationID(t *testing.T) {
	a, b := envelope.NewCorrelationID(), envelope.NewCorrelationID()
	rest, ok := strings.CutPrefix(a, envelope.CorrelationIDPrefix)
	if !ok {
		t.Fatalf("NewCorrelationID = %q, want prefix %q", a, envelope.CorrelationIDPrefix)
	}
	if _, err := ulid.ParseStrict(rest); err != nil {
		t.Errorf("NewCorrelationID = %q: not a ULID: %v", a, err)
	}
	if a == b || !envelope.ValidCorrelationID(a) {
		t.Errorf("NewCorrelationID = %q, %q: want distinct valid ids", a, b)
	}
}
