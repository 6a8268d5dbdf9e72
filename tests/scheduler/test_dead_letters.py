"""The sweeper leaves dead-lettered applications to a person, and dead letters whose
application got through anyway are deleted (real dead letters, made by a Dramatiq worker)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import psycopg
import pytest
import redis

from core.db import create_pool
from core.deadletters import list_dead
from core.queue import PARSE, PARSE_APPLICATION, create_broker
from core.settings import Settings
from scheduler.jobs import JobContext, clean_dead_letters, resend_stuck
from tests.conftest import OrgJob
from tests.pipeline import running_worker, wait_for

PRIVATE_DB = 14


@pytest.fixture
def private(services_up: Settings) -> Iterator[tuple[Settings, redis.Redis]]:
    url = services_up.effective_redis_url.rsplit("/", 1)[0] + f"/{PRIVATE_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield services_up.model_copy(update={"redis_url": url, "sweeper_stuck_after_s": 60}), client
    client.flushdb()


def _application(db: psycopg.Connection[Any], org_job: OrgJob, status: str) -> str:
    app_id = uuid.uuid4()
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    db.execute(
        "INSERT INTO application_index (id, organization_id, job_id, created_at)"
        " VALUES (%s, %s, %s, %s)",
        (app_id, org_job.organization_id, org_job.job_id, long_ago),
    )
    db.execute(
        "INSERT INTO applications (id, organization_id, job_id, candidate_cnic, candidate_email,"
        " candidate_name, status, resume_media_type, resume_text, created_at, status_changed_at)"
        " VALUES (%s, %s, %s, %s, 'c@example.com', 'Dead', %s, 'text/plain', 'Python', %s, %s)",
        (
            app_id,
            org_job.organization_id,
            org_job.job_id,
            f"{uuid.uuid4().int % 10**13:013d}",
            status,
            long_ago,
            long_ago,
        ),
    )
    return str(app_id)


def _dead_letter_parses(settings: Settings, app_ids: list[str]) -> None:
    """Parse messages that fail for good, on a broker of their own: Dramatiq dead-letters them."""
    broker = create_broker(settings)

    def always_fails(application_id: str) -> None:
        raise RuntimeError(f"cannot parse {application_id}")

    actor = dramatiq.actor(
        always_fails, actor_name=PARSE_APPLICATION, queue_name=PARSE, broker=broker, max_retries=0
    )
    for app_id in app_ids:
        actor.send(app_id)
    client = redis.Redis.from_url(settings.effective_redis_url)
    with running_worker(broker, threads=1):
        wait_for(lambda: client.zcard(f"dramatiq:{PARSE}.XQ") == len(app_ids), 60, "dead letters")


def test_dead_lettered_work_is_not_resent_and_dead_letters_of_what_got_through_are_deleted(
    private: tuple[Settings, redis.Redis], db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    settings, client = private
    parked = _application(db, org_job, "received")  # its parse failed for good: stays parked
    through = _application(db, org_job, "received")  # later got through (a replay, a sweep)
    _dead_letter_parses(settings, [parked, through])
    db.execute("UPDATE applications SET status = 'screening' WHERE id = %s", (through,))

    pool = create_pool(settings, name="test-dead-letters", max_size=2)
    ctx = JobContext(settings, pool, create_broker(settings), client)
    try:
        assert parked not in resend_stuck(ctx)
        assert clean_dead_letters(ctx) == {"deleted": 1}
    finally:
        pool.close()
    left = {d.args[0] for d in list_dead(client, (PARSE,))}
    assert left == {parked}
    db.execute(
        "UPDATE applications SET status = 'withdrawn' WHERE id = ANY(%s::uuid[])",
        ([parked, through],),
    )
