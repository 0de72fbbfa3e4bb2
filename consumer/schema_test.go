package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/schemas"
)

// seen collects what handlers received, by payment id.
type seen struct {
	mu sync.Mutex
	m  map[string]envelope.Envelope
}

func (s *seen) add(e envelope.Envelope) {
	var d struct {
		PaymentID string `json:"payment_id"`
	}
	_ = json.Unmarshal(e.Data, &d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]envelope.Envelope{}
	}
	s.m[d.PaymentID] = e
}

func (s *seen) get() map[string]envelope.Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m)
}

// schemaProducer publishes on topic with reg as the catalog.
func schemaProducer(t *testing.T, reg *schemas.Registry, opts ...producer.Option) *producer.Producer {
	t.Helper()
	p, err := producer.New(append([]producer.Option{producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"), producer.Schemas(reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func publishOne(t *testing.T, p *producer.Producer, topic, data string, opts ...producer.PublishOption) envelope.Envelope {
	t.Helper()
	e := p.Envelope(context.Background(), topic, []byte(data), opts...)
	if _, err := p.PublishEnvelope(context.Background(), "k", e); err != nil {
		t.Fatalf("publish %s: %v", data, err)
	}
	return e
}

func fields(t *testing.T, e envelope.Envelope) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatalf("handler got data that is not a JSON object: %s: %v", e.Data, err)
	}
	return m
}

// A producer still on 1.0 and a consumer written for 1.1 interoperate: the
// handler sees every event at 1.1, with 1.1's default for the field the
// producer does not know, whether the event was sent as JSON or Avro.
func TestHandlerSchemaVersionResolvesOlderAndAvroEvents(t *testing.T) {
	topic := kbustest.Topic(t, 1)
	reg := kbustest.Catalog(t, "payment.completed", topic)
	p := schemaProducer(t, reg)
	db := kbustest.DB(t)

	publishOne(t, p, topic, `{"payment_id":"v10json","amount":100,"currency":"USD","merchant_id":"m1"}`, producer.SchemaVersion("1.0"))
	publishOne(t, p, topic, `{"payment_id":"v10avro","amount":200,"currency":"USD","merchant_id":"m1"}`,
		producer.SchemaVersion("1.0"), producer.ContentType(envelope.ContentTypeAvro))
	publishOne(t, p, topic, `{"payment_id":"v11json","amount":300,"currency":"USD","merchant_id":"m1","fee_amount":30}`,
		producer.SchemaVersion("1.1"))
	publishOne(t, p, topic, `{"payment_id":"v11avro","amount":400,"currency":"USD","merchant_id":"m1","fee_amount":40}`,
		producer.SchemaVersion("1.1"), producer.ContentType(envelope.ContentTypeAvro))

	var got seen
	c, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: kbustest.Name(t, "g."), Topics: []string{topic},
		DB: db.Pool, Schemas: reg, Retry: fastRetry, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c.HandleTx(topic, func(_ context.Context, _ pgx.Tx, e envelope.Envelope) error {
		got.add(e)
		return nil
	}, consumer.SchemaVersion("1.1"))
	start(t, c)
	eventually(t, "4 events handled", func() (bool, string) { return len(got.get()) == 4, "" })

	want := map[string]float64{"v10json": 0, "v10avro": 0, "v11json": 30, "v11avro": 40}
	for id, e := range got.get() {
		if e.Metadata.SchemaVersion != "1.1" || e.Metadata.ContentType != envelope.ContentTypeJSON {
			t.Errorf("%s: handler got version %q content type %q, want 1.1 application/json", id, e.Metadata.SchemaVersion, e.Metadata.ContentType)
		}
		f := fields(t, e)
		if fee, ok := f["fee_amount"].(float64); !ok || fee != want[id] {
			t.Errorf("%s: fee_amount = %v, want %v (data %s)", id, f["fee_amount"], want[id], e.Data)
		}
		if _, ok := f["captured_at"]; !ok {
			t.Errorf("%s: captured_at (1.1, default null) missing from %s", id, e.Data)
		}
	}
}

// Avro and JSON events on the same topic reach a handler that declares no
// version as the same JSON, each in the version it was written with.
func TestAvroAndJSONOnOneTopic(t *testing.T) {
	topic := kbustest.Topic(t, 2)
	reg := kbustest.Catalog(t, "payment.completed", topic)
	jsonP := schemaProducer(t, reg)
	avroP := schemaProducer(t, reg, producer.AvroTopics(topic))
	const data = `{"payment_id":"%s","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":"ord_1","customer_email":null,"metadata":{"source":"web"}}`
	ej := publishOne(t, jsonP, topic, fmt.Sprintf(data, "json"))
	ea := publishOne(t, avroP, topic, fmt.Sprintf(data, "avro"))
	if ej.Metadata.ContentType != envelope.ContentTypeJSON || ea.Metadata.ContentType != envelope.ContentTypeAvro {
		t.Fatalf("content types: %q, %q", ej.Metadata.ContentType, ea.Metadata.ContentType)
	}

	var got seen
	c, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: kbustest.Name(t, "g."), Topics: []string{topic},
		Mode: consumer.AtLeastOnce, Schemas: reg, Retry: fastRetry, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c.Handle(topic, func(_ context.Context, e envelope.Envelope) error {
		got.add(e)
		return nil
	})
	start(t, c)
	eventually(t, "2 events handled", func() (bool, string) { return len(got.get()) == 2, "" })
	m := got.get()
	for _, id := range []string{"json", "avro"} {
		e := m[id]
		if string(e.Data) != fmt.Sprintf(data, id) {
			t.Errorf("%s event: handler got\n%s\nwant\n%s", id, e.Data, fmt.Sprintf(data, id))
		}
		if e.Metadata.ContentType != envelope.ContentTypeJSON || e.Metadata.SchemaVersion != "1.0" {
			t.Errorf("%s event: %q %q", id, e.Metadata.ContentType, e.Metadata.SchemaVersion)
		}
	}
	if m["avro"].MessageID != ea.MessageID {
		t.Errorf("avro event's message id changed: %s, want %s", m["avro"].MessageID, ea.MessageID)
	}
}

// breakingCatalog is payment.completed 1.0 and a 2.0 whose amount is a
// string: 2.0 data cannot be read as 1.0.
func breakingCatalog(t *testing.T, topic string) *schemas.Registry {
	t.Helper()
	v10, err := fs.ReadFile(schemas.DefaultCatalog(), "payment.completed/1.0.avsc")
	if err != nil {
		t.Fatal(err)
	}
	v20 := `{"type":"record","name":"PaymentCompleted","namespace":"kbus.events.payment_completed","fields":[
		{"name":"payment_id","type":"string"},{"name":"amount","type":"string"},
		{"name":"currency","type":"string"},{"name":"merchant_id","type":"string"}]}`
	reg, err := schemas.Load(fstest.MapFS{
		topic + "/1.0.avsc": {Data: v10},
		topic + "/2.0.avsc": {Data: []byte(v20)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// An event that cannot be resolved to the handler's version is a permanent
// failure: it lands in the DLQ with reason schema_incompatible, and the
// events after it are handled.
func TestIncompatibleVersionGoesToDLQ(t *testing.T) {
	topic := kbustest.Topic(t, 1)
	reg := breakingCatalog(t, topic)
	p := schemaProducer(t, reg)
	raw := schemaProducer(t, reg, producer.SkipSchemaValidation())

	bad := publishOne(t, p, topic, `{"payment_id":"v20","amount":"49.99","currency":"USD","merchant_id":"m1"}`, producer.SchemaVersion("2.0"))
	badAvro := publishOne(t, p, topic, `{"payment_id":"v20avro","amount":"49.99","currency":"USD","merchant_id":"m1"}`,
		producer.SchemaVersion("2.0"), producer.ContentType(envelope.ContentTypeAvro))
	unknown := publishOne(t, raw, topic, `{"payment_id":"v30","amount":1,"currency":"USD","merchant_id":"m1"}`, producer.SchemaVersion("3.0"))
	publishOne(t, p, topic, `{"payment_id":"v10","amount":100,"currency":"USD","merchant_id":"m1"}`)

	group := kbustest.Name(t, "g.")
	adm := kbustest.Admin(t)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), dlq.Topic(group)) })
	var got seen
	c, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: group, Topics: []string{topic},
		Mode: consumer.AtLeastOnce, Schemas: reg, Retry: fastRetry, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c.Handle(topic, func(_ context.Context, e envelope.Envelope) error {
		got.add(e)
		return nil
	}, consumer.SchemaVersion("1.0"))
	start(t, c)
	eventually(t, "the 1.0 event after the bad ones handled", func() (bool, string) { return len(got.get()) == 1, "" })
	if _, ok := got.get()["v10"]; !ok {
		t.Fatalf("handled %v, want only v10", got.get())
	}

	var entries []dlq.Entry
	eventually(t, "3 DLQ entries", func() (bool, string) {
		entries = dlqEntries(t, group)
		return len(entries) == 3, fmt.Sprintf("%d entries", len(entries))
	})
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.OriginalMessageID)
		if e.FailureReason != dlq.ReasonSchemaIncompatible {
			t.Errorf("%s: reason %q, want %q (error %q)", e.OriginalMessageID, e.FailureReason, dlq.ReasonSchemaIncompatible, e.LastError)
		}
	}
	want := []string{bad.MessageID, badAvro.MessageID, unknown.MessageID}
	slices.Sort(ids)
	slices.Sort(want) // ids sort by time, and the DLQ may have several partitions
	if !slices.Equal(ids, want) {
		t.Errorf("DLQ holds %v, want %v", ids, want)
	}
	if got := c.Stats(); got.DeadLettered != 3 {
		t.Errorf("Stats().DeadLettered = %d, want 3", got.DeadLettered)
	}
}

// A handler declaring a version the catalog does not have is a
// registration error, reported by Run.
func TestSchemaVersionUnknownIsConfigError(t *testing.T) {
	reg := kbustest.Catalog(t, "payment.completed", "payments")
	c, err := consumer.New(consumer.Config{Group: "g", Topics: []string{"payments"}, Mode: consumer.AtLeastOnce, Schemas: reg})
	if err != nil {
		t.Fatal(err)
	}
	c.Handle("payments", func(context.Context, envelope.Envelope) error { return nil }, consumer.SchemaVersion("9.0"))
	err = c.Run(context.Background())
	if !errors.Is(err, consumer.ErrConfig) || !errors.Is(err, schemas.ErrUnknownVersion) {
		t.Fatalf("Run = %v, want ErrConfig and schemas.ErrUnknownVersion", err)
	}
}
