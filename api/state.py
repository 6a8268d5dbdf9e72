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
from core.db import CONNECT_KWARGS
from core.pii_crypto import PiiCipher
from core.settings import Settings
from ingest.blob_crypto import encrypted_blob_store
from ingest.blobs import BlobStore
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
    pii: PiiCipher
    jobs: JobCache = field(default_factory=lambda: JobCache(60.0))
    _listener: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: Settings, producer: Producer | None = None) -> ApiState:
        pool: AsyncConnectionPool = AsyncConnectionPool(
            settings.effective_database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            kwargs={"row_factory": dict_row, "autocommit": True, **CONNECT_KWARGS},
            # A connection is checked as it is handed out: after a PostgreSQL restart the
            # dead ones are replaced instead of failing one request each.
            check=AsyncConnectionPool.check_connection,
            # While PostgreSQL restarts a request waits this long for a connection, then 503.
            timeout=5,
            name="api",
            open=False,
        )
        await pool.open(wait=False)
        pii = PiiCipher.from_settings(settings)
        state = cls(
            settings=settings,
            db=pool,
            redis=aioredis.Redis.from_url(
                settings.effective_redis_url, socket_timeout=5, socket_connect_timeout=2
            ),
            producer=producer or Producer(settings, client_id="pvara-api"),
            blobs=encrypted_blob_store(settings, pii),
            kafka_probe=KafkaProbe(settings),
            pii=pii,
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
