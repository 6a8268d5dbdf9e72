"""Pools scale through Redis; `pvara workers` follows the desired counts and loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from typing import Any

import pytest
import redis

from core.queue import PARSE, PARSE_APPLICATION, create_broker, enqueue
from core.settings import Settings
from ops import pools
from ops.processes import Child, pvara_command
from tests.pipeline import wait_for


@pytest.fixture
def group(redis_client: redis.Redis) -> Any:
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    redis_client.delete(pools.desired_key(name))


def test_scale_refuses_unknown_pools_and_counts_out_of_range(
    services_up: Settings, redis_client: redis.Redis, group: str
) -> None:
    with pytest.raises(pools.ScaleError):
        pools.scale(redis_client, services_up, {"nope": 1}, group)
    with pytest.raises(pools.ScaleError):
        pools.scale(redis_client, services_up, {"parse": -1}, group)
    with pytest.raises(pools.ScaleError):
        pools.parse_scale_args(["parse:4"])
    assert pools.desired(redis_client, services_up, group)["parse"] == pools.default_processes(
        services_up, "parse"
    )


def test_pools_scale_command_sets_desired_counts_that_pools_lists(group: str) -> None:
    scaled = subprocess.run(
        pvara_command("pools", "scale", "parse=4", "score=2", "--group", group),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert scaled.returncode == 0, scaled.stderr
    listed = subprocess.run(
        pvara_command("pools", "--group", group, "--json"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = {row["pool"]: row for row in json.loads(listed.stdout)}
    assert (rows["parse"]["desired"], rows["score"]["desired"]) == (4, 2)
    table = subprocess.run(
        pvara_command("pools", "--group", group), capture_output=True, text=True, timeout=60
    ).stdout
    assert table.splitlines()[0].split()[:3] == ["pool", "queued", "delayed"]
    assert any(
        line.split()[0] == "parse" and line.split()[5] == "4" for line in table.splitlines()[1:]
    )


def _actual(client: redis.Redis, settings: Settings, group: str) -> int:
    return sum(1 for w in pools.workers(client, settings, group=group) if PARSE in w.pools)


def test_supervisor_follows_scaling_and_every_message_is_processed_or_back_on_the_queue(
    services_up: Settings, redis_client: redis.Redis, group: str
) -> None:
    pools.scale(redis_client, services_up, {"parse": 1}, group)
    env = {**os.environ, "PVARA_SUPERVISOR_RECONCILE_S": "0.3", "PVARA_WORKER_HEARTBEAT_S": "0.5"}
    supervisor = Child(
        f"supervisor-{group}",
        pvara_command("workers", "--pools", "parse", "--group", group, "--threads", "2"),
        env,
        services_up.home / "test-logs",
    )
    try:
        wait_for(lambda: _actual(redis_client, services_up, group) == 1, 60, "one parse worker")

        started = time.monotonic()
        pools.scale(redis_client, services_up, {"parse": 3}, group)
        wait_for(lambda: _actual(redis_client, services_up, group) == 3, 60, "three workers")
        print(f"scaled 1 → 3 in {time.monotonic() - started:.1f}s")

        pools.scale(redis_client, services_up, {"parse": 0}, group)
        wait_for(lambda: _actual(redis_client, services_up, group) == 0, 60, "no workers")

        # Unknown application ids: each parse is a real no-op run of the actor. Queued while
        # no worker runs, so the scale-down below lands with most of them still to do.
        broker = create_broker(services_up)
        ids = [
            enqueue(broker, PARSE, PARSE_APPLICATION, str(uuid.uuid4())).options[
                "redis_message_id"  # the message's key in Redis (not its message_id)
            ]
            for _ in range(3_000)
        ]

        def left() -> int:
            return sum(body is not None for body in redis_client.hmget("dramatiq:parse.msgs", ids))

        pools.scale(redis_client, services_up, {"parse": 3}, group)
        wait_for(lambda: left() <= len(ids) - 200, 60, "the workers to get going")
        pools.scale(redis_client, services_up, {"parse": 0}, group)
        wait_for(lambda: _actual(redis_client, services_up, group) == 0, 60, "no workers")

        # Stopped gracefully: whatever is not done goes back on the queue, not held by a
        # stopped worker. A worker leaves the registry as its shutdown starts, so its last
        # messages may still be finishing or being requeued: wait for that to settle. With no
        # worker left, nothing else could move a message held by a killed one.
        def settled() -> tuple[set[str]] | None:
            bodies = redis_client.hmget("dramatiq:parse.msgs", ids)
            pending = {m for m, body in zip(ids, bodies, strict=True) if body is not None}
            queued = {m.decode() for m in redis_client.lrange("dramatiq:parse", 0, -1)}
            return (pending,) if pending <= queued else None

        (pending,) = wait_for(settled, 30, "every unfinished message back on the queue")
        print(f"{len(pending)} of {len(ids)} messages waited on the queue at scale-down")
        assert pending, "every message was done before the scale-down: nothing was tested"

        pools.scale(redis_client, services_up, {"parse": 3}, group)
        wait_for(lambda: left() == 0, 180, "every message processed")
        assert not any(redis_client.zmscore("dramatiq:parse.XQ", ids) or [])
    finally:
        supervisor.stop(60)
    assert not [w for w in pools.workers(redis_client, services_up) if w.group == group]
