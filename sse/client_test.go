package sse_test

import (
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/kbus-dev/kbus/sse"
)

// readAll reads stream to its end and returns the events.
func readAll(t testing.TB, stream string) []sse.Event {
	t.Helper()
	evs, _, err := read(sse.NewReader(strings.NewReader(stream)))
	if err != nil {
		t.Fatalf("reading %q: %v", stream, err)
	}
	return evs
}

// read reads r to its end and returns the events, the comments and the
// error other than io.EOF.
func read(r *sse.Reader) (evs []sse.Event, comments []string, err error) {
	r.OnComment = func(s string) { comments = append(comments, s) }
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return evs, comments, nil
		}
		if err != nil {
			return evs, comments, err
		}
		evs = append(evs, ev)
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []sse.Event
		lastID string // LastEventID at the end
	}{
		// The examples of the WHATWG HTML standard, "Event stream
		// interpretation" and "Authoring notes".
		{
			name:   "spec: stock ticker",
			stream: "data: YHOO\ndata: +2\ndata: 10\n\n",
			want:   []sse.Event{{Data: "YHOO\n+2\n10"}},
		},
		{
			name: "spec: ids and a comment",
			stream: ": test stream\n\n" +
				"data: first event\nid: 1\n\n" +
				"data:second event\nid\n\n" +
				"data:  third event\n\n",
			want: []sse.Event{
				{Data: "first event", ID: "1"},
				{Data: "second event", ID: ""},
				{Data: " third event", ID: ""},
			},
		},
		{
			name:   "spec: empty data and a last block without blank line",
			stream: "data\n\ndata\ndata\n\ndata:",
			want:   []sse.Event{{Data: ""}, {Data: "\n"}},
		},
		{
			name:   "spec: one optional space",
			stream: "data:test\n\ndata: test\n\n",
			want:   []sse.Event{{Data: "test"}, {Data: "test"}},
		},
		{
			name: "spec: event types",
			stream: "event: add\ndata: 73857293\n\n" +
				"event: remove\ndata: 2153\n\n" +
				"event: add\ndata: 113411\n\n",
			want: []sse.Event{
				{Type: "add", Data: "73857293"},
				{Type: "remove", Data: "2153"},
				{Type: "add", Data: "113411"},
			},
		},

		// Line breaks.
		{
			name:   "CR line breaks",
			stream: "event: a\rid: 7\rdata: x\rdata: y\r\rdata: z\r\r",
			want:   []sse.Event{{Type: "a", ID: "7", Data: "x\ny"}, {ID: "7", Data: "z"}},
			lastID: "7",
		},
		{
			name:   "CRLF line breaks",
			stream: "data: x\r\ndata: y\r\n\r\n",
			want:   []sse.Event{{Data: "x\ny"}},
		},
		{
			name:   "mixed line breaks",
			stream: "data: a\r\ndata: b\rdata: c\n\r\n\rdata: d\n\r",
			want:   []sse.Event{{Data: "a\nb\nc"}, {Data: "d"}},
		},
		{
			name:   "LF CR is two line breaks",
			stream: "data: a\n\rdata: b\n\n",
			want:   []sse.Event{{Data: "a"}, {Data: "b"}},
		},

		// Fields.
		{
			name:   "BOM at the start is skipped",
			stream: "\uFEFFdata: x\n\n",
			want:   []sse.Event{{Data: "x"}},
		},
		{
			name:   "only one BOM is skipped",
			stream: "\uFEFF\uFEFFdata: x\n\ndata: y\n\n",
			want:   []sse.Event{{Data: "y"}},
		},
		{
			name:   "BOM later is not skipped",
			stream: "data: x\n\n\uFEFFdata: y\n\n",
			want:   []sse.Event{{Data: "x"}},
		},
		{
			name:   "field names are case-sensitive, unknown fields ignored",
			stream: "Data: x\nDATA: y\nfoo: bar\nevent\n data: z\ndata: w\n\n",
			want:   []sse.Event{{Data: "w"}},
		},
		{
			name:   "only the first colon separates",
			stream: "data: a: b\ndata::c\n\n",
			want:   []sse.Event{{Data: "a: b\n:c"}},
		},
		{
			name:   "only one space removed, tabs kept",
			stream: "data:   x\ndata:\ty\nevent:  e\n\n",
			want:   []sse.Event{{Type: " e", Data: "  x\n\ty"}},
		},
		{
			name:   "last event field wins",
			stream: "event: a\nevent: b\ndata: x\n\n",
			want:   []sse.Event{{Type: "b", Data: "x"}},
		},
		{
			name:   "event type does not carry over",
			stream: "event: a\ndata: x\n\ndata: y\n\n",
			want:   []sse.Event{{Type: "a", Data: "x"}, {Data: "y"}},
		},
		{
			name:   "event type of an undispatched block is dropped",
			stream: "event: a\n\ndata: y\n\n",
			want:   []sse.Event{{Data: "y"}},
		},
		{
			name:   "id carries over to later events",
			stream: "id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n",
			want:   []sse.Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}, {ID: "2", Data: "c"}},
			lastID: "2",
		},
		{
			name:   "empty id resets",
			stream: "id: 1\ndata: a\n\nid:\ndata: b\n\n",
			want:   []sse.Event{{ID: "1", Data: "a"}, {ID: "", Data: "b"}},
			lastID: "",
		},
		{
			name:   "id with NUL is ignored",
			stream: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
			want:   []sse.Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}},
			lastID: "1",
		},
		{
			name:   "id of a block without data updates the last event id",
			stream: "id: 1\ndata: a\n\nid: 2\n\ndata: b\n\n",
			want:   []sse.Event{{ID: "1", Data: "a"}, {ID: "2", Data: "b"}},
			lastID: "2",
		},
		{
			name:   "id of a block without data, at the end",
			stream: "id: 1\ndata: a\n\nid: 2\n\n",
			want:   []sse.Event{{ID: "1", Data: "a"}},
			lastID: "2",
		},
		{
			name:   "id of an unfinished block does not count",
			stream: "id: 1\ndata: a\n\nid: 2\ndata: b\n",
			want:   []sse.Event{{ID: "1", Data: "a"}},
			lastID: "1",
		},
		{
			name:   "data of a block is not sent before its blank line",
			stream: "data: a\n\ndata: b\n\ndata: c",
			want:   []sse.Event{{Data: "a"}, {Data: "b"}},
		},
		{
			name:   "unfinished last line is discarded",
			stream: "data: a\n\nid: 2",
			want:   []sse.Event{{Data: "a"}},
		},

		// Comments.
		{
			name:   "comments skipped",
			stream: ": hi\ndata: a\n:\n: data: b\ndata: c\n\n:ping\n\n",
			want:   []sse.Event{{Data: "a\nc"}},
		},

		// Retry.
		{
			name:   "retry applies to later events",
			stream: "data: a\n\nretry: 3000\n\ndata: b\n\nretry: 10\ndata: c\n\n",
			want: []sse.Event{
				{Data: "a"},
				{Data: "b", Retry: 3 * time.Second},
				{Data: "c", Retry: 10 * time.Millisecond},
			},
		},
		{
			name: "invalid retry ignored",
			stream: "retry: 1000\n\n" +
				"retry: 2000ms\nretry: -5\nretry: 1.5\nretry:\nretry\nretry:  7\nretry: +7\nretry: ７\n" +
				"data: a\n\n",
			want: []sse.Event{{Data: "a", Retry: time.Second}},
		},
		{
			name:   "retry with leading zeros",
			stream: "retry: 00042\ndata: a\n\n",
			want:   []sse.Event{{Data: "a", Retry: 42 * time.Millisecond}},
		},
		{
			name:   "huge retry is capped",
			stream: "retry: 99999999999999999999999999\ndata: a\n\n",
			want:   []sse.Event{{Data: "a", Retry: math.MaxInt64}},
		},

		// UTF-8.
		{
			name:   "valid UTF-8 kept",
			stream: "event: 价格\ndata: naïve 🎉\n\n",
			want:   []sse.Event{{Type: "价格", Data: "naïve 🎉"}},
		},
		{
			// The example of Unicode 15, section 3.9, table 3-8: one U+FFFD
			// per maximal subpart, as the WHATWG UTF-8 decoder does.
			name:   "invalid UTF-8 replaced",
			stream: "data: \x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64\n\n",
			want:   []sse.Event{{Data: "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd"}},
		},
		{
			name: "surrogates, overlongs and a sequence cut by a line break",
			stream: "data: \xED\xA0\x80|\xC0\xAF|\xE0\x80\xAF|\xF4\x90\x80\x80|\xF0\x9F\x8E\n" +
				"data: \xF0\x9F\x8E\xA9\xFF\xE2\x82\rdata: \xE2\n\n",
			want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFD|\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD\uFFFD|\uFFFD\n" +
				"🎩\uFFFD\uFFFD\n\uFFFD"}},
		},
		{
			name:   "invalid UTF-8 in a field name",
			stream: "dat\xE1: x\ndata: y\n\n",
			want:   []sse.Event{{Data: "y"}},
		},
		{
			name:   "NUL in data and type kept",
			stream: "event: a\x00b\ndata: c\x00d\n\n",
			want:   []sse.Event{{Type: "a\x00b", Data: "c\x00d"}},
		},

		// Degenerate streams.
		{name: "empty stream", stream: ""},
		{name: "only blank lines", stream: "\n\n\r\n\r\r"},
		{name: "only a BOM", stream: "\uFEFF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte per Read, which splits every CRLF and
			// every UTF-8 sequence across reads.
			for _, r := range []io.Reader{strings.NewReader(tt.stream), iotest.OneByteReader(strings.NewReader(tt.stream))} {
				rd := sse.NewReader(r)
				got, _, err := read(rd)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("stream %q:\n got %+v\nwant %+v", tt.stream, got, tt.want)
				}
				if id := rd.LastEventID(); id != tt.lastID {
					t.Errorf("LastEventID() = %q, want %q", id, tt.lastID)
				}
			}
		})
	}
}

