package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/webhook"
)

// errorBody is the JSON error of every kbus API (docs: design.md).
type errorBody struct {
	Error *struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Field   *string `json:"field"`
	} `json:"error"`
}

// raw makes an API request and returns the status and the body as sent.
// hdr, if not nil, replaces the default Authorization header.
func (w *world) raw(key, method, path string, body io.Reader, hdr http.Header) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.api.URL+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// wantError checks that b is the documented JSON error body with a code and
// a message, and returns it.
func wantError(t *testing.T, what string, b []byte) errorBody {
	t.Helper()
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: body %q is not {\"error\":{\"code\",\"message\"}}: %v", what, b, err)
		return errorBody{}
	}
	return e
}

// tenantAData registers tenant A's endpoint and waits until an event made
// it a delivery (pending: no dispatcher runs), for the routes that take
// ids.
func tenantAData(t *testing.T, w *world) (ep created, deliveryID string) {
	t.Helper()
	rcv := newReceiver(t, 200)
	ep = w.register(w.keyA, rcv.URL+"/tenant-a-hook")
	w.publish("merch_a", 7)
	var list struct{ Data []webhook.Delivery }
	waitFor(t, "tenant A's delivery", func() bool {
		w.call(w.keyA, "GET", "/webhooks/"+ep.ID+"/deliveries", nil, &list)
		return len(list.Data) == 1
	})
	return ep, list.Data[0].ID
}

