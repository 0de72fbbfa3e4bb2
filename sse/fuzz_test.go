package sse

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/schemas"
)

// fuzzServer is a Server that is never Run: enough for the request parsing
// of stream and for toEvent. MaxConns 0 makes stream refuse every request
// that gets past its parsing with 429, before it touches the hub.
func fuzzServer(t testing.TB) *Server {
	t.Helper()
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Server{cfg: Config{Topics: []string{"payment.completed"}, TenantField: "merchant_id", Schemas: reg},
		layout: newLayout(map[string]int32{"payment.completed": 3}), m: m, perKey: map[string]int{}, closing: make(chan struct{}), ready: make(chan struct{})}
}

// FuzzLastEventID sends arbitrary Last-Event-ID values (as the header and
// as ?last_event_id=): a value that is not an event id gets 400
// invalid_last_event_id with a JSON body, never a panic; a message id, alone
// or with a position, gets past the parsing, and a position accepted
// decodes to offsets that encode back to the same position.
func FuzzLastEventID(f *testing.F) {
	s := fuzzServer(f)
	const id = "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"
	own := string(s.layout.appendID(nil, id, []int64{12, 1 << 40, 0}))
	other := string(newLayout(map[string]int32{"payment.completed": 4}).appendID(nil, id, []int64{1, 2, 3, 4}))
	for _, v := range []string{
		id, "msg_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "msg_00000000000000000000000000",
		"x", "msg_", "msg_01hm6aqh5vx7k9paym3ntq8rsw", "msg_81HM6AQH5VX7K9PAYM3NTQ8RSW", "0",
		"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW\x00", "\"}\n\n", "msg_01HM6AQH5VX7K9PAYM3NTQ8RS\xff", "%00", "\u2028",
		own, other, own + "A", own + ".", id + ".", id + ".AQ", id + ".AgAAAAA", own[:len(own)-1], "." + own[len(id)+1:],
	} {
		f.Add(v, false)
	}
	f.Add(id, true)
	f.Add(own, true)
	f.Add("not an id", true)
	f.Fuzz(func(t *testing.T, id string, inQuery bool) {
		if id == "" {
			return // no resume
		}
		q := url.Values{"types": {"payment.completed"}}
		r := httptest.NewRequest(http.MethodGet, "/events/stream", nil)
		if inQuery {
			q.Set("last_event_id", id)
		} else {
			r.Header["Last-Event-Id"] = []string{id}
		}
		r.URL.RawQuery = q.Encode()
		w := httptest.NewRecorder()
		s.stream(w, r)
		msgID, cursor, hasCursor := strings.Cut(id, ".")
		_, perr := envelope.ParseMessageID(msgID)
		valid := perr == nil
		if valid && hasCursor {
			pos, err := s.layout.parseCursor(cursor)
			valid = err == nil || errors.Is(err, errOtherLayout)
			if err == nil {
				back := string(s.layout.appendID(nil, msgID, pos))
				if again, err := s.layout.parseCursor(back[len(msgID)+1:]); err != nil || !slices.Equal(again, pos) {
					t.Fatalf("position %v of %q encodes to %q, which decodes to %v, %v", pos, id, back, again, err)
				}
			}
		}
		if valid {
			if w.Code == http.StatusBadRequest {
				t.Fatalf("event id %q refused: %s", id, w.Body)
			}
			return
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Code != "invalid_last_event_id" {
			t.Fatalf("Last-Event-ID %q: %d %q, want 400 invalid_last_event_id in JSON", id, w.Code, w.Body)
		}
		if len(w.Body.Bytes()) > 512 {
			t.Fatalf("Last-Event-ID %q: a %d-byte answer", id, w.Body.Len())
		}
	})
}

// FuzzToEvent turns arbitrary record values into stream events: toEvent
// never panics, refuses what is not a valid envelope, and for what it
// accepts writes a frame that a Reader reads back as one event of the
// envelope's type and data, whose id is the message id and the position
// given, and is accepted back as a Last-Event-ID resuming from exactly that
// position.
func FuzzToEvent(f *testing.F) {
	const id = "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"
	head := `{"message_id":"` + id + `","topic":"payment.completed","published_at":"2024-01-15T10:30:00.123Z","producer":"p",`
	reg, err := schemas.Default()
	if err != nil {
		f.Fatal(err)
	}
	avroData, err := reg.AvroData("payment.completed", "1.0",
		[]byte(`{"payment_id":"pay_1","amount":4999,"currency":"USD","merchant_id":"merch_a"}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		head + `"data":{"amount":4999,"merchant_id":"merch_a"},"metadata":{"schema_version":"1.0","content_type":"application/json"}}`,
		head + `"data":` + string(avroData) + `,"metadata":{"schema_version":"1.0","content_type":"application/avro"}}`,
		head + `"data":"AAAA","metadata":{"schema_version":"1.0","content_type":"application/avro"}}`,
		head + `"data":"////","metadata":{"schema_version":"9.9","content_type":"application/avro"}}`,
		head + `"data":"line\r\nbreaks\rand\nmore","metadata":{"schema_version":"1.0","content_type":"application/json"}}`,
		head + `"data":{"merchant_id":7},"metadata":{"schema_version":"1.0","content_type":"text/plain"}}`,
		`{"message_id":"x","topic":"t"}`, `{}`, `null`, ``, "\xff",
	} {
		f.Add([]byte(s), int64(0))
	}
	f.Add([]byte(head+`"data":{},"metadata":{"schema_version":"1.0","content_type":"application/json"}}`), int64(1)<<50)
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, value []byte, off int64) {
		off = max(off, 0)
		pos := []int64{off, 3, off / 2}
		ev, ok := s.toEvent(&kgo.Record{Topic: "payment.completed", Partition: 2, Offset: off / 2, Value: value}, s.layout, pos)
		e, err := envelope.Unmarshal(value)
		if !ok {
			return // an invalid envelope, or Avro that does not decode: counted and skipped
		}
		if err != nil {
			t.Fatalf("toEvent accepted %q, not an envelope: %v", value, err)
		}
		wantID := string(s.layout.appendID(nil, e.MessageID, pos))
		if ev.typ != e.Topic || ev.id != e.MessageID || ev.part != 2 || ev.offset != off/2 || string(ev.frame[ev.idStart:ev.idEnd]) != "id: "+wantID+"\n" {
			t.Fatalf("event %+v (id line %q) of envelope %+v", ev, ev.frame[ev.idStart:ev.idEnd], e)
		}
		r := NewReader(strings.NewReader(string(ev.frame)))
		got, err := r.Next()
		if err != nil {
			t.Fatalf("frame %q: %v", ev.frame, err)
		}
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("frame %q holds more than one event: %v", ev.frame, err)
		}
		if got.Type != e.Topic || got.ID != wantID || got.MessageID() != e.MessageID {
			t.Fatalf("frame %q read as %+v", ev.frame, got)
		}
		if e.Metadata.ContentType != envelope.ContentTypeAvro {
			want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(e.Data))
			if got.Data != want {
				t.Fatalf("frame %q: data %q, want %q", ev.frame, got.Data, want)
			}
		} else if !json.Valid([]byte(got.Data)) {
			t.Fatalf("Avro data streamed as %q, not JSON", got.Data)
		}
		from, err := s.parseLastEventID(r.LastEventID())
		if err != nil || !slices.Equal(from.pos, pos) {
			t.Fatalf("the id sent, %q, resumes from %+v, %v; want the position %v", r.LastEventID(), from, err, pos)
		}
	})
}
