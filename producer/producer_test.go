package producer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/schemas"
)

func newProducer(t *testing.T, opts ...producer.Option) *producer.Producer {
	t.Helper()
	// The scratch topics have no schema; the schema tests build their own.
	p, err := producer.New(append([]producer.Option{producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"), producer.SkipSchemaValidation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// readAll reads n records from topic with a plain franz-go consumer.
func readAll(t *testing.T, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := kbustest.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func headerMap(hs []kgo.RecordHeader) map[string]string {
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}

func TestPublishRoundTripThroughPlainConsumer(t *testing.T) {
	topic := kbustest.Topic(t, 3)
	p := newProducer(t)
	ctx := envelope.WithCorrelationID(context.Background(), "req_abc123")
	data := `{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}`

	rcpt, err := p.Publish(ctx, topic, "pay_x7k9", []byte(data), producer.SchemaVersion("1.2"),
		producer.Headers(envelope.Header{Key: "tenant", Value: []byte("merch_abc")}))
	if err != nil {
		t.Fatal(err)
	}
	if rcpt.Partition < 0 || rcpt.Offset < 0 || rcpt.Topic != topic {
		t.Fatalf("receipt %+v lacks a position", rcpt)
	}

	rec := readAll(t, topic, 1)[0]
	if string(rec.Key) != "pay_x7k9" || rec.Partition != rcpt.Partition || rec.Offset != rcpt.Offset {
		t.Fatalf("record key %q at %d/%d, receipt says %d/%d", rec.Key, rec.Partition, rec.Offset, rcpt.Partition, rcpt.Offset)
	}

	// The value is the envelope exactly as the seed shows it, read with
	// encoding/json and nothing of kbus.
	var wire struct {
		MessageID   string          `json:"message_id"`
		Topic       string          `json:"topic"`
		PublishedAt time.Time       `json:"published_at"`
		Producer    string          `json:"producer"`
		Data        json.RawMessage `json:"data"`
		Metadata    map[string]any  `json:"metadata"`
	}
	if err := json.Unmarshal(rec.Value, &wire); err != nil {
		t.Fatalf("value is not JSON: %v\n%s", err, rec.Value)
	}
	if wire.MessageID != rcpt.MessageID || !strings.HasPrefix(wire.MessageID, "msg_") {
		t.Errorf("message_id = %q, receipt %q", wire.MessageID, rcpt.MessageID)
	}
	if wire.Topic != topic || wire.Producer != "payment-service" || string(wire.Data) != data {
		t.Errorf("envelope = %s", rec.Value)
	}
	if !wire.PublishedAt.Equal(rcpt.PublishedAt) || time.Since(wire.PublishedAt) > time.Minute {
		t.Errorf("published_at = %v, receipt %v", wire.PublishedAt, rcpt.PublishedAt)
	}
	wantMeta := map[string]any{"correlation_id": "req_abc123", "schema_version": "1.2", "content_type": "application/json"}
	if fmt.Sprint(wire.Metadata) != fmt.Sprint(wantMeta) {
		t.Errorf("metadata = %v, want %v", wire.Metadata, wantMeta)
	}
	if idTime, err := envelope.MessageIDTime(wire.MessageID); err != nil || !idTime.Equal(wire.PublishedAt) {
		t.Errorf("time in id = %v (%v), published_at %v", idTime, err, wire.PublishedAt)
	}

	hs := headerMap(rec.Headers)
	want := map[string]string{
		envelope.HeaderMessageID:       rcpt.MessageID,
		envelope.HeaderType:            topic,
		envelope.HeaderSchemaVersion:   "1.2",
		envelope.HeaderCorrelationID:   "req_abc123",
		envelope.HeaderContentType:     "application/json",
		envelope.HeaderProducer:        "payment-service",
		envelope.HeaderEnvelopeVersion: envelope.Version,
		"tenant":                       "merch_abc",
	}
	for k, v := range want {
		if hs[k] != v {
			t.Errorf("header %s = %q, want %q", k, hs[k], v)
		}
	}

	// And kbus decodes its own record to the same envelope.
	e, err := envelope.Unmarshal(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if e.MessageID != rcpt.MessageID || e.Metadata.CorrelationID != "req_abc123" {
		t.Errorf("decoded %+v", e)
	}
}

func TestOrderingPerKeyAcrossPartitions(t *testing.T) {
	const keys, perKey = 12, 50
	topic := kbustest.Topic(t, 4)
	p := newProducer(t, producer.Linger(5*time.Millisecond))
	ctx := context.Background()

	var (
		mu   sync.Mutex
		errs []error
	)
	for seq := 0; seq < perKey; seq++ {
		for k := 0; k < keys; k++ {
			data := fmt.Sprintf(`{"key":%d,"seq":%d}`, k, seq)
			p.PublishAsync(ctx, topic, fmt.Sprintf("pay_%d", k), []byte(data), func(_ producer.Receipt, err error) {
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Fatalf("%d publishes failed, first: %v", len(errs), errs[0])
	}

	recs := readAll(t, topic, keys*perKey)
	partitionOf := map[string]int32{}
	next := map[string]int{}
	used := map[int32]bool{}
	for _, r := range recs {
		e, err := envelope.Unmarshal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Key, Seq int }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		key := string(r.Key)
		if p, ok := partitionOf[key]; ok && p != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", key, p, r.Partition)
		}
		partitionOf[key] = r.Partition
		used[r.Partition] = true
		if d.Seq != next[key] {
			t.Fatalf("key %s: got seq %d, want %d (out of order)", key, d.Seq, next[key])
		}
		next[key]++
	}
	if len(used) < 2 {
		t.Fatalf("%d keys all landed on %d partition(s); the test proves nothing about partitioning", keys, len(used))
	}
}

func TestInvalidEnvelopesNeverReachTheBroker(t *testing.T) {
	topic := kbustest.Topic(t, 1)
	p := newProducer(t, producer.MaxEnvelopeSize(4096))
	ctx := context.Background()

	cases := []struct {
		name  string
		topic string
		data  string
		opts  []producer.PublishOption
		want  error
	}{
		{"data not JSON", topic, `{"amount":`, nil, envelope.ErrNotJSON},
		{"empty data", topic, ``, nil, envelope.ErrMissingField},
		{"too large", topic, `"` + strings.Repeat("x", 5000) + `"`, nil, envelope.ErrTooLarge},
		{"bad topic", "no spaces allowed", `{}`, nil, envelope.ErrBadTopic},
		{"bad message id", topic, `{}`, []producer.PublishOption{producer.MessageID("42")}, envelope.ErrBadMessageID},
		{"unknown content type", topic, `{}`, []producer.PublishOption{producer.ContentType("text/csv")}, envelope.ErrBadContentType},
		{"invalid UTF-8", topic, `{}`, []producer.PublishOption{producer.CorrelationID("bad\xff")}, envelope.ErrInvalidUTF8},
		{"reserved header", topic, `{}`, []producer.PublishOption{producer.Headers(envelope.Header{Key: "kbus-type", Value: []byte("x")})}, producer.ErrReservedHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Publish(ctx, tc.topic, "k", []byte(tc.data), tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want != producer.ErrReservedHeader && !errors.Is(err, envelope.ErrInvalid) {
				t.Fatalf("err = %v, does not match envelope.ErrInvalid", err)
			}
			var got error
			p.PublishAsync(ctx, tc.topic, "k", []byte(tc.data), func(_ producer.Receipt, err error) { got = err }, tc.opts...)
			if !errors.Is(got, tc.want) {
				t.Fatalf("async: err = %v, want %v", got, tc.want)
			}
		})
	}

	// Only the valid marker published afterwards is on the topic, at offset 0.
	rcpt, err := p.Publish(ctx, topic, "k", []byte(`{"marker":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if rcpt.Offset != 0 {
		t.Fatalf("marker at offset %d: refused events reached the broker", rcpt.Offset)
	}
}

func TestPublishFailsInsideDeadlineWhenNoBrokerAnswers(t *testing.T) {
	p, err := producer.New(producer.Brokers("127.0.0.1:1"), producer.SkipSchemaValidation())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const deadline = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	start := time.Now()
	rcpt, err := p.Publish(ctx, "payment.completed", "pay_1", []byte(`{}`))
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("publish to an address where no broker answers succeeded")
	}
	if !errors.Is(err, producer.ErrNotAcknowledged) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrNotAcknowledged and context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), rcpt.MessageID) {
		t.Fatalf("error %q does not name the broker and the message id", err)
	}
	// Correctness, not speed: the call must honour the caller's deadline
	// (generous slack for a loaded machine).
	if elapsed > deadline+3*time.Second {
		t.Fatalf("Publish returned after %v, deadline was %v", elapsed, deadline)
	}
	if err := p.Ping(ctx); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Ping = %v, want an error naming the broker", err)
	}
}

func TestAsyncCallbacksCalledOnceAndFlush(t *testing.T) {
	topic := kbustest.Topic(t, 2)
	p := newProducer(t)
	ctx := context.Background()
	const n = 500
	var (
		mu    sync.Mutex
		calls = map[string]int{}
	)
	for i := 0; i < n; i++ {
		p.PublishAsync(ctx, topic, fmt.Sprint(i%7), []byte(fmt.Sprintf(`{"i":%d}`, i)), func(r producer.Receipt, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("publish %s: %v", r.MessageID, err)
			}
			calls[r.MessageID]++
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != n {
		t.Fatalf("%d distinct ids reported after Flush, want %d", len(calls), n)
	}
	for id, c := range calls {
		if c != 1 {
			t.Fatalf("callback for %s called %d times", id, c)
		}
	}
	if got := len(readAll(t, topic, n)); got != n {
		t.Fatalf("read %d records, want %d", got, n)
	}
}

func TestPublishAfterCloseFails(t *testing.T) {
	p := newProducer(t)
	p.Close()
	p.Close() // idempotent
	if _, err := p.Publish(context.Background(), "payment.completed", "k", []byte(`{}`)); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

func TestPublishEnvelopeKeepsIdentity(t *testing.T) {
	topic := kbustest.Topic(t, 1)
	p := newProducer(t)
	ctx := context.Background()
	orig := p.Envelope(ctx, topic, []byte(`{"a":1}`), producer.CorrelationID("corr_1"))
	orig.Producer = "outbox-relay-of-orders"
	rcpt, err := p.PublishEnvelope(ctx, "k", orig)
	if err != nil {
		t.Fatal(err)
	}
	if rcpt.MessageID != orig.MessageID {
		t.Fatalf("receipt id %s, envelope %s", rcpt.MessageID, orig.MessageID)
	}
	got, err := envelope.Unmarshal(readAll(t, topic, 1)[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageID != orig.MessageID || got.Producer != orig.Producer || !got.PublishedAt.Equal(orig.PublishedAt) {
		t.Fatalf("published %+v, want %+v", got, orig)
	}
}

func TestEnsureTopicsCreatesOnceAndKeepsExisting(t *testing.T) {
	p := newProducer(t)
	ctx := context.Background()
	name := kbustest.Name(t, "kbustest.")
	adm := kbustest.Admin(t)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), name) })

	spec := producer.TopicSpec{Name: name, Partitions: 3, ReplicationFactor: 1}
	if err := p.EnsureTopics(ctx, spec); err != nil {
		t.Fatal(err)
	}
	spec.Partitions = 5
	if err := p.EnsureTopics(ctx, spec); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	td, err := adm.ListTopics(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(td[name].Partitions); got != 3 {
		t.Fatalf("partitions = %d, want the original 3", got)
	}
	if err := p.EnsureTopics(ctx, producer.TopicSpec{Name: "bad name"}); err == nil {
		t.Fatal("EnsureTopics accepted an invalid topic name")
	}
}

func TestNewRefusesToWeakenGuarantees(t *testing.T) {
	if _, err := producer.New(producer.ClientOptions(kgo.DisableIdempotentWrite())); err == nil {
		t.Fatal("New accepted DisableIdempotentWrite")
	}
	if _, err := producer.New(producer.Name("")); err == nil {
		t.Fatal("New accepted an empty producer name")
	}
	p, err := producer.New(producer.ClientOptions(kgo.RequiredAcks(kgo.LeaderAck())))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if acks := p.Client().OptValue(kgo.RequiredAcks); acks != kgo.AllISRAcks() {
		t.Fatalf("acks = %v after ClientOptions(RequiredAcks(LeaderAck)), want all ISR", acks)
	}
}

func TestSchemaValidationByDefaultRefusesBadPayloadsBeforeSending(t *testing.T) {
	// No broker is needed: refused events never reach one. No option: the
	// default catalog is checked.
	p, err := producer.New(producer.Brokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name, topic, data string
		opts              []producer.PublishOption
		want              error
		field             string
	}{
		{"missing amount", "payment.completed", `{"payment_id":"pay_1","currency":"USD","merchant_id":"m"}`, nil, schemas.ErrInvalidData, "amount"},
		{"string amount", "payment.completed", `{"payment_id":"pay_1","amount":"49.99","currency":"USD","merchant_id":"m"}`, nil, schemas.ErrInvalidData, "amount"},
		{"unknown type", "payment.teleported", `{}`, nil, schemas.ErrUnknownType, ""},
		{"unknown version", "payment.completed", `{}`, []producer.PublishOption{producer.SchemaVersion("9.9")}, schemas.ErrUnknownVersion, ""},
		{"missing amount, avro", "payment.completed", `{"payment_id":"pay_1","currency":"USD","merchant_id":"m"}`,
			[]producer.PublishOption{producer.ContentType(envelope.ContentTypeAvro)}, schemas.ErrInvalidData, "amount"},
		{"avro bytes that do not decode", "payment.completed", `"AAAA"`,
			[]producer.PublishOption{producer.ContentType(envelope.ContentTypeAvro)}, schemas.ErrInvalidData, ""},
	} {
		_, err := p.Publish(ctx, tc.topic, "k", []byte(tc.data), tc.opts...)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want %v naming %q", tc.name, err, tc.want, tc.field)
		}
		var ve *schemas.ValidationError
		if tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field) {
			t.Errorf("%s: err = %v, want a *schemas.ValidationError with Field %q", tc.name, err, tc.field)
		}
	}
	// The seed's payment passes validation (and then fails only for want of a broker).
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err = p.Publish(ctx, "payment.completed", "pay_1",
		[]byte(`{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":"ord_1"}`))
	if !errors.Is(err, producer.ErrNotAcknowledged) {
		t.Fatalf("a valid payment: err = %v, want it to pass validation and wait for a broker", err)
	}
}

func TestSkipSchemaValidation(t *testing.T) {
	p, err := producer.New(producer.Brokers("127.0.0.1:1"), producer.SkipSchemaValidation())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Any JSON on any topic passes to the network (and fails only for want of a broker)...
	_, err = p.Publish(ctx, "payment.completed", "k", []byte(`{"amount":"49.99"}`))
	if !errors.Is(err, producer.ErrNotAcknowledged) {
		t.Errorf("err = %v, want the publish to pass validation and wait for a broker", err)
	}
	// ...but data must still be JSON.
	if _, err = p.Publish(ctx, "payment.completed", "k", []byte(`{"amount":`)); !errors.Is(err, envelope.ErrInvalid) {
		t.Errorf("err = %v, want envelope.ErrInvalid", err)
	}
}

// AvroTopics sends the data as base64 Avro binary in the envelope, with
// content type application/avro in the envelope and its header; the bytes
// decode back to the published payment, and are smaller than the JSON.
func TestAvroTopicsOnTheWire(t *testing.T) {
	topic := kbustest.Topic(t, 1)
	reg := kbustest.Catalog(t, "payment.completed", topic)
	p := newProducer(t, producer.Schemas(reg), producer.AvroTopics(topic))
	payment := `{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":"ord_1","customer_email":"jane@example.com","metadata":{}}`
	ctx := context.Background()
	if _, err := p.Publish(ctx, topic, "pay_x7k9", []byte(payment)); err != nil {
		t.Fatal(err)
	}
	// A JSON publish option overrides the topic's default.
	if _, err := p.Publish(ctx, topic, "pay_x7k9", []byte(payment), producer.ContentType(envelope.ContentTypeJSON)); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, topic, 2)
	avroEnv, err := envelope.Unmarshal(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	jsonEnv, err := envelope.Unmarshal(recs[1].Value)
	if err != nil {
		t.Fatal(err)
	}
	if avroEnv.Metadata.ContentType != envelope.ContentTypeAvro || jsonEnv.Metadata.ContentType != envelope.ContentTypeJSON {
		t.Fatalf("content types %q, %q", avroEnv.Metadata.ContentType, jsonEnv.Metadata.ContentType)
	}
	var hs []envelope.Header
	for _, h := range recs[0].Headers {
		hs = append(hs, envelope.Header(h))
	}
	if ct := envelope.ParseHeaders(hs).ContentType; ct != envelope.ContentTypeAvro {
		t.Errorf("content type header %q, want %q", ct, envelope.ContentTypeAvro)
	}
	var raw []byte
	if err := json.Unmarshal(avroEnv.Data, &raw); err != nil {
		t.Fatalf("avro data is not a base64 JSON string: %s", avroEnv.Data)
	}
	back, err := reg.DecodeAvro(topic, "1.0", "1.0", raw)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != payment {
		t.Errorf("decoded avro = %s, want %s", back, payment)
	}
	if string(jsonEnv.Data) != payment {
		t.Errorf("json data = %s", jsonEnv.Data)
	}
	if len(raw) >= len(payment)/2 {
		t.Errorf("avro is %d bytes for %d bytes of JSON; expected less than half", len(raw), len(payment))
	}
	t.Logf("payment: %d bytes JSON, %d bytes Avro (%d as base64 in the envelope)", len(payment), len(raw), len(avroEnv.Data))
}
