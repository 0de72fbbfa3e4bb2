package sse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/sse"
)

// This file sends the stream what a hostile or broken client would: no key,
// bad keys, revoked keys, other tenants' keys, garbage Last-Event-IDs, huge
// types lists, clients that never read. Each answer must be a clear 4xx
// with the JSON error shape, or a documented behaviour; never a 500, a
// panic, an unbounded read or another tenant's event.

// apiError is the JSON error body of kbus's HTTP APIs.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// get sends a GET of the stream with the given headers and returns the
// status and body of a non-200 answer (a 200's stream is closed).
func get(t *testing.T, rawURL string, hdr http.Header) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// wantError checks a 4xx answer with the JSON error shape, code and field,
// and returns its message.
func wantError(t *testing.T, what string, status int, body []byte, wantStatus int, code, field string) string {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d (body %.200q)", what, status, wantStatus, body)
		return ""
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("%s: body is not JSON: %v: %.200q", what, err, body)
		return ""
	}
	if e.Error.Code != code || e.Error.Field != field || e.Error.Message == "" {
		t.Errorf("%s: error %+v, want code %q field %q and a message", what, e.Error, code, field)
	}
	return e.Error.Message
}

func bearer(key string) http.Header {
	return http.Header{"Authorization": {"Bearer " + key}}
}

// wrongSecret returns key with its last character changed: a real id with a
// wrong secret.
func wrongSecret(key string) string {
	last := key[len(key)-1]
	if last == 'A' {
		return key[:len(key)-1] + "B"
	}
	return key[:len(key)-1] + "A"
}

func TestHostileKeysAreRefused(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	revokedKey, revoked, err := w.keys.Create(ctx, "merch_a", "revoked", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.keys.Revoke(ctx, revokedKey.ID); err != nil {
		t.Fatal(err)
	}
	base, _, _ := w.server()
	u := base + "/events/stream?types=" + w.t1
	for _, tc := range []struct {
		name string
		hdr  http.Header
		url  string
	}{
		{"no Authorization", nil, u},
		{"empty Authorization", http.Header{"Authorization": {""}}, u},
		{"Bearer without a key", http.Header{"Authorization": {"Bearer"}}, u},
		{"Basic scheme", http.Header{"Authorization": {"Basic " + w.keyA}}, u},
		{"two Authorization headers", http.Header{"Authorization": {"Bearer " + w.keyA, "Bearer " + w.keyB}}, u},
		{"malformed key", bearer("kbus_not-a-key"), u},
		{"non-UTF-8 key", bearer("kbus_\xff\xfe\xfd"), u},
		{"a long key", bearer("kbus_" + strings.Repeat("a", 32<<10)), u},
		{"wrong secret", bearer(wrongSecret(w.keyA)), u},
		{"revoked key", bearer(revoked), u},
		{"wrong access_token", nil, u + "&access_token=" + url.QueryEscape(wrongSecret(w.keyA))},
		{"revoked access_token", nil, u + "&access_token=" + url.QueryEscape(revoked)},
	} {
		status, body := get(t, tc.url, tc.hdr)
		wantError(t, tc.name, status, body, http.StatusUnauthorized, "unauthorized", "")
		for _, k := range []string{w.keyA, w.keyB, revoked, wrongSecret(w.keyA)} {
			if strings.Contains(string(body), k) {
				t.Errorf("%s: the answer quotes a key: %s", tc.name, body)
			}
		}
	}
	// The revoked key is told so (its holder knows the secret); a wrong
	// secret is not told anything about the id.
	_, body := get(t, u, bearer(revoked))
	if !strings.Contains(string(body), "revoked") {
		t.Errorf("revoked key: %s", body)
	}
}

func TestKeyRevokedWhileStreamingEndsTheStream(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	k, key, err := w.keys.Create(ctx, "merch_a", "dashboard", false)
	if err != nil {
		t.Fatal(err)
	}
	base, _, _ := w.server(func(c *sse.Config) { c.KeyCheckInterval = 200 * time.Millisecond })
	s, code := open(t, base, key, w.t1, "")
	other, code2 := open(t, base, w.keyA, w.t1, "") // same tenant, another key: stays
	if code != 200 || code2 != 200 {
		t.Fatalf("open: %d, %d", code, code2)
	}
	ids1 := w.publish(w.t1, "merch_a", 1)
	if got := s.take(t, 1); got[0].MessageID() != ids1[0] {
		t.Fatalf("got %v", ids(got))
	}
	other.take(t, 1)
	if err := w.keys.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	// Within a few key checks the stream ends, saying why.
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the stream of a revoked key is still open 15 s after the revocation")
	}
	if !s.sawComment("API key revoked") {
		t.Errorf("no comment saying the key was revoked; comments %v", s.comments)
	}
	// Events after the revocation reach the other key only.
	ids2 := w.publish(w.t1, "merch_a", 1)
	if got := other.take(t, 1); got[0].MessageID() != ids2[0] {
		t.Fatalf("the other key got %v", ids(got))
	}
	for e := range s.events {
		t.Errorf("the revoked stream got %+v after it ended", e)
	}
	// Reconnecting is refused.
	if _, code := open(t, base, key, w.t1, ids1[0]); code != http.StatusUnauthorized {
		t.Fatalf("reconnect with the revoked key: %d, want 401", code)
	}
}

