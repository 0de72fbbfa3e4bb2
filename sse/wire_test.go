package sse_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/sse"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name      string
		typ, id   string
		data      string
		want      string
		wantEvent sse.Event // as a Reader reads want back
	}{
		{
			name: "all fields",
			typ:  "payment.completed", id: "msg_01", data: `{"amount":4999}`,
			want:      "event: payment.completed\nid: msg_01\ndata: {\"amount\":4999}\n\n",
			wantEvent: sse.Event{Type: "payment.completed", ID: "msg_01", Data: `{"amount":4999}`},
		},
		{
			name: "data only", data: "x",
			want:      "data: x\n\n",
			wantEvent: sse.Event{Data: "x"},
		},
		{
			name: "empty data", typ: "t",
			want:      "event: t\ndata: \n\n",
			wantEvent: sse.Event{Type: "t"},
		},
		{
			name: "LF lines", data: "a\nb\nc",
			want:      "data: a\ndata: b\ndata: c\n\n",
			wantEvent: sse.Event{Data: "a\nb\nc"},
		},
		{
			name: "CRLF lines", data: "a\r\nb\r\nc",
			want:      "data: a\ndata: b\ndata: c\n\n",
			wantEvent: sse.Event{Data: "a\nb\nc"},
		},
		{
			name: "CR lines", data: "a\rb\rc",
			want:      "data: a\ndata: b\ndata: c\n\n",
			wantEvent: sse.Event{Data: "a\nb\nc"},
		},
		{
			name: "mixed line breaks", data: "a\r\rb\n\rc\r\n\nd",
			want:      "data: a\ndata: \ndata: b\ndata: \ndata: c\ndata: \ndata: d\n\n",
			wantEvent: sse.Event{Data: "a\n\nb\n\nc\n\nd"},
		},
		{
			name: "LF CR is two breaks", data: "a\n\rb",
			want:      "data: a\ndata: \ndata: b\n\n",
			wantEvent: sse.Event{Data: "a\n\nb"},
		},
		{
			name: "trailing line break", data: "a\n",
			want:      "data: a\ndata: \n\n",
			wantEvent: sse.Event{Data: "a\n"},
		},
		{
			name: "trailing CR", data: "a\r",
			want:      "data: a\ndata: \n\n",
			wantEvent: sse.Event{Data: "a\n"},
		},
		{
			name: "only a line break", data: "\r\n",
			want:      "data: \ndata: \n\n",
			wantEvent: sse.Event{Data: "\n"},
		},
		{
			name: "leading spaces and colons kept", data: " a: b\n  c",
			want:      "data:  a: b\ndata:   c\n\n",
			wantEvent: sse.Event{Data: " a: b\n  c"},
		},
		{
			name: "CR and LF removed from type and id",
			typ:  "a\nb\rc\r\nd", id: "1\n\nevent: x\r",
			data:      "d",
			want:      "event: abcd\nid: 1event: x\ndata: d\n\n",
			wantEvent: sse.Event{Type: "abcd", ID: "1event: x", Data: "d"},
		},
		{
			name: "NUL removed from id, kept in type",
			typ:  "a\x00b", id: "1\x002",
			want:      "event: a\x00b\nid: 12\ndata: \n\n",
			wantEvent: sse.Event{Type: "a\x00b", ID: "12"},
		},
		{
			name: "type and id of only line breaks", typ: "\n", id: "\r\n\x00", data: "d",
			want:      "data: d\n\n",
			wantEvent: sse.Event{Data: "d"},
		},
		{
			name: "leading space in type and id kept", typ: " t", id: " 1", data: "d",
			want:      "event:  t\nid:  1\ndata: d\n\n",
			wantEvent: sse.Event{Type: " t", ID: " 1", Data: "d"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("kept:")
			got := sse.AppendEvent(prefix, tt.typ, tt.id, []byte(tt.data))
			if string(got) != "kept:"+tt.want {
				t.Fatalf("AppendEvent(%q, %q, %q)\n got %q\nwant %q", tt.typ, tt.id, tt.data, got, "kept:"+tt.want)
			}
			evs := readAll(t, tt.want)
			if len(evs) != 1 || evs[0] != tt.wantEvent {
				t.Errorf("read back %+v, want [%+v]", evs, tt.wantEvent)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"", ":\n\n"},
		{"ping", ": ping\n\n"},
		{" ping", ":  ping\n\n"},
		{"a\nb", ": a\n: b\n\n"},
		{"a\r\nb\rc", ": a\n: b\n: c\n\n"},
		{"a\n\nb", ": a\n:\n: b\n\n"},
		{"a\n", ": a\n:\n\n"},
		{"\n", ":\n:\n\n"},
	}
	for _, tt := range tests {
		got := sse.AppendComment(nil, tt.text)
		if string(got) != tt.want {
			t.Errorf("AppendComment(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestAppendRetry(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "retry: 0\n\n"},
		{3 * time.Second, "retry: 3000\n\n"},
		{1500 * time.Microsecond, "retry: 1\n\n"},
		{999 * time.Microsecond, "retry: 0\n\n"},
		{-time.Second, "retry: 0\n\n"},
		{time.Hour, "retry: 3600000\n\n"},
	}
	for _, tt := range tests {
		got := sse.AppendRetry(nil, tt.d)
		if string(got) != tt.want {
			t.Errorf("AppendRetry(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	r := sse.NewReader(strings.NewReader(string(sse.AppendRetry(nil, 2500*time.Millisecond))))
	if _, err := r.Next(); err == nil {
		t.Error("a retry block was dispatched as an event")
	}
	if got := r.Retry(); got != 2500*time.Millisecond {
		t.Errorf("Retry() after AppendRetry(2.5s) = %v", got)
	}
}

// TestAppendAllocs checks that the Append functions allocate nothing when
// dst has room.
func TestAppendAllocs(t *testing.T) {
	data := []byte(strings.Repeat(`{"payment_id":"pay_x7k9"}`+"\r\n", 50))
	text := strings.Repeat("heartbeat\n", 50)
	dst := make([]byte, 0, 64<<10)
	for name, f := range map[string]func(){
		"AppendEvent":   func() { dst = sse.AppendEvent(dst[:0], "payment.completed", "msg_01\n", data) },
		"AppendComment": func() { dst = sse.AppendComment(dst[:0], text) },
		"AppendRetry":   func() { dst = sse.AppendRetry(dst[:0], time.Second) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	small := []byte(`{"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","topic":"payment.completed",` +
		`"data":{"payment_id":"pay_x7k9","amount":4999,"currency":"USD"}}`)
	for _, bm := range []struct {
		name string
		data []byte
	}{
		{"one-line-150B", small},
		{"one-line-64KiB", []byte(strings.Repeat("x", 64<<10))},
		{"lines-LF-64KiB", []byte(strings.Repeat(strings.Repeat("x", 63)+"\n", 1<<10))},
		{"lines-CR-64KiB", []byte(strings.Repeat(strings.Repeat("x", 63)+"\r", 1<<10))},
	} {
		b.Run(bm.name, func(b *testing.B) {
			dst := make([]byte, 0, len(bm.data)*2+128)
			b.SetBytes(int64(len(bm.data)))
			b.ReportAllocs()
			for b.Loop() {
				dst = sse.AppendEvent(dst[:0], "payment.completed", "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", bm.data)
			}
		})
	}
}