// TestHostileCallersOnEveryRoute sends every route of the API without a
// key, with malformed, wrong and revoked keys (401 with the JSON error) and
// with another tenant's key (404), and checks that nothing of tenant A was
// read, changed, deleted or redelivered.
func TestHostileCallersOnEveryRoute(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	keys := apikey.NewStore(w.db.Pool)
	revokedMeta, revoked, err := keys.Create(ctx, "merch_a", "to be revoked", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Revoke(ctx, revokedMeta.ID); err != nil {
		t.Fatal(err)
	}
	// A's key id with B's secret: well formed, wrong.
	const secretLen = 43
	wrong := w.keyA[:len(w.keyA)-secretLen] + w.keyB[len(w.keyB)-secretLen:]

	ep, dlv := tenantAData(t, w)
	var before webhook.Endpoint
	w.call(w.keyA, "GET", "/webhooks/"+ep.ID, nil, &before)
	var beforeDelivery webhook.Delivery
	w.call(w.keyA, "GET", "/webhooks/"+ep.ID+"/deliveries/"+dlv, nil, &beforeDelivery)

	routes := []struct{ method, path, body string }{
		{"POST", "/webhooks", `{"url":"https://b.example/x","events":["` + w.topic + `"]}`},
		{"GET", "/webhooks", ""},
		{"GET", "/webhooks/" + ep.ID, ""},
		{"PATCH", "/webhooks/" + ep.ID, `{"url":"https://evil.example/x","status":"disabled","description":"pwned"}`},
		{"DELETE", "/webhooks/" + ep.ID, ""},
		{"POST", "/webhooks/" + ep.ID + "/rotate-secret", ""},
		{"GET", "/webhooks/" + ep.ID + "/deliveries", ""},
		{"GET", "/webhooks/" + ep.ID + "/deliveries/" + dlv, ""},
		{"POST", "/webhooks/" + ep.ID + "/deliveries/" + dlv + "/retry", ""},
	}
	unauthenticated := []struct {
		name string
		hdr  http.Header
	}{
		{"no Authorization", nil},
		{"empty Authorization", http.Header{"Authorization": {""}}},
		{"scheme only", http.Header{"Authorization": {"Bearer"}}},
		{"Basic scheme", http.Header{"Authorization": {"Basic " + w.keyA}}},
		{"key without scheme", http.Header{"Authorization": {w.keyA}}},
		{"two Authorization headers", http.Header{"Authorization": {"Bearer " + w.keyA, "Bearer " + w.keyA}}},
		{"garbage bearer", http.Header{"Authorization": {"Bearer kbus_\u00ff' OR '1'='1"}}},
		{"truncated key", http.Header{"Authorization": {"Bearer " + w.keyA[:len(w.keyA)-1]}}},
		{"huge bearer", http.Header{"Authorization": {"Bearer " + strings.Repeat("k", 32<<10)}}},
		{"wrong key", http.Header{"Authorization": {"Bearer " + wrong}}},
		{"revoked key", http.Header{"Authorization": {"Bearer " + revoked}}},
	}
	for _, rt := range routes {
		for _, u := range unauthenticated {
			var body io.Reader
			if rt.body != "" {
				body = strings.NewReader(rt.body)
			}
			code, b := w.raw("", rt.method, rt.path, body, u.hdr)
			what := rt.method + " " + rt.path + " with " + u.name
			if code != http.StatusUnauthorized {
				t.Errorf("%s: %d %s, want 401", what, code, b)
				continue
			}
			wantError(t, what, b)
		}
		// Tenant B: the endpoint and its deliveries do not exist for it.
		if rt.method == "POST" && rt.path == "/webhooks" {
			continue
		}
		var body io.Reader
		if rt.body != "" {
			body = strings.NewReader(rt.body)
		}
		code, b := w.raw(w.keyB, rt.method, rt.path, body, nil)
		what := rt.method + " " + rt.path + " with tenant B's key"
		switch {
		case rt.path == "/webhooks":
			var list struct{ Data []json.RawMessage }
			if code != 200 || json.Unmarshal(b, &list) != nil || len(list.Data) != 0 {
				t.Errorf("%s: %d %s, want 200 with no endpoints", what, code, b)
			}
		case code != http.StatusNotFound:
			t.Errorf("%s: %d %s, want 404", what, code, b)
		default:
			wantError(t, what, b)
		}
		for _, leak := range []string{ep.ID[3:], "tenant-a-hook", "merch_a", dlv[4:]} {
			if rt.path != "/webhooks" && strings.Contains(string(b), leak) {
				t.Errorf("%s: the answer %s shows tenant A's %q", what, b, leak)
			}
		}
	}
	// B cannot register for A either.
	code, b := w.raw(w.keyB, "POST", "/webhooks", strings.NewReader(`{"url":"https://b.example/x","events":["`+w.topic+`"],"tenant_id":"merch_a"}`), nil)
	if e := wantError(t, "tenant B registering for merch_a", b); code != 400 || e.Error == nil || e.Error.Field == nil || *e.Error.Field != "tenant_id" {
		t.Errorf("tenant B registering for merch_a: %d %s, want 400 on tenant_id", code, b)
	}

	// Tenant A's endpoint and delivery are as they were.
	var after webhook.Endpoint
	if code := w.call(w.keyA, "GET", "/webhooks/"+ep.ID, nil, &after); code != 200 {
		t.Fatalf("tenant A's endpoint after the attacks: %d", code)
	}
	if after.URL != before.URL || after.Status != "active" || after.Description != before.Description || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("tenant A's endpoint changed: %+v, was %+v", after, before)
	}
	var secret string
	var prev *string
	if err := w.db.Pool.QueryRow(ctx, `SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1`, ep.ID).Scan(&secret, &prev); err != nil {
		t.Fatal(err)
	}
	if secret != ep.Secret || prev != nil {
		t.Errorf("tenant A's secret was rotated by another tenant")
	}
	var afterDelivery webhook.Delivery
	w.call(w.keyA, "GET", "/webhooks/"+ep.ID+"/deliveries/"+dlv, nil, &afterDelivery)
	if !afterDelivery.UpdatedAt.Equal(beforeDelivery.UpdatedAt) || afterDelivery.Status != beforeDelivery.Status {
		t.Errorf("tenant A's delivery changed: %+v, was %+v", afterDelivery, beforeDelivery)
	}
	var n int
	if err := w.db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d endpoints after the attacks (%v), want tenant A's only", n, err)
	}
}

