-- kbus_outbox is the transactional outbox (owner: producer/outbox). A service
-- inserts an event in the same transaction as the business change it
-- describes; the relay publishes rows in id order and deletes them once the
-- broker has acknowledged them. A row that fails keeps its place, its
-- attempts and its last error: nothing leaves the table unpublished.
CREATE TABLE kbus_outbox (
    id            bigserial   PRIMARY KEY,
    message_id    text        NOT NULL UNIQUE,
    topic         text        NOT NULL,
    record_key    text        NOT NULL DEFAULT '',
    envelope      bytea       NOT NULL,
    header_keys   text[]      NOT NULL DEFAULT '{}',
    header_values bytea[]     NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);

---- create above / drop below ----

DROP TABLE kbus_outbox;
