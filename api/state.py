"""The resources a running API holds: pools, clients, caches. Built once in the lifespan."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.db import CONNECT_KWARGS
from core.pii_crypto import PiiCipher
from core.settings import Settings
from ingest.blob_crypto import encrypted_blob_store
from ingest.blobs import BlobStore
from ingest.probe import KafkaProbe
from ingest.producer import Producer


@dataclass(frozen=True)
class JobInfo:
    id: uuid.UUID
    organization_id: uuid.UUID
    status: str


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
    job_cache_ttl_s: float = 2.0
    _jobs: dict[uuid.UUID, tuple[float, JobInfo | None]] = field(default_factory=dict)

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
        return cls(
            settings=settings,
            db=pool,
            redis=aioredis.Redis.from_url(
                settings.effective_redis_url, socket_timeout=5, socket_connect_timeout=2
            ),
            producer=producer or Producer(settings, client_id="pvara-api"),
            blobs=encrypted_blob_store(settings, pii),
            kafka_probe=KafkaProbe(settings),
            pii=pii,
        )

    async def close(self) -> None:
        self.producer.close()
        self.kafka_probe.close()
        await self.redis.aclose()
        await self.db.close()

    async def job(self, job_id: uuid.UUID) -> JobInfo | None:
        """A job's owner and status, cached for a moment (it is read on every submission)."""
        now = time.monotonic()
        cached = self._jobs.get(job_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db.connection() as conn:
            cur = await conn.execute(
                "SELECT id, organization_id, status FROM jobs WHERE id = %s", (job_id,)
            )
            row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
        info = JobInfo(row["id"], row["organization_id"], row["status"]) if row else None
        if len(self._jobs) > 10_000:
            self._jobs.clear()
        self._jobs[job_id] = (now + self.job_cache_ttl_s, info)
        return info
