-- The HR API: refresh tokens, PII erasure, the candidate double-booking guard, an append-only
-- audit log, keyset indexes, and row-level security per organization.
--
-- RLS does not bind a table's owner (nor a superuser), so the API runs its organization-scoped
-- transactions as the NON-superuser role pvara_app (`SET LOCAL ROLE pvara_app` plus
-- `SET LOCAL pvara.organization_id`); workers, the bridge and migrations stay the owner.

CREATE TABLE refresh_tokens (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id        uuid NOT NULL,
    user_id          uuid NOT NULL REFERENCES users(id),
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    token_hash       text NOT NULL UNIQUE,
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz,
    revoked_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

ALTER TABLE applications ADD COLUMN pii_erased_at timestamptz;

-- Keyset pagination of the HR listing: by date within a job, by score within the organization.
CREATE INDEX applications_org_job_keyset_idx
    ON applications (organization_id, job_id, created_at DESC, id DESC);
CREATE INDEX applications_org_score_keyset_idx
    ON applications (organization_id, (coalesce(ai_score, -1)) DESC, id DESC);

-- A candidate cannot be in two interviews at once either (interviewers: see 0001).
ALTER TABLE interviews ADD CONSTRAINT interviews_candidate_no_overlap EXCLUDE USING gist (
    candidate_id WITH =, tstzrange(starts_at, ends_at) WITH &&
) WHERE (status = 'scheduled');
CREATE INDEX interviews_org_starts_idx ON interviews (organization_id, starts_at);
CREATE INDEX offers_org_idx ON offers (organization_id, created_at DESC);

-- Audit rows are never changed nor deleted (old partitions are detached or dropped whole).
-- The one exception: partition maintenance moving rows out of the DEFAULT partition (0002).
CREATE FUNCTION pvara_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('pvara.partition_move', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION pvara_audit_append_only();

-- The organization of the current transaction (NULL when unset: then no row is visible).
CREATE FUNCTION pvara_current_org() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('pvara.organization_id', true), '')::uuid
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pvara_app') THEN
        CREATE ROLE pvara_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database's migration created it at the same moment
END;
$$;

DO $$
BEGIN
    EXECUTE format('GRANT pvara_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
    NULL;  -- already a member (or a superuser, who may SET ROLE anyway)
END;
$$;

GRANT USAGE ON SCHEMA public TO pvara_app;
GRANT SELECT ON organizations, ai_screening_log TO pvara_app;
GRANT SELECT, INSERT, UPDATE ON users, jobs, candidates, application_index, applications,
    interviews, offers, screening_criteria, shortlist_versions, shortlist, refresh_tokens
    TO pvara_app;
GRANT SELECT, INSERT ON audit_logs TO pvara_app;
GRANT INSERT ON event_outbox TO pvara_app;
GRANT USAGE ON SEQUENCE event_outbox_id_seq TO pvara_app;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY organizations_own ON organizations TO pvara_app
    USING (id = pvara_current_org());

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'jobs', 'candidates', 'application_index', 'applications',
                             'interviews', 'offers', 'screening_criteria', 'shortlist_versions',
                             'shortlist', 'ai_screening_log', 'audit_logs', 'refresh_tokens']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO pvara_app'
                       ' USING (organization_id = pvara_current_org())'
                       ' WITH CHECK (organization_id = pvara_current_org())', t || '_own', t);
    END LOOP;
END;
$$;
