package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
)

// TestBatchSpanLinksEachEventAndDLQKeepsTheTrace: a batch handler's call
// is one "process" span linked to the send span of each of its events, and
// an event that always fails has a process span with an exception per
// attempt and an error status, and its DLQ entry keeps its traceparent.
func TestBatchSpanLinksEachEventAndDLQKeepsTheTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := propagation.TraceContext{}

	batchTopic, failTopic := kbustest.Topic(t, 1), kbustest.Topic(t, 1)
	db := kbustest.DB(t)
	p, err := producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.SkipSchemaValidation(),
		producer.TracerProvider(tp), producer.Propagator(prop))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	// Three events, each published in a trace of its own.
	sends := map[trace.SpanID]bool{}
	for i := range 3 {
		ctx, span := tp.Tracer("test").Start(context.Background(), fmt.Sprint("request ", i))
		if _, err := p.Publish(ctx, batchTopic, "k", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		span.End()
	}
	for _, s := range exp.GetSpans() {
		if s.Name == "send "+batchTopic {
			sends[s.SpanContext.SpanID()] = true
		}
	}
	ctx, root := tp.Tracer("test").Start(context.Background(), "request poison")
	poison, err := p.Publish(ctx, failTopic, "k", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	root.End()

	group := (&env{t: t}).group()
	c, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: group, Topics: []string{batchTopic, failTopic},
		DB: db.Pool, Retry: fastRetry, TracerProvider: tp, Propagator: prop})
	if err != nil {
		t.Fatal(err)
	}
	c.HandleBatchTx(batchTopic, func(ctx context.Context, _ pgx.Tx, events []envelope.Envelope) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return consumer.Permanent(errors.New("batch handler's ctx has no span"))
		}
		return nil
	})
	c.HandleTx(failTopic, func(context.Context, pgx.Tx, envelope.Envelope) error { return errors.New("always") })
	start(t, c)

	eventually(t, "the poison event dead-lettered", func() (bool, string) {
		n := len(dlqEntries(t, group))
		return n == 1, fmt.Sprint(n, " DLQ entries")
	})
	entry := dlqEntries(t, group)[0]
	wantParent, _ := envelope.HeaderValue(entry.Headers, "traceparent")
	if wantParent == "" || entry.OriginalMessageID != poison.MessageID {
		t.Fatalf("DLQ entry %s has headers %v: want the traceparent of the poison event", entry.OriginalMessageID, entry.Headers)
	}

	linked := map[trace.SpanID]bool{}
	eventually(t, "batch spans linking the three sends", func() (bool, string) {
		for _, s := range exp.GetSpans() {
			if s.Name != "process "+batchTopic {
				continue
			}
			if s.SpanKind != trace.SpanKindConsumer || s.Status.Code == codes.Error {
				t.Fatalf("batch span %+v", s)
			}
			for _, l := range s.Links {
				linked[l.SpanContext.SpanID()] = true
			}
		}
		return len(linked) == 3, fmt.Sprint(len(linked), " links")
	})
	for id := range sends {
		if !linked[id] {
			t.Errorf("send span %s not linked from a batch span", id)
		}
	}

	var process tracetest.SpanStub
	eventually(t, "the poison event's process span", func() (bool, string) {
		for _, s := range exp.GetSpans() {
			if s.Name == "process "+failTopic {
				process = s
				return true, ""
			}
		}
		return false, "none"
	})
	if process.Parent.TraceID() != root.SpanContext().TraceID() || process.Status.Code != codes.Error {
		t.Errorf("poison process span: trace %s status %v; want trace %s, an error", process.Parent.TraceID(), process.Status, root.SpanContext().TraceID())
	}
	exceptions, deadLettered := 0, 0
	for _, ev := range process.Events {
		switch ev.Name {
		case "exception":
			exceptions++
		case "kbus.dead_lettered":
			deadLettered++
		}
	}
	if exceptions != fastRetry.Attempts || deadLettered != 1 {
		t.Errorf("poison process span: %d exceptions, %d dead-letter events; want %d and 1", exceptions, deadLettered, fastRetry.Attempts)
	}
	if wantParent[3:35] != root.SpanContext().TraceID().String() {
		t.Errorf("DLQ traceparent %s not in the publishing trace %s", wantParent, root.SpanContext().TraceID())
	}
}
