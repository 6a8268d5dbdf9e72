"""Enqueueing by actor name; many messages in one Redis round trip."""

from __future__ import annotations

import json
import uuid

import redis

from core.queue import NAMESPACE, create_broker, enqueue_many, handoff
from core.settings import Settings


def test_many_messages_go_in_one_pipeline_each_a_regular_dramatiq_message(
    services_up: Settings, redis_client: redis.Redis
) -> None:
    broker = create_broker(services_up)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    try:
        sent = enqueue_many(broker, queue, "some_actor", [(str(i), {"n": i}) for i in range(25)])
        assert sent == 25
        ids = redis_client.lrange(f"{NAMESPACE}:{queue}", 0, -1)
        assert len(ids) == 25
        stored = redis_client.hmget(f"{NAMESPACE}:{queue}.msgs", ids)
        messages = [json.loads(raw) for raw in stored if raw is not None]
        assert sorted(int(m["args"][0]) for m in messages) == list(range(25))
        assert {m["actor_name"] for m in messages} == {"some_actor"}
        assert {m["queue_name"] for m in messages} == {queue}
        assert len({m["message_id"] for m in messages}) == 25
    finally:
        redis_client.delete(f"{NAMESPACE}:{queue}", f"{NAMESPACE}:{queue}.msgs")


def test_a_handoff_is_plain_json() -> None:
    from datetime import UTC, datetime

    row = {"id": uuid.uuid4(), "created_at": datetime(2026, 1, 2, tzinfo=UTC), "n": 3, "x": 9}
    assert handoff(row, ("id", "created_at", "n", "missing")) == {
        "id": str(row["id"]),
        "created_at": "2026-01-02T00:00:00+00:00",
        "n": 3,
        "missing": None,
    }
