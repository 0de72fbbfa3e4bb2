package dlq_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
)

const testID = "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"

// fullEntry has every field set, with bytes that are not UTF-8.
func fullEntry() dlq.Entry {
	t0 := time.Date(2024, 1, 15, 10, 30, 1, 500_000_000, time.UTC)
	value := []byte(`{"message_id":"` + testID + `","topic":"payment.completed","data":{"a":"<&>"}}`)
	return dlq.Entry{
		Version:           1,
		OriginalMessageID: testID,
		Topic:             "payment.completed",
		ConsumerGroup:     "ledger",
		FailureReason:     dlq.ReasonHandlerError,
		Attempts:          5,
		FirstAttempt:      t0,
		LastAttempt:       t0.Add(30 * time.Second),
		LastError:         "ledger: insert: connection refused",
		OriginalPayload:   json.RawMessage(value),
		Key:               []byte{0xff, 0x00, 0xfe, 'k'},
		Headers: []envelope.Header{
			{Key: envelope.HeaderMessageID, Value: []byte(testID)},
			{Key: "bin", Value: []byte{0x80, 0x81, 0x00}},
			{Key: "empty", Value: []byte{}},
			{Key: "null", Value: nil},
		},
		Partition:      2,
		Offset:         1041,
		Value:          value,
		DeadLetteredAt: t0.Add(31 * time.Second),
		EndpointID:     "ep_123",
	}
}

func TestEntryJSONRoundTrip(t *testing.T) {
	binary := fullEntry()
	binary.Value = []byte{0xc3, 0x28, 0xff, 0x00} // not UTF-8, not JSON
	binary.OriginalPayload = nil
	binary.EndpointID = ""
	binary.OriginalMessageID = ""

	empty := dlq.Entry{Version: 1, Topic: "t", ConsumerGroup: "g", FailureReason: dlq.ReasonDecodeError,
		Key: []byte{}, Value: []byte{}, Headers: []envelope.Header{}, DeadLetteredAt: time.Unix(1, 0).UTC()}

	for name, e := range map[string]dlq.Entry{"full": fullEntry(), "binary value": binary, "empty slices": empty, "nil slices": {Version: 1}} {
		t.Run(name, func(t *testing.T) {
			raw, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var got dlq.Entry
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("unmarshal %s: %v", raw, err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("round trip:\n got %#v\nwant %#v\njson %s", got, e, raw)
			}
			// Through a DLQ record, as the Writer and Read do.
			if e.ConsumerGroup == "" {
				return
			}
			rec, err := e.Record()
			if err != nil {
				t.Fatal(err)
			}
			if got, err := dlq.Decode(rec.Value); err != nil || !reflect.DeepEqual(got, e) {
				t.Errorf("Record/Decode: %v\n got %#v\nwant %#v", err, got, e)
			}
		})
	}
}

func TestEntryJSONKeys(t *testing.T) {
	raw, err := fullEntry().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,` +
		`"original_message_id":"` + testID + `",` +
		`"topic":"payment.completed",` +
		`"consumer_group":"ledger",` +
		`"failure_reason":"handler_error",` +
		`"attempts":5,` +
		`"first_attempt":"2024-01-15T10:30:01.5Z",` +
		`"last_attempt":"2024-01-15T10:30:31.5Z",` +
		`"last_error":"ledger: insert: connection refused",` +
		`"original_payload":{"message_id":"` + testID + `","topic":"payment.completed","data":{"a":"<&>"}},` +
		`"key":"/wD+aw==",` +
		`"headers":[{"key":"kbus-message-id","value":"bXNnXzAxSE02QVFINVZYN0s5UEFZTTNOVFE4UlNX"},` +
		`{"key":"bin","value":"gIEA"},{"key":"empty","value":""},{"key":"null","value":null}],` +
		`"partition":2,` +
		`"offset":1041,` +
		`"original_value":"eyJtZXNzYWdlX2lkIjoibXNnXzAxSE02QVFINVZYN0s5UEFZTTNOVFE4UlNXIiwidG9waWMiOiJwYXltZW50LmNvbXBsZXRlZCIsImRhdGEiOnsiYSI6IjwmPiJ9fQ==",` +
		`"dead_lettered_at":"2024-01-15T10:30:32.5Z",` +
		`"endpoint_id":"ep_123"}`
	if string(raw) != want {
		t.Errorf("JSON:\n got %s\nwant %s", raw, want)
	}

	// Nil slices are null; an empty endpoint id is omitted.
	raw, err = json.Marshal(dlq.Entry{Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"original_payload":null`, `"key":null`, `"headers":null`, `"original_value":null`} {
		if !strings.Contains(string(raw), s) {
			t.Errorf("zero entry JSON lacks %s: %s", s, raw)
		}
	}
	if strings.Contains(string(raw), "endpoint_id") {
		t.Errorf("zero entry JSON has endpoint_id: %s", raw)
	}
}

