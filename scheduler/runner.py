"""The scheduler loop: elect a leader, and on the leader run each job's due occurrence once.

Every tick the leader computes, per job, the latest cron occurrence at or before now and claims
it by inserting ``(job, scheduled_for)`` into ``scheduler_runs``; only the process whose insert
succeeded runs the job. The unique key makes a double run impossible even if two processes
believed they led at once. A new leader catches up the latest missed occurrence of each job
(not every one it missed).

The loop survives its dependencies: a PostgreSQL or Redis outage costs the ticks it lasts
(logged, retried with backoff), never the process; leadership is taken again once the
database is back. Each turn of the loop refreshes the scheduler's liveness file.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import redis
from croniter import croniter
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from core.db import create_pool
from core.liveness import liveness
from core.logs import request_id_var
from core.outages import describe
from core.queue import create_broker, redis_client
from core.settings import Settings
from scheduler.jobs import JOBS, Job, JobContext
from scheduler.leader import LeaderLock, lock_key

log = logging.getLogger(__name__)


def configured_jobs(settings: Settings, jobs: Sequence[Job] = JOBS) -> list[Job]:
    """The jobs enabled by ``scheduler_jobs``, with ``scheduler_cron`` overrides applied."""
    enabled = {name.strip() for name in settings.scheduler_jobs.split(",") if name.strip()}
    known = {job.name for job in jobs}
    unknown = (enabled | set(settings.scheduler_cron)) - known
    if unknown:
        raise ValueError(f"unknown scheduler job(s): {', '.join(sorted(unknown))}")
    chosen = []
    for job in jobs:
        if enabled and job.name not in enabled:
            continue
        cron = settings.scheduler_cron.get(job.name, job.cron)
        if not croniter.is_valid(cron):
            raise ValueError(f"{job.name}: invalid cron expression {cron!r}")
        chosen.append(Job(job.name, cron, job.run, job.description))
    return chosen


def latest_occurrence(cron: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` matching ``cron`` (UTC).

    (Not ``croniter.match``: for a five-field expression it matches every second of a
    matching minute, which would make each second of that minute an occurrence of its own.)
    """
    start = now.replace(microsecond=0) + timedelta(seconds=1)
    previous: datetime = croniter(cron, start).get_prev(datetime)
    return previous


class Scheduler:
    """One scheduler process: follower until it wins the lock, then leader until it loses it."""

    def __init__(
        self,
        settings: Settings,
        *,
        jobs: Sequence[Job] | None = None,
        pool: ConnectionPool[Any] | None = None,
        broker: dramatiq.Broker | None = None,
    ) -> None:
        self.settings = settings
        self.jobs = list(jobs) if jobs is not None else configured_jobs(settings)
        self.runner = f"{socket.gethostname()}:{os.getpid()}"
        self.lock = LeaderLock(settings, lock_key(settings.scheduler_namespace))
        self._prefix = f"{settings.scheduler_namespace}/" if settings.scheduler_namespace else ""
        self._pool: ConnectionPool[Any] | None = pool
        self._broker = broker
        self._redis: redis.Redis | None = None
        self._seen: dict[str, datetime] = {}  # job → latest occurrence already claimed/seen

    def _context(self) -> JobContext:
        if self._pool is None:
            self._pool = create_pool(self.settings, name="scheduler", max_size=3, wait=False)
        if self._broker is None:
            self._broker = create_broker(self.settings)
        if self._redis is None:
            self._redis = redis_client(self.settings)
        return JobContext(self.settings, self._pool, self._broker, self._redis)

    def claim(self, job: Job, scheduled_for: datetime) -> int | None:
        """Record the occurrence as started by this runner; None if it was claimed already."""
        with self._context().pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO scheduler_runs (job, scheduled_for, runner) VALUES (%s, %s, %s)"
                " ON CONFLICT (job, scheduled_for) DO NOTHING RETURNING id",
                (self._prefix + job.name, scheduled_for, self.runner),
            ).fetchone()
            conn.commit()
        return int(row["id"]) if row else None

    def run_due(self, now: datetime | None = None) -> list[str]:
        """Claim and run each job's latest occurrence not yet run; returns the jobs run."""
        now = now or datetime.now(UTC)
        ran = []
        for job in self.jobs:
            if not self.lock.still_held():
                break
            occurrence = latest_occurrence(job.cron, now)
            if self._seen.get(job.name) == occurrence:
                continue
            run_id = self.claim(job, occurrence)
            self._seen[job.name] = occurrence
            if run_id is None:
                continue
            self._execute(job, run_id, occurrence)
            ran.append(job.name)
        return ran

    def _execute(self, job: Job, run_id: int, occurrence: datetime) -> None:
        token = request_id_var.set(f"sched-{run_id}")
        started = time.perf_counter()
        try:
            detail: dict[str, Any] = job.run(self._context())
            status = "ok"
        except Exception as exc:
            log.exception("scheduler job failed", extra={"job": job.name})
            detail, status = {"error": f"{type(exc).__name__}: {exc}"[:1000]}, "failed"
        finally:
            request_id_var.reset(token)
        detail["duration_s"] = round(time.perf_counter() - started, 3)
        with self._context().pool.connection() as conn:
            conn.execute(
                "UPDATE scheduler_runs SET finished_at = now(), status = %s, detail = %s"
                " WHERE id = %s",
                (status, Jsonb(detail), run_id),
            )
            conn.commit()
        log.info(
            "scheduler job ran",
            extra={
                "job": job.name,
                "scheduled_for": occurrence.isoformat(),
                "status": status,
                "detail": json.dumps(detail, default=str),
            },
        )

    def run(self, stop: threading.Event) -> None:
        """Follow or lead until ``stop`` is set; leadership is released on the way out."""
        log.info(
            "scheduler started",
            extra={"runner": self.runner, "jobs": {j.name: j.cron for j in self.jobs}},
        )
        leading = False
        failures = 0
        alive = liveness(self.settings, "scheduler")
        try:
            while not stop.is_set():
                alive.progress("tick")
                try:
                    held = self.lock.try_acquire()
                    if held != leading:
                        leading = held
                        log.info(
                            "scheduler leadership " + ("acquired" if held else "lost"),
                            extra={"runner": self.runner},
                        )
                    if held:
                        self.run_due()
                    failures = 0
                except Exception as exc:
                    # A dependency went away mid-tick (a dead pooled connection is replaced
                    # by the pool's check; a restart in progress fails until it is over).
                    failures += 1
                    delay = min(10.0, self.settings.scheduler_poll_s * 2**failures)
                    log.warning(
                        "scheduler tick failed; retrying",
                        extra={"error": describe(exc), "retry_in_s": delay},
                    )
                    stop.wait(delay)
                    continue
                stop.wait(self.settings.scheduler_poll_s)
        finally:
            self.lock.release()
            if self._pool is not None:
                self._pool.close()


def run_scheduler(settings: Settings) -> None:
    """Run a scheduler until SIGTERM/SIGINT."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Scheduler(settings).run(stop)
