-- Webhook endpoints, deliveries and their attempts (owner: webhook/).
CREATE TABLE webhook_endpoints (
    id                         text        PRIMARY KEY,              -- wh_<ulid>
    tenant_id                  text        NOT NULL,
    url                        text        NOT NULL,
    events                     text[]      NOT NULL,
    description                text        NOT NULL DEFAULT '',
    secret                     text        NOT NULL,                 -- whsec_…: the HMAC key, needed to sign
    previous_secret            text,                                 -- still signs until previous_secret_expires_at
    previous_secret_expires_at timestamptz,
    standard_webhooks          boolean     NOT NULL DEFAULT false,   -- also send webhook-id/-timestamp/-signature
    status                     text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    disabled_reason            text,
    failing_since              timestamptz,                          -- first failure of an unbroken run of failures
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

-- One delivery of one event to one endpoint. The fan-out consumer inserts
-- them in the transaction of its dedup row; a DLQ replay inserts a fresh one
-- keyed by the replayed entry (replay_key), so replaying twice adds one.
CREATE TABLE webhook_deliveries (
    id              text        PRIMARY KEY,                          -- dlv_<ulid>
    endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    tenant_id       text        NOT NULL,
    message_id      text        NOT NULL,
    event_type      text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,                                             -- the dispatcher holding it
    lease_until     timestamptz,                                      -- claimed until; due again after
    replay_key      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, message_id, replay_key)
) WITH (fillfactor = 70); -- room on each page, so that claiming (lease columns only) is a HOT update

-- The immutable, large part of a delivery, apart so that the frequent
-- updates of webhook_deliveries rewrite small rows.
CREATE TABLE webhook_delivery_bodies (
    delivery_id      text    PRIMARY KEY REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    payload          bytea   NOT NULL,                                -- the exact body POSTed
    source_topic     text    NOT NULL,                                -- the Kafka record the event came in,
    source_partition integer NOT NULL,                                -- kept so that a dead-lettered delivery
    source_offset    bigint  NOT NULL,                                -- has a DLQ entry that replays exactly
    source_key       bytea,
    source_headers   jsonb   NOT NULL DEFAULT '[]',
    source_value     bytea   NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    delivery_id     text        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         integer     NOT NULL,
    attempted_at    timestamptz NOT NULL,
    duration_ms     integer     NOT NULL,
    response_status integer,                                          -- NULL when no response (timeout, refused)
    response_body   text        NOT NULL DEFAULT '',                  -- capped
    error           text        NOT NULL DEFAULT '',
    success         boolean     NOT NULL,
    next_retry      timestamptz,                                      -- NULL when none follows
    PRIMARY KEY (delivery_id, attempt)
);

---- create above / drop below ----

DROP TABLE webhook_attempts;
DROP TABLE webhook_delivery_bodies;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
