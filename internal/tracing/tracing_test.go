package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestIdle(t *testing.T) {
	bg := context.Background()
	parent := trace.ContextWithSpanContext(bg, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled,
	}))
	m, _ := baggage.NewMember("k", "v")
	b, _ := baggage.New(m)
	withBaggage := baggage.ContextWithBaggage(bg, b)
	sdk := sdktrace.NewTracerProvider()
	defer func() { _ = sdk.Shutdown(bg) }()

	for _, c := range []struct {
		name string
		tr   Tracing
		ctx  context.Context
		want bool
	}{
		{"global, no SDK", New(nil, nil), bg, true},
		{"global, parent span", New(nil, nil), parent, false},
		{"global, baggage", New(nil, nil), withBaggage, false},
		{"noop provider", New(noop.NewTracerProvider(), nil), bg, true},
		{"noop provider, parent span", New(noop.NewTracerProvider(), nil), parent, false},
		{"SDK", New(sdk, nil), bg, false},
	} {
		if got := c.tr.Idle(c.ctx); got != c.want {
			t.Errorf("%s: Idle = %v, want %v", c.name, got, c.want)
		}
	}
}
