package sse_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/sse"
)

type world struct {
	t                  *testing.T
	t1, t2             string
	keys               *apikey.Store
	keyA, keyB, keyAdm string
	p                  *producer.Producer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, t1: kbustest.Topic(t, 2), t2: kbustest.Topic(t, 1)}
	db := kbustest.DB(t)
	w.keys = apikey.NewStore(db.Pool)
	ctx := context.Background()
	var err error
	if _, w.keyA, err = w.keys.Create(ctx, "merch_a", "", false); err != nil {
		t.Fatal(err)
	}
	if _, w.keyB, err = w.keys.Create(ctx, "merch_b", "", false); err != nil {
		t.Fatal(err)
	}
	if _, w.keyAdm, err = w.keys.Create(ctx, "", "", true); err != nil {
		t.Fatal(err)
	}
	if w.p, err = producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"), producer.SkipSchemaValidation()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.p.Close)
	return w
}

// server starts an SSE server instance and returns its URL and a stop func
// (which also ends Run: a restart is stop + server again).
func (w *world) server(mod ...func(*sse.Config)) (url string, srv *sse.Server, stop func()) {
	w.t.Helper()
	cfg := sse.Config{Brokers: kbustest.Brokers(w.t), Topics: []string{w.t1, w.t2}, Keys: w.keys, Heartbeat: time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := sse.NewServer(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	hs := httptest.NewServer(srv.Handler())
	var once sync.Once
	stop = func() {
		once.Do(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
			hs.Close()
			cancel()
			<-done
		})
	}
	w.t.Cleanup(stop)
	// Wait until it serves (503 until Run has started).
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(hs.URL + "/events/stream")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatal("the SSE server did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return hs.URL, srv, stop
}

func (w *world) publish(topic, merchant string, n int) []string {
	w.t.Helper()
	var ids []string
	for i := range n {
		r, err := w.p.Publish(context.Background(), topic, fmt.Sprint("pay_", i%3),
			fmt.Appendf(nil, `{"payment_id":"pay_%d","merchant_id":%q,"n":%d}`, i, merchant, i))
		if err != nil {
			w.t.Fatal(err)
		}
		ids = append(ids, r.MessageID)
	}
	return ids
}

// stream is an open SSE connection read in the background.
type stream struct {
	resp     *http.Response
	events   chan sse.Event
	done     chan error
	mu       sync.Mutex
	comments []string
}

func (s *stream) sawComment(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.comments {
		if strings.Contains(c, sub) {
			return true
		}
	}
	return false
}

func open(t *testing.T, url, key, types, lastID string) (*stream, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/events/stream?types="+types, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("GET stream types=%q: %d %s", types, resp.StatusCode, b)
		return nil, resp.StatusCode
	}
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	s := &stream{resp: resp, events: make(chan sse.Event, 1000), done: make(chan error, 1)}
	go func() {
		r := sse.NewReader(resp.Body)
		r.OnComment = func(c string) { s.mu.Lock(); s.comments = append(s.comments, c); s.mu.Unlock() }
		for {
			e, err := r.Next()
			if err != nil {
				s.done <- err
				close(s.events)
				return
			}
			s.events <- e
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s, resp.StatusCode
}

// take reads n events or fails after 30 s.
func (s *stream) take(t *testing.T, n int) []sse.Event {
	t.Helper()
	var out []sse.Event
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended after %d of %d events", len(out), n)
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("got %d of %d events in 30 s", len(out), n)
		}
	}
	return out
}

// none checks that no event arrives within d.
func (s *stream) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if ok {
			t.Fatalf("unexpected event %+v", e)
		}
	case <-time.After(d):
	}
}

func ids(evs []sse.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.MessageID()) // the event id is <message id>.<position>
	}
	return out
}

