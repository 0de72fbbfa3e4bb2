package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/webhook"
)

// TestOneTraceFromRequestToWebhookAttempt follows one payment through
// every kbus component with an OpenTelemetry SDK passed explicitly (no
// global is set): an HTTP request publishes an event, the webhook fan-out
// fails once and is retried, and the dispatcher's first POST gets a 500 and
// the second a 200. Every span must be in the request's trace, each a child
// of the one before, named and attributed after the messaging and HTTP
// semantic conventions, and the receiver must get the traceparent of the
// attempt that reached it.
func TestOneTraceFromRequestToWebhookAttempt(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.TraceContext{}

	topic, group := kbustest.Topic(t, 2), kbustest.Name(t, "webhooks.")
	db := kbustest.DB(t)
	ctx := context.Background()
	keys := apikey.NewStore(db.Pool)
	_, key, err := keys.Create(ctx, "merch_a", "test", false)
	if err != nil {
		t.Fatal(err)
	}
	api, err := webhook.NewAPI(webhook.APIConfig{DB: db.Pool, Keys: keys, EventTypes: []string{topic},
		AllowHTTPHosts: []string{"127.0.0.1"}, AllowNetworks: webhook.AllowLoopback()})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, topic: topic, group: group, db: db, api: httptest.NewServer(api), kafka: kbustest.Client(t)}
	t.Cleanup(w.api.Close)
	rcv := newReceiver(t, 500, 200)
	w.register(key, rcv.URL+"/hooks")

	p, err := producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"),
		producer.SkipSchemaValidation(), producer.TracerProvider(tp), producer.Propagator(prop))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)

	// The payment service: a server span (as otelhttp would start) around
	// a handler that publishes with the request's context.
	var published atomic.Value
	svc := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("payment-service").Start(prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header)),
			"POST /payments", trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		rcpt, err := p.Publish(ctx, topic, "pay_1", []byte(`{"payment_id":"pay_1","amount":4999,"merchant_id":"merch_a"}`))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		published.Store(rcpt)
		rw.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(svc.Close)

	// The fan-out, failing its first attempt.
	fan, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: group, Topics: []string{topic}, DB: db.Pool,
		Retry: consumer.RetryPolicy{BaseDelay: 10 * time.Millisecond}, TracerProvider: tp, Propagator: prop})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	out := webhook.FanOut{Propagator: prop}
	fan.HandleTx(topic, func(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
		if calls.Add(1) == 1 {
			return errors.New("database hiccup")
		}
		return out.Handle(ctx, tx, e)
	})
	run(t, fan.Run)
	run(t, w.dispatcher(func(c *webhook.DispatcherConfig) { c.TracerProvider, c.Propagator = tp, prop }).Run)

	resp, err := http.Post(svc.URL+"/payments", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
	rcpt := published.Load().(producer.Receipt)
	byName := func(name string) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			if s.Name == name {
				out = append(out, s)
			}
		}
		return out
	}
	waitFor(t, "two POST spans and the process span", func() bool {
		return len(byName("POST")) == 2 && len(byName("process "+topic)) == 1
	})

	one := func(name string) tracetest.SpanStub {
		t.Helper()
		ss := byName(name)
		if len(ss) != 1 {
			t.Fatalf("%d spans named %q, want 1", len(ss), name)
		}
		return ss[0]
	}
	server, send, process := one("POST /payments"), one("send "+topic), one("process "+topic)
	posts := byName("POST")
	traceID := server.SpanContext.TraceID()
	t.Logf("trace %s", traceID)
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() != traceID {
			t.Errorf("span %q in trace %s, want %s", s.Name, s.SpanContext.TraceID(), traceID)
		}
	}
	parent := func(child, of tracetest.SpanStub) {
		t.Helper()
		if child.Parent.SpanID() != of.SpanContext.SpanID() {
			t.Errorf("%q's parent is %s, want %q (%s)", child.Name, child.Parent.SpanID(), of.Name, of.SpanContext.SpanID())
		}
	}
	parent(send, server)
	parent(process, send)
	for _, post := range posts {
		parent(post, process)
	}

	kinds := map[string]trace.SpanKind{send.Name: trace.SpanKindProducer, process.Name: trace.SpanKindConsumer, "POST": trace.SpanKindClient}
	for _, s := range []tracetest.SpanStub{send, process, posts[0], posts[1]} {
		if s.SpanKind != kinds[s.Name] {
			t.Errorf("%q is a %s span, want %s", s.Name, s.SpanKind, kinds[s.Name])
		}
	}
	wantAttrs(t, send, map[string]any{"messaging.system": "kafka", "messaging.operation.type": "send", "messaging.operation.name": "send",
		"messaging.destination.name": topic, "messaging.message.id": rcpt.MessageID, "messaging.kafka.message.key": "pay_1",
		"messaging.destination.partition.id": fmt.Sprint(rcpt.Partition), "messaging.kafka.offset": rcpt.Offset})
	wantAttrs(t, process, map[string]any{"messaging.system": "kafka", "messaging.operation.type": "process", "messaging.operation.name": "process",
		"messaging.destination.name": topic, "messaging.consumer.group.name": group, "messaging.message.id": rcpt.MessageID,
		"messaging.kafka.message.key": "pay_1", "messaging.destination.partition.id": fmt.Sprint(rcpt.Partition),
		"messaging.kafka.offset": rcpt.Offset, "kbus.attempts": int64(2)})
	// The failed first attempt is an exception event on the process span.
	if len(process.Events) != 1 || process.Events[0].Name != "exception" || !hasAttr(process.Events[0].Attributes, "kbus.attempt", int64(1)) {
		t.Errorf("process span's events %+v, want one exception at attempt 1", process.Events)
	}
	if process.Status.Code == codes.Error {
		t.Errorf("process span status %v: the retry succeeded", process.Status)
	}

	// Attempts in order: 500 (an error), then 200.
	if a, _ := attr(posts[0].Attributes, "kbus.attempt"); a != int64(1) {
		posts[0], posts[1] = posts[1], posts[0]
	}
	for i, want := range []int64{500, 200} {
		wantAttrs(t, posts[i], map[string]any{"http.request.method": "POST", "http.response.status_code": want, "kbus.attempt": int64(i + 1),
			"messaging.message.id": rcpt.MessageID, "server.address": "127.0.0.1", "url.full": rcv.URL + "/hooks"})
	}
	if posts[0].Status.Code != codes.Error || posts[1].Status.Code == codes.Error {
		t.Errorf("POST statuses %v, %v: want an error, then none", posts[0].Status, posts[1].Status)
	}

	// The receiver got each attempt's traceparent.
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.got) != 2 {
		t.Fatalf("receiver got %d requests", len(rcv.got))
	}
	for i, req := range rcv.got {
		want := fmt.Sprintf("00-%s-%s-01", traceID, posts[i].SpanContext.SpanID())
		if got := req.Header.Get("traceparent"); got != want {
			t.Errorf("attempt %d: traceparent %q, want %q", i+1, got, want)
		}
	}
}

func attr(kvs []attribute.KeyValue, key string) (any, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.AsInterface(), true
		}
	}
	return nil, false
}

func hasAttr(kvs []attribute.KeyValue, key string, want any) bool {
	v, ok := attr(kvs, key)
	return ok && v == want
}

func wantAttrs(t *testing.T, s tracetest.SpanStub, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got, ok := attr(s.Attributes, k); !ok || got != v {
			t.Errorf("span %q: %s = %v (%T), want %v (%T)", s.Name, k, got, got, v, v)
		}
	}
}
