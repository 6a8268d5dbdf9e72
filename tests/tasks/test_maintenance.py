"""The scheduler keeps time; the maintenance pool does the housekeeping."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import redis

from core.queue import MAINTENANCE, NAMESPACE, RUN_MAINTENANCE, create_broker
from core.settings import Settings


def _take_maintenance_messages(redis_client: redis.Redis) -> list[dict[str, Any]]:
    taken = []
    while (message_id := redis_client.rpop(f"{NAMESPACE}:{MAINTENANCE}")) is not None:
        raw = redis_client.hget(f"{NAMESPACE}:{MAINTENANCE}.msgs", message_id)
        redis_client.hdel(f"{NAMESPACE}:{MAINTENANCE}.msgs", message_id)
        if raw:
            taken.append(json.loads(raw))
    return taken


def test_the_schedulers_housekeeping_jobs_are_enqueued_into_the_maintenance_pool(
    services_up: Settings, redis_client: redis.Redis
) -> None:
    from core.db import create_pool
    from scheduler.jobs import JOBS, JobContext
    from tasks.maintenance import TASKS

    _take_maintenance_messages(redis_client)
    pool = create_pool(services_up, name="test-maintenance", max_size=1)
    try:
        ctx = JobContext(services_up, pool, create_broker(services_up), redis_client)
        housekeeping = [job for job in JOBS if job.name in TASKS]
        assert {job.name for job in housekeeping} == set(TASKS)
        summaries = [job.run(ctx) for job in housekeeping]
    finally:
        pool.close()
    assert all(s["pool"] == MAINTENANCE for s in summaries)
    sent = _take_maintenance_messages(redis_client)
    assert sorted(m["args"][0] for m in sent) == sorted(TASKS)
    assert {m["actor_name"] for m in sent} == {RUN_MAINTENANCE}


def test_the_maintenance_actor_runs_the_task_it_is_named(
    services_up: Settings, db: psycopg.Connection[Any]
) -> None:
    from tasks.maintenance import run_maintenance

    before = db.execute(
        "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'applications'::regclass"
    ).fetchone()["n"]
    run_maintenance("create_partitions")  # idempotent: the partitions exist afterwards
    after = db.execute(
        "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'applications'::regclass"
    ).fetchone()["n"]
    assert after >= before >= services_up.partition_months_ahead + 1
    run_maintenance("no_such_task")  # logged and dropped, not retried for ever
