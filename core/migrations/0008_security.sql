-- Security hardening (issue #12).
-- * Platform operators: one platform organization, whose users (and only they) have the role
--   `operator`; an ordinary organization can never hold one, whatever inserts the row.
-- * User e-mails are unique per organization, not across them (no cross-tenant enumeration).
-- * Personal identifiers encrypted at rest: the CNIC, e-mail and phone columns hold AES-GCM
--   tokens (core/pii_crypto.py) from now on, and equality lookups go through blind indexes
--   (HMAC, separate key). Rows written before this migration are converted by `pvara migrate`
--   right after it (core/pii_backfill.py): SQL cannot hold the keys.
-- * candidate_keys: one random salt per (organization, CNIC) that the application id is
--   derived with; erasure deletes it, which unlinks the CNIC from the old id for good.
-- * Status tokens: the hash of the secret a candidate needs to read their application's status.

-- --- platform operators --------------------------------------------------------------------

ALTER TABLE organizations ADD COLUMN is_platform boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX organizations_one_platform_key ON organizations (is_platform) WHERE is_platform;

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'hr', 'interviewer', 'ops', 'finance', 'operator'));

CREATE FUNCTION pvara_users_operator_only_in_platform() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    platform boolean;
BEGIN
    SELECT o.is_platform INTO platform FROM public.organizations o WHERE o.id = NEW.organization_id;
    IF (NEW.role = 'operator') IS DISTINCT FROM coalesce(platform, false) THEN
        RAISE EXCEPTION 'the operator role belongs to the platform organization, and only it'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER users_operator_only_in_platform BEFORE INSERT OR UPDATE OF role, organization_id
    ON users FOR EACH ROW EXECUTE FUNCTION pvara_users_operator_only_in_platform();

-- --- user e-mails unique per organization ---------------------------------------------------

DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_organization_email_key ON users (organization_id, lower(email));
CREATE INDEX users_email_idx ON users (lower(email));

-- --- encrypted identifiers, blind indexes, status tokens ------------------------------------

ALTER TABLE applications
    ADD COLUMN candidate_cnic_index   text,
    ADD COLUMN candidate_email_index  text,
    ADD COLUMN status_token_hash      text;

-- Archived partitions are detached, so they do not follow the parent: give them the columns
-- (and the index that finds their unconverted rows).
DO $$
DECLARE
    part record;
BEGIN
    FOR part IN SELECT relname FROM pvara_archived_applications() LOOP
        EXECUTE format('ALTER TABLE archive.%I ADD COLUMN IF NOT EXISTS candidate_cnic_index text,'
                       ' ADD COLUMN IF NOT EXISTS candidate_email_index text,'
                       ' ADD COLUMN IF NOT EXISTS status_token_hash text', part.relname);
        EXECUTE format('CREATE INDEX ON archive.%I (created_at)'
                       ' WHERE candidate_cnic_index IS NULL AND pii_erased_at IS NULL', part.relname);
    END LOOP;
END;
$$;

-- An index over ciphertext finds nothing.
DROP INDEX applications_candidate_email_idx;
-- Resubmission (organization, CNIC, job) and erasure (organization, CNIC).
CREATE INDEX applications_cnic_index_idx ON applications
    (organization_id, candidate_cnic_index, job_id) WHERE candidate_cnic_index IS NOT NULL;
-- What the conversion after this migration (and after a restore of old rows) still has to do.
CREATE INDEX applications_pii_pending_idx ON applications (created_at)
    WHERE candidate_cnic_index IS NULL AND pii_erased_at IS NULL;

ALTER TABLE candidates
    ADD COLUMN cnic_index   text,
    ADD COLUMN email_index  text;
ALTER TABLE candidates DROP CONSTRAINT candidates_organization_id_cnic_key;
DROP INDEX candidates_email_idx;
CREATE UNIQUE INDEX candidates_organization_cnic_index_key ON candidates (organization_id, cnic_index);
CREATE INDEX candidates_pii_pending_idx ON candidates (organization_id)
    WHERE cnic_index IS NULL AND erased_at IS NULL;

-- --- the per-candidate salt of application ids ----------------------------------------------

CREATE TABLE candidate_keys (
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    cnic_index       text NOT NULL,
    -- empty = the candidate applied before salts existed (ids derived without one)
    salt             bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, cnic_index)
);

GRANT SELECT, INSERT, DELETE ON candidate_keys TO pvara_app;
ALTER TABLE candidate_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY candidate_keys_own ON candidate_keys TO pvara_app
    USING (organization_id = pvara_current_org())
    WITH CHECK (organization_id = pvara_current_org());

-- --- erasure of archived partitions by blind index ------------------------------------------

-- Same signature as in 0007; p_cnic is now the CNIC's blind index.
CREATE OR REPLACE FUNCTION pvara_erase_archived_applications(p_cnic text, p_erased text)
RETURNS TABLE (resume_blob_key text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    org uuid := nullif(current_setting('pvara.organization_id', true), '')::uuid;
    part record;
BEGIN
    IF org IS NULL THEN
        RAISE EXCEPTION 'pvara.organization_id is not set';
    END IF;
    FOR part IN
        SELECT relname FROM public.pvara_archived_applications()
    LOOP
        RETURN QUERY EXECUTE format(
            'WITH erased AS (
                 SELECT id, created_at, resume_blob_key FROM archive.%1$I
                  WHERE organization_id = $1 AND candidate_cnic_index = $2
                    AND pii_erased_at IS NULL
                    FOR UPDATE)
             UPDATE archive.%1$I a
                SET candidate_name = $3, candidate_email = $3, candidate_phone = NULL,
                    candidate_cnic = ''erased:'' || a.id::text, candidate_cnic_index = NULL,
                    candidate_email_index = NULL, status_token_hash = NULL, resume_text = NULL,
                    resume_blob_key = NULL,
                    ai_reasoning = (a.ai_reasoning - ''evidence'')
                        || jsonb_build_object(''reasoning'', $3),
                    pii_erased_at = now(), updated_at = now()
               FROM erased
              WHERE a.id = erased.id AND a.created_at = erased.created_at
             RETURNING erased.resume_blob_key', part.relname)
            USING org, p_cnic, p_erased;
    END LOOP;
END
$$;
