"""One leader at a time, each occurrence run once, a fast takeover, and the jobs themselves."""

from __future__ import annotations

import os
import random
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis

from core.queue import create_broker
from core.settings import Settings
from ops.processes import Child, pvara_command
from scheduler.jobs import Job, JobContext, archive_partitions, resend_stuck
from scheduler.runner import Scheduler, latest_occurrence
from tests.conftest import OrgJob
from tests.pipeline import wait_for


@pytest.fixture
def namespace(db: psycopg.Connection[Any]) -> Iterator[str]:
    """A scheduler namespace of its own (lock and ledger); its ledger rows go afterwards."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    db.execute("DELETE FROM scheduler_runs WHERE job LIKE %s", (name + "/%",))


def _runs(db: psycopg.Connection[Any], namespace: str) -> list[dict[str, Any]]:
    return db.execute(
        "SELECT job, scheduled_for, runner, status FROM scheduler_runs WHERE job LIKE %s"
        " ORDER BY scheduled_for",
        (namespace + "/%",),
    ).fetchall()


def test_an_occurrence_claimed_by_one_scheduler_is_refused_to_another(
    services_up: Settings, namespace: str, db: psycopg.Connection[Any]
) -> None:
    settings = services_up.model_copy(update={"scheduler_namespace": namespace})
    job = Job("probe", "* * * * * *", lambda ctx: {}, "test")
    first, second = Scheduler(settings, jobs=[job]), Scheduler(settings, jobs=[job])
    occurrence = latest_occurrence(job.cron, datetime.now(UTC))
    try:
        assert first.claim(job, occurrence) is not None
        assert second.claim(job, occurrence) is None
        assert len(_runs(db, namespace)) == 1
    finally:
        for scheduler in (first, second):
            if scheduler._pool is not None:
                scheduler._pool.close()


def test_latest_occurrence_is_the_slot_at_or_before_now() -> None:
    now = datetime(2026, 3, 10, 14, 37, 12, 500_000, tzinfo=UTC)
    assert latest_occurrence("0 * * * *", now) == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    assert latest_occurrence("*/5 * * * *", now) == datetime(2026, 3, 10, 14, 35, tzinfo=UTC)
    assert latest_occurrence("* * * * * *", now) == now.replace(microsecond=0)
    # Inside a matching minute, a five-field expression's occurrence is the minute itself.
    minute = datetime(2026, 3, 10, 14, 37, tzinfo=UTC)
    assert latest_occurrence("* * * * *", now) == minute
    assert latest_occurrence("* * * * *", minute) == minute
    assert latest_occurrence("37 14 * * *", now) == minute
    assert latest_occurrence("*/5 * * * *", datetime(2026, 3, 10, 14, 35, 40, tzinfo=UTC)) == (
        datetime(2026, 3, 10, 14, 35, tzinfo=UTC)
    )


def _scheduler_process(settings: Settings, namespace: str, name: str) -> Child:
    env = {
        **os.environ,
        "PVARA_SCHEDULER_NAMESPACE": namespace,
        "PVARA_SCHEDULER_JOBS": "sweep_stuck",
        "PVARA_SCHEDULER_CRON": '{"sweep_stuck": "* * * * * *"}',
        "PVARA_SCHEDULER_POLL_S": "0.2",
        "PVARA_SWEEPER_STUCK_AFTER_S": str(10 * 365 * 86400),  # a no-op sweep
    }
    return Child(name, pvara_command("scheduler"), env, settings.home / "test-logs")


def test_two_schedulers_run_each_occurrence_once_and_a_killed_leader_is_replaced_in_seconds(
    services_up: Settings, namespace: str, db: psycopg.Connection[Any]
) -> None:
    first = _scheduler_process(services_up, namespace, f"scheduler-a-{namespace}")
    second: Child | None = None
    try:
        wait_for(
            lambda: any(r["runner"].endswith(f":{first.proc.pid}") for r in _runs(db, namespace)),
            30,
            "the first leader's runs",
        )
        second = _scheduler_process(services_up, namespace, f"scheduler-b-{namespace}")
        started = len(_runs(db, namespace))
        # Both run side by side for a few occurrences: only the leader runs anything.
        wait_for(lambda: len(_runs(db, namespace)) >= started + 4, 30, "four more runs")
        runners = {r["runner"].rsplit(":", 1)[1] for r in _runs(db, namespace)}
        assert runners == {str(first.proc.pid)}

        os.kill(first.proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        first.proc.wait(10)
        wait_for(
            lambda: any(
                r["runner"].endswith(f":{second.proc.pid}")  # type: ignore[union-attr]
                for r in _runs(db, namespace)
            ),
            30,
            "the new leader's runs",
        )
        takeover_s = time.monotonic() - killed_at
        print(f"takeover after kill -9: {takeover_s:.2f}s")
        assert takeover_s < 5

        runs = _runs(db, namespace)
        slots = [(r["job"], r["scheduled_for"]) for r in runs]
        assert len(slots) == len(set(slots))
        assert all(r["status"] in ("ok", "running") for r in runs)
    finally:
        for child in (second, first):
            if child is not None:
                child.stop()


def _old_month() -> date:
    return date(random.randint(1901, 1990), random.randint(1, 12), 1)


def test_retention_detaches_old_partitions_into_the_archive_schema_with_their_rows(
    db: psycopg.Connection[Any],
) -> None:
    month = _old_month()
    name = f"audit_logs_y{month:%Y}m{month:%m}"
    db.execute("SELECT pvara_create_month_partition('audit_logs'::regclass, %s)", (month,))
    db.execute(
        "INSERT INTO audit_logs (action, occurred_at) VALUES ('test', %s)",
        (datetime(month.year, month.month, 2, tzinfo=UTC),),
    )
    try:
        with db.transaction():
            archived = archive_partitions(db, retention_months=24)
        assert f"archive.{name}" in archived
        attached = db.execute(
            "SELECT count(*) AS n FROM pg_inherits WHERE inhrelid = to_regclass(%s)", (name,)
        ).fetchone()
        assert attached is not None and attached["n"] == 0
        rows = db.execute(f'SELECT count(*) AS n FROM archive."{name}"').fetchone()
        assert rows is not None and rows["n"] == 1
    finally:
        db.execute(f'DROP TABLE IF EXISTS archive."{name}"')  # this test's own table
        db.execute(f'DROP TABLE IF EXISTS public."{name}"')


def test_recent_partitions_are_kept_attached(db: psycopg.Connection[Any]) -> None:
    today = datetime.now(UTC).date()
    with db.transaction():
        archived = archive_partitions(db, retention_months=24, today=today)
    current = f"applications_y{today:%Y}m{today:%m}"
    assert f"archive.{current}" not in archived
    assert db.execute("SELECT to_regclass(%s) AS r", (current,)).fetchone()["r"] is not None


def test_sweeper_enqueues_a_stuck_application_once_per_timeout(
    services_up: Settings,
    db: psycopg.Connection[Any],
    org_job: OrgJob,
    redis_client: redis.Redis,
) -> None:
    app_id = uuid.uuid4()
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    db.execute(
        "INSERT INTO application_index (id, organization_id, job_id, created_at)"
        " VALUES (%s, %s, %s, %s)",
        (app_id, org_job.organization_id, org_job.job_id, long_ago),
    )
    db.execute(
        "INSERT INTO applications (id, organization_id, job_id, candidate_cnic, candidate_email,"
        " candidate_name, status, resume_media_type, resume_text, created_at, status_changed_at)"
        " VALUES (%s, %s, %s, %s, 'c@example.com', 'Stuck', 'received', 'text/plain',"
        " 'Python developer', %s, %s)",
        (
            app_id,
            org_job.organization_id,
            org_job.job_id,
            f"{uuid.uuid4().int % 10**13:013d}",
            long_ago,
            long_ago,
        ),
    )
    settings = services_up.model_copy(update={"sweeper_stuck_after_s": 3600})
    from core.db import create_pool

    pool = create_pool(settings, name="test-sweeper", max_size=2)
    ctx = JobContext(settings, pool, create_broker(settings), redis_client)
    try:
        assert str(app_id) in resend_stuck(ctx)
        assert redis_client.get(f"pvara:swept:{app_id}") == b"received"

        def queued_or_parsed() -> bool:
            bodies = redis_client.hvals("dramatiq:parse.msgs")
            status = db.execute(
                "SELECT status FROM applications WHERE id = %s", (app_id,)
            ).fetchone()["status"]
            return any(str(app_id).encode() in body for body in bodies) or status != "received"

        wait_for(queued_or_parsed, 10, "the parse message or its effect")
        assert str(app_id) not in resend_stuck(ctx)  # not again within the timeout
    finally:
        pool.close()
        redis_client.delete(f"pvara:swept:{app_id}")
