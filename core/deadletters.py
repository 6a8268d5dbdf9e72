"""Dramatiq's dead-letter queues on Redis: list, replay, delete.

A message that exhausted its retries sits in ``dramatiq:<queue>.XQ`` (ids sorted by time) with
its body in ``dramatiq:<queue>.XQ.msgs``; Dramatiq drops it after ``dead_message_ttl``.
Replaying re-enqueues a fresh copy (retry count reset) and removes the dead one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import dramatiq
import redis

from core.queue import NAMESPACE, POOLS


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str
    actor: str
    args: list[Any]
    retries: int
    dead_at_ms: int
    error: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _keys(queue: str) -> tuple[str, str]:
    base = f"{NAMESPACE}:{queue}.XQ"
    return base, base + ".msgs"


def list_dead(client: redis.Redis, queues: tuple[str, ...] = POOLS) -> list[DeadLetter]:
    """Every dead-lettered message, oldest first within each queue."""
    found: list[DeadLetter] = []
    for queue in queues:
        index, bodies = _keys(queue)
        entries: list[tuple[bytes, float]] = client.zrange(index, 0, -1, withscores=True)  # type: ignore[assignment]
        for raw_id, score in entries:
            raw = client.hget(bodies, raw_id)
            if raw is None:
                continue
            data = json.loads(raw)
            options = data.get("options", {})
            error = (options.get("traceback") or "").strip().splitlines()
            found.append(
                DeadLetter(
                    queue=queue,
                    message_id=raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id),
                    actor=data.get("actor_name", ""),
                    args=list(data.get("args", [])),
                    retries=int(options.get("retries", 0)),
                    dead_at_ms=int(score),
                    error=error[-1] if error else "",
                )
            )
    return found


def replay(client: redis.Redis, broker: dramatiq.Broker, queue: str, message_id: str) -> bool:
    """Re-enqueue one dead message with fresh retries; False if it is not there."""
    _, bodies = _keys(queue)
    raw = client.hget(bodies, message_id)
    if raw is None:
        return False
    data = json.loads(raw)
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue,
        actor_name=data["actor_name"],
        args=tuple(data.get("args", [])),
        kwargs=data.get("kwargs", {}),
        options={},
    )
    broker.enqueue(message)
    delete(client, queue, message_id)
    return True


def delete(client: redis.Redis, queue: str, message_id: str) -> bool:
    """Drop one dead message for good."""
    index, bodies = _keys(queue)
    removed = client.zrem(index, message_id)
    client.hdel(bodies, message_id)
    return bool(removed)