func TestTenantIsolationAndTypeFilter(t *testing.T) {
	w := newWorld(t)
	url, _, _ := w.server()
	a, code := open(t, url, w.keyA, w.t1, "")
	adm, code2 := open(t, url, w.keyAdm, w.t1+","+w.t2, "")
	if code != 200 || code2 != 200 {
		t.Fatalf("open: %d, %d", code, code2)
	}
	var wantA []string
	for i := range 10 { // interleaved tenants and types
		if i%2 == 0 {
			wantA = append(wantA, w.publish(w.t1, "merch_a", 1)...)
		} else {
			w.publish(w.t1, "merch_b", 1)
		}
		w.publish(w.t2, "merch_a", 1)
	}
	got := a.take(t, len(wantA))
	a.none(t, 500*time.Millisecond)
	if strings.Join(ids(got), ",") != strings.Join(wantA, ",") {
		t.Fatalf("tenant A got %v, want %v", ids(got), wantA)
	}
	for _, e := range got {
		if e.Type != w.t1 || !strings.Contains(e.Data, `"merchant_id":"merch_a"`) {
			t.Fatalf("tenant A got %+v", e)
		}
	}
	adm.take(t, 20)
}

func TestBadRequests(t *testing.T) {
	w := newWorld(t)
	url, _, _ := w.server()
	for _, tc := range []struct {
		key, types, last string
		want             int
	}{
		{"", w.t1, "", 401},
		{"kbus_bad", w.t1, "", 401},
		{w.keyA, "nope.created", "", 400},
		{w.keyA, "", "", 400},
		{w.keyA, w.t1, "not-an-id", 400},
	} {
		if _, code := open(t, url, tc.key, tc.types, tc.last); code != tc.want {
			t.Errorf("key %q types %q last %q: %d, want %d", tc.key, tc.types, tc.last, code, tc.want)
		}
	}
}

func TestResumeAfterServerRestart(t *testing.T) {
	w := newWorld(t)
	url, _, stop := w.server()
	s1, _ := open(t, url, w.keyA, w.t1, "")
	first := w.publish(w.t1, "merch_a", 5)
	got := s1.take(t, 5)
	if strings.Join(ids(got), ",") != strings.Join(first, ",") {
		t.Fatalf("first stream got %v", ids(got))
	}
	s1.resp.Body.Close()
	stop() // the server restarts; events go on meanwhile
	missed := w.publish(w.t1, "merch_a", 5)
	w.publish(w.t1, "merch_b", 3)

	url2, _, _ := w.server()
	s2, _ := open(t, url2, w.keyA, w.t1, got[len(got)-1].ID)
	resumed := s2.take(t, 5)
	if strings.Join(ids(resumed), ",") != strings.Join(missed, ",") {
		t.Fatalf("after the restart the client got %v, want exactly the missed %v", ids(resumed), missed)
	}
	live := w.publish(w.t1, "merch_a", 2)
	if got := s2.take(t, 2); strings.Join(ids(got), ",") != strings.Join(live, ",") {
		t.Fatalf("live after resume: %v, want %v", ids(got), live)
	}
	s2.none(t, 500*time.Millisecond)
	if s2.sawComment("best effort") {
		t.Errorf("a resume from a position fell back to time; comments %v", s2.comments)
	}
}

// TestResumeIsLosslessWhenKafkaOrderIsNotIDOrder: an event whose message id
// is older than the client's last one (a publish retried with its first
// attempt's id, an outbox row relayed late) reaches Kafka, on another
// partition, while the client is away. Resuming from the client's last
// event id must deliver it, and nothing twice. (A resume by message id and
// time, as kbus did before event ids carried a position, never sends it.)
func TestResumeIsLosslessWhenKafkaOrderIsNotIDOrder(t *testing.T) {
	w := newWorld(t)
	url, _, _ := w.server()
	types := w.t1 + "," + w.t2
	s1, _ := open(t, url, w.keyA, types, "")
	newer := w.publish(w.t1, "merch_a", 4)
	got := s1.take(t, 4)
	if strings.Join(ids(got), ",") != strings.Join(newer, ",") {
		t.Fatalf("first stream got %v, want %v", ids(got), newer)
	}
	last := got[len(got)-1].ID
	s1.resp.Body.Close()

	// A minute older than the others: more than ResumeMargin.
	oldID := envelope.NewMessageID(time.Now().Add(-time.Minute))
	r, err := w.p.Publish(context.Background(), w.t2, "pay_late", []byte(`{"payment_id":"pay_late","merchant_id":"merch_a"}`), producer.MessageID(oldID))
	if err != nil {
		t.Fatal(err)
	}
	if r.MessageID != oldID || oldID >= sse.MessageID(last) {
		t.Fatalf("published %s, want the old id %s below %s", r.MessageID, oldID, last)
	}
	after := w.publish(w.t1, "merch_a", 1)

	s2, _ := open(t, url, w.keyA, types, last)
	resumed := s2.take(t, 2)
	s2.none(t, time.Second)
	want := []string{oldID, after[0]}
	if g := ids(resumed); !slices.Contains(g, oldID) || !slices.Contains(g, after[0]) {
		t.Fatalf("resumed with %v, want exactly %v (and nothing of %v again)", g, want, newer)
	}
}

