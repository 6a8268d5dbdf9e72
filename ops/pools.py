"""The pools as operators see them: queue depth, in flight, dead, desired and actual workers.

Everything is read from Redis: Dramatiq's own keys (queue lists, unacked sets, dead letters),
the heartbeats and counters of :class:`tasks.middleware.PoolStats`, and the desired pool sizes
that ``pvara pools scale`` writes and ``pvara workers`` follows.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from core.queue import NAMESPACE, POOLS
from core.settings import Settings
from tasks.middleware import BUCKET_S, FAILURES_KEY, WORKERS_KEY, stats_key

MAX_PROCESSES = 64


class ScaleError(ValueError):
    """A scale request names an unknown pool or a count out of range."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def desired_key(group: str) -> str:
    return f"pvara:pools:desired:{group}"


@dataclass(frozen=True)
class WorkerInfo:
    """One live Dramatiq worker process, from its heartbeat."""

    key: str
    host: str
    pid: int
    group: str
    pools: list[str]
    threads: int
    started: float
    last_seen: float
    processed: int
    failed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PoolStatus:
    pool: str
    queue_depth: int = 0
    delayed: int = 0
    in_flight: int = 0
    dead: int = 0
    desired: int = 0
    actual: int = 0
    processed_1m: int = 0
    failed_1m: int = 0
    workers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup CPU quota (a
    container's limit; ``os.cpu_count()`` would count the node's cores)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores or 1, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores or 1


def default_processes(settings: Settings, pool: str) -> int:
    """A pool's processes unless scaled: ``pool_processes`` (0 = one per usable core), else
    ``worker_processes``."""
    count = settings.pool_processes.get(pool, settings.worker_processes)
    return count if count > 0 else usable_cores()


def default_threads(settings: Settings, pool: str) -> int:
    """Threads per process of a pool: ``pool_threads``, else ``worker_threads``."""
    return settings.pool_threads.get(pool, settings.worker_threads)


def desired(client: redis.Redis, settings: Settings, group: str | None = None) -> dict[str, int]:
    """Desired processes per pool for ``group``; unset pools get :func:`default_processes`."""
    raw = client.hgetall(desired_key(group or settings.worker_group))
    stored = {_text(k): int(v) for k, v in raw.items()}
    return {pool: stored.get(pool, default_processes(settings, pool)) for pool in POOLS}


def scale(
    client: redis.Redis, settings: Settings, changes: Mapping[str, int], group: str | None = None
) -> dict[str, int]:
    """Set the desired processes of some pools; returns every pool's desired count.

    Raises:
        ScaleError: an unknown pool, or a count below 0 or above ``MAX_PROCESSES``.
    """
    for pool, count in changes.items():
        if pool not in POOLS:
            raise ScaleError(f"unknown pool {pool!r}; pools: {', '.join(POOLS)}")
        if not 0 <= count <= MAX_PROCESSES:
            raise ScaleError(f"{pool}: {count} is outside 0..{MAX_PROCESSES}")
    if changes:
        client.hset(
            desired_key(group or settings.worker_group),
            mapping={k: str(v) for k, v in changes.items()},
        )
    return desired(client, settings, group)


def parse_scale_args(items: Iterable[str]) -> dict[str, int]:
    """``["parse=4", "score=2"]`` → ``{"parse": 4, "score": 2}``; raises :class:`ScaleError`."""
    changes: dict[str, int] = {}
    for item in items:
        pool, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit():
            raise ScaleError(f"expected POOL=COUNT, got {item!r}")
        changes[pool.strip()] = int(count)
    return changes


def workers(
    client: redis.Redis, settings: Settings, *, group: str | None = None
) -> list[WorkerInfo]:
    """Workers whose heartbeat is fresh (stale ones are pruned), optionally of one group."""
    stale_after = max(3 * settings.worker_heartbeat_s, 5.0)
    now = time.time()
    found: list[WorkerInfo] = []
    stale: list[bytes | str] = []
    for key, raw in client.hgetall(WORKERS_KEY).items():
        beat = json.loads(raw)
        if now - float(beat.get("last_seen", 0)) > stale_after:
            stale.append(key)
            continue
        if group is not None and beat.get("group") != group:
            continue
        found.append(
            WorkerInfo(
                key=_text(key),
                host=beat["host"],
                pid=int(beat["pid"]),
                group=beat.get("group", "default"),
                pools=list(beat.get("pools", [])),
                threads=int(beat.get("threads", 0)),
                started=float(beat.get("started", 0)),
                last_seen=float(beat["last_seen"]),
                processed=int(beat.get("processed", 0)),
                failed=int(beat.get("failed", 0)),
            )
        )
    if stale:
        client.hdel(WORKERS_KEY, *stale)
    return sorted(found, key=lambda w: (w.host, w.pid))


