"""Long-running processes: the bridge (with the outbox relay) and the worker pools."""

from __future__ import annotations

import os
import signal
import sys
import threading

from core.db import create_pool
from core.liveness import liveness
from core.queue import POOLS, create_broker
from core.settings import Settings
from ingest.bridge import Bridge
from ingest.outbox_relay import OutboxRelay
from ingest.producer import Producer
from ingest.topics import ensure_topics_when_up
from ops.pools import default_processes, default_threads


def run_bridge(settings: Settings) -> None:
    """Run the bridge and the outbox relay until SIGTERM/SIGINT. Starts while Kafka or
    PostgreSQL is still down (both are waited for, with backoff)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    waiting = liveness(settings, "bridge")
    if not ensure_topics_when_up(settings, stop, lambda: waiting.progress("consumer")):
        return
    pool = create_pool(settings, name="bridge", max_size=4, wait=False)
    broker = create_broker(settings)
    producer = Producer(settings, client_id="pvara-bridge")
    relay = OutboxRelay(settings, pool, broker, producer)
    relay_thread = threading.Thread(target=relay.run, args=(stop,), name="outbox", daemon=True)
    relay_thread.start()
    bridge = Bridge(settings, pool, broker, producer)
    try:
        bridge.run(stop)
    finally:
        stop.set()
        relay_thread.join(timeout=10)
        bridge.close()
        pool.close()


def worker_argv(
    settings: Settings, pool: str, processes: int | None, threads: int | None
) -> list[str]:
    """The ``dramatiq`` command line for one pool (or all)."""
    queues = list(POOLS) if pool == "all" else [pool]
    unknown = set(queues) - set(POOLS)
    if unknown:
        raise SystemExit(f"unknown pool {', '.join(sorted(unknown))}; pools: {', '.join(POOLS)}")
    return [
        sys.executable,
        "-m",
        "ops.pool_process",
        "tasks.workers",
        "--processes",
        str(
            processes
            or (default_processes(settings, pool) if pool != "all" else settings.worker_processes)
        ),
        "--threads",
        str(
            threads
            or (default_threads(settings, pool) if pool != "all" else settings.worker_threads)
        ),
        "--queues",
        *queues,
    ]


def exec_worker(settings: Settings, pool: str, processes: int | None, threads: int | None) -> int:
    """Replace this process with a Dramatiq worker for ``pool``."""
    create_broker(settings)  # fail fast on a bad Redis URL before exec
    argv = worker_argv(settings, pool, processes, threads)
    os.execv(argv[0], argv)  # noqa: S606  (the worker replaces this process)
    return 0  # not reached
