package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/webhook"
)

// fast is a compressed retry schedule: the schedule is configuration.
var fast = []time.Duration{30 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond}

// world is one test's webhook service: API, fan-out consumer, dispatcher,
// and API keys for two tenants.
type world struct {
	t            *testing.T
	topic, group string
	db           *kbustest.Database
	api          *httptest.Server
	keyA, keyB   string
	p            *producer.Producer
	fan          *consumer.Consumer
	kafka        *kgo.Client
}

func newWorld(t *testing.T, apiMods ...func(*webhook.APIConfig)) *world {
	t.Helper()
	w := &world{t: t, topic: kbustest.Topic(t, 2), group: kbustest.Name(t, "webhooks."), db: kbustest.DB(t)}
	adm := kbustest.Admin(t)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), dlq.Topic(w.group)) })
	ctx := context.Background()
	keys := apikey.NewStore(w.db.Pool)
	var err error
	if _, w.keyA, err = keys.Create(ctx, "merch_a", "test", false); err != nil {
		t.Fatal(err)
	}
	if _, w.keyB, err = keys.Create(ctx, "merch_b", "test", false); err != nil {
		t.Fatal(err)
	}
	acfg := webhook.APIConfig{DB: w.db.Pool, Keys: keys, EventTypes: []string{w.topic}, AllowHTTPHosts: []string{"127.0.0.1"},
		AllowNetworks: webhook.AllowLoopback()}
	for _, m := range apiMods {
		m(&acfg)
	}
	api, err := webhook.NewAPI(acfg)
	if err != nil {
		t.Fatal(err)
	}
	w.api = httptest.NewServer(api)
	t.Cleanup(w.api.Close)
	if w.p, err = producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"), producer.SkipSchemaValidation()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.p.Close)

	w.fan, err = consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: w.group, Topics: []string{w.topic}, DB: w.db.Pool})
	if err != nil {
		t.Fatal(err)
	}
	webhook.FanOut{}.Register(w.fan, w.topic)
	run(t, w.fan.Run)
	w.kafka = kbustest.Client(t)
	return w
}

