"""The scheduler's jobs. Each takes a :class:`JobContext` and returns a JSON-able summary.

Every job is idempotent: running an occurrence again (after a crash mid-run) does no harm.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import dramatiq
import psycopg
import redis
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from core import offers as core_offers
from core.db import PARTITIONED_TABLES, ensure_partitions
from core.deadletters import DeadLetter, list_dead
from core.deadletters import delete as delete_dead
from core.domain import ApplicationStatus as S
from core.queue import PARSE, PARSE_APPLICATION, SCORE, SCORE_APPLICATION, enqueue
from core.settings import Settings
from ingest.blobs import open_blob_store

log = logging.getLogger(__name__)

ARCHIVE_SCHEMA = "archive"
_PARTITION_NAME = re.compile(r"_y(\d{4})m(\d{2})$")
_SWEEP_BATCH = 1000


@dataclass(frozen=True)
class JobContext:
    """What a job may use: settings, a PostgreSQL pool, the broker and Redis."""

    settings: Settings
    pool: ConnectionPool[Any]
    broker: dramatiq.Broker
    redis: redis.Redis


@dataclass(frozen=True)
class Job:
    name: str
    cron: str
    run: Callable[[JobContext], dict[str, Any]]
    description: str


def create_partitions(ctx: JobContext) -> dict[str, Any]:
    """Monthly partitions for this month and ``partition_months_ahead`` more."""
    with ctx.pool.connection() as conn, conn.transaction():
        created = ensure_partitions(conn, ctx.settings.partition_months_ahead)
    return {"created": created}


def refresh_metrics(ctx: JobContext) -> dict[str, Any]:
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


def retention(ctx: JobContext) -> dict[str, Any]:
    """Archive partitions older than ``retention_months`` (see :func:`archive_partitions`)."""
    with ctx.pool.connection() as conn, conn.transaction():
        archived = archive_partitions(conn, ctx.settings.retention_months)
    return {"archived": archived}


_STUCK_SQL = """
SELECT id::text AS id, status FROM applications
 WHERE status = ANY(%s) AND status_changed_at < now() - make_interval(secs => %s)
 ORDER BY status_changed_at
 LIMIT %s
"""


#: The stage an actor's dead letter belongs to: the status its application waits in.
_STAGE_OF_ACTOR = {PARSE_APPLICATION: S.RECEIVED.value, SCORE_APPLICATION: S.SCREENING.value}


def _dead_lettered(ctx: JobContext) -> dict[str, list[DeadLetter]]:
    """Dead-lettered parse and score messages, by application id."""
    found: dict[str, list[DeadLetter]] = {}
    for letter in list_dead(ctx.redis, (PARSE, SCORE)):
        if letter.actor in _STAGE_OF_ACTOR and letter.args and isinstance(letter.args[0], str):
            found.setdefault(letter.args[0], []).append(letter)
    return found


def resend_stuck(ctx: JobContext) -> list[str]:
    """Enqueue again applications stuck in ``received`` (→ parse) or ``screening`` (→ score).

    PostgreSQL is the source of truth; a message lost in Redis (crash before an fsync, a
    worker killed) leaves its application in one of these states. Each application is
    re-enqueued at most once per ``sweeper_stuck_after_s`` (a Redis marker), and the actors
    are idempotent. One whose message of that stage sits in a dead-letter queue (it failed
    every retry: a person must look) is left alone. Returns the ids enqueued.
    """
    after = ctx.settings.sweeper_stuck_after_s
    with ctx.pool.connection() as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(_STUCK_SQL, ([S.RECEIVED.value, S.SCREENING.value], after, _SWEEP_BATCH))
            .fetchall()
        )
    dead = _dead_lettered(ctx) if rows else {}
    sent = []
    for row in rows:
        app_id, status = str(row["id"]), str(row["status"])
        if any(_STAGE_OF_ACTOR[d.actor] == status for d in dead.get(app_id, [])):
            continue
        if not ctx.redis.set(f"pvara:swept:{app_id}", status, nx=True, ex=max(after, 1)):
            continue
        if status == S.RECEIVED:
            enqueue(ctx.broker, PARSE, PARSE_APPLICATION, app_id)
        else:
            enqueue(ctx.broker, SCORE, SCORE_APPLICATION, app_id)
        sent.append(app_id)
    return sent


def sweep_stuck(ctx: JobContext) -> dict[str, Any]:
    """The scheduler job around :func:`resend_stuck`."""
    sent = resend_stuck(ctx)
    if sent:
        log.warning("stuck applications enqueued again", extra={"count": len(sent)})
    return {"enqueued": len(sent)}


_STATUSES_SQL = """
SELECT id::text AS id, status FROM applications WHERE id = ANY(%s::uuid[])
"""


def clean_dead_letters(ctx: JobContext) -> dict[str, Any]:
    """Delete the dead-lettered parse/score messages whose application has since moved past
    that stage (the sweeper or a replay got it through): they no longer need anyone."""
    dead = _dead_lettered(ctx)
    if not dead:
        return {"deleted": 0}
    with ctx.pool.connection() as conn:
        rows = conn.cursor(row_factory=dict_row).execute(_STATUSES_SQL, (list(dead),))
        statuses = {str(row["id"]): str(row["status"]) for row in rows}
    deleted = 0
    for app_id, letters in dead.items():
        status = statuses.get(app_id)
        for letter in letters:
            if status is not None and status != _STAGE_OF_ACTOR[letter.actor]:
                deleted += delete_dead(ctx.redis, letter.queue, letter.message_id)
    if deleted:
        log.info("dead letters of applications that got through deleted", extra={"n": deleted})
    return {"deleted": deleted}


def expire_offers(ctx: JobContext) -> dict[str, Any]:
    """Pending offers past ``expires_at`` become ``expired`` (core.offers, shared with the API)."""
    with ctx.pool.connection() as conn, conn.transaction():
        expired = core_offers.expire_offers(conn)
    return {"expired": expired}


_BLOBS_IN_USE_SQL = "SELECT key FROM pvara_resume_blobs_in_use(%s) AS key"


def sweep_resume_files(ctx: JobContext) -> dict[str, Any]:
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


JOBS: tuple[Job, ...] = (
    Job(
        "create_partitions",
        "15 2 * * *",
        create_partitions,
        "monthly partitions ahead of time (daily)",
    ),
    Job(
        "refresh_metrics",
        "0 * * * *",
        refresh_metrics,
        "application_metrics refreshed concurrently (hourly)",
    ),
    Job(
        "retention",
        "45 3 * * *",
        retention,
        "partitions past retention detached into the archive schema (daily)",
    ),
    Job(
        "sweep_stuck",
        "* * * * *",
        sweep_stuck,
        "re-enqueue applications stuck in received/screening (every minute)",
    ),
    Job(
        "clean_dead_letters",
        "*/5 * * * *",
        clean_dead_letters,
        "delete dead-lettered parse/score messages whose application got through",
    ),
    Job(
        "sweep_resume_files",
        "30 4 * * *",
        sweep_resume_files,
        "résumé files no application references, past blob_grace_s, deleted (daily)",
    ),
    Job(
        "expire_offers",
        "*/10 * * * *",
        expire_offers,
        "pending offers past their expiry become expired (every 10 minutes)",
    ),
)
