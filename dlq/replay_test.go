package dlq_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
)

func TestReplay(t *testing.T) {
	e := fullEntry()
	now := time.Date(2024, 2, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	rec := e.Replay("", now)
	if rec.Topic != e.Topic || !bytes.Equal(rec.Key, e.Key) || !bytes.Equal(rec.Value, e.Value) {
		t.Errorf("topic %q key %q value %q", rec.Topic, rec.Key, rec.Value)
	}
	if rec.Key == nil || rec.Headers[2].Value == nil || rec.Headers[3].Value != nil {
		t.Error("nil/empty distinction lost")
	}
	want := make([]kgo.RecordHeader, 0, len(e.Headers)+3)
	for _, h := range e.Headers {
		want = append(want, kgo.RecordHeader(h))
	}
	want = append(want,
		kgo.RecordHeader{Key: dlq.HeaderReplayGroup, Value: []byte("ledger")},
		kgo.RecordHeader{Key: dlq.HeaderReplayCount, Value: []byte("1")},
		kgo.RecordHeader{Key: dlq.HeaderReplayedAt, Value: []byte("2024-02-01T11:00:00Z")},
		// The entry concerns one webhook endpoint: the replay is scoped to it.
		kgo.RecordHeader{Key: dlq.HeaderReplayEndpoint, Value: []byte(e.EndpointID)},
		kgo.RecordHeader{Key: dlq.HeaderReplayKey, Value: []byte(e.EndpointID + "@" + e.DeadLetteredAt.UTC().Format(time.RFC3339Nano))},
	)
	if !reflect.DeepEqual(rec.Headers, want) {
		t.Errorf("headers:\n got %q\nwant %q", rec.Headers, want)
	}
	if g, ok := dlq.ReplayTarget(rec.Headers); !ok || g != "ledger" {
		t.Errorf("ReplayTarget = %q, %v", g, ok)
	}
	// The record owns its bytes.
	rec.Key[0], rec.Value[0], rec.Headers[1].Value[0] = 'X', 'X', 'X'
	if e.Key[0] == 'X' || e.Value[0] == 'X' || e.Headers[1].Value[0] == 'X' {
		t.Error("replay shares memory with the entry")
	}

	// To another topic.
	if rec := e.Replay("payment.completed.retry", now); rec.Topic != "payment.completed.retry" {
		t.Errorf("topic = %q", rec.Topic)
	}
}

func TestReplayOfReplay(t *testing.T) {
	// A replayed record failed again and was dead-lettered again: its
	// headers hold the earlier replay headers, between others.
	now := time.Date(2024, 2, 1, 12, 0, 0, 123, time.UTC)
	rec := &kgo.Record{
		Topic: "payment.completed", Key: []byte("k"), Value: []byte("v"),
		Headers: []kgo.RecordHeader{
			{Key: envelope.HeaderMessageID, Value: []byte(testID)},
			{Key: dlq.HeaderReplayGroup, Value: []byte("old-group")},
			{Key: dlq.HeaderReplayCount, Value: []byte("2")},
			{Key: "x", Value: []byte("y")},
			{Key: dlq.HeaderReplayedAt, Value: []byte("2024-01-20T00:00:00Z")},
		},
	}
	e := dlq.NewEntry(rec, "ledger", dlq.ReasonHandlerError, "")
	out := e.Replay("", now)
	want := []kgo.RecordHeader{
		{Key: envelope.HeaderMessageID, Value: []byte(testID)},
		{Key: "x", Value: []byte("y")},
		{Key: dlq.HeaderReplayGroup, Value: []byte("ledger")},
		{Key: dlq.HeaderReplayCount, Value: []byte("3")},
		{Key: dlq.HeaderReplayedAt, Value: []byte("2024-02-01T12:00:00.000000123Z")},
	}
	if !reflect.DeepEqual(out.Headers, want) {
		t.Errorf("headers:\n got %q\nwant %q", out.Headers, want)
	}
	if dlq.ReplayCount(out.Headers) != 3 {
		t.Errorf("ReplayCount = %d", dlq.ReplayCount(out.Headers))
	}

	// A count that is not a number starts over.
	e.Headers = []envelope.Header{{Key: dlq.HeaderReplayCount, Value: []byte("many")}}
	if c, _ := header(e.Replay("", now).Headers, dlq.HeaderReplayCount); c != "1" {
		t.Errorf("count = %q", c)
	}

	// An entry without Value (written by another tool) replays its payload.
	e = dlq.Entry{Topic: "t", ConsumerGroup: "g", OriginalPayload: []byte(`{"a":1}`)}
	if v := e.Replay("", now).Value; string(v) != `{"a":1}` {
		t.Errorf("value = %q", v)
	}
}

func TestReplayTarget(t *testing.T) {
	tests := []struct {
		name    string
		headers []kgo.RecordHeader
		group   string
		ok      bool
	}{
		{"none", nil, "", false},
		{"other headers", []kgo.RecordHeader{{Key: "a", Value: []byte("b")}}, "", false},
		{"addressed", []kgo.RecordHeader{{Key: dlq.HeaderReplayGroup, Value: []byte("ledger")}}, "ledger", true},
		{"last wins", []kgo.RecordHeader{{Key: dlq.HeaderReplayGroup, Value: []byte("a")}, {Key: dlq.HeaderReplayGroup, Value: []byte("b")}}, "b", true},
		{"empty addresses nobody", []kgo.RecordHeader{{Key: dlq.HeaderReplayGroup, Value: nil}}, "", false},
	}
	for _, tt := range tests {
		g, ok := dlq.ReplayTarget(tt.headers)
		if g != tt.group || ok != tt.ok {
			t.Errorf("%s: ReplayTarget = %q, %v; want %q, %v", tt.name, g, ok, tt.group, tt.ok)
		}
	}
}
