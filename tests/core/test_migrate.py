"""Migrations: applied once, safely from two processes, refused when edited; the schema they
build (seed tables, monthly partitions with a default, the metrics view).

Tests that change or race the schema run against a throwaway database created on the running
server (``pvara_test_<hex>``) and dropped afterwards; the shared database is only read (and a
write that is rolled back).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.rows import dict_row

from core.db import ensure_partitions
from core.migrate import _LOCK_KEY, MIGRATIONS_DIR, MigrationError, discover, migrate
from core.settings import Settings
from tests.conftest import create_org_and_job

PVARA = Path(sys.executable).with_name("pvara")
Conn = psycopg.Connection[dict[str, Any]]


# --- throwaway databases ---------------------------------------------------------------------


def _database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def new_database(services_up: Settings) -> Iterator[Callable[[], Settings]]:
    """Makes empty databases on the running server; returns settings pointing at one."""
    created: list[str] = []
    admin_url = services_up.effective_database_url

    def make() -> Settings:
        name = f"pvara_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return services_up.model_copy(update={"database_url": _database_url(admin_url, name)})

    yield make
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh(new_database: Callable[[], Settings]) -> Settings:
    """Settings for one empty throwaway database."""
    return new_database()


@pytest.fixture(scope="module")
def migrated(services_up: Settings) -> Iterator[Settings]:
    """One migrated throwaway database shared by the partition and metrics tests."""
    admin_url = services_up.effective_database_url
    name = f"pvara_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = services_up.model_copy(update={"database_url": _database_url(admin_url, name)})
        migrate(settings)
        yield settings
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def connect(settings: Settings) -> Conn:
    conn = psycopg.connect(settings.effective_database_url, autocommit=True, row_factory=dict_row)
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def recorded(settings: Settings) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.effective_database_url) as conn:
        return conn.execute(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()


def partitions_of(conn: Conn, parent: str) -> dict[str, str]:
    """Partition name → bound (``DEFAULT`` or ``FOR VALUES FROM (…) TO (…)``), in UTC."""
    rows = conn.execute(
        "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass",
        (parent,),
    ).fetchall()
    return {row["name"]: row["bound"] for row in rows}


def month(offset: int, today: date | None = None) -> date:
    """The first day of the month ``offset`` months from this one (UTC)."""
    today = today or datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


def pvara_env(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PVARA_")}
    env.update(settings)
    return env


# --- applying migrations ---------------------------------------------------------------------


def test_second_run_applies_nothing_and_leaves_schema_migrations_unchanged(
    fresh: Settings,
) -> None:
    first = migrate(fresh)
    after_first = recorded(fresh)

    second = migrate(fresh)

    assert [m.version for m in first] == [m.version for m in discover()]
    assert second == []
    assert recorded(fresh) == after_first
    assert [(v, n, c) for v, n, c, _ in after_first] == [
        (m.version, m.name, m.checksum) for m in discover()
    ]


def test_two_processes_migrating_at_once_both_succeed_and_apply_each_migration_once(
    fresh: Settings,
) -> None:
    env = pvara_env(PVARA_DATABASE_URL=fresh.effective_database_url)
    with connect(fresh) as gate:
        # Hold the migration lock so that both processes are started and waiting on it, then
        # let them go at the same instant.
        gate.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        procs = [
            subprocess.Popen(
                [str(PVARA), "migrate", "--no-topics"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 60
            while _lock_waiters(gate) < 2:
                assert all(p.poll() is None for p in procs), "a migrate process exited early"
                assert time.monotonic() < deadline, "the processes never waited on the lock"
                time.sleep(0.05)
        finally:
            gate.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        outputs = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    stdouts = sorted(out for out, _ in outputs)
    assert sum("applied 0001_schema" in out for out in stdouts) == 1, stdouts
    assert sum(out.startswith("schema up to date") for out in stdouts) == 1, stdouts
    with connect(fresh) as conn:
        rows = conn.execute(
            "SELECT version, count(*) AS n FROM schema_migrations GROUP BY version ORDER BY 1"
        ).fetchall()
    assert [(row["version"], row["n"]) for row in rows] == [(m.version, 1) for m in discover()]


def _lock_waiters(conn: Conn) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM pg_locks"
        " WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = %s"
        " AND objsubid = 1"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (_LOCK_KEY,),
    ).fetchone()
    return int(row["n"]) if row else 0


def test_edited_migration_is_refused_before_anything_else_is_applied(
    fresh: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    migrate(fresh, directory=folder)
    before = recorded(fresh)
    with (folder / "0001_schema.sql").open("a") as sql:
        sql.write("\n-- edited after it was applied\n")
    (folder / "9999_pending.sql").write_text("CREATE TABLE pending_probe (id integer);\n")

    with pytest.raises(MigrationError, match="0001_schema changed after it was applied"):
        migrate(fresh, directory=folder)

    assert recorded(fresh) == before
    with connect(fresh) as conn:
        row = conn.execute("SELECT to_regclass('pending_probe') AS t").fetchone()
    assert row == {"t": None}


def test_cli_migrate_reports_a_changed_migration_and_exits_1(fresh: Settings) -> None:
    migrate(fresh)
    with connect(fresh) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")

    done = subprocess.run(
        [str(PVARA), "migrate", "--no-topics"],
        env=pvara_env(PVARA_DATABASE_URL=fresh.effective_database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert "error: migration 0001_schema changed after it was applied" in done.stderr
    assert "Traceback" not in done.stderr


# --- the schema ------------------------------------------------------------------------------

PRIMARY_KEYS = {
    "organizations": ["id"],
    "users": ["id"],
    "jobs": ["id"],
    "candidates": ["id"],
    "application_index": ["id"],
    "applications": ["id", "created_at"],
    "interviews": ["id"],
    "offers": ["id"],
    "screening_criteria": ["id"],
    "shortlist_versions": ["job_id", "version"],
    "shortlist": ["id"],
    "ai_screening_log": ["id"],
    "audit_logs": ["id", "occurred_at"],
}

KEY_COLUMNS = {
    ("users", "organization_id"): "uuid",
    ("jobs", "organization_id"): "uuid",
    ("jobs", "tier"): "text",
    ("candidates", "cnic"): "text",
    ("applications", "job_id"): "uuid",
    ("applications", "status"): "text",
    ("applications", "ai_score"): "numeric(5,2)",
    ("interviews", "application_id"): "uuid",
    ("offers", "application_id"): "uuid",
    ("screening_criteria", "criteria"): "jsonb",
    ("screening_criteria", "version"): "integer",
    ("shortlist", "application_id"): "uuid",
    ("shortlist", "rank"): "integer",
    ("ai_screening_log", "cost_usd"): "numeric(14,8)",
    ("audit_logs", "action"): "text",
}


def test_seed_tables_exist_with_their_primary_and_key_columns(db: Conn) -> None:
    kinds = {
        row["relname"]: row["relkind"]
        for row in db.execute(
            "SELECT relname, relkind FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'm')"
        ).fetchall()
    }
    for table in PRIMARY_KEYS:
        expected = "p" if table in ("applications", "audit_logs") else "r"
        assert kinds.get(table) == expected, table
    assert kinds.get("application_metrics") == "m"

    for table, columns in PRIMARY_KEYS.items():
        row = db.execute(
            "SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols"
            " FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (table,),
        ).fetchone()
        assert row is not None and row["cols"] == columns, table

    for (table, column), type_name in KEY_COLUMNS.items():
        row = db.execute(
            "SELECT format_type(atttypid, atttypmod) AS t, attnotnull AS not_null"
            " FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
            (table, column),
        ).fetchone()
        assert row is not None, f"{table}.{column} is missing"
        assert row["t"].replace(", ", ",") == type_name, f"{table}.{column}"
    jobs_tier = db.execute(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'jobs'::regclass AND attname = 'tier'"
    ).fetchone()
    assert jobs_tier == {"attnotnull": True}


def test_applications_and_audit_logs_are_range_partitioned_by_month_key(db: Conn) -> None:
    keys = {
        table: db.execute("SELECT pg_get_partkeydef(%s::regclass) AS k", (table,)).fetchone()
        for table in ("applications", "audit_logs")
    }
    assert keys == {
        "applications": {"k": "RANGE (created_at)"},
        "audit_logs": {"k": "RANGE (occurred_at)"},
    }


def test_application_metrics_has_the_unique_index_concurrent_refresh_needs(db: Conn) -> None:
    rows = db.execute(
        "SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index"
        " WHERE indrelid = 'application_metrics'::regclass AND indisunique"
    ).fetchall()
    assert [row["d"] for row in rows] == [
        "CREATE UNIQUE INDEX application_metrics_key ON public.application_metrics"
        " USING btree (job_id, status, date)"
    ]


def test_partitions_exist_for_this_month_the_next_three_and_a_default(
    db: Conn, services_up: Settings
) -> None:
    db.execute("SET TimeZone = 'UTC'")
    ahead = services_up.partition_months_ahead
    assert ahead == 3
    for parent in ("applications", "audit_logs"):
        found = partitions_of(db, parent)
        assert found.get(f"{parent}_default") == "DEFAULT"
        for offset in range(ahead + 1):
            lo, hi = month(offset), month(offset + 1)
            name = f"{parent}_y{lo:%Y}m{lo:%m}"
            assert found.get(name) == (
                f"FOR VALUES FROM ('{lo} 00:00:00+00') TO ('{hi} 00:00:00+00')"
            ), name


def test_rows_three_years_ahead_land_in_the_default_partition(db: Conn) -> None:
    with db.transaction(force_rollback=True):  # leave nothing behind in the shared database
        ids = create_org_and_job(db)
        application = db.execute(
            "INSERT INTO applications (id, organization_id, job_id, candidate_cnic,"
            " candidate_email, candidate_name, created_at)"
            " VALUES (%s, %s, %s, '35202-1234567-1', 'a@example.com', 'A',"
            " now() + interval '3 years')"
            " RETURNING tableoid::regclass::text AS part",
            (uuid.uuid4(), ids.organization_id, ids.job_id),
        ).fetchone()
        audit = db.execute(
            "INSERT INTO audit_logs (action, occurred_at) VALUES ('probe', now() + interval"
            " '3 years') RETURNING tableoid::regclass::text AS part"
        ).fetchone()

    assert application == {"part": "applications_default"}
    assert audit == {"part": "audit_logs_default"}


# --- partition maintenance and the metrics view (throwaway database) -------------------------


def _insert_application(conn: Conn, org_id: Any, job_id: Any, created_at: str) -> uuid.UUID:
    app_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO applications (id, organization_id, job_id, candidate_cnic,"
        " candidate_email, candidate_name, status, ai_score, created_at)"
        " VALUES (%s, %s, %s, %s, 'c@example.com', 'C', 'scored', 80, %s::timestamptz)",
        (app_id, org_id, job_id, f"35202-{app_id.int % 10**7:07d}-1", created_at),
    )
    return app_id


def _partition_of(conn: Conn, app_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = conn.execute(
        "SELECT id, tableoid::regclass::text AS part FROM applications WHERE id = ANY(%s)",
        (app_ids,),
    ).fetchall()
    return {row["id"]: row["part"] for row in rows}


def test_creating_a_month_whose_rows_sit_in_the_default_partition_moves_them(
    migrated: Settings,
) -> None:
    ahead = migrated.partition_months_ahead
    target, after = month(ahead + 1), month(ahead + 2)  # the first month without a partition
    name = f"applications_y{target:%Y}m{target:%m}"
    with connect(migrated) as conn:
        ids = create_org_and_job(conn)
        inside = [
            _insert_application(conn, ids.organization_id, ids.job_id, stamp)
            for stamp in (f"{target} 00:00:00+00", f"{target} 12:30:00+00", f"{after} 00:00:00+00")
        ]
        inside, next_month = inside[:2], inside[2]
        conn.execute(
            "INSERT INTO audit_logs (action, occurred_at) VALUES ('probe', %s::timestamptz)",
            (f"{target} 08:00:00+00",),
        )
        assert set(_partition_of(conn, [*inside, next_month]).values()) == {"applications_default"}

        with conn.transaction():
            created = ensure_partitions(conn, ahead + 1)

        assert sorted(created) == sorted([name, f"audit_logs_y{target:%Y}m{target:%m}"])
        placed = _partition_of(conn, [*inside, next_month])
        assert [placed[i] for i in inside] == [name, name]
        assert placed[next_month] == "applications_default"  # upper bound is exclusive
        audit = conn.execute(
            "SELECT tableoid::regclass::text AS part FROM audit_logs WHERE occurred_at = %s",
            (f"{target} 08:00:00+00",),
        ).fetchall()
        assert audit == [{"part": f"audit_logs_y{target:%Y}m{target:%m}"}]
        # The moved-into partition is a full member: bound, primary key, new rows route to it.
        assert partitions_of(conn, "applications")[name] == (
            f"FOR VALUES FROM ('{target} 00:00:00+00') TO ('{after} 00:00:00+00')"
        )
        primary = conn.execute(
            "SELECT count(*) AS n FROM pg_index WHERE indrelid = %s::regclass AND indisprimary",
            (name,),
        ).fetchone()
        assert primary == {"n": 1}
        later = _insert_application(conn, ids.organization_id, ids.job_id, f"{target} 23:00Z")
        assert _partition_of(conn, [later]) == {later: name}

        # Creating it again is a no-op.
        again = conn.execute(
            "SELECT pvara_create_month_partition('applications'::regclass, %s) AS p", (target,)
        ).fetchone()
        assert again == {"p": None}


def test_month_partition_far_ahead_takes_its_rows_out_of_the_default(migrated: Settings) -> None:
    target = month(36)
    name = f"applications_y{target:%Y}m{target:%m}"
    with connect(migrated) as conn:
        ids = create_org_and_job(conn)
        app_id = _insert_application(conn, ids.organization_id, ids.job_id, f"{target} 06:00Z")
        assert _partition_of(conn, [app_id]) == {app_id: "applications_default"}

        made = conn.execute(
            "SELECT pvara_create_month_partition('applications'::regclass, %s) AS p", (target,)
        ).fetchone()

        assert made == {"p": name}
        assert _partition_of(conn, [app_id]) == {app_id: name}


def test_application_metrics_refreshes_concurrently_with_new_rows(migrated: Settings) -> None:
    today = datetime.now(UTC).date()
    with connect(migrated) as conn:
        ids = create_org_and_job(conn)
        for _ in range(3):
            _insert_application(conn, ids.organization_id, ids.job_id, f"{today} 00:00:01Z")

        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY application_metrics")

        rows = conn.execute(
            "SELECT status, date, count, avg_score FROM application_metrics WHERE job_id = %s",
            (ids.job_id,),
        ).fetchall()
        assert [(r["status"], r["date"], r["count"], float(r["avg_score"])) for r in rows] == [
            ("scored", today, 3, 80.0)
        ]

        # A second concurrent refresh (now a diff against existing rows) works as well.
        _insert_application(conn, ids.organization_id, ids.job_id, f"{today} 00:00:02Z")
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY application_metrics")
        row = conn.execute(
            "SELECT count FROM application_metrics WHERE job_id = %s", (ids.job_id,)
        ).fetchone()
        assert row == {"count": 4}
