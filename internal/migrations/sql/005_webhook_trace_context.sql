-- The trace context of the fan-out that created a delivery (owner: webhook/):
-- the OpenTelemetry propagator's fields (W3C traceparent, tracestate) as a
-- JSON object, so that every attempt's client span continues the event's
-- trace. NULL when the fan-out had no trace context to propagate.
ALTER TABLE webhook_delivery_bodies ADD COLUMN trace_context text;

---- create above / drop below ----

ALTER TABLE webhook_delivery_bodies DROP COLUMN trace_context;
