"""The job lookup of the submission path, cached per API process and invalidated on change.

Every submission needs its job's owner and status. Each API process keeps them in memory;
a change to a job (update, close, criteria) calls :meth:`JobCache.changed`, which drops the
entry here and publishes the job id on a Redis channel that every API process listens to
(:meth:`JobCache.listen`), so the others drop it too. Pub/sub is fire-and-forget: a listener
that lost its connection clears its whole cache when it is back, and every entry also expires
after ``ttl_s``, which bounds what a lost message can cost. A lookup that raced an
invalidation is not stored (a generation counter), so a close is never undone by a read that
began before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL = "pvara:jobs:changed"
_ALL = "*"


@dataclass(frozen=True)
class JobInfo:
    id: uuid.UUID
    organization_id: uuid.UUID
    status: str


Loader = Callable[[uuid.UUID], Awaitable[JobInfo | None]]


class JobCache:
    """Job id → :class:`JobInfo` (or None: no such job), see the module docstring."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[uuid.UUID, tuple[float, JobInfo | None]] = {}
        self._generation = 0
        self.listening = asyncio.Event()  # set while subscribed (tests wait on it)

    async def get(self, job_id: uuid.UUID, load: Loader) -> JobInfo | None:
        """The cached job, or ``load(job_id)`` stored for next time."""
        cached = self._entries.get(job_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = self._generation
        info = await load(job_id)
        if generation == self._generation:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[job_id] = (now + self.ttl_s, info)
        return info

    def drop(self, job_id: uuid.UUID | None = None) -> None:
        """Forget one job (None: all of them)."""
        self._generation += 1
        if job_id is None:
            self._entries.clear()
        else:
            self._entries.pop(job_id, None)

    async def changed(self, redis: aioredis.Redis, job_id: uuid.UUID | None) -> None:
        """A job changed (None: a new one, or several): drop it here and in every process."""
        self.drop(job_id)
        try:
            await redis.publish(CHANNEL, str(job_id) if job_id else _ALL)
        except RedisError as exc:  # the others' entries expire after ttl_s
            log.warning("job change not published: %s", exc)

    async def listen(self, redis: aioredis.Redis, *, retry_s: float = 1.0) -> None:
        """Drop what other processes say changed; runs until cancelled."""
        while True:
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self.drop()  # whatever changed while we were not listening
                self.listening.set()
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    data = message.get("data")
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    self.drop(None if text == _ALL else _job_id(text))
            except (RedisError, OSError) as exc:
                self.listening.clear()
                log.warning("job cache lost its Redis subscription; retrying: %s", exc)
                await asyncio.sleep(retry_s)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _job_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
