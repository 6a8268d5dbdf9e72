-- PVARA schema: the seed design corrected for real PostgreSQL (15+).
-- * Applications and audit logs are partitioned by month; their primary keys include the
--   partition key, and a DEFAULT partition catches rows no monthly partition covers.
-- * application_index is the small, unpartitioned anchor of every application id: it pins the
--   application's created_at (so a resubmission can never land in a second row) and is what
--   interviews and offers reference, since a foreign key cannot point at id alone.
-- * Jobs are not partitioned (low volume, referenced by everything).

CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    slug        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    email            text NOT NULL,
    password_hash    text NOT NULL,
    role             text NOT NULL CHECK (role IN ('admin', 'hr', 'interviewer', 'ops', 'finance')),
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_organization_id_idx ON users (organization_id);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    title            text NOT NULL,
    department       text,
    description      text,
    location         text,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('draft', 'open', 'closed')),
    openings         integer NOT NULL DEFAULT 1 CHECK (openings > 0),
    tier             text NOT NULL DEFAULT 'standard'
                     CHECK (tier IN ('basic', 'standard', 'advanced', 'senior')),
    webhook_url      text,
    webhook_secret   text,
    created_by       uuid REFERENCES users(id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz
);
CREATE INDEX jobs_organization_id_idx ON jobs (organization_id, status);

CREATE TABLE candidates (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id   uuid NOT NULL REFERENCES organizations(id),
    cnic              text NOT NULL,
    name              text NOT NULL,
    email             text NOT NULL,
    phone             text,
    degree            text,
    experience_years  integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    erased_at         timestamptz,
    UNIQUE (organization_id, cnic)
);
CREATE INDEX candidates_email_idx ON candidates (email);

CREATE TABLE application_index (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    job_id           uuid NOT NULL REFERENCES jobs(id),
    created_at       timestamptz NOT NULL
);
CREATE INDEX application_index_job_idx ON application_index (job_id);

CREATE TABLE applications (
    id                 uuid NOT NULL,
    organization_id    uuid NOT NULL,
    job_id             uuid NOT NULL REFERENCES jobs(id),
    candidate_id       uuid REFERENCES candidates(id),
    candidate_cnic     text NOT NULL,
    candidate_email    text NOT NULL,
    candidate_name     text NOT NULL,
    candidate_phone    text,
    status             text NOT NULL DEFAULT 'received',
    status_reason      text,
    resume_blob_key    text,
    resume_media_type  text,
    resume_sha256      text,
    resume_text        text,
    resume_flags       jsonb NOT NULL DEFAULT '[]',
    ai_score           numeric(5, 2),
    ai_reasoning       jsonb,
    ai_recommendation  text,
    ai_confidence      numeric(4, 3),
    ai_screened_at     timestamptz,
    ai_skills_matched  jsonb,
    ai_skills_missing  jsonb,
    ai_model_version   text,
    criteria_version   integer,
    needs_review       boolean NOT NULL DEFAULT false,
    is_in_shortlist    boolean NOT NULL DEFAULT false,
    shortlist_rank     integer,
    submitted_at       timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    status_changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

CREATE TABLE applications_default PARTITION OF applications DEFAULT;

CREATE INDEX applications_job_id_idx ON applications (job_id);
CREATE INDEX applications_status_idx ON applications (status);
CREATE INDEX applications_candidate_email_idx ON applications (candidate_email);
CREATE INDEX applications_created_at_idx ON applications (created_at DESC);
CREATE INDEX applications_ai_score_idx ON applications (job_id, ai_score DESC);
CREATE INDEX applications_org_keyset_idx ON applications (organization_id, created_at DESC, id DESC);
CREATE INDEX applications_search_idx ON applications USING gin (
    to_tsvector('simple', coalesce(candidate_name, '') || ' ' || coalesce(resume_text, ''))
);

CREATE TABLE interviews (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    application_id   uuid NOT NULL REFERENCES application_index(id),
    candidate_id     uuid REFERENCES candidates(id),
    interviewer_id   uuid NOT NULL REFERENCES users(id),
    interview_type   text NOT NULL DEFAULT 'video'
                     CHECK (interview_type IN ('phone', 'in_person', 'video')),
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'scheduled'
                     CHECK (status IN ('scheduled', 'completed', 'cancelled')),
    notes            text,
    score            numeric(5, 2),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz,
    CHECK (ends_at > starts_at),
    -- Double booking of an interviewer is impossible in the database itself.
    CONSTRAINT interviews_interviewer_no_overlap EXCLUDE USING gist (
        interviewer_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status = 'scheduled')
);
CREATE INDEX interviews_application_idx ON interviews (application_id);

CREATE TABLE offers (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    application_id   uuid NOT NULL REFERENCES application_index(id),
    job_id           uuid NOT NULL REFERENCES jobs(id),
    salary_min       numeric(12, 2) NOT NULL,
    salary_max       numeric(12, 2) NOT NULL,
    currency         text NOT NULL DEFAULT 'PKR',
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn')),
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    decided_at       timestamptz,
    CHECK (salary_max >= salary_min)
);
CREATE INDEX offers_application_idx ON offers (application_id);
CREATE INDEX offers_pending_expiry_idx ON offers (expires_at) WHERE status = 'pending';

CREATE TABLE screening_criteria (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id      uuid NOT NULL REFERENCES organizations(id),
    job_id               uuid NOT NULL REFERENCES jobs(id),
    version              integer NOT NULL,
    criteria             jsonb NOT NULL,
    model_used           text NOT NULL DEFAULT 'local',
    top_n_candidates     integer NOT NULL DEFAULT 10,
    min_score_threshold  numeric(5, 2) NOT NULL DEFAULT 70,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_by           uuid REFERENCES users(id),
    UNIQUE (job_id, version)
);

CREATE TABLE shortlist_versions (
    job_id           uuid NOT NULL REFERENCES jobs(id),
    version          integer NOT NULL,
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    criteria_version integer,
    entries          integer NOT NULL,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, version)
);

