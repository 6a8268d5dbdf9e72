"""A worker killed (SIGKILL) in the middle of a message: the message is redelivered, done once."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from core.queue import SCORE, SCORE_APPLICATION, create_broker, enqueue
from core.settings import Settings
from ops.processes import Child, pvara_command
from tests.conftest import OrgJob
from tests.pipeline import insert_application, wait_for

# A dead worker's messages go back on the queue once its heartbeat is this old; maintenance
# runs on every command so that happens as soon as the next worker polls.
FAST_RECOVERY = {
    "PVARA_QUEUE_HEARTBEAT_TIMEOUT_MS": "2000",
    "PVARA_QUEUE_MAINTENANCE_CHANCE": "1000000",
}
# Queues of their own (another Redis database): no other worker can take the message.
PRIVATE_DB = 9


def _with_db(url: str, db: int) -> str:
    """``url`` (scheme, auth, host, port and query kept) on Redis database ``db``."""
    return urlsplit(url)._replace(path=f"/{db}").geturl()


def test_the_private_url_swaps_only_the_database() -> None:
    assert _with_db("redis://host:6379", 9) == "redis://host:6379/9"
    assert _with_db("redis://host:6379/", 9) == "redis://host:6379/9"
    assert _with_db("rediss://u:p%40ss@host:6380/2?ssl_cert_reqs=none", 9) == (
        "rediss://u:p%40ss@host:6380/9?ssl_cert_reqs=none"
    )


@pytest.fixture
def private(services_up: Settings) -> Iterator[tuple[Settings, redis.Redis]]:
    url = _with_db(services_up.effective_redis_url, PRIVATE_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield services_up.model_copy(update={"redis_url": url}), client
    client.flushdb()


@contextmanager
def _score_worker(settings: Settings, name: str) -> Iterator[Child]:
    env = {**os.environ, **FAST_RECOVERY, "PVARA_REDIS_URL": settings.effective_redis_url}
    child = Child(
        name,
        pvara_command("worker", "--pool", SCORE, "--processes", "1", "--threads", "1"),
        env,
        settings.home / "test-logs",
    )
    try:
        yield child
    finally:
        child.stop(30)


def _blocked_on(db: psycopg.Connection[Any], holder_pid: int) -> bool:
    row = db.execute(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
        (holder_pid,),
    ).fetchone()
    return bool(row and row["n"])


def test_a_worker_killed_mid_message_loses_nothing_and_scores_once(
    private: tuple[Settings, redis.Redis], db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    settings, redis_client = private
    app_id = insert_application(db, org_job, status="screening")
    broker = create_broker(settings)
    message_id = ""
    with psycopg.connect(settings.effective_database_url, row_factory=dict_row) as holder:
        # Hold the application's row lock: the worker blocks on it inside the actor (its
        # SELECT ... FOR UPDATE), before it can write the result.
        holder.execute("SELECT 1 FROM applications WHERE id = %s FOR UPDATE", (app_id,))
        holder_pid = holder.info.backend_pid
        with _score_worker(settings, f"score-crash-{uuid.uuid4().hex[:8]}") as doomed:
            message = enqueue(broker, SCORE, SCORE_APPLICATION, str(app_id))
            message_id = message.options["redis_message_id"]  # its key in Redis
            wait_for(lambda: _blocked_on(db, holder_pid), 60, "the worker to block on the row lock")
            os.killpg(doomed.proc.pid, signal.SIGKILL)
            doomed.proc.wait(10)
        # PostgreSQL notices the dead client (client_connection_check_interval, core.db) and
        # cancels its statement: nothing is left waiting to complete once the lock is free.
        wait_for(lambda: not _blocked_on(db, holder_pid), 30, "the dead worker's statement to end")
        holder.rollback()

    assert redis_client.hexists(f"dramatiq:{SCORE}.msgs", message_id), "the message was lost"
    status = db.execute("SELECT status FROM applications WHERE id = %s", (app_id,)).fetchone()
    assert status is not None and status["status"] == "screening"

    with _score_worker(settings, f"score-recover-{uuid.uuid4().hex[:8]}"):
        wait_for(
            lambda: not redis_client.hexists(f"dramatiq:{SCORE}.msgs", message_id),
            90,
            "the message to be redelivered and done",
        )

    row = db.execute(
        "SELECT status, ai_score FROM applications WHERE id = %s", (app_id,)
    ).fetchone()
    assert row is not None and row["status"] == "screened" and row["ai_score"] is not None
    logs = db.execute(
        "SELECT count(*) AS n FROM ai_screening_log WHERE application_id = %s", (app_id,)
    ).fetchone()
    assert logs is not None and logs["n"] == 1
    events = db.execute(
        "SELECT count(*) AS n FROM event_outbox WHERE topic = 'applications.screened'"
        " AND payload->>'application_id' = %s",
        (str(app_id),),
    ).fetchone()
    assert events is not None and events["n"] == 1
