package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/sse"
)

type recorder struct{ ms []int64 }

func (r *recorder) event(idMS int64, _ time.Time) { r.ms = append(r.ms, idMS) }
func (r *recorder) comment([]byte)                {}

// Both parsers must see the same events, with the time MessageIDTime gives,
// from ids as the server writes them (<message id>.<position>) or bare.
func TestParsersAgree(t *testing.T) {
	var stream []byte
	var want []int64
	stream = sse.AppendRetry(stream, 3*time.Second)
	for i := range 50 {
		at := time.UnixMilli(1_700_000_000_000 + int64(i)*7919)
		id := envelope.NewMessageID(at)
		if i%2 == 0 {
			id += ".AVLkxEXVFQ2FAYYBiAFPcS2MAUBvhAEA" // a position, as kbus serve sse writes
		}
		stream = sse.AppendEvent(stream, "payment.completed", id, []byte(`{"n":1}`))
		stream = sse.AppendComment(stream, "heartbeat")
		want = append(want, at.UnixMilli())
	}
	for name, read := range map[string]func(r *strings.Reader, s sink) error{
		"fast": func(r *strings.Reader, s sink) error { return readFast(r, s) },
		"sse":  func(r *strings.Reader, s sink) error { return readSSE(r, s) },
	} {
		var rec recorder
		_ = read(strings.NewReader(string(stream)), &rec)
		if len(rec.ms) != len(want) {
			t.Fatalf("%s: %d events, want %d", name, len(rec.ms), len(want))
		}
		for i := range want {
			if rec.ms[i] != want[i] {
				t.Fatalf("%s: event %d at %d, want %d", name, i, rec.ms[i], want[i])
			}
		}
	}
}

func TestHistogram(t *testing.T) {
	for v := uint64(0); v < 1<<20; v += 37 {
		b := bucketOf(v)
		if lo, hi := lowerBound(b), lowerBound(b+1); v < lo || v >= hi {
			t.Fatalf("%d in bucket %d [%d,%d)", v, b, lo, hi)
		}
	}
	var h histogram
	for v := uint64(1); v <= 10000; v++ {
		h.Record(int(v), v)
	}
	c, n, m := h.snapshot()
	if p := quantile(c, n, m, 0.99); p < 9800 || p > 9990 {
		t.Fatalf("p99 %d", p)
	}
	if m != 10000 || n != 10000 {
		t.Fatalf("max %d n %d", m, n)
	}
}