func TestReaderComments(t *testing.T) {
	stream := ": one\n:two\n:\n:  three\n\n" + string(sse.AppendComment(nil, "four\nfive")) + "data: x\n: six\n\n"
	evs, comments, err := read(sse.NewReader(strings.NewReader(stream)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []sse.Event{{Data: "x"}}; !slices.Equal(evs, want) {
		t.Errorf("events %+v, want %+v", evs, want)
	}
	if want := []string{"one", "two", "", " three", "four", "five", "six"}; !slices.Equal(comments, want) {
		t.Errorf("comments %q, want %q", comments, want)
	}

	// Without OnComment, comments are skipped all the same.
	r := sse.NewReader(strings.NewReader(stream))
	if ev, err := r.Next(); err != nil || ev.Data != "x" {
		t.Errorf("Next() = %+v, %v", ev, err)
	}
}

// TestReaderCRNoWait checks that an event ended by CR line breaks is
// dispatched without waiting for the byte after the last CR, which might
// be an LF, to arrive.
func TestReaderCRNoWait(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	r := sse.NewReader(pr)
	go func() {
		// Each write blocks until the Reader has read it; the pipe stays
		// open after the last.
		_, _ = pw.Write([]byte("data: a\r\r"))
		_, _ = pw.Write([]byte("\ndata: b\r\n\r"))
	}()
	for _, want := range []string{"a", "b"} {
		done := make(chan struct{})
		var ev sse.Event
		var err error
		go func() {
			defer close(done)
			ev, err = r.Next()
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Next() blocked waiting for %q", want)
		}
		if err != nil || ev.Data != want {
			t.Fatalf("Next() = %+v, %v; want data %q", ev, err, want)
		}
	}
	_ = pw.Close()
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next() at the end = %v, want io.EOF", err)
	}
}

func TestReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	r := sse.NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	if ev, err := r.Next(); err != nil || ev.Data != "a" {
		t.Fatalf("Next() = %+v, %v", ev, err)
	}
	for range 2 {
		if _, err := r.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next() = %v, want boom", err)
		}
	}

	r = sse.NewReader(strings.NewReader("data: a\n"))
	for range 2 {
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("Next() = %v, want io.EOF", err)
		}
	}
}

