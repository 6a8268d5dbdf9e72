-- Transactional outbox: events are written in the same transaction as the state change that
-- caused them, and a relay publishes them to Kafka (at least once) and marks them published.
CREATE TABLE event_outbox (
    id            bigserial PRIMARY KEY,
    topic         text NOT NULL,
    key           text,
    event_type    text NOT NULL,
    payload       jsonb NOT NULL,
    job_id        uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX event_outbox_pending_idx ON event_outbox (id) WHERE published_at IS NULL;
