"""Liveness and readiness.

Ready means this API can keep its 202 promise right now: PostgreSQL and Redis answer and
*its own* Kafka producer delivers (a record acknowledged in the last seconds, or a canary sent
now): another client reaching the broker proves nothing about a wedged producer. Live means
the process still does its job: its event loop turns and its producer is not stuck failing
while Kafka answers (the producer heals itself; this catches what it could not heal).
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency

from api.state import ApiState
from core.liveness import liveness


@get("/health/live", tags=["health"], summary="The process is up and does its job")
async def live(state_: NamedDependency[ApiState]) -> Response[dict[str, Any]]:
    problem = liveness(state_.settings, "api").problem()
    if problem is None:
        return Response({"status": "ok"})
    return Response({"status": "wedged", "problem": problem}, status_code=503)


@get(
    "/health/ready",
    tags=["health"],
    summary="PostgreSQL and Redis answer, and this API's Kafka producer delivers",
)
async def ready(state_: NamedDependency[ApiState]) -> Response[dict[str, Any]]:
    async def postgres() -> bool:
        async with state_.db.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
        return True

    async def redis() -> bool:
        return bool(await state_.redis.ping())

    async def kafka() -> bool:
        return await asyncio.to_thread(state_.producer.delivers, timeout_s=2.5)

    names = ("postgres", "redis", "kafka")
    results = await asyncio.gather(
        *(asyncio.wait_for(check(), 3) for check in (postgres, redis, kafka)),
        return_exceptions=True,
    )
    checks = {name: result is True for name, result in zip(names, results, strict=True)}
    ok = all(checks.values())
    return Response(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