// TestResumeOnAnotherInstance: a client moves from one server to another
// reading the same topics, with its last event id: it gets exactly what it
// missed, then the live events, none twice.
func TestResumeOnAnotherInstance(t *testing.T) {
	w := newWorld(t)
	urlA, _, _ := w.server()
	urlB, _, _ := w.server()
	types := w.t1 + "," + w.t2
	s1, _ := open(t, urlA, w.keyA, types, "")
	var first []string
	for range 3 {
		first = append(first, w.publish(w.t1, "merch_a", 2)...)
		first = append(first, w.publish(w.t2, "merch_a", 1)...)
	}
	got := s1.take(t, len(first))
	s1.none(t, 300*time.Millisecond)
	// Let instance B read them too, then leave A.
	time.Sleep(500 * time.Millisecond)
	s1.resp.Body.Close()

	var missed []string
	for range 3 {
		missed = append(missed, w.publish(w.t2, "merch_a", 1)...)
		w.publish(w.t1, "merch_b", 1)
		missed = append(missed, w.publish(w.t1, "merch_a", 2)...)
	}
	s2, _ := open(t, urlB, w.keyA, types, got[len(got)-1].ID)
	resumed := s2.take(t, len(missed))
	live := w.publish(w.t1, "merch_a", 2)
	resumed = append(resumed, s2.take(t, 2)...)
	s2.none(t, time.Second)
	g := ids(resumed)
	slices.Sort(g)
	want := append(slices.Clone(missed), live...)
	slices.Sort(want)
	if !slices.Equal(g, want) {
		t.Fatalf("on instance B the client got %v, want exactly %v", ids(resumed), append(missed, live...))
	}
	// Every event id is a position B accepts back.
	for _, e := range resumed {
		if _, code := open(t, urlB, w.keyA, types, e.ID); code != 200 {
			t.Fatalf("event id %q refused: %d", e.ID, code)
		}
	}
}

// TestResumeFromABareMessageIDIsByTime: a Last-Event-ID without a position
// (an old client, a hand-written id) still resumes, by time, with a comment
// saying it is best effort.
func TestResumeFromABareMessageIDIsByTime(t *testing.T) {
	w := newWorld(t)
	first := w.publish(w.t1, "merch_a", 3)
	missed := w.publish(w.t1, "merch_a", 3)
	// Started after the events, so that they are all behind its hub: a
	// resume by time sends live whatever its hub reads after the client
	// registers, older ids included.
	url, _, _ := w.server()
	s, _ := open(t, url, w.keyA, w.t1, first[len(first)-1])
	got := s.take(t, 3)
	g := ids(got)
	slices.Sort(g)
	if !slices.Equal(g, missed) {
		t.Fatalf("resumed by time with %v, want %v", ids(got), missed)
	}
	s.none(t, 500*time.Millisecond)
	if !s.sawComment("best effort") {
		t.Errorf("no comment about the resume by time; comments %v", s.comments)
	}
	// The events carry positions: resuming from one is exact again.
	s.resp.Body.Close()
	more := w.publish(w.t1, "merch_a", 2)
	s2, _ := open(t, url, w.keyA, w.t1, got[len(got)-1].ID)
	if g := ids(s2.take(t, 2)); !slices.Equal(g, more) {
		t.Fatalf("resumed from a position with %v, want %v", g, more)
	}
	s2.none(t, 500*time.Millisecond)
}

