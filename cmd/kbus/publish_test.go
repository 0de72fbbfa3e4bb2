package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/schemas"
)

func TestPublish(t *testing.T) {
	topic := kbustest.Topic(t, 3)

	id := strings.TrimSpace(mustCLI(t, "publish", "--topic", topic, "--key", "pay_1",
		"--no-validate", "--data", `{"payment_id":"pay_1","amount":4999}`, "--correlation-id", "req_abc123", "--schema-version", "2.1"))
	if _, err := envelope.ParseMessageID(id); err != nil {
		t.Fatalf("publish printed %q, not a message id: %v", id, err)
	}

	data := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(data, []byte("[1, 2, 3]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var res publishResult
	decodeJSON(t, mustCLI(t, "publish", "-o", "json", "--topic", topic, "--key", "pay_2", "--data", "@"+data, "--no-validate", "--producer-name", "billing"), &res)
	if _, err := envelope.ParseMessageID(res.MessageID); err != nil || res.Topic != topic || res.Partition < 0 || res.Offset < 0 {
		t.Fatalf("publish -o json = %+v", res)
	}

	// A plain consumer reads both envelopes back.
	cl := kbustest.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]*kgo.Record{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < 2 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v (have %d records)", err, len(got))
		}
		fs.EachRecord(func(r *kgo.Record) {
			var e envelope.Envelope
			if err := json.Unmarshal(r.Value, &e); err != nil {
				t.Fatalf("record value is not an envelope: %v\n%s", err, r.Value)
			}
			got[e.MessageID] = r
		})
	}

	r := got[id]
	if r == nil {
		t.Fatalf("no record with message id %s", id)
	}
	var e envelope.Envelope
	if err := json.Unmarshal(r.Value, &e); err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "pay_1" || e.Topic != topic || e.Producer != "kbus-cli" ||
		e.Metadata.CorrelationID != "req_abc123" || e.Metadata.SchemaVersion != "2.1" ||
		string(e.Data) != `{"payment_id":"pay_1","amount":4999}` {
		t.Errorf("record key %q, envelope %+v (data %s)", r.Key, e, e.Data)
	}
	if h := header(r, "kbus-correlation-id"); h != "req_abc123" {
		t.Errorf("kbus-correlation-id header = %q", h)
	}

	r = got[res.MessageID]
	if r == nil {
		t.Fatalf("no record with message id %s", res.MessageID)
	}
	if err := json.Unmarshal(r.Value, &e); err != nil {
		t.Fatal(err)
	}
	if r.Partition != res.Partition || r.Offset != res.Offset || string(r.Key) != "pay_2" ||
		e.Producer != "billing" || strings.TrimSpace(string(e.Data)) != "[1, 2, 3]" || e.Metadata.SchemaVersion != envelope.DefaultSchemaVersion {
		t.Errorf("record %s/%d@%d key %q, envelope %+v (data %s); receipt %+v", r.Topic, r.Partition, r.Offset, r.Key, e, e.Data, res)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestPublishInvalid(t *testing.T) {
	topic := kbustest.Topic(t, 1)
	for _, tc := range []struct {
		data, want string
	}{
		{`{"amount":`, "not valid JSON"},
		{`{"amount":49x}`, "invalid character 'x'"},
		{`{} {}`, "after top-level value"},
		{`null`, "null"},
		{` `, "empty"},
	} {
		msg := failCLI(t, tc.want, "publish", "--topic", topic, "--key", "k", "--data", tc.data)
		if !strings.Contains(msg, "nothing was sent") {
			t.Errorf("error %q should say that nothing was sent", msg)
		}
	}
	failCLI(t, "no such file", "publish", "--topic", topic, "--data", "@"+filepath.Join(t.TempDir(), "missing.json"))
	failCLI(t, "--topic is required", "publish", "--data", "{}")
	failCLI(t, "--data is required", "publish", "--topic", topic)
	failCLI(t, "not a valid topic name", "publish", "--topic", "bad topic", "--data", "{}")
	failCLI(t, "does not exist", "publish", "--topic", topic+".missing", "--no-validate", "--data", "{}")
	// Data is checked against the schema catalog before anything is sent.
	for _, tc := range []struct{ topic, data, want string }{
		{"payment.completed", `{"payment_id":"p","currency":"USD","merchant_id":"m"}`, "field amount: required field is missing"},
		{"payment.completed", `{"payment_id":"p","amount":"49.99","currency":"USD","merchant_id":"m"}`, "field amount: expected long"},
		{topic, `{}`, "unknown event type"},
	} {
		msg := failCLI(t, tc.want, "publish", "--topic", tc.topic, "--data", tc.data)
		if !strings.Contains(msg, "nothing was sent") || !strings.Contains(msg, "--no-validate") {
			t.Errorf("error %q should say that nothing was sent, and how to skip the check", msg)
		}
	}
	failCLI(t, "bad catalog", "publish", "--topic", topic, "--schemas", t.TempDir(), "--data", "{}")

	// Nothing reached the topic.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kbustest.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Err != nil || o.Offset != 0 {
		t.Errorf("topic end offset = %+v, want 0: something was sent", o)
	}
}

// --schemas DIR names a user's catalog; --avro sends the data as Avro.
func TestPublishAvroWithOwnCatalog(t *testing.T) {
	topic := kbustest.Topic(t, 1)
	dir := t.TempDir()
	v10, err := fs.ReadFile(schemas.DefaultCatalog(), "refund.created/1.0.avsc")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, topic), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, topic, "1.0.avsc"), v10, 0o600); err != nil {
		t.Fatal(err)
	}
	refund := `{"refund_id":"ref_9","payment_id":"pay_1","amount":1500,"currency":"EUR","merchant_id":"merch_abc","order_id":null,"reason":"damaged","metadata":{}}`
	id := strings.TrimSpace(mustCLI(t, "publish", "--topic", topic, "--schemas", dir, "--avro", "--data", refund))
	failCLI(t, "field amount", "publish", "--topic", topic, "--schemas", dir, "--avro", "--data", `{"refund_id":"r"}`)

	cl := kbustest.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fetches := cl.PollFetches(ctx)
	if err := fetches.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fetches.Records()
	if len(recs) != 1 {
		t.Fatalf("%d records on the topic, want 1", len(recs))
	}
	e, err := envelope.Unmarshal(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if e.MessageID != id || e.Metadata.ContentType != envelope.ContentTypeAvro {
		t.Fatalf("envelope %+v, want id %s with content type %s", e, id, envelope.ContentTypeAvro)
	}
	reg, err := schemas.Load(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	back, err := reg.DecodeEnvelope(e, "")
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Data) != refund {
		t.Errorf("decoded data %s, want %s", back.Data, refund)
	}
}
