package webhook

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/propagation"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
)

// DefaultGroup is the consumer group of the webhook fan-out; its dead
// letters go to dlq.webhooks.
const DefaultGroup = "webhooks"

// DefaultTenantField is the field of the event data naming its tenant.
const DefaultTenantField = "merchant_id"

// FanOut turns events into deliveries: registered on a Transactional
// consumer, it inserts one delivery per active endpoint of the event's tenant
// subscribed to the event's type, in the transaction of the event's dedup
// row, so an event becomes deliveries exactly once even when Kafka delivers
// it twice. A replay of a dead-lettered delivery (a record carrying
// dlq.HeaderReplayEndpoint) gives only that endpoint a fresh delivery.
type FanOut struct {
	// TenantField is the field of the event's data that names its tenant;
	// the default is DefaultTenantField. Events without it reach no endpoint.
	TenantField string
	// Propagator writes the trace context of the handler's ctx (the
	// consumer's process span of the event) into each delivery, so that the
	// dispatcher's attempts continue the event's trace (see
	// DispatcherConfig.TracerProvider). The default is
	// otel.GetTextMapPropagator(), which writes nothing until the
	// application sets one.
	Propagator propagation.TextMapPropagator
}

// Register registers the fan-out for eventTypes on c, which must be in
// Transactional mode.
func (f FanOut) Register(c *consumer.Consumer, eventTypes ...string) {
	for _, t := range eventTypes {
		c.HandleTx(t, f.Handle)
	}
}

// payload is the body POSTed to endpoints, as the seed shows it.
type payload struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

type storedHeader struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

const insertDeliveries = `WITH ins AS (
	INSERT INTO webhook_deliveries (id, endpoint_id, tenant_id, message_id, event_type, replay_key)
	SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), e.id, e.tenant_id, $3, $4, $12
	FROM webhook_endpoints e
	WHERE e.tenant_id = $1 AND $4 = ANY (e.events) AND (($2 = '' AND e.status = 'active') OR e.id = $2)
	ON CONFLICT (endpoint_id, message_id, replay_key) DO NOTHING
	RETURNING id)
INSERT INTO webhook_delivery_bodies (delivery_id, payload, source_topic, source_partition, source_offset, source_key, source_headers, source_value, trace_context)
SELECT id, $5, $6, $7, $8, $9, $10, $11, $13 FROM ins`

// Handle is the fan-out's consumer.TxHandlerFunc.
func (f FanOut) Handle(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
	field := f.TenantField
	if field == "" {
		field = DefaultTenantField
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(e.Data, &data); err != nil {
		return consumer.Permanent(err) // not an object: cannot be routed
	}
	var tenant string
	if raw, ok := data[field]; !ok || json.Unmarshal(raw, &tenant) != nil || tenant == "" {
		return nil // no tenant: no endpoint can have subscribed
	}
	body, err := json.Marshal(payload{ID: e.MessageID, Type: e.Topic, CreatedAt: e.PublishedAt.UTC(), Data: e.Data})
	if err != nil {
		return consumer.Permanent(err)
	}
	rec, _ := consumer.Record(ctx)
	var (
		srcTopic            string
		srcPart             int32
		srcOffset           int64
		srcKey, srcValue    []byte
		headers             = []storedHeader{}
		endpoint, replayKey string
	)
	if rec != nil {
		srcTopic, srcPart, srcOffset, srcKey, srcValue = rec.Topic, rec.Partition, rec.Offset, rec.Key, rec.Value
		for _, h := range rec.Headers {
			switch h.Key {
			case dlq.HeaderReplayEndpoint:
				endpoint = string(h.Value)
			case dlq.HeaderReplayKey:
				replayKey = string(h.Value)
			}
			headers = append(headers, storedHeader{h.Key, h.Value})
		}
	} else {
		srcTopic = e.Topic
		if srcValue, err = envelope.Marshal(e); err != nil {
			return consumer.Permanent(err)
		}
	}
	hdrs, err := json.Marshal(headers)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, insertDeliveries, tenant, endpoint, e.MessageID, e.Topic, body,
		srcTopic, srcPart, srcOffset, srcKey, hdrs, srcValue, replayKey, traceContext(ctx, f.Propagator))
	return err
}