func TestSlowClientDoesNotDelayFastOne(t *testing.T) {
	w := newWorld(t)
	// A write timeout longer than the test: the slow client is cut off by
	// falling a ring behind, not by the timeout (which a loaded machine could
	// reach first; TestClientThatNeverReadsIsDisconnected covers it).
	url, _, _ := w.server(func(c *sse.Config) { c.RingSize = 16; c.WriteTimeout = 2 * time.Minute })
	// The slow client opens a stream and never reads it.
	req, _ := http.NewRequest("GET", url+"/events/stream?types="+w.t1, nil)
	req.Header.Set("Authorization", "Bearer "+w.keyA)
	slowResp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer slowResp.Body.Close()
	fast, _ := open(t, url, w.keyA, w.t1, "")

	big := strings.Repeat("x", 200<<10) // 200 KiB events fill socket buffers fast
	var want []string
	for i := range 40 {
		r, err := w.p.Publish(context.Background(), w.t1, "k", fmt.Appendf(nil, `{"merchant_id":"merch_a","i":%d,"pad":%q}`, i, big))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.MessageID)
	}
	if got := fast.take(t, len(want)); strings.Join(ids(got), ",") != strings.Join(want, ",") {
		t.Fatal("the fast client missed events")
	}
	// The slow one is cut off with a comment saying why, eventually.
	body := bufio.NewReader(slowResp.Body)
	deadline := time.Now().Add(30 * time.Second)
	for {
		line, err := body.ReadString('\n')
		if strings.Contains(line, "too slow") {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("the slow client was not disconnected as too slow (last line %.60q, err %v)", line, err)
		}
	}
}

func TestStreamLimits(t *testing.T) {
	w := newWorld(t)
	url, _, _ := w.server(func(c *sse.Config) { c.MaxConnsPerKey = 1 })
	if _, code := open(t, url, w.keyA, w.t1, ""); code != 200 {
		t.Fatalf("first stream: %d", code)
	}
	if _, code := open(t, url, w.keyA, w.t1, ""); code != http.StatusTooManyRequests {
		t.Fatalf("second stream of one key: %d, want 429", code)
	}
	if _, code := open(t, url, w.keyB, w.t1, ""); code != 200 {
		t.Fatalf("another key: %d", code)
	}
}

func TestResumeOlderThanRetentionSaysSo(t *testing.T) {
	w := newWorld(t)
	old := w.publish(w.t2, "merch_a", 3)
	kept := w.publish(w.t2, "merch_a", 2)
	// Retention removes the three oldest records.
	adm := kbustest.Admin(t)
	var del kadm.Offsets
	del.AddOffset(w.t2, 0, 3, -1)
	if _, err := adm.DeleteRecords(context.Background(), del); err != nil {
		t.Fatal(err)
	}
	url, _, _ := w.server(func(c *sse.Config) { c.ResumeMargin = time.Millisecond })
	s, _ := open(t, url, w.keyA, w.t2, old[0])
	got := s.take(t, 2)
	if strings.Join(ids(got), ",") != strings.Join(kept, ",") {
		t.Fatalf("got %v, want the retained %v", ids(got), kept)
	}
	if !s.sawComment("may have been missed") {
		t.Fatalf("no comment about missed events; comments: %v", s.comments)
	}
}

func TestCORSOnlyForAllowedOrigins(t *testing.T) {
	w := newWorld(t)
	url, _, _ := w.server(func(c *sse.Config) { c.AllowOrigins = []string{"http://dash.example:8090"} })
	for origin, want := range map[string]string{"http://dash.example:8090": "http://dash.example:8090", "http://evil.example": ""} {
		req, _ := http.NewRequest("GET", url+"/events/stream?types="+w.t1+"&access_token="+w.keyA, nil)
		req.Header.Set("Origin", origin)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		got := resp.Header.Get("Access-Control-Allow-Origin")
		resp.Body.Close()
		cancel()
		if resp.StatusCode != 200 || got != want {
			t.Errorf("origin %s: %d, Access-Control-Allow-Origin %q, want %q", origin, resp.StatusCode, got, want)
		}
	}
}