// TestHostileBodies sends malformed, mistyped and oversized JSON to the
// routes that take a body: each is a 4xx with the JSON error, and nothing
// is stored.
func TestHostileBodies(t *testing.T) {
	w := newWorld(t)
	rcv := newReceiver(t, 200)
	ep := w.register(w.keyA, rcv.URL)
	valid := `"url":"https://a.example/x","events":["` + w.topic + `"]`
	cases := []struct {
		name, body string
		want       int
		field      string
	}{
		{"empty body", "", 400, ""},
		{"white space", " \n\t ", 400, ""},
		{"null", "null", 400, "url"},
		{"array", "[]", 400, ""},
		{"string", `"x"`, 400, ""},
		{"number", "1e999", 400, ""},
		{"truncated", `{"url":"https://a.example/x"`, 400, ""},
		{"not JSON", "url=https://a.example/x", 400, ""},
		{"trailing data", "{" + valid + "}{}", 400, ""},
		{"trailing garbage", "{" + valid + "} garbage", 400, ""},
		{"unknown field", "{" + valid + `,"admin":true}`, 400, "admin"},
		{"duplicate unknown field", "{" + valid + `,"__proto__":{}}`, 400, "__proto__"},
		{"url a number", `{"url":1,"events":["` + w.topic + `"]}`, 400, "url"},
		{"events an object", `{"url":"https://a.example/x","events":{"a":1}}`, 400, "events"},
		{"events of numbers", `{"url":"https://a.example/x","events":[1,2]}`, 400, "events"},
		{"secret a bool", "{" + valid + `,"secret":true}`, 400, "secret"},
		{"standard_webhooks a string", "{" + valid + `,"standard_webhooks":"yes"}`, 400, "standard_webhooks"},
		{"deep nesting", strings.Repeat("[", 20000), 400, ""},
		{"NUL in description", "{" + valid + `,"description":"a\u0000b"}`, 400, "description"},
		{"NUL in secret", "{" + valid + `,"secret":"0123456789abcdef0123456789\u0000"}`, 400, "secret"},
		{"NUL in url", `{"url":"https://a.example/\u0000","events":["` + w.topic + `"]}`, 400, "url"},
		{"control character in url", `{"url":"https://a.exa\nmple/","events":["` + w.topic + `"]}`, 400, "url"},
		{"invalid UTF-8 outside strings", "{\xff\xfe}", 400, ""},
		// Over the 64 KiB limit (TestOversizedBodyIsNotRead sends 10 MiB
		// to the handler itself).
		{"oversized", "{" + valid + `,"description":"` + strings.Repeat("a", 100<<10) + `"}`, 413, ""},
	}
	for _, path := range []string{"/webhooks", "/webhooks/" + ep.ID} {
		method := "POST"
		if path != "/webhooks" {
			method = "PATCH"
		}
		for _, tc := range cases {
			code, b := w.raw(w.keyA, method, path, strings.NewReader(tc.body), nil)
			what := method + " " + path + " " + tc.name
			want, field := tc.want, tc.field
			if method == "PATCH" && (tc.name == "null" || tc.name == "NUL in secret" || tc.name == "secret a bool") {
				// PATCH has no secret field, and null changes nothing.
				want, field = map[string]int{"null": 200}[tc.name], map[string]string{"NUL in secret": "secret", "secret a bool": "secret"}[tc.name]
				if want == 0 {
					want = 400
				}
			}
			if code != want {
				t.Errorf("%s: %d %.300s, want %d", what, code, b, want)
				continue
			}
			if want < 400 {
				continue
			}
			e := wantError(t, what, b)
			if e.Error == nil {
				continue
			}
			if got := ""; field != "" {
				if e.Error.Field != nil {
					got = *e.Error.Field
				}
				if got != field {
					t.Errorf("%s: field %q, want %q (%s)", what, got, field, e.Error.Message)
				}
			}
			if len(b) > 4<<10 {
				t.Errorf("%s: a %d-byte error answer", what, len(b))
			}
		}
	}
	var n int
	if err := w.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_endpoints`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d endpoints after the hostile bodies (%v), want 1", n, err)
	}
	var e webhook.Endpoint
	w.call(w.keyA, "GET", "/webhooks/"+ep.ID, nil, &e)
	if e.URL != rcv.URL || e.Description != "" || e.Status != "active" {
		t.Errorf("the endpoint changed: %+v", e)
	}
}

// countingReader is an endless request body that counts what was read.
type countingReader struct {
	n    atomic.Int64
	fill byte
	head []byte
}

func (c *countingReader) Read(p []byte) (int, error) {
	i := 0
	for off := int(c.n.Load()); i < len(p) && off+i < len(c.head); i++ {
		p[i] = c.head[off+i]
	}
	for ; i < len(p); i++ {
		p[i] = c.fill
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// TestOversizedBodyIsNotRead gives the API handler itself bodies of 10 MiB
// and more (a JSON string that never ends, a body without a length) and
// checks that it answers 413 having read little more than its 64 KiB
// limit.
func TestOversizedBodyIsNotRead(t *testing.T) {
	w := newWorld(t)
	rcv := newReceiver(t, 200)
	ep := w.register(w.keyA, rcv.URL)
	api, err := webhook.NewAPI(webhook.APIConfig{DB: w.db.Pool, Keys: apikey.NewStore(w.db.Pool), EventTypes: []string{w.topic}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, head string }{
		{"POST", "/webhooks", `{"url":"https://a.example/x","description":"`},
		{"PATCH", "/webhooks/" + ep.ID, `{"description":"`},
		{"POST", "/webhooks", `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`},
		{"POST", "/webhooks", `{"events":["` + strings.Repeat(w.topic+`","`, 1000)},
	} {
		body := &countingReader{fill: 'a', head: []byte(tc.head)}
		if strings.HasPrefix(tc.head, "[") {
			body.fill = '['
		}
		req := httptest.NewRequest(tc.method, tc.path, body)
		req.ContentLength = 10 << 20 // declared; the reader never ends
		req.Header.Set("Authorization", "Bearer "+w.keyA)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		what := tc.method + " " + tc.path + " " + tc.head[:min(len(tc.head), 20)]
		if tc.head[0] == '[' && rec.Code == 400 {
			// Nesting this deep is refused before the limit.
		} else if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %s, want 413", what, rec.Code, rec.Body)
			continue
		}
		e := wantError(t, what, rec.Body.Bytes())
		if e.Error != nil && rec.Code == 413 && e.Error.Code != "too_large" {
			t.Errorf("%s: code %q", what, e.Error.Code)
		}
		if n := body.n.Load(); n > 256<<10 {
			t.Errorf("%s: the handler read %d bytes of the body, want at most about 64 KiB", what, n)
		}
	}
}

