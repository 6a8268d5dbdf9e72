"""The submission path's job cache: kept per API process, dropped everywhere when a job
changes, never refilled by a read that raced the change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from litestar.testing import TestClient

from api.job_cache import JobCache, JobInfo
from core.settings import Settings
from tests.api.hr import Org, problem


def _info(status: str = "open") -> JobInfo:
    return JobInfo(uuid.uuid4(), uuid.uuid4(), status)


class _Loads:
    def __init__(self, info: JobInfo) -> None:
        self.info, self.calls = info, 0

    async def __call__(self, job_id: uuid.UUID) -> JobInfo | None:
        self.calls += 1
        return self.info


async def _eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_a_job_is_read_once_then_served_from_memory() -> None:
    async def scenario() -> None:
        cache, load = JobCache(60.0), _Loads(_info())
        first = await cache.get(load.info.id, load)
        assert await cache.get(load.info.id, load) == first == load.info
        assert load.calls == 1

    asyncio.run(scenario())


def test_a_change_published_by_one_process_drops_the_job_in_every_other(
    services_up: Settings,
) -> None:
    async def scenario() -> None:
        redis = aioredis.Redis.from_url(services_up.effective_redis_url)
        here, there = JobCache(60.0), JobCache(60.0)
        listener = asyncio.create_task(there.listen(redis))
        try:
            await asyncio.wait_for(there.listening.wait(), 10)
            load = _Loads(_info())
            await there.get(load.info.id, load)
            await here.changed(redis, load.info.id)
            await _eventually(lambda: load.info.id not in there._entries)
            load.info = JobInfo(load.info.id, load.info.organization_id, "closed")
            again = await there.get(load.info.id, load)
            assert again is not None and again.status == "closed"
            assert load.calls == 2
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await redis.aclose()

    asyncio.run(scenario())


def test_a_read_that_raced_a_change_is_not_kept() -> None:
    async def scenario() -> None:
        cache = JobCache(60.0)
        info = _info()
        started, release = asyncio.Event(), asyncio.Event()

        async def slow(job_id: uuid.UUID) -> JobInfo | None:
            started.set()
            await release.wait()
            return info  # what the database said before the change

        reading = asyncio.create_task(cache.get(info.id, slow))
        await started.wait()
        cache.drop(info.id)  # the job changed while the read was under way
        release.set()
        await reading
        assert info.id not in cache._entries

    asyncio.run(scenario())


def test_entries_expire_even_if_no_change_arrives() -> None:
    async def scenario() -> None:
        cache, load = JobCache(0.05), _Loads(_info())
        await cache.get(load.info.id, load)
        await asyncio.sleep(0.1)
        await cache.get(load.info.id, load)
        assert load.calls == 2

    asyncio.run(scenario())


def test_closing_a_job_refuses_the_next_submission_at_once(
    client: TestClient[Any], org_a: Org
) -> None:
    job = client.post("/api/v1/jobs", headers=org_a.hr, json={"title": "Cached"}).json()
    url = f"/api/v1/jobs/{job['id']}/applications"

    def fields() -> dict[str, str]:
        cnic = f"{uuid.uuid4().int % 10**13:013d}"
        return {
            "candidate_cnic": cnic,
            "candidate_name": "Cache Test",
            "candidate_email": f"c{cnic}@example.com",
            "resume_text": "Python developer with PostgreSQL.",
        }

    assert client.post(url, json=fields()).status_code == 202  # the job is now cached
    assert client.post(f"/api/v1/jobs/{job['id']}/close", headers=org_a.hr).status_code == 200
    problem(client.post(url, json=fields()), 409, "job_closed")