CREATE TABLE shortlist (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    job_id           uuid NOT NULL,
    version          integer NOT NULL,
    application_id   uuid NOT NULL REFERENCES application_index(id),
    rank             integer NOT NULL,
    ai_score         numeric(5, 2) NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (job_id, version) REFERENCES shortlist_versions(job_id, version),
    UNIQUE (job_id, version, rank)
);
CREATE INDEX shortlist_rank_idx ON shortlist (job_id, version, rank);

CREATE TABLE ai_screening_log (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id      uuid NOT NULL,
    application_id       uuid NOT NULL,
    job_id               uuid NOT NULL,
    provider             text NOT NULL,
    llm_model            text NOT NULL,
    tier                 text,
    routing_reason       text,
    prompt_tokens        integer NOT NULL DEFAULT 0,
    completion_tokens    integer NOT NULL DEFAULT 0,
    cached_tokens        integer NOT NULL DEFAULT 0,
    cost_usd             numeric(14, 8) NOT NULL DEFAULT 0,
    decision_time_ms     integer,
    outcome              text NOT NULL DEFAULT 'ok',
    final_score          numeric(5, 2),
    criteria_version     integer,
    price_table_version  text,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_screening_log_created_idx ON ai_screening_log (created_at);
CREATE INDEX ai_screening_log_org_idx ON ai_screening_log (organization_id, created_at);
CREATE INDEX ai_screening_log_application_idx ON ai_screening_log (application_id);

CREATE TABLE audit_logs (
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    organization_id  uuid,
    user_id          uuid,
    action           text NOT NULL,
    resource_type    text,
    resource_id      text,
    changes          jsonb,
    ip_address       inet,
    request_id       text,
    occurred_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT;
CREATE INDEX audit_logs_org_idx ON audit_logs (organization_id, occurred_at DESC);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource_type, resource_id);

-- Analytics, refreshed hourly (and CONCURRENTLY, hence the unique index).
CREATE MATERIALIZED VIEW application_metrics AS
SELECT
    organization_id,
    job_id,
    status,
    (created_at AT TIME ZONE 'UTC')::date AS date,
    count(*)                              AS count,
    avg(ai_score)                         AS avg_score
FROM applications
GROUP BY organization_id, job_id, status, (created_at AT TIME ZONE 'UTC')::date;

CREATE UNIQUE INDEX application_metrics_key ON application_metrics (job_id, status, date);
