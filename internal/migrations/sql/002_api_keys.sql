-- api_keys authenticates the HTTP APIs (webhook registration, SSE stream)
-- (owner: apikey/). A key is "kbus_<id>_<secret>": the id finds the row, the
-- secret is never stored, only its SHA-256, compared in constant time. A key
-- belongs to one tenant (the merchant_id of the events), or is an admin key.
CREATE TABLE api_keys (
    id          text        PRIMARY KEY,
    tenant_id   text,
    admin       boolean     NOT NULL DEFAULT false,
    secret_hash bytea       NOT NULL,
    name        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK (admin OR tenant_id IS NOT NULL)
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

---- create above / drop below ----

DROP TABLE api_keys;
