package dlq_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
)

// TestTraceContextSurvivesDeadLetteringAndReplay: the W3C trace context of
// a dead-lettered record is kept in the entry's headers, repeated on the
// DLQ record (for tools that trace the DLQ topic), and carried by the
// replay, so the replayed event continues the original trace.
func TestTraceContextSurvivesDeadLetteringAndReplay(t *testing.T) {
	const (
		parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		state  = "vendor=opaque"
	)
	rec := &kgo.Record{Topic: "payment.completed", Key: []byte("pay_1"), Value: []byte(`{}`), Partition: 1, Offset: 7,
		Headers: []kgo.RecordHeader{
			{Key: envelope.HeaderMessageID, Value: []byte(testID)},
			{Key: "traceparent", Value: []byte(parent)},
			{Key: "tracestate", Value: []byte(state)},
		}}
	e := dlq.NewEntry(rec, "ledger", dlq.ReasonHandlerError, testID)
	if v, _ := envelope.HeaderValue(e.Headers, "traceparent"); v != parent {
		t.Fatalf("entry headers %v: no traceparent", e.Headers)
	}

	out, err := e.Record()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range out.Headers {
		got[h.Key] = string(h.Value)
	}
	if got["traceparent"] != parent || got["tracestate"] != state {
		t.Errorf("DLQ record headers %v: want the original trace context", got)
	}

	// Through the DLQ topic's encoding and back, then replayed.
	decoded, err := dlq.Decode(out.Value)
	if err != nil {
		t.Fatal(err)
	}
	replay := decoded.Replay("", time.Now())
	got = map[string]string{}
	for _, h := range replay.Headers {
		got[h.Key] = string(h.Value)
	}
	if got["traceparent"] != parent || got["tracestate"] != state {
		t.Errorf("replay headers %v: want the original trace context", got)
	}

	// A record without trace context gets none on its DLQ record.
	rec.Headers = rec.Headers[:1]
	out, err = dlq.NewEntry(rec, "ledger", dlq.ReasonHandlerError, testID).Record()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range out.Headers {
		if h.Key == "traceparent" || h.Key == "tracestate" {
			t.Errorf("DLQ record of an untraced event has %s", h.Key)
		}
	}
}