// TestHostilePathsAndQueries sends ids no endpoint can have (NUL bytes,
// invalid UTF-8, 1 MiB long, path tricks) and bad limits: 404 or 400 with
// the JSON error, never a 500.
func TestHostilePathsAndQueries(t *testing.T) {
	var logs syncBuf
	w := newWorld(t, func(c *webhook.APIConfig) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	ep, dlv := tenantAData(t, w)
	ids := []string{"%00", "wh_%00", "%ff%fe", "wh_%C0%AF", strings.Repeat("w", 100<<10), "%27%20OR%201=1--", "wh_%2F..%2F",
		"%E2%80%AE", "wh_" + strings.Repeat("0", 65), "wh_%20", "%2525"}
	for _, id := range ids {
		for _, p := range []struct{ method, path string }{
			{"GET", "/webhooks/" + id},
			{"PATCH", "/webhooks/" + id},
			{"DELETE", "/webhooks/" + id},
			{"POST", "/webhooks/" + id + "/rotate-secret"},
			{"GET", "/webhooks/" + id + "/deliveries"},
			{"GET", "/webhooks/" + id + "/deliveries/" + dlv},
			{"GET", "/webhooks/" + ep.ID + "/deliveries/" + id},
			{"POST", "/webhooks/" + ep.ID + "/deliveries/" + id + "/retry"},
			{"POST", "/webhooks/" + id + "/deliveries/" + dlv + "/retry"},
		} {
			var body io.Reader
			if p.method == "PATCH" {
				body = strings.NewReader(`{"description":"x"}`)
			}
			code, b := w.raw(w.keyA, p.method, p.path, body, nil)
			what := p.method + " " + p.path[:min(len(p.path), 80)]
			if code != http.StatusNotFound {
				t.Errorf("%s: %d %.200s, want 404", what, code, b)
				continue
			}
			wantError(t, what, b)
		}
	}
	for _, q := range []string{"limit=abc", "limit=0", "limit=-1", "limit=1001", "limit=99999999999999999999999", "limit=1e3", "limit=%00", "limit=1&limit=x"} {
		code, b := w.raw(w.keyA, "GET", "/webhooks/"+ep.ID+"/deliveries?"+q, nil, nil)
		if code != 400 && !(q == "limit=1&limit=x" && code == 200) {
			t.Errorf("?%s: %d %s, want 400", q, code, b)
		} else if code == 400 {
			wantError(t, q, b)
		}
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("hostile paths logged errors:\n%s", logs.String())
	}
}

// syncBuf is a bytes.Buffer safe for concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestSecretsAndKeysNeverLeak runs the API and a dispatcher through
// registration, rotation, deliveries that fail and are dead-lettered, and
// error paths, with their logs captured: no signing secret (generated or
// chosen), no API key and no secret-encryption key appears in a log line,
// and no answer after creation or rotation shows a secret.
func TestSecretsAndKeysNeverLeak(t *testing.T) {
	var logs syncBuf
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	secretKey := bytes.Repeat([]byte{0x5a}, 32)
	w := newWorld(t, func(c *webhook.APIConfig) { c.Logger, c.SecretKey = logger, secretKey })
	echo := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// A receiver that echoes what it got, failing.
		rw.WriteHeader(500)
		_ = r.Header.Write(rw)
	}))
	t.Cleanup(echo.Close)
	generated := w.register(w.keyA, echo.URL+"/generated")
	chosen := "my-own-secret-0123456789-abcdef"
	var ep2 created
	if code := w.call(w.keyA, "POST", "/webhooks", map[string]any{"url": echo.URL + "/chosen", "events": []string{w.topic},
		"secret": chosen}, &ep2); code != 201 || ep2.Secret != "" {
		t.Fatalf("register with a chosen secret: %d; the answer repeats the secret: %q", code, ep2.Secret)
	}
	var rot struct{ Secret string }
	if code := w.call(w.keyA, "POST", "/webhooks/"+generated.ID+"/rotate-secret", nil, &rot); code != 200 || rot.Secret == "" {
		t.Fatalf("rotate: %d", code)
	}
	secrets := []string{generated.Secret, chosen, rot.Secret}

	w.publish("merch_a", 1)
	d := w.dispatcher(func(c *webhook.DispatcherConfig) { c.Logger, c.SecretKey = logger, secretKey })
	run(t, d.Run)
	waitFor(t, "both deliveries dead-lettered", func() bool { return d.Stats().DeadLettered == 2 })

	// Error paths: bad keys, bad bodies, unknown ids.
	w.raw("", "GET", "/webhooks", nil, http.Header{"Authorization": {"Bearer " + w.keyA + "x"}})
	w.raw(w.keyB, "GET", "/webhooks/"+generated.ID, nil, nil)
	w.raw(w.keyA, "POST", "/webhooks", strings.NewReader(`{"url":"https://a.example","events":["`+w.topic+`"],"secret":"`+chosen+`","x":1}`), nil)

	// Every answer after creation: list, get, patch, deliveries, a
	// delivery with its attempt log (holding the echoed signature headers).
	var answers [][]byte
	for _, p := range []struct{ method, path, body string }{
		{"GET", "/webhooks", ""},
		{"GET", "/webhooks/" + generated.ID, ""},
		{"GET", "/webhooks/" + ep2.ID, ""},
		{"PATCH", "/webhooks/" + ep2.ID, `{"description":"changed"}`},
		{"GET", "/webhooks/" + generated.ID + "/deliveries", ""},
		{"GET", "/webhooks/" + ep2.ID + "/deliveries", ""},
	} {
		var body io.Reader
		if p.body != "" {
			body = strings.NewReader(p.body)
		}
		code, b := w.raw(w.keyA, p.method, p.path, body, nil)
		if code != 200 {
			t.Fatalf("%s %s: %d %s", p.method, p.path, code, b)
		}
		answers = append(answers, b)
		var list struct{ Data []webhook.Delivery }
		if json.Unmarshal(b, &list) == nil {
			for _, dl := range list.Data {
				if dl.EndpointID != "" {
					_, b := w.raw(w.keyA, "GET", "/webhooks/"+dl.EndpointID+"/deliveries/"+dl.ID, nil, nil)
					if !strings.Contains(string(b), webhook.HeaderSignature) {
						t.Errorf("the attempt log does not hold the echoed headers: %s", b)
					}
					answers = append(answers, b)
				}
			}
		}
	}
	for _, s := range secrets {
		for _, b := range answers {
			if strings.Contains(string(b), s) {
				t.Errorf("an answer after creation shows the secret %.12s…: %s", s, b)
			}
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs show the secret %.12s…", s)
		}
	}
	for _, k := range []string{w.keyA, w.keyB, w.keyA[len(w.keyA)-43:], string(secretKey), base64.StdEncoding.EncodeToString(secretKey)} {
		if strings.Contains(logs.String(), k) {
			t.Errorf("the logs show the key %.12s…", k)
		}
		for _, b := range answers {
			if strings.Contains(string(b), k) {
				t.Errorf("an answer shows the key %.12s…", k)
			}
		}
	}
	if !strings.Contains(logs.String(), "dead-lettered") {
		t.Errorf("the capture missed the dispatcher's logs:\n%s", logs.String())
	}
}