def series(
    client: redis.Redis, pools: Iterable[str] = POOLS, buckets: int = 60
) -> dict[str, dict[str, list[int]]]:
    """Processed and failed per ``BUCKET_S``-second bucket, oldest first, the current included."""
    pools = list(pools)
    now = int(time.time()) // BUCKET_S
    numbers = list(range(now - buckets + 1, now + 1))
    pipe = client.pipeline(transaction=False)
    for pool in pools:
        for number in numbers:
            pipe.hmget(stats_key(pool, number), "processed", "failed")
    values = iter(pipe.execute())
    out: dict[str, dict[str, list[int]]] = {}
    for pool in pools:
        processed, failed = [], []
        for _ in numbers:
            p, f = next(values)
            processed.append(int(p or 0))
            failed.append(int(f or 0))
        out[pool] = {"processed": processed, "failed": failed}
    return out


def in_flight(
    client: redis.Redis, settings: Settings, pools: Iterable[str] = POOLS
) -> dict[str, int]:
    """Messages fetched and not yet acknowledged, per pool, by workers with a live heartbeat.

    (A dead worker's unacknowledged messages go back to the queue at the broker's next
    maintenance after ``queue_heartbeat_timeout_ms``; they are not counted here.)
    """
    pools = list(pools)
    alive_since = int(time.time() * 1000) - settings.queue_heartbeat_timeout_ms
    worker_ids = client.zrangebyscore(f"{NAMESPACE}:__heartbeats__", alive_since, "+inf")
    pipe = client.pipeline(transaction=False)
    for worker_id in worker_ids:
        for pool in pools:
            pipe.scard(f"{NAMESPACE}:__acks__.{_text(worker_id)}.{pool}")
    counts = iter(pipe.execute())
    totals = dict.fromkeys(pools, 0)
    for _ in worker_ids:
        for pool in pools:
            totals[pool] += int(next(counts))
    return totals


def pool_status(
    client: redis.Redis, settings: Settings, *, group: str | None = None
) -> list[PoolStatus]:
    """One row per pool; ``actual`` counts the live worker processes of ``group`` serving it."""
    group = group or settings.worker_group
    pipe = client.pipeline(transaction=False)
    for pool in POOLS:
        pipe.llen(f"{NAMESPACE}:{pool}")
        pipe.llen(f"{NAMESPACE}:{pool}.DQ")
        pipe.zcard(f"{NAMESPACE}:{pool}.XQ")
    sizes = iter(pipe.execute())
    want = desired(client, settings, group)
    flying = in_flight(client, settings)
    recent = series(client, buckets=60 // BUCKET_S)
    live = workers(client, settings, group=group)
    rows = []
    for pool in POOLS:
        serving = [w.key for w in live if pool in w.pools]
        rows.append(
            PoolStatus(
                pool=pool,
                queue_depth=int(next(sizes)),
                delayed=int(next(sizes)),
                dead=int(next(sizes)),
                in_flight=flying[pool],
                desired=want[pool],
                actual=len(serving),
                processed_1m=sum(recent[pool]["processed"]),
                failed_1m=sum(recent[pool]["failed"]),
                workers=serving,
            )
        )
    return rows


def recent_failures(client: redis.Redis, count: int = 20) -> list[dict[str, Any]]:
    """The latest failed attempts (newest first) with their error line."""
    return [json.loads(raw) for raw in client.lrange(FAILURES_KEY, 0, count - 1)]


def format_pool_table(rows: Iterable[PoolStatus]) -> str:
    """The pool table as fixed-width text."""
    header = (
        "pool",
        "queued",
        "delayed",
        "in flight",
        "dead",
        "desired",
        "actual",
        "done/1m",
        "failed/1m",
    )
    lines = [f"{header[0]:<12}" + "".join(f"{h:>10}" for h in header[1:])]
    for r in rows:
        cells = (
            r.queue_depth,
            r.delayed,
            r.in_flight,
            r.dead,
            r.desired,
            r.actual,
            r.processed_1m,
            r.failed_1m,
        )
        lines.append(f"{r.pool:<12}" + "".join(f"{c:>10}" for c in cells))
    return "\n".join(lines)


def render_pool_table(settings: Settings, group: str | None = None) -> str:
    """The pool table of ``pvara pools`` (and the end of ``pvara demo``)."""
    client = redis.Redis.from_url(settings.effective_redis_url)
    try:
        return format_pool_table(pool_status(client, settings, group=group))
    finally:
        client.close()