func TestNewEntry(t *testing.T) {
	rec := &kgo.Record{
		Topic:     "payment.completed",
		Partition: 1,
		Offset:    77,
		Key:       []byte("pay_x7k9"),
		Value:     []byte(`{"message_id":"` + testID + `"}`),
		Headers: []kgo.RecordHeader{
			{Key: "a", Value: []byte("1")},
			{Key: envelope.HeaderMessageID, Value: []byte("msg_fromheader")},
		},
	}
	e := dlq.NewEntry(rec, "ledger", dlq.ReasonPermanent, testID)
	if e.Version != dlq.Version || e.Topic != rec.Topic || e.ConsumerGroup != "ledger" || e.FailureReason != dlq.ReasonPermanent ||
		e.OriginalMessageID != testID || e.Partition != 1 || e.Offset != 77 {
		t.Errorf("entry = %+v", e)
	}
	if !bytes.Equal(e.Key, rec.Key) || !bytes.Equal(e.Value, rec.Value) || string(e.OriginalPayload) != string(rec.Value) {
		t.Errorf("key/value/payload = %q %q %q", e.Key, e.Value, e.OriginalPayload)
	}
	if len(e.Headers) != 2 || e.Headers[0].Key != "a" || string(e.Headers[1].Value) != "msg_fromheader" {
		t.Errorf("headers = %+v", e.Headers)
	}
	// The entry owns its bytes.
	rec.Key[0], rec.Value[0], rec.Headers[0].Value[0] = 'X', 'X', 'X'
	if e.Key[0] == 'X' || e.Value[0] == 'X' || e.Headers[0].Value[0] == 'X' {
		t.Error("entry shares memory with the record")
	}

	// No id given: taken from the header. A value that is not JSON: no payload.
	rec = &kgo.Record{Topic: "t", Value: []byte{0xff, 0xfe},
		Headers: []kgo.RecordHeader{{Key: envelope.HeaderMessageID, Value: []byte(testID)}}}
	e = dlq.NewEntry(rec, "g", dlq.ReasonDecodeError, "")
	if e.OriginalMessageID != testID || e.OriginalPayload != nil || !bytes.Equal(e.Value, rec.Value) || e.Key != nil {
		t.Errorf("entry = %+v", e)
	}
	// Neither: "".
	if e := dlq.NewEntry(&kgo.Record{Topic: "t"}, "g", dlq.ReasonDecodeError, ""); e.OriginalMessageID != "" || e.Headers != nil {
		t.Errorf("entry = %+v", e)
	}
}

func header(hs []kgo.RecordHeader, key string) (string, int) {
	v, n := "", 0
	for _, h := range hs {
		if h.Key == key {
			v, n = string(h.Value), n+1
		}
	}
	return v, n
}

func TestRecord(t *testing.T) {
	e := fullEntry()
	rec, err := e.Record()
	if err != nil {
		t.Fatal(err)
	}
	if rec.Topic != "dlq.ledger" || string(rec.Key) != testID || !rec.Timestamp.Equal(e.DeadLetteredAt) {
		t.Errorf("topic %q key %q timestamp %v", rec.Topic, rec.Key, rec.Timestamp)
	}
	wantHeaders := []kgo.RecordHeader{
		{Key: dlq.HeaderReason, Value: []byte("handler_error")},
		{Key: dlq.HeaderGroup, Value: []byte("ledger")},
		{Key: dlq.HeaderSourceTopic, Value: []byte("payment.completed")},
		{Key: envelope.HeaderMessageID, Value: []byte(testID)},
	}
	if !reflect.DeepEqual(rec.Headers, wantHeaders) {
		t.Errorf("headers = %q", rec.Headers)
	}
	got, err := dlq.Decode(rec.Value)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("Decode = %+v, %v", got, err)
	}

	// Without a message id: the original key, no id header; defaults filled.
	e.OriginalMessageID, e.Version, e.DeadLetteredAt = "", 0, time.Time{}
	before := time.Now()
	rec, err = e.Record()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Key, e.Key) {
		t.Errorf("key = %q, want %q", rec.Key, e.Key)
	}
	if _, n := header(rec.Headers, envelope.HeaderMessageID); n != 0 || len(rec.Headers) != 3 {
		t.Errorf("headers = %q", rec.Headers)
	}
	got, err = dlq.Decode(rec.Value)
	if err != nil || got.Version != dlq.Version || got.DeadLetteredAt.Before(before.Add(-time.Second)) {
		t.Errorf("Decode = %+v, %v", got, err)
	}

	// Incomplete entries are refused.
	for name, mod := range map[string]func(*dlq.Entry){
		"no group":  func(e *dlq.Entry) { e.ConsumerGroup = "" },
		"no topic":  func(e *dlq.Entry) { e.Topic = "" },
		"no reason": func(e *dlq.Entry) { e.FailureReason = "" },
		"bad group": func(e *dlq.Entry) { e.ConsumerGroup = "a b" },
	} {
		e := fullEntry()
		mod(&e)
		if _, err := e.Record(); !errors.Is(err, dlq.ErrInvalidEntry) {
			t.Errorf("%s: err = %v, want ErrInvalidEntry", name, err)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	for name, v := range map[string]string{
		"garbage":    "\xff\x00garbage",
		"empty":      "",
		"array":      "[]",
		"null":       "null",
		"wrong type": `{"version":"1"}`,
		"bad base64": `{"version":1,"topic":"t","consumer_group":"g","failure_reason":"r","key":"!!"}`,
		"no version": `{"topic":"t","consumer_group":"g","failure_reason":"r"}`,
		"no group":   `{"version":1,"topic":"t","failure_reason":"r"}`,
		"no reason":  `{"version":1,"topic":"t","consumer_group":"g"}`,
		"truncated":  `{"version":1,"topic":"t"`,
	} {
		if _, err := dlq.Decode([]byte(v)); !errors.Is(err, dlq.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	// A later version with unknown fields decodes.
	e, err := dlq.Decode([]byte(`{"version":2,"topic":"t","consumer_group":"g","failure_reason":"r","new_field":{}}`))
	if err != nil || e.Version != 2 {
		t.Errorf("Decode v2 = %+v, %v", e, err)
	}
}

func TestTopic(t *testing.T) {
	if got := dlq.Topic("webhooks"); got != "dlq.webhooks" || !strings.HasPrefix(got, dlq.TopicPrefix) {
		t.Errorf("Topic = %q", got)
	}
}
