-- Erasure reaches the application partitions that retention moved to the archive schema.
-- The API erases as pvara_app, which cannot see the archive; this function runs as the
-- owner but only ever inside the caller's organization (pvara.organization_id, as RLS).
-- pg_temp is searched last and catalogs are qualified, so the caller's temporary tables
-- cannot stand in for anything the function reads.

-- The application partitions retention moved to the archive schema.
CREATE FUNCTION pvara_archived_applications()
RETURNS TABLE (relname name)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.relname FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'archive' AND c.relkind = 'r' AND c.relname LIKE 'applications\_%'
$$;

CREATE FUNCTION pvara_erase_archived_applications(p_cnic text, p_erased text)
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
                  WHERE organization_id = $1 AND candidate_cnic = $2 AND pii_erased_at IS NULL
                    FOR UPDATE)
             UPDATE archive.%1$I a
                SET candidate_name = $3, candidate_email = $3, candidate_phone = NULL,
                    candidate_cnic = ''erased:'' || a.id::text, resume_text = NULL,
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
REVOKE ALL ON FUNCTION pvara_erase_archived_applications(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pvara_erase_archived_applications(text, text) TO pvara_app;

-- Which of these résumé files an application still references, archived ones included
-- (identical bytes share one file across candidates and organizations).
CREATE FUNCTION pvara_resume_blobs_in_use(p_keys text[])
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    part record;
BEGIN
    RETURN QUERY SELECT DISTINCT a.resume_blob_key FROM public.applications a
                  WHERE a.resume_blob_key = ANY(p_keys);
    FOR part IN
        SELECT relname FROM public.pvara_archived_applications()
    LOOP
        RETURN QUERY EXECUTE format(
            'SELECT DISTINCT resume_blob_key FROM archive.%I WHERE resume_blob_key = ANY($1)',
            part.relname)
            USING p_keys;
    END LOOP;
END
$$;

-- The in-use check looks résumé files up by key. Building it blocks writes to applications
-- while it runs (a partitioned index cannot be built CONCURRENTLY): seconds at today's sizes.
CREATE INDEX applications_resume_blob_key_idx ON applications (resume_blob_key)
    WHERE resume_blob_key IS NOT NULL;
