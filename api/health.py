"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency

from api.state import ApiState


@get("/health/live", tags=["health"], summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", tags=["health"], summary="PostgreSQL, Redis and Kafka all answer")
async def ready(state_: NamedDependency[ApiState]) -> Response[dict[str, Any]]:
    async def postgres() -> bool:
        async with state_.db.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
        return True

    async def redis() -> bool:
        return bool(await state_.redis.ping())

    async def kafka() -> bool:
        return await asyncio.to_thread(state_.kafka_probe.answers)

    checks: dict[str, bool] = {}
    for name, check in (("postgres", postgres), ("redis", redis), ("kafka", kafka)):
        try:
            checks[name] = await asyncio.wait_for(check(), 3)
        except Exception:
            checks[name] = False
    ok = all(checks.values())
    return Response(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
