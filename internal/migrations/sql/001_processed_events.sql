-- processed_events is the consumer runtime's dedup table (owner: consumer/).
-- One row per (consumer group, event) whose effect has committed. The handler's
-- writes and this row commit in one transaction, so a redelivered event finds
-- its row and is skipped. Many groups share one database.
CREATE TABLE processed_events (
    consumer_group text        NOT NULL,
    message_id     text        NOT NULL,
    topic          text        NOT NULL,
    "partition"    integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    processed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, message_id)
);

-- Retention jobs delete old rows per group by age.
CREATE INDEX processed_events_group_processed_at ON processed_events (consumer_group, processed_at);

---- create above / drop below ----

DROP TABLE processed_events;
