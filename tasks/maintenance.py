"""The ``maintenance`` pool: the platform's periodic housekeeping, run on the scheduler's clock.

The scheduler (one leader) decides *when*; it enqueues ``run_maintenance(task)`` here, and this
pool does the work: monthly partitions ahead of time, the metrics view refresh, retention
(old partitions detached into the ``archive`` schema), unreferenced résumé files deleted,
expired offers. Each task is idempotent: an occurrence run twice (a retry after a crash
midway) does no harm. The functions take a :class:`MaintenanceContext` (the scheduler's
``JobContext`` is one), so they can also be called directly.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Protocol

import dramatiq
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from core import offers as core_offers
from core.db import PARTITIONED_TABLES, Pool, ensure_partitions
from core.queue import MAINTENANCE, RUN_MAINTENANCE
from core.settings import Settings
from ingest.blobs import open_blob_store
from tasks import _resources
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)

log = logging.getLogger(__name__)

ARCHIVE_SCHEMA = "archive"
_PARTITION_NAME = re.compile(r"_y(\d{4})m(\d{2})$")
_SWEEP_BATCH = 1000


class MaintenanceContext(Protocol):
    """What a maintenance task uses: the settings and a PostgreSQL pool."""

    @property
    def settings(self) -> Settings: ...

    @property
    def pool(self) -> Any: ...


class _WorkerContext:
    def __init__(self, settings: Settings, pool: Pool) -> None:
        self.settings = settings
        self.pool = pool


def create_partitions(ctx: MaintenanceContext) -> dict[str, Any]:
    """Monthly partitions for this month and ``partition_months_ahead`` more."""
    with ctx.pool.connection() as conn, conn.transaction():
        created = ensure_partitions(conn, ctx.settings.partition_months_ahead)
    return {"created": created}


def refresh_metrics(ctx: MaintenanceContext) -> dict[str, Any]:
    """``REFRESH MATERIALIZED VIEW CONCURRENTLY application_metrics`` (readers never block)."""
    with psycopg.connect(ctx.settings.effective_database_url, autocommit=True) as conn:
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY application_metrics")
    return {"refreshed": "application_metrics"}


def _month_start(months_back: int, today: date) -> date:
    index = today.year * 12 + today.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def archive_partitions(
    conn: psycopg.Connection[Any], retention_months: int, today: date | None = None
) -> list[str]:
    """Detach monthly partitions that end before the retention cutoff; move them to ``archive``.

    A partition for month M is archived once M is more than ``retention_months`` months before
    the current month. Nothing is dropped: the table keeps its rows under ``archive.<name>``.
    Runs in the caller's transaction; returns the archived names.
    """
    cutoff = _month_start(retention_months, today or datetime.now(UTC).date())
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT c.relname AS name, p.relname AS parent"
            "  FROM pg_inherits i"
            "  JOIN pg_class c ON c.oid = i.inhrelid"
            "  JOIN pg_class p ON p.oid = i.inhparent"
            "  JOIN pg_namespace n ON n.oid = p.relnamespace"
            " WHERE p.relname = ANY(%s) AND n.nspname = current_schema()",
            (list(PARTITIONED_TABLES),),
        )
        .fetchall()
    )
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(ARCHIVE_SCHEMA)))
    conn.execute("SET LOCAL lock_timeout = '5s'")
    archived: list[str] = []
    for row in rows:
        name, parent = str(row["name"]), str(row["parent"])
        match = _PARTITION_NAME.search(name)
        if match is None or date(int(match[1]), int(match[2]), 1) >= cutoff:
            continue
        conn.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                sql.Identifier(parent), sql.Identifier(name)
            )
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                sql.Identifier(name), sql.Identifier(ARCHIVE_SCHEMA)
            )
        )
        log.info("partition archived", extra={"partition": name, "schema": ARCHIVE_SCHEMA})
        archived.append(f"{ARCHIVE_SCHEMA}.{name}")
    return archived


def retention(ctx: MaintenanceContext) -> dict[str, Any]:
    """Archive partitions older than ``retention_months`` (see :func:`archive_partitions`)."""
    with ctx.pool.connection() as conn, conn.transaction():
        archived = archive_partitions(conn, ctx.settings.retention_months)
    return {"archived": archived}


def expire_offers(ctx: MaintenanceContext) -> dict[str, Any]:
    """Pending offers past ``expires_at`` become ``expired`` (core.offers, shared with the API)."""
    with ctx.pool.connection() as conn, conn.transaction():
        expired = core_offers.expire_offers(conn)
    return {"expired": expired}


_BLOBS_IN_USE_SQL = "SELECT key FROM pvara_resume_blobs_in_use(%s) AS key"


def sweep_resume_files(ctx: MaintenanceContext) -> dict[str, Any]:
    """Delete the résumé files no application references (archived ones included) that were
    stored more than ``blob_grace_s`` ago: those an erasure had to leave because they were
    recent, and those of submissions that never reached the database."""
    store = open_blob_store(ctx.settings)
    grace = ctx.settings.blob_grace_s
    keys = list(store.keys(min_age_s=grace))
    deleted = 0
    for start in range(0, len(keys), _SWEEP_BATCH):
        batch = keys[start : start + _SWEEP_BATCH]
        with ctx.pool.connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(_BLOBS_IN_USE_SQL, (batch,))
            in_use = {row["key"] for row in rows}
        # min_age_s again: a submission may have stored these bytes since they were listed.
        deleted += sum(store.delete(key, min_age_s=grace) for key in batch if key not in in_use)
    if deleted:
        log.info("unreferenced résumé files deleted", extra={"deleted": deleted})
    return {"examined": len(keys), "deleted": deleted}


#: The maintenance tasks by name (the scheduler's job names).
TASKS: dict[str, Callable[[MaintenanceContext], dict[str, Any]]] = {
    "create_partitions": create_partitions,
    "refresh_metrics": refresh_metrics,
    "retention": retention,
    "sweep_resume_files": sweep_resume_files,
    "expire_offers": expire_offers,
}


def run(settings: Settings) -> dict[str, Any]:
    """Create missing monthly partitions and refresh ``application_metrics`` concurrently
    (``pvara maintenance run``)."""
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        with conn.transaction():
            created = ensure_partitions(conn, settings.partition_months_ahead)
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY application_metrics")
    log.info("maintenance done", extra={"partitions_created": created})
    return {"partitions_created": created, "metrics_refreshed": True}


@dramatiq.actor(
    actor_name=RUN_MAINTENANCE,
    queue_name=MAINTENANCE,
    max_retries=3,
    time_limit=600_000,
    max_age=3_600_000,
)
def run_maintenance(task: str | None = None) -> None:
    """Run one maintenance task by name (the scheduler enqueues these on its clock); with no
    name, :func:`run`."""
    if task is None:
        run(_resources.settings())
        return
    work = TASKS.get(task)
    if work is None:
        log.error("unknown maintenance task", extra={"task": task})
        return
    summary = work(_WorkerContext(_resources.settings(), _resources.db()))
    log.info("maintenance task done", extra={"task": task, "summary": summary})
