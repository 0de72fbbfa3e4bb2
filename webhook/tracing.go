package webhook

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/internal/tracing"
)

// This file carries OpenTelemetry trace context from an event to its
// webhook attempts. The fan-out stores the trace context of its handler's
// ctx (the consumer's process span) with each delivery
// (webhook_delivery_bodies.trace_context); the dispatcher makes every
// attempt a "POST" client span, a child of that context, and sends the
// receiver its traceparent.

// traceContext returns the trace context of ctx as prop writes it, as a
// JSON object, or nil when there is none.
func traceContext(ctx context.Context, prop propagation.TextMapPropagator) *string {
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	carrier := propagation.MapCarrier{}
	prop.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return nil
	}
	b, err := json.Marshal(carrier)
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
}

// startAttempt starts the client span of an attempt at c, a child of the
// trace context stored with the delivery.
func (d *Dispatcher) startAttempt(ctx context.Context, c *claimed) (context.Context, trace.Span) {
	if c.traceContext != nil {
		carrier := propagation.MapCarrier{}
		if json.Unmarshal([]byte(*c.traceContext), &carrier) == nil {
			ctx = d.tr.Propagator.Extract(ctx, carrier)
		}
	}
	ctx, span := d.tr.Tracer.Start(ctx, "POST", trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(semconv.HTTPRequestMethodPost,
			semconv.MessagingMessageID(c.messageID),
			attribute.String("kbus.webhook.delivery_id", c.id),
			attribute.String("kbus.webhook.endpoint_id", c.endpointID),
			tracing.AttemptKey.Int(c.attempts+1))
		if u, err := url.Parse(c.endpoint.URL); err == nil {
			// Without userinfo, query or fragment: they may hold secrets.
			span.SetAttributes(semconv.URLFull((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()),
				semconv.ServerAddress(u.Hostname()))
			if port, err := strconv.Atoi(u.Port()); err == nil {
				span.SetAttributes(semconv.ServerPort(port))
			} else if u.Scheme == "https" {
				span.SetAttributes(semconv.ServerPort(443))
			} else {
				span.SetAttributes(semconv.ServerPort(80))
			}
		}
	}
	return ctx, span
}

// endAttempt ends an attempt's span with its outcome.
func endAttempt(span trace.Span, o outcome) {
	if span.IsRecording() {
		if o.status != 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(o.status))
		}
		switch {
		case o.success:
		case o.status != 0:
			span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(o.status)))
			span.SetStatus(codes.Error, "HTTP "+strconv.Itoa(o.status))
		default:
			span.SetAttributes(semconv.ErrorTypeKey.String("_OTHER"))
			span.SetStatus(codes.Error, o.err)
		}
	}
	span.End()
}

// tracedSend is send within the attempt's client span. A delivery whose
// endpoint is gone or disabled makes no POST, and no span.
func (d *Dispatcher) tracedSend(ctx context.Context, c *claimed) outcome {
	if c.endpointErr != nil || c.endpoint.Status != StatusActive {
		return d.send(ctx, c)
	}
	ctx, span := d.startAttempt(ctx, c)
	o := d.send(ctx, c)
	endAttempt(span, o)
	return o
}
