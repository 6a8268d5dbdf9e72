-- The scheduler's run ledger and the archive schema for retention.
-- One row per (job, scheduled_for): the leader inserts it before running the job, so two
-- schedulers that both believe they lead can never run the same occurrence twice.

CREATE TABLE scheduler_runs (
    id             bigserial PRIMARY KEY,
    job            text NOT NULL,
    scheduled_for  timestamptz NOT NULL,
    runner         text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    status         text NOT NULL DEFAULT 'running'
                   CHECK (status IN ('running', 'ok', 'failed')),
    detail         jsonb,
    UNIQUE (job, scheduled_for)
);
CREATE INDEX scheduler_runs_job_idx ON scheduler_runs (job, scheduled_for DESC);

-- Partitions past retention are detached and moved here, never dropped.
CREATE SCHEMA IF NOT EXISTS archive;
