-- Creating a month partition moves that month's rows out of the DEFAULT partition
-- (DELETE ... RETURNING, then INSERT). For audit_logs that DELETE met the append-only
-- trigger. Partition maintenance marks its own transaction, and the trigger lets exactly that
-- move through; every other UPDATE or DELETE is still refused.
CREATE OR REPLACE FUNCTION pvara_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('pvara.partition_move', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE OR REPLACE FUNCTION pvara_create_month_partition(parent regclass, month_start date)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    part_name   text := format('%s_y%sm%s', parent::text, to_char(month_start, 'YYYY'),
                               to_char(month_start, 'MM'));
    lo          timestamptz := (month_start::timestamp AT TIME ZONE 'UTC');
    hi          timestamptz := ((month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    key_column  text;
    default_tbl text := parent::text || '_default';
    moved       bigint;
BEGIN
    IF to_regclass(part_name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', parent);
    SELECT a.attname INTO key_column
      FROM pg_partitioned_table p
      JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
     WHERE p.partrelid = parent;

    EXECUTE format('SELECT count(*) FROM %I WHERE %I >= $1 AND %I < $2',
                   default_tbl, key_column, key_column) INTO moved USING lo, hi;
    IF moved = 0 THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       part_name, parent, lo, hi);
    ELSE
        EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       part_name, parent);
        PERFORM set_config('pvara.partition_move', 'on', true);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                       'INSERT INTO %I SELECT * FROM moved',
                       default_tbl, key_column, key_column, part_name) USING lo, hi;
        PERFORM set_config('pvara.partition_move', 'off', true);
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       parent, part_name, lo, hi);
    END IF;
    RETURN part_name;
END;
$$;
