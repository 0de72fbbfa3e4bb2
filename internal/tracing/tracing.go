// Package tracing is kbus's shared OpenTelemetry plumbing: the tracer and
// propagator a package uses, text-map carriers over Kafka record headers,
// and the attributes of the messaging semantic conventions. It sets up no
// SDK and touches no global: with the defaults (otel.GetTracerProvider and
// otel.GetTextMapPropagator) everything is a no-op until the application
// installs its own SDK and propagator.
package tracing

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kbus-dev/kbus/envelope"
)

// ScopeName is the instrumentation scope of kbus's tracers.
const ScopeName = "github.com/kbus-dev/kbus"

// Tracing is the tracer and propagator of one kbus component. Its zero
// value uses the global provider and propagator.
type Tracing struct {
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator

	// global is the global provider New defaulted to, while no SDK was
	// installed; noop is whether New was given a noop.TracerProvider.
	global trace.TracerProvider
	noop   bool
}

// New returns the tracing of a component, defaulting tp and prop to the
// global ones (no-ops unless the application installed an SDK).
func New(tp trace.TracerProvider, prop propagation.TextMapPropagator) Tracing {
	var global trace.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		global = tp
	}
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	_, isNoop := tp.(noop.TracerProvider)
	return Tracing{
		Tracer:     tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		Propagator: prop,
		global:     global,
		noop:       isNoop,
	}
}

// Idle reports whether a span started on ctx now would record nothing and
// carry nothing: the tracer provider is a no-op (a noop.TracerProvider, or
// the global provider while no SDK has been installed with
// otel.SetTracerProvider), and ctx holds neither a span context to
// continue nor baggage. A publisher may then skip starting the span and
// injecting its (empty) trace context; when ctx has a parent span, even a
// no-op tracer propagates the parent's trace context, so Idle is false.
func (t Tracing) Idle(ctx context.Context) bool {
	if !t.noop && (t.global == nil || otel.GetTracerProvider() != t.global) {
		return false
	}
	return !trace.SpanContextFromContext(ctx).IsValid() && baggage.FromContext(ctx).Len() == 0
}

// Messaging attributes shared by kbus's spans.
var (
	System      = semconv.MessagingSystemKafka
	OpSend      = []attribute.KeyValue{semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send")}
	OpProcess   = []attribute.KeyValue{semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process")}
	AttemptKey  = attribute.Key("kbus.attempt")
	AttemptsKey = attribute.Key("kbus.attempts")
)

// RecordAttrs are the attributes of a record at a known position.
func RecordAttrs(topic, key string, partition int32, offset int64, messageID string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		System,
		semconv.MessagingDestinationName(topic),
		semconv.MessagingDestinationPartitionID(itoa(partition)),
		semconv.MessagingKafkaOffset(int(offset)),
	}
	if key != "" {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(key))
	}
	if messageID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(messageID))
	}
	return attrs
}

// Partition is messaging.destination.partition.id.
func Partition(p int32) attribute.KeyValue { return semconv.MessagingDestinationPartitionID(itoa(p)) }

// Offset is messaging.kafka.offset.
func Offset(o int64) attribute.KeyValue { return semconv.MessagingKafkaOffset(int(o)) }

func itoa(p int32) string { return strconv.Itoa(int(p)) }

// RecordCarrier is a propagation.TextMapCarrier over a record's headers.
// Get returns the last value of a key, as kbus reads every header; Set
// replaces the last header of that key or appends one.
type RecordCarrier struct{ Headers *[]kgo.RecordHeader }

// Get implements propagation.TextMapCarrier.
func (c RecordCarrier) Get(key string) string {
	hs := *c.Headers
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value)
		}
	}
	return ""
}

// Set implements propagation.TextMapCarrier.
func (c RecordCarrier) Set(key, value string) {
	hs := *c.Headers
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			hs[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(hs, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// Keys implements propagation.TextMapCarrier.
func (c RecordCarrier) Keys() []string {
	keys := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		keys = append(keys, h.Key)
	}
	return keys
}

// HeaderCarrier is RecordCarrier over envelope headers, as the producer
// builds them.
type HeaderCarrier struct{ Headers *[]envelope.Header }

// Get implements propagation.TextMapCarrier.
func (c HeaderCarrier) Get(key string) string {
	v, _ := envelope.HeaderValue(*c.Headers, key)
	return v
}

// Set implements propagation.TextMapCarrier.
func (c HeaderCarrier) Set(key, value string) {
	hs := *c.Headers
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			hs[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(hs, envelope.Header{Key: key, Value: []byte(value)})
}

// Keys implements propagation.TextMapCarrier.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		keys = append(keys, h.Key)
	}
	return keys
}

// Extract returns a context carrying the trace context of a record's
// headers (the producer's span as a remote parent, and baggage), on top of
// ctx.
func (t Tracing) Extract(ctx context.Context, headers []kgo.RecordHeader) context.Context {
	return t.Propagator.Extract(ctx, RecordCarrier{&headers})
}