func TestReaderLongLines(t *testing.T) {
	// Lines much longer than the Reader's buffer.
	long := strings.Repeat("0123456789", 10_000)
	stream := "id: " + long + "\rdata: " + long + "\r\ndata: " + long + "\r\n\r\n"
	want := []sse.Event{{ID: long, Data: long + "\n" + long}}
	for _, r := range []io.Reader{strings.NewReader(stream), iotest.HalfReader(strings.NewReader(stream))} {
		evs, _, err := read(sse.NewReader(r))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(evs, want) {
			t.Errorf("got %d events, want the one long event", len(evs))
		}
	}
}

// TestRoundTrip writes events with the Append functions and reads them
// back.
func TestRoundTrip(t *testing.T) {
	var stream []byte
	stream = sse.AppendComment(stream, "hello")
	stream = sse.AppendRetry(stream, 1500*time.Millisecond)
	stream = sse.AppendEvent(stream, "a", "1", []byte("x\r\ny"))
	stream = sse.AppendComment(stream, "")
	stream = sse.AppendEvent(stream, "", "", []byte(""))
	stream = sse.AppendEvent(stream, "b", "2", []byte("\n"))
	want := []sse.Event{
		{Type: "a", ID: "1", Data: "x\ny", Retry: 1500 * time.Millisecond},
		{Type: "", ID: "1", Data: "", Retry: 1500 * time.Millisecond},
		{Type: "b", ID: "2", Data: "\n", Retry: 1500 * time.Millisecond},
	}
	r := sse.NewReader(strings.NewReader(string(stream)))
	evs, comments, err := read(r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(evs, want) {
		t.Errorf("got %+v\nwant %+v", evs, want)
	}
	if want := []string{"hello", ""}; !slices.Equal(comments, want) {
		t.Errorf("comments %q, want %q", comments, want)
	}
	if r.LastEventID() != "2" || r.Retry() != 1500*time.Millisecond {
		t.Errorf("LastEventID() = %q, Retry() = %v", r.LastEventID(), r.Retry())
	}
}

// FuzzRoundTrip writes an event with AppendEvent, between two others, and
// checks that a Reader returns it with its line breaks normalized to LF and
// the CRs, LFs (and, in the id, NULs) removed from its type and id.
func FuzzRoundTrip(f *testing.F) {
	f.Add("payment.completed", "msg_01", []byte(`{"amount":4999}`))
	f.Add("", "", []byte(""))
	f.Add("a\r\nb", "1\x00\n", []byte("a\r\nb\rc\n\r\n"))
	f.Add(" t", " 1", []byte("\r\r\n\n"))
	f.Add("\uFEFF", "\uFEFF", []byte("\uFEFF"))
	f.Add("x", "y", []byte("data: z\n\nid: 9\n\n"))
	f.Fuzz(func(t *testing.T, typ, id string, data []byte) {
		if !utf8.ValidString(typ) || !utf8.ValidString(id) || !utf8.Valid(data) {
			t.Skip("the stream is UTF-8")
		}
		var stream []byte
		stream = sse.AppendEvent(stream, "before", "0", []byte("before"))
		stream = sse.AppendEvent(stream, typ, id, data)
		stream = sse.AppendComment(stream, string(data))
		stream = sse.AppendEvent(stream, "", "", []byte("after"))

		wantType := strings.NewReplacer("\r", "", "\n", "").Replace(typ)
		wantID := strings.NewReplacer("\r", "", "\n", "", "\x00", "").Replace(id)
		if wantID == "" {
			wantID = "0" // no id line: the last id carries over
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
		want := []sse.Event{
			{Type: "before", ID: "0", Data: "before"},
			{Type: wantType, ID: wantID, Data: wantData},
			{ID: wantID, Data: "after"},
		}
		for _, r := range []io.Reader{bytesReader(stream), iotest.OneByteReader(bytesReader(stream))} {
			evs, _, err := read(sse.NewReader(r))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(evs, want) {
				t.Fatalf("stream %q:\n got %+v\nwant %+v", stream, evs, want)
			}
		}
	})
}

// FuzzReader feeds arbitrary bytes to a Reader and checks that it does not
// panic, returns valid UTF-8, and returns the same events however the
// stream is split into reads.
func FuzzReader(f *testing.F) {
	f.Add([]byte("data: YHOO\ndata: +2\ndata: 10\n\n"))
	f.Add([]byte("\uFEFFid: 1\rdata: a\r\r: c\r\nretry: 10\n\ndata\n\n"))
	f.Add([]byte("data: \xF1\x80\x80\xE1\x80\xC2b\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		whole := sse.NewReader(bytesReader(stream))
		want, wantComments, err := read(whole)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range want {
			for _, s := range []string{ev.Type, ev.ID, ev.Data} {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 %q", s)
				}
			}
			if strings.ContainsAny(ev.Type+ev.ID, "\r\n") || strings.Contains(ev.ID, "\x00") || strings.Contains(ev.Data, "\r") {
				t.Fatalf("line break or NUL in %+v", ev)
			}
		}
		split := sse.NewReader(iotest.OneByteReader(bytesReader(stream)))
		got, gotComments, err := read(split)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || !slices.Equal(gotComments, wantComments) || split.LastEventID() != whole.LastEventID() {
			t.Fatalf("stream %q read whole and byte by byte differ:\n%+v %q\n%+v %q", stream, want, wantComments, got, gotComments)
		}
	})
}

func bytesReader(b []byte) io.Reader { return strings.NewReader(string(b)) }

func BenchmarkReader(b *testing.B) {
	data := []byte(`{"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","topic":"payment.completed",` +
		`"data":{"payment_id":"pay_x7k9","amount":4999,"currency":"USD"}}`)
	var stream []byte
	for range 1000 {
		stream = sse.AppendEvent(stream, "payment.completed", "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", data)
	}
	s := string(stream)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		r := sse.NewReader(strings.NewReader(s))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}