func TestTenantKeyNeverSeesAnotherTenantsEvents(t *testing.T) {
	w := newWorld(t)
	base, _, _ := w.server()
	all := w.t1 + "," + w.t2
	// types listing everything, with duplicates and empty entries.
	b, code := open(t, base, w.keyB, url.QueryEscape(","+all+",,"+all+","+w.t1+" , "+w.t2), "")
	adm, code2 := open(t, base, w.keyAdm, all, "")
	if code != 200 || code2 != 200 {
		t.Fatalf("open: %d, %d", code, code2)
	}
	// Events that are not tenant B's, in every shape the tenant field can
	// take; then one of B's as a marker.
	var others []string
	for _, data := range []string{
		`{"merchant_id":"merch_a"}`,
		`{"payment_id":"pay_1"}`,             // no tenant: admins only
		`{"merchant_id":""}`,                 // empty tenant
		`{"merchant_id":null}`,               // null
		`{"merchant_id":42}`,                 // not a string
		`{"merchant_id":["merch_b"]}`,        // an array holding B
		`{"merchant_id":{"id":"merch_b"}}`,   // an object holding B
		`{"merchant_id":"MERCH_B"}`,          // another case
		`{"merchant_id":"merch_b "}`,         // a trailing space
		`{"data":{"merchant_id":"merch_b"}}`, // nested deeper
		`["merch_b"]`,                        // not an object
	} {
		for _, topic := range []string{w.t1, w.t2} {
			r, err := w.p.Publish(context.Background(), topic, "k", []byte(data))
			if err != nil {
				t.Fatalf("publish %s: %v", data, err)
			}
			others = append(others, r.MessageID)
		}
	}
	marker := w.publish(w.t2, "merch_b", 1)
	if got := b.take(t, 1); got[0].MessageID() != marker[0] {
		t.Fatalf("tenant B got %+v before its own event: another tenant's event leaked", got[0])
	}
	b.none(t, 300*time.Millisecond)
	// Duplicated types do not duplicate events.
	got := adm.take(t, len(others)+1)
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.ID] {
			t.Fatalf("admin got %s twice", e.ID)
		}
		seen[e.ID] = true
	}
	adm.none(t, 300*time.Millisecond)
}

