package consumer

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/internal/tracing"
)

// This file is the consumer's side of OpenTelemetry tracing (see
// Config.TracerProvider): a "process <topic>" span per event, a child of
// the producer's span whose context the record's headers carry, lasting
// from the first attempt to the success or the dead-lettering, with an
// exception event per failed attempt; and a span per batch handler call
// linked to each of its events' producer spans.

type consumerTracing struct {
	tracing.Tracing
	group string
	names sync.Map // topic → "process <topic>"
}

func newConsumerTracing(cfg Config) *consumerTracing {
	return &consumerTracing{Tracing: tracing.New(cfg.TracerProvider, cfg.Propagator), group: cfg.Group}
}

// noSpan is the span of events that have none of their own (those of batch
// handlers): every call on it does nothing.
var noSpan = trace.SpanFromContext(context.Background())

func (t *consumerTracing) name(topic string) string {
	if n, ok := t.names.Load(topic); ok {
		return n.(string)
	}
	n, _ := t.names.LoadOrStore(topic, "process "+topic)
	return n.(string)
}

// start starts the span of it (or, for a batch handler's event, only
// reads its producer's trace context, for the batch span's links).
func (t *consumerTracing) start(it *item) {
	remote := t.Extract(context.Background(), it.rec.Headers)
	it.remote = trace.SpanContextFromContext(remote)
	it.bag = baggage.FromContext(remote)
	if it.h.batch != nil {
		it.span = noSpan
		return
	}
	_, it.span = t.Tracer.Start(remote, t.name(it.rec.Topic), trace.WithSpanKind(trace.SpanKindConsumer))
	if it.span.IsRecording() {
		it.span.SetAttributes(tracing.RecordAttrs(it.rec.Topic, string(it.rec.Key), it.rec.Partition, it.rec.Offset, it.e.MessageID)...)
		it.span.SetAttributes(tracing.OpProcess...)
		it.span.SetAttributes(semconv.MessagingConsumerGroupName(t.group))
	}
}

// end ends the spans of items, once their chunk is done.
func endSpans(items []item) {
	for _, it := range items {
		if it.span != nil {
			it.span.End()
		}
	}
}

// spanCtx gives a handler's context the event's span and baggage.
func spanCtx(ctx context.Context, it item) context.Context {
	if it.span != nil && it.span != noSpan {
		ctx = trace.ContextWithSpan(ctx, it.span)
	}
	if it.bag.Len() > 0 {
		ctx = baggage.ContextWithBaggage(ctx, it.bag)
	}
	return ctx
}

// attemptFailed records a failed attempt on the event's span.
func attemptFailed(span trace.Span, n int, err error) {
	if span.IsRecording() {
		span.RecordError(err, trace.WithAttributes(tracing.AttemptKey.Int(n)))
	}
}

// handled records on the event's span that attempt n succeeded.
func handled(span trace.Span, n int) {
	if span.IsRecording() {
		span.SetAttributes(tracing.AttemptsKey.Int(n))
	}
}

// deadLettered records the event's last failed attempt and its DLQ entry.
func (t *consumerTracing) deadLettered(span trace.Span, at attempts, reason string) {
	if !span.IsRecording() {
		return
	}
	if at.err != nil {
		attemptFailed(span, at.n, at.err)
		span.SetStatus(codes.Error, at.err.Error())
	} else {
		span.SetStatus(codes.Error, reason)
	}
	span.SetAttributes(tracing.AttemptsKey.Int(at.n))
	span.AddEvent("kbus.dead_lettered", trace.WithAttributes(
		attribute.String("kbus.dlq.reason", reason), attribute.String("kbus.dlq.topic", dlq.Topic(t.group))))
}

// duplicate marks the span of an event skipped by dedup.
func duplicate(span trace.Span) {
	if span.IsRecording() {
		span.SetAttributes(attribute.Bool("kbus.duplicate", true))
	}
}

// startBatch starts the span of one batch handler call over items (the
// fresh ones among them), linked to each event's producer span.
func (t *consumerTracing) startBatch(ctx context.Context, items []item) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(items))
	for _, it := range items {
		if it.remote.IsValid() {
			links = append(links, trace.Link{SpanContext: it.remote})
		}
	}
	rec := items[0].rec
	ctx, span := t.Tracer.Start(ctx, t.name(rec.Topic), trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...))
	if span.IsRecording() {
		span.SetAttributes(tracing.System, semconv.MessagingDestinationName(rec.Topic), tracing.Partition(rec.Partition),
			semconv.MessagingConsumerGroupName(t.group), semconv.MessagingBatchMessageCount(len(items)))
		span.SetAttributes(tracing.OpProcess...)
	}
	return ctx, span
}

// endBatch ends a batch span with the handler's outcome.
func endBatch(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
