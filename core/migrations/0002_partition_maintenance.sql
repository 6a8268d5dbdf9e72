-- Monthly partitions ahead of time. Rows that already sit in the DEFAULT partition for a month
-- that is being created are moved into the new partition, so creating it never fails: the
-- parent is locked against writes for that moment (a row inserted between the count and the
-- CREATE would otherwise make it fail), and the move marks its transaction
-- (pvara.partition_move) so that append-only triggers let exactly that DELETE through.

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

-- Partitions for the current month and `months_ahead` more; returns the ones created.
CREATE OR REPLACE FUNCTION pvara_ensure_monthly_partitions(parent regclass, months_ahead integer)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    first_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    created     text;
BEGIN
    -- One maintainer at a time per table.
    PERFORM pg_advisory_xact_lock(hashtext('pvara-partitions:' || parent::text));
    FOR i IN 0..months_ahead LOOP
        created := pvara_create_month_partition(parent, (first_month + make_interval(months => i))::date);
        IF created IS NOT NULL THEN
            RETURN NEXT created;
        END IF;
    END LOOP;
END;
$$;