func TestGarbageLastEventID(t *testing.T) {
	w := newWorld(t)
	base, _, _ := w.server()
	u := base + "/events/stream?types=" + w.t1
	for _, tc := range []struct{ name, id string }{
		{"random bytes", "\x8f\x01\xa7\xff\x10\x02z"},
		{"non-UTF-8", "msg_\xff\xfe\xfd\xfc"},
		{"control characters", "msg_\x01\x02\x7f"},
		{"a quote and a backslash", `msg_"}\`},
		{"a UUID", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
		{"a number", "12345"},
		{"a lower-case ULID", "msg_" + strings.ToLower(envelope.NewMessageID(time.Now())[4:])},
		{"a ULID without prefix", envelope.NewMessageID(time.Now())[4:]},
		{"a ULID that overflows", "msg_" + strings.Repeat("Z", 26)},
		{"an id with a suffix", envelope.NewMessageID(time.Now()) + "x"},
		{"a long id", "msg_" + strings.Repeat("A", 512<<10)},
		{"an empty position", envelope.NewMessageID(time.Now()) + "."},
		{"a position that is not base64url", envelope.NewMessageID(time.Now()) + ".AQ+/AAAAAA=="},
		{"a short position", envelope.NewMessageID(time.Now()) + ".AQID"},
		{"a position with a line break", envelope.NewMessageID(time.Now()) + ".AQIDBA\nUG"},
		{"a long position", envelope.NewMessageID(time.Now()) + "." + strings.Repeat("A", 512<<10)},
		{"a position after garbage", "x." + "AQIDBAUG"},
	} {
		// Control characters cannot be sent in a header by net/http's
		// client: those go in the query parameter only.
		if !strings.ContainsAny(tc.id, "\x01\x02\x7f\n") {
			status, body := get(t, u, http.Header{"Authorization": {"Bearer " + w.keyA}, "Last-Event-Id": {tc.id}})
			wantError(t, tc.name, status, body, http.StatusBadRequest, "invalid_last_event_id", "Last-Event-ID")
			if len(body) > 512 {
				t.Errorf("%s: a %d-byte answer: the id is quoted back", tc.name, len(body))
			}
		}
		status, body := get(t, u+"&last_event_id="+url.QueryEscape(tc.id), bearer(w.keyA))
		wantError(t, tc.name+" (query)", status, body, http.StatusBadRequest, "invalid_last_event_id", "last_event_id")
	}
	// Positions that claim this server's layout and do not decode as one.
	s, _ := open(t, base, w.keyA, w.t1, "")
	w.publish(w.t1, "merch_a", 1)
	good := s.take(t, 1)[0].ID
	s.resp.Body.Close()
	for name, id := range map[string]string{"truncated": good[:len(good)-3], "with trailing bytes": good + "AAAA"} {
		status, body := get(t, u, http.Header{"Authorization": {"Bearer " + w.keyA}, "Last-Event-Id": {id}})
		wantError(t, "a position "+name, status, body, http.StatusBadRequest, "invalid_last_event_id", "Last-Event-ID")
	}
	// A position of another layout (partitions added, other topics) is a
	// resume by time, not an error.
	other := sse.MessageID(good) + ".AQAAAAAA"
	if status, body := get(t, u, http.Header{"Authorization": {"Bearer " + w.keyA}, "Last-Event-Id": {other}}); status != http.StatusOK {
		t.Errorf("a position of another layout: %d %s, want 200", status, body)
	}
	// A header beyond the server's MaxHeaderBytes (net/http's default
	// 1 MiB here, with 4 KiB of slack) is refused before the handler runs.
	status, _ := get(t, u, http.Header{"Authorization": {"Bearer " + w.keyA}, "Last-Event-Id": {"msg_" + strings.Repeat("A", 1<<20+8<<10)}})
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a Last-Event-ID over 1 MiB: %d, want 431", status)
	}
}

func TestLastEventIDFromTheFutureIsIgnored(t *testing.T) {
	w := newWorld(t)
	base, _, _ := w.server()
	for _, id := range []string{
		envelope.NewMessageID(time.Now().Add(48 * time.Hour)),
		"msg_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", // the last ULID: year 10889
	} {
		s, code := open(t, base, w.keyA, w.t1, id)
		if code != 200 {
			t.Fatalf("Last-Event-ID %s: %d, want 200 (ignored)", id, code)
		}
		live := w.publish(w.t1, "merch_a", 2)
		got := s.take(t, 2)
		// The live events keep their id lines, so that the client's
		// Last-Event-ID is a real one again.
		if strings.Join(ids(got), ",") != strings.Join(live, ",") {
			t.Fatalf("after a future Last-Event-ID: %v, want %v with their ids", ids(got), live)
		}
		if !s.sawComment("in the future") {
			t.Errorf("no comment about the future id; comments %v", s.comments)
		}
		s.resp.Body.Close()
	}
	// An id a little ahead (a producer's clock) is a resume as usual.
	near := envelope.NewMessageID(time.Now().Add(time.Minute))
	s, code := open(t, base, w.keyA, w.t1, near)
	if code != 200 {
		t.Fatalf("a near-future id: %d", code)
	}
	live := w.publish(w.t1, "merch_a", 1)
	if got := s.take(t, 1); got[0].MessageID() != live[0] {
		// Its id is lower than the client's, and still sent with it: the
		// position in it is what a resume uses.
		t.Fatalf("a near-future resume got %+v (published %s)", got[0], live[0])
	}
	if s.sawComment("in the future") {
		t.Error("a near-future id was ignored")
	}
}

func TestHugeTypesListsAreBounded(t *testing.T) {
	w := newWorld(t)
	base, _, _ := w.server()
	u := base + "/events/stream?types="
	auth := bearer(w.keyA)
	long := strings.Repeat("t", 10<<10)
	for _, tc := range []struct {
		name, types, code string
	}{
		{"too many entries", strings.Repeat(w.t1+",", sse.MaxTypes), "too_many_types"},
		{"many empty entries", strings.Repeat(",", 100_000), "too_many_types"},
		{"thousands of distinct unknown types", func() string {
			var b strings.Builder
			for i := range 5000 {
				fmt.Fprintf(&b, "type.%d,", i)
			}
			return b.String()
		}(), "too_many_types"},
		{"a very long type", long, "unknown_type"},
		{"a very long type after a good one", w.t1 + "," + long, "unknown_type"},
		{"an unknown type", w.t1 + ",nope.created", "unknown_type"},
		{"a non-UTF-8 type", "\xff\xfe", "unknown_type"},
		{"only empty entries", " , ,,", "no_types"},
		{"none", "", "no_types"},
	} {
		status, body := get(t, u+url.QueryEscape(tc.types), auth)
		msg := wantError(t, tc.name, status, body, http.StatusBadRequest, tc.code, "types")
		if len(body) > 2048 {
			t.Errorf("%s: a %d-byte answer", tc.name, len(body))
		}
		if tc.code == "unknown_type" && strings.Contains(msg, "nope") && !strings.Contains(msg, w.t1) {
			t.Errorf("%s: the message does not list the known types: %s", tc.name, msg)
		}
	}
	// Just under the limit, duplicates and empty entries are merged: the
	// stream opens and sends each event once.
	s, code := open(t, base, w.keyA, strings.Repeat(w.t1+",,", (sse.MaxTypes-1)/2), "")
	if code != 200 {
		t.Fatalf("%d entries: %d, want 200", sse.MaxTypes-1, code)
	}
	want := w.publish(w.t1, "merch_a", 3)
	if got := s.take(t, 3); strings.Join(ids(got), ",") != strings.Join(want, ",") {
		t.Fatalf("got %v, want %v", ids(got), want)
	}
	s.none(t, 300*time.Millisecond)
	s.resp.Body.Close()

	// Many bad requests leave no goroutines behind.
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				req, _ := http.NewRequest("GET", u+url.QueryEscape(strings.Repeat(w.t1+",", sse.MaxTypes)), nil)
				req.Header = auth.Clone()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	http.DefaultClient.CloseIdleConnections()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before+5; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after 200 bad requests, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gauge returns the value of the metric name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestClientThatNeverReadsIsDisconnected(t *testing.T) {
	w := newWorld(t)
	reg := prometheus.NewRegistry()
	// The default ring (65536 events) is far larger than what is published:
	// the client is cut off by the write timeout, not by falling behind. The
	// timeout leaves the reading client (parsing under -race on a busy
	// machine) ample time for each write.
	base, _, _ := w.server(func(c *sse.Config) { c.WriteTimeout = 2 * time.Second; c.Registerer = reg })
	// A raw connection that sends a request and never reads a byte.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10) // fill up quickly
	}
	fmt.Fprintf(conn, "GET /events/stream?types=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", w.t1, w.keyA)
	fast, _ := open(t, base, w.keyA, w.t1, "")
	for deadline := time.Now().Add(10 * time.Second); gauge(t, reg, "kbus_sse_clients") != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%v streams open, want 2", gauge(t, reg, "kbus_sse_clients"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	big := strings.Repeat("x", 200<<10)
	var want []string
	for i := range 60 { // 12 MB: more than the socket buffers hold
		r, err := w.p.Publish(context.Background(), w.t1, "k", fmt.Appendf(nil, `{"merchant_id":"merch_a","i":%d,"pad":%q}`, i, big))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.MessageID)
	}
	if got := fast.take(t, len(want)); strings.Join(ids(got), ",") != strings.Join(want, ",") {
		t.Fatal("the reading client missed events")
	}
	// The server ends the stream that does not read: one stream is left.
	for deadline := time.Now().Add(30 * time.Second); gauge(t, reg, "kbus_sse_clients") != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("%v streams open 30 s after a client stopped reading, want 1", gauge(t, reg, "kbus_sse_clients"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The reading client is unaffected.
	more := w.publish(w.t1, "merch_a", 1)
	if got := fast.take(t, 1); got[0].MessageID() != more[0] {
		t.Fatalf("got %v", ids(got))
	}
}

// logBuffer is a bytes buffer safe for concurrent writes and reads.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestKeysNeverAppearInLogs(t *testing.T) {
	w := newWorld(t)
	var logs logBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The server's keys, in a store that logs to logs.
	w.keys = apikey.NewStore(kbustest.DB(t).Pool, apikey.Logger(log))
	ctx := context.Background()
	k, key, err := w.keys.Create(ctx, "merch_a", "logged", false)
	if err != nil {
		t.Fatal(err)
	}
	_, keyB, err := w.keys.Create(ctx, "merch_b", "", false)
	if err != nil {
		t.Fatal(err)
	}
	base, _, _ := w.server(func(c *sse.Config) { c.Logger = log; c.KeyCheckInterval = 100 * time.Millisecond })
	u := base + "/events/stream?types=" + w.t1

	// Streams with the key in the header and in the query, then revoked
	// while open (logged), then refused.
	s, code := open(t, base, key, w.t1, "")
	if code != 200 {
		t.Fatalf("open: %d", code)
	}
	if status, body := get(t, u+"&access_token="+url.QueryEscape(keyB)+"&last_event_id=bad", nil); status != 400 {
		t.Fatalf("access_token with a bad id: %d %s", status, body)
	}
	for _, k := range []string{wrongSecret(key), wrongSecret(keyB), w.keyA, "kbus_garbage"} {
		get(t, u, bearer(k))
		get(t, u+"&access_token="+url.QueryEscape(k), nil)
	}
	if err := w.keys.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the revoked stream did not end")
	}
	get(t, u, bearer(key))
	// The revocation was logged, by key id.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), k.ID); {
		if time.Now().After(deadline) {
			t.Fatalf("the revocation of %s was not logged:\n%s", k.ID, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, secret := range []string{key, keyB, w.keyA, wrongSecret(key), wrongSecret(keyB)} {
		sec := secret[len("kbus_")+26+1:] // after the id (a ULID); a secret may hold "_"
		if strings.Contains(logs.String(), sec) {
			t.Errorf("a key's secret %.8s… appears in the logs:\n%s", sec, logs.String())
		}
	}
}
