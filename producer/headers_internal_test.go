package producer

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
)

// appendHeaders must write exactly what envelope.Envelope.Headers does.
func TestAppendHeadersMatchesEnvelope(t *testing.T) {
	for _, corr := range []string{"", "req_abc123"} {
		ctx := context.Background()
		if corr != "" {
			ctx = envelope.WithCorrelationID(ctx, corr)
		}
		e := envelope.New(ctx, "payment.completed", []byte(`{"a":1}`))
		e.Producer = "svc"
		got, buf := appendHeaders([]kgo.RecordHeader{{Key: "stale"}}[:0], []byte("prefix"), &e)
		if string(buf[:6]) != "prefix" {
			t.Fatalf("buf prefix clobbered: %q", buf)
		}
		want := e.Headers()
		if len(got) != len(want) {
			t.Fatalf("correlation %q: %d headers, want %d", corr, len(got), len(want))
		}
		for i := range want {
			if got[i].Key != want[i].Key || string(got[i].Value) != string(want[i].Value) {
				t.Errorf("header %d = %s=%q, want %s=%q", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
			}
		}
	}
}