// run runs fn until the test ends.
func run(t *testing.T, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = fn(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (w *world) dispatcher(mod ...func(*webhook.DispatcherConfig)) *webhook.Dispatcher {
	w.t.Helper()
	cfg := webhook.DispatcherConfig{DB: w.db.Pool, Kafka: w.kafka, Group: w.group, Schedule: fast,
		PollInterval: 10 * time.Millisecond, AllowNetworks: webhook.AllowLoopback(), Timeout: 5 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	d, err := webhook.NewDispatcher(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// call makes an API request with key and decodes the JSON answer into out.
func (w *world) call(key, method, path string, body any, out any) int {
	w.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, w.api.URL+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			w.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type created struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"secret"`
}

func (w *world) register(key, url string) created {
	w.t.Helper()
	var c created
	if code := w.call(key, "POST", "/webhooks", map[string]any{"url": url, "events": []string{w.topic}}, &c); code != http.StatusCreated {
		w.t.Fatalf("register: %d %+v", code, c)
	}
	return c
}

func (w *world) publish(merchant string, amount int) string {
	w.t.Helper()
	r, err := w.p.Publish(context.Background(), w.topic, "pay_1",
		fmt.Appendf(nil, `{"payment_id":"pay_%d","amount":%d,"merchant_id":%q}`, amount, amount, merchant))
	if err != nil {
		w.t.Fatal(err)
	}
	return r.MessageID
}

// receiver is a merchant's endpoint that answers with codes in turn (the last
// one repeated) and records what it got.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	codes []int
	got   []*http.Request
	body  [][]byte
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, req)
		r.body = append(r.body, b)
		code := r.codes[min(n, len(r.codes)-1)]
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *receiver) setCodes(codes ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codes, r.got, r.body = codes, nil, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// independentSignature is the seed's signature, computed without kbus.
func independentSignature(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestRetriedDeliveryShowsItsAttempts(t *testing.T) {
	w := newWorld(t)
	rcv := newReceiver(t, 500, 500, 200)
	ep := w.register(w.keyA, rcv.URL+"/hooks")
	if !strings.HasPrefix(ep.ID, "wh_") || ep.Status != "active" || !strings.HasPrefix(ep.Secret, "whsec_") || ep.CreatedAt.IsZero() {
		t.Fatalf("registration answer %+v", ep)
	}
	id := w.publish("merch_a", 4999)
	run(t, w.dispatcher().Run)
	waitFor(t, "three attempts", func() bool { return rcv.count() == 3 })

	// Every attempt is signed, verifiably by kbus and by the seed's recipe.
	rcv.mu.Lock()
	for i, req := range rcv.got {
		ts, sig := req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature)
		if req.Header.Get(webhook.HeaderID) != id || sig != independentSignature(ep.Secret, ts, rcv.body[i]) {
			t.Errorf("attempt %d: id %q signature %q", i+1, req.Header.Get(webhook.HeaderID), sig)
		}
		if err := webhook.Verify(ep.Secret, rcv.body[i], ts, sig, 0); err != nil {
			t.Errorf("attempt %d: Verify: %v", i+1, err)
		}
	}
	var payload struct {
		ID, Type  string
		CreatedAt time.Time `json:"created_at"`
		Data      struct{ Amount int }
	}
	_ = json.Unmarshal(rcv.body[0], &payload)
	rcv.mu.Unlock()
	if payload.ID != id || payload.Type != w.topic || payload.Data.Amount != 4999 || payload.CreatedAt.IsZero() {
		t.Fatalf("payload %+v", payload)
	}

	var list struct{ Data []webhook.Delivery }
	waitFor(t, "the delivery to succeed", func() bool {
		w.call(w.keyA, "GET", "/webhooks/"+ep.ID+"/deliveries", nil, &list)
		return len(list.Data) == 1 && list.Data[0].Status == webhook.DeliverySucceeded
	})
	var d webhook.Delivery
	if code := w.call(w.keyA, "GET", "/webhooks/"+ep.ID+"/deliveries/"+list.Data[0].ID, nil, &d); code != 200 {
		t.Fatalf("GET delivery: %d", code)
	}
	if len(d.DeliveryAttempts) != 3 {
		t.Fatalf("%d attempts logged, want 3: %+v", len(d.DeliveryAttempts), d)
	}
	for i, a := range d.DeliveryAttempts {
		wantStatus, wantOK := 500, false
		if i == 2 {
			wantStatus, wantOK = 200, true
		}
		if a.Attempt != i+1 || a.ResponseStatus == nil || *a.ResponseStatus != wantStatus || a.Success != wantOK ||
			(a.NextRetry == nil) != wantOK {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	// Tenant B sees none of it.
	if code := w.call(w.keyB, "GET", "/webhooks/"+ep.ID, nil, nil); code != http.StatusNotFound {
		t.Fatalf("tenant B GET tenant A's endpoint: %d, want 404", code)
	}
	if code := w.call(w.keyB, "DELETE", "/webhooks/"+ep.ID, nil, nil); code != http.StatusNotFound {
		t.Fatalf("tenant B DELETE tenant A's endpoint: %d, want 404", code)
	}
	var listB struct{ Data []webhook.Endpoint }
	w.call(w.keyB, "GET", "/webhooks", nil, &listB)
	if len(listB.Data) != 0 {
		t.Fatalf("tenant B lists %d endpoints", len(listB.Data))
	}
}

func TestExhaustedDeliveryIsDeadLetteredAndReplayedOnce(t *testing.T) {
	w := newWorld(t)
	rcv := newReceiver(t, 503)
	ep := w.register(w.keyA, rcv.URL)
	w.publish("merch_a", 100)
	d := w.dispatcher()
	run(t, d.Run)
	waitFor(t, "the delivery to be dead-lettered", func() bool { return d.Stats().DeadLettered == 1 })
	if got := rcv.count(); got != len(fast)+1 {
		t.Fatalf("%d attempts, want %d", got, len(fast)+1)
	}
	var entries []dlq.Entry
	ctx := context.Background()
	_ = dlq.Read(ctx, w.kafka, w.group, func(e dlq.Entry, _ *kgo.Record, err error) error {
		entries = append(entries, e)
		return err
	})
	if len(entries) != 1 || entries[0].EndpointID != ep.ID || entries[0].Attempts != len(fast)+1 ||
		entries[0].FailureReason != webhook.ReasonDeliveryFailed || !strings.Contains(entries[0].LastError, "503") {
		t.Fatalf("DLQ %+v", entries)
	}

	// The receiver is fixed; the replay gives that endpoint one new delivery,
	// and replaying the same entry again adds none.
	rcv.setCodes(200)
	for range 2 {
		if sum, err := dlq.ReplayEntries(ctx, w.kafka, dlq.ReplayOptions{Group: w.group}); err != nil || sum.Replayed != 1 {
			t.Fatalf("replay: %+v %v", sum, err)
		}
	}
	waitFor(t, "the replayed delivery", func() bool { return rcv.count() == 1 })
	waitFor(t, "both replays consumed", func() bool { s := w.fan.Stats(); return s.Processed+s.Duplicates >= 3 })
	time.Sleep(300 * time.Millisecond)
	if got := rcv.count(); got != 1 {
		t.Fatalf("the fixed receiver got %d deliveries, want 1", got)
	}
}

func TestTwoDispatchersNeverSendAnAttemptTwice(t *testing.T) {
	w := newWorld(t)
	var mu sync.Mutex
	seen := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get(webhook.HeaderID)]++
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	w.register(w.keyA, rcv.URL)
	const n = 200
	for i := range n {
		w.publish("merch_a", i+1)
	}
	small := func(c *webhook.DispatcherConfig) { c.BatchSize = 8 }
	a, b := w.dispatcher(small), w.dispatcher(small)
	run(t, a.Run)
	run(t, b.Run)
	waitFor(t, "every delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == n })
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s received %d times", id, c)
		}
	}
	if a.Stats().Attempts == 0 || b.Stats().Attempts == 0 {
		t.Logf("one dispatcher did all the work (a %+v, b %+v)", a.Stats(), b.Stats())
	}
}

func TestClaimsOfADeadDispatcherBecomeDueAgain(t *testing.T) {
	w := newWorld(t)
	rcv := newReceiver(t, 200)
	w.register(w.keyA, rcv.URL)
	w.publish("merch_a", 1)
	waitFor(t, "the delivery row", func() bool {
		var n int
		_ = w.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries`).Scan(&n)
		return n == 1
	})
	// A dispatcher claims it and dies before sending.
	if _, err := w.db.Pool.Exec(context.Background(),
		`UPDATE webhook_deliveries SET lease_owner = 'dead', lease_until = now() + interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	run(t, w.dispatcher().Run)
	time.Sleep(300 * time.Millisecond)
	if rcv.count() != 0 {
		t.Fatal("a claimed delivery was sent before its lease ran out")
	}
	waitFor(t, "the delivery after the lease", func() bool { return rcv.count() == 1 })
}

func TestSSRFToLoopbackRefusedUnlessAllowed(t *testing.T) {
	w := newWorld(t)
	rcv := newReceiver(t, 200)
	ep := w.register(w.keyA, rcv.URL)
	w.publish("merch_a", 1)
	d := w.dispatcher(func(c *webhook.DispatcherConfig) { c.AllowNetworks = nil })
	run(t, d.Run)
	waitFor(t, "the refused delivery to be dead-lettered", func() bool { return d.Stats().DeadLettered == 1 })
	if rcv.count() != 0 {
		t.Fatal("the receiver on 127.0.0.1 was reached")
	}
	var list struct{ Data []webhook.Delivery }
	w.call(w.keyA, "GET", "/webhooks/"+ep.ID+"/deliveries", nil, &list)
	var dl webhook.Delivery
	// The DLQ entry is written before the outcome's transaction commits.
	waitFor(t, "the delivery to be failed", func() bool {
		w.call(w.keyA, "GET", "/webhooks/"+ep.ID+"/deliveries/"+list.Data[0].ID, nil, &dl)
		return dl.Status == webhook.DeliveryFailed
	})
	if dl.Status != webhook.DeliveryFailed || len(dl.DeliveryAttempts) != 1 || !strings.Contains(dl.DeliveryAttempts[0].Error, "not allowed") {
		t.Fatalf("delivery %+v", dl)
	}
}

func TestGoneDisablesTheEndpoint(t *testing.T) {
	w := newWorld(t)
	rcv := newReceiver(t, 410)
	ep := w.register(w.keyA, rcv.URL)
	w.publish("merch_a", 1)
	d := w.dispatcher()
	run(t, d.Run)
	waitFor(t, "dead-lettered", func() bool { return d.Stats().DeadLettered == 1 })
	// The DLQ entry is written before the outcome's transaction commits.
	var e webhook.Endpoint
	waitFor(t, "the endpoint to be disabled", func() bool {
		w.call(w.keyA, "GET", "/webhooks/"+ep.ID, nil, &e)
		return e.Status == webhook.StatusDisabled
	})
	if rcv.count() != 1 {
		t.Fatalf("endpoint %+v after 410; %d attempts", e, rcv.count())
	}
	// No new deliveries while disabled; re-enabling is an API call.
	w.publish("merch_a", 2)
	time.Sleep(500 * time.Millisecond)
	if rcv.count() != 1 {
		t.Fatalf("a disabled endpoint got %d requests", rcv.count())
	}
	rcv.setCodes(200)
	if code := w.call(w.keyA, "PATCH", "/webhooks/"+ep.ID, map[string]any{"status": "active"}, &e); code != 200 || e.Status != "active" {
		t.Fatalf("re-enable: %d %+v", code, e)
	}
	w.publish("merch_a", 3)
	waitFor(t, "a delivery after re-enabling", func() bool { return rcv.count() == 1 })
}

func TestAPIValidation(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name, key, method, path, body string
		want                          int
		field                         string
	}{
		{"no key", "", "GET", "/webhooks", "", 401, ""},
		{"wrong key", "kbus_x_y", "GET", "/webhooks", "", 401, ""},
		{"bad json", w.keyA, "POST", "/webhooks", `{"url":`, 400, ""},
		{"unknown field", w.keyA, "POST", "/webhooks", `{"url":"https://a.example/x","events":["` + w.topic + `"],"colour":1}`, 400, "colour"},
		{"wrong type", w.keyA, "POST", "/webhooks", `{"url":"https://a.example/x","events":"x"}`, 400, "events"},
		{"no events", w.keyA, "POST", "/webhooks", `{"url":"https://a.example/x","events":[]}`, 400, "events"},
		{"unknown event", w.keyA, "POST", "/webhooks", `{"url":"https://a.example/x","events":["nope.created"]}`, 400, "events"},
		{"ftp url", w.keyA, "POST", "/webhooks", `{"url":"ftp://a.example/x","events":["` + w.topic + `"]}`, 400, "url"},
		{"http not allowed", w.keyA, "POST", "/webhooks", `{"url":"http://a.example/x","events":["` + w.topic + `"]}`, 400, "url"},
		{"short secret", w.keyA, "POST", "/webhooks", `{"url":"https://a.example/x","events":["` + w.topic + `"],"secret":"abc"}`, 400, "secret"},
		{"unknown endpoint", w.keyA, "GET", "/webhooks/wh_nope", "", 404, ""},
		{"bad status", w.keyA, "PATCH", "/webhooks/wh_nope", `{"status":"paused"}`, 400, "status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out struct {
				Error struct{ Code, Message, Field string }
			}
			var body any
			if tc.body != "" {
				body = tc.body
			}
			code := w.call(tc.key, tc.method, tc.path, body, &out)
			if code != tc.want || out.Error.Message == "" || out.Error.Field != tc.field {
				t.Fatalf("%d %+v, want %d with field %q", code, out, tc.want, tc.field)
			}
		})
	}
	// Rotation: the old secret keeps signing beside the new one.
	rcv := newReceiver(t, 200)
	ep := w.register(w.keyA, rcv.URL)
	var rot struct{ Secret string }
	if code := w.call(w.keyA, "POST", "/webhooks/"+ep.ID+"/rotate-secret", nil, &rot); code != 200 || rot.Secret == ep.Secret {
		t.Fatalf("rotate: %d %+v", code, rot)
	}
	w.publish("merch_a", 1)
	run(t, w.dispatcher().Run)
	waitFor(t, "a delivery", func() bool { return rcv.count() == 1 })
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	req, body := rcv.got[0], rcv.body[0]
	ts, sig := req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature)
	for _, s := range []string{ep.Secret, rot.Secret} {
		if err := webhook.Verify(s, body, ts, sig, 0); err != nil {
			t.Errorf("during the grace period a receiver with secret %s… fails: %v", s[:10], err)
		}
	}
}

func TestEndpointFailingTooLongIsDisabled(t *testing.T) {
	w := newWorld(t)
	rcv := newReceiver(t, 500)
	ep := w.register(w.keyA, rcv.URL)
	// It has been failing for six days already.
	if _, err := w.db.Pool.Exec(context.Background(),
		`UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = $1`, ep.ID); err != nil {
		t.Fatal(err)
	}
	w.publish("merch_a", 1)
	run(t, w.dispatcher(func(c *webhook.DispatcherConfig) { c.DisableAfter = 5 * 24 * time.Hour }).Run)
	waitFor(t, "an attempt", func() bool { return rcv.count() >= 1 })
	var e webhook.Endpoint
	waitFor(t, "the endpoint to be disabled", func() bool {
		w.call(w.keyA, "GET", "/webhooks/"+ep.ID, nil, &e)
		return e.Status == webhook.StatusDisabled
	})
	if !strings.Contains(e.DisabledReason, "every delivery failed") {
		t.Fatalf("disabled reason %q", e.DisabledReason)
	}
}
