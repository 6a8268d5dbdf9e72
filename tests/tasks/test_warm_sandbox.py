"""A worker serving ``parse`` starts its parsers at boot and stops them at shutdown."""

from __future__ import annotations

import os

import dramatiq

from core.queue import PARSE, SCORE
from core.settings import Settings


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_parse_worker_starts_one_parser_per_thread_and_stops_them(
    services_up: Settings, broker: dramatiq.Broker
) -> None:
    from ingest.extract.isolation import default_sandbox, use_sandbox

    worker = dramatiq.Worker(broker, queues=[PARSE], worker_threads=3, worker_timeout=100)
    worker.start()
    try:
        sandbox = default_sandbox()
        pids = sandbox.pids()
        assert sandbox.size == 3 and len(pids) == 3
        assert all(_alive(pid) for pid in pids)
    finally:
        worker.stop(timeout=10_000)
    assert not any(_alive(pid) for pid in pids)
    previous = use_sandbox(None)
    if previous is not None:
        previous.close()


def test_a_worker_without_parse_starts_no_parser(
    services_up: Settings, broker: dramatiq.Broker
) -> None:
    from ingest.extract.isolation import use_sandbox
    from tasks.sandbox import WarmSandbox

    use_sandbox(None)
    worker = dramatiq.Worker(broker, queues=[SCORE], worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        warm = next(m for m in broker.middleware if isinstance(m, WarmSandbox))
        assert warm.sandbox is None
    finally:
        worker.stop(timeout=10_000)
