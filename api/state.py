"""The resources a running API holds: pools, clients, caches. Built once in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.job_cache import JobCache, JobInfo
from core.settings import Settings
from ingest.blobs import BlobStore, LocalBlobStore
from ingest.probe import KafkaProbe
from ingest.producer import Producer

__all__ = ["ApiState", "JobInfo"]


@dataclass
class ApiState:
    """Everything a request handler needs, injected as the ``state`` dependency."""

    settings: Settings
    db: AsyncConnectionPool
    redis: aioredis.Redis
    producer: Producer
    blobs: BlobStore
    kafka_probe: KafkaProbe
    jobs: JobCache = field(default_factory=lambda: JobCache(60.0))
    _listener: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: Settings, producer: Producer | None = None) -> ApiState:
        pool: AsyncConnectionPool = AsyncConnectionPool(
            settings.effective_database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            kwargs={"row_factory": dict_row, "autocommit": True},
            name="api",
            open=False,
        )
        await pool.open(wait=False)
        state = cls(
            settings=settings,
            db=pool,
            redis=aioredis.Redis.from_url(settings.effective_redis_url),
            producer=producer or Producer(settings, client_id="pvara-api"),
            blobs=LocalBlobStore(settings.effective_blob_dir),
            kafka_probe=KafkaProbe(settings),
            jobs=JobCache(settings.submission_job_cache_ttl_s),
        )
        state._listener = asyncio.create_task(state.jobs.listen(state.redis), name="job-cache")
        return state

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self.producer.close()
        self.kafka_probe.close()
        await self.redis.aclose()
        await self.db.close()

    async def job(self, job_id: uuid.UUID) -> JobInfo | None:
        """A job's owner and status (read on every submission): cached until it changes
        (:mod:`api.job_cache`)."""
        return await self.jobs.get(job_id, self._load_job)

    async def _load_job(self, job_id: uuid.UUID) -> JobInfo | None:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                "SELECT id, organization_id, status FROM jobs WHERE id = %s", (job_id,)
            )
            row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
        return JobInfo(row["id"], row["organization_id"], row["status"]) if row else None
