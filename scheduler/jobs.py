"""The scheduler's jobs. Each takes a :class:`JobContext` and returns a JSON-able summary.

The scheduler keeps time; the work of the housekeeping jobs (partitions, metrics, retention,
résumé files, offers) is enqueued into the ``maintenance`` pool (:mod:`tasks.maintenance`),
as the pool's Deployment expects. ``sweep_stuck`` runs here: it only enqueues. Every job is
idempotent: running an occurrence again (after a crash mid-run) does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from core.deadletters import DeadLetter, list_dead
from core.deadletters import delete as delete_dead
from core.domain import ApplicationStatus as S
from core.queue import (
    MAINTENANCE,
    PARSE,
    PARSE_APPLICATION,
    RUN_MAINTENANCE,
    SCORE,
    SCORE_APPLICATION,
    enqueue,
)
from core.settings import Settings

# The work itself lives with the pool that does it; these names stay importable from here.
from tasks.maintenance import (
    ARCHIVE_SCHEMA,
    archive_partitions,
    create_partitions,
    expire_offers,
    refresh_metrics,
    retention,
    sweep_resume_files,
)

__all__ = [
    "ARCHIVE_SCHEMA",
    "JOBS",
    "Job",
    "JobContext",
    "archive_partitions",
    "clean_dead_letters",
    "create_partitions",
    "expire_offers",
    "refresh_metrics",
    "resend_stuck",
    "retention",
    "sweep_resume_files",
    "sweep_stuck",
]

log = logging.getLogger(__name__)

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


def _in_maintenance_pool(task: str) -> Callable[[JobContext], dict[str, Any]]:
    """A job that hands ``task`` to the ``maintenance`` pool (the scheduler only keeps time)."""

    def run(ctx: JobContext) -> dict[str, Any]:
        enqueue(ctx.broker, MAINTENANCE, RUN_MAINTENANCE, task)
        return {"enqueued": task, "pool": MAINTENANCE}

    run.__name__ = task
    return run


JOBS: tuple[Job, ...] = (
    Job(
        "create_partitions",
        "15 2 * * *",
        _in_maintenance_pool("create_partitions"),
        "monthly partitions ahead of time (daily)",
    ),
    Job(
        "refresh_metrics",
        "0 * * * *",
        _in_maintenance_pool("refresh_metrics"),
        "application_metrics refreshed concurrently (hourly)",
    ),
    Job(
        "retention",
        "45 3 * * *",
        _in_maintenance_pool("retention"),
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
        _in_maintenance_pool("sweep_resume_files"),
        "résumé files no application references, past blob_grace_s, deleted (daily)",
    ),
    Job(
        "expire_offers",
        "*/10 * * * *",
        _in_maintenance_pool("expire_offers"),
        "pending offers past their expiry become expired (every 10 minutes)",
    ),
)
