"""Failures caused by an outage are retried without counting; real failures count as before.

A broker of its own (a private Redis database) with the workers' middleware, a test actor
failing on a real connection error (PostgreSQL on a port nobody listens on), and a real
Dramatiq worker."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import psycopg
import pytest
import redis
from dramatiq.middleware import Retries, default_middleware

from core.queue import create_broker
from core.settings import Settings
from ops.processes import free_port
from tasks.middleware import OutageRetries
from tests.pipeline import running_worker, wait_for

PRIVATE_DB = 13


@pytest.fixture
def private(services_up: Settings) -> Iterator[tuple[Settings, redis.Redis]]:
    url = services_up.effective_redis_url.rsplit("/", 1)[0] + f"/{PRIVATE_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    settings = services_up.model_copy(
        update={
            "redis_url": url,
            "outage_retry_min_backoff_ms": 20,
            "outage_retry_max_backoff_ms": 200,
        }
    )
    yield settings, client
    client.flushdb()


def _broker(settings: Settings, outage_aware: bool) -> dramatiq.Broker:
    middleware = [
        OutageRetries(settings) if m is Retries and outage_aware else m()
        for m in default_middleware
    ]
    return create_broker(settings, middleware=middleware)


def _flaky_actor(broker: dramatiq.Broker, failures: int, error: str) -> tuple[Any, list[int]]:
    calls: list[int] = []
    lock = threading.Lock()
    queue = f"test-{uuid.uuid4().hex[:8]}"

    def flaky() -> None:
        with lock:
            calls.append(1)
            attempt = len(calls)
        if attempt <= failures:
            if error == "outage":
                psycopg.connect(f"postgresql://pvara@127.0.0.1:{free_port()}/x", connect_timeout=1)
            raise ValueError("a real bug")

    actor = dramatiq.actor(flaky, broker=broker, queue_name=queue, max_retries=0, min_backoff=10)
    return actor, calls


def _dead(client: redis.Redis, actor: Any) -> int:
    return int(client.zcard(f"dramatiq:{actor.queue_name}.XQ"))


def test_outage_failures_are_retried_past_max_retries_and_the_message_succeeds(
    private: tuple[Settings, redis.Redis],
) -> None:
    settings, client = private
    broker = _broker(settings, outage_aware=True)
    actor, calls = _flaky_actor(broker, failures=5, error="outage")
    message = actor.send()
    with running_worker(broker, threads=1):
        wait_for(lambda: len(calls) == 6, 60, "five outage retries and a success")
        wait_for(
            lambda: (
                not client.hexists(f"dramatiq:{actor.queue_name}.msgs", message.message_id)
                and not client.hlen(f"dramatiq:{actor.queue_name}.DQ.msgs")
            ),
            30,
            "the message to be done",
        )
    assert _dead(client, actor) == 0


def test_a_real_failure_still_counts_and_is_dead_lettered(
    private: tuple[Settings, redis.Redis],
) -> None:
    settings, client = private
    broker = _broker(settings, outage_aware=True)
    actor, calls = _flaky_actor(broker, failures=5, error="bug")
    actor.send()
    with running_worker(broker, threads=1):
        wait_for(lambda: _dead(client, actor) == 1, 60, "the dead letter")
    assert len(calls) == 1  # max_retries=0: no retry


def test_without_it_an_outage_exhausts_the_retries(
    private: tuple[Settings, redis.Redis],
) -> None:
    """What happened before: a database restart sent messages to the dead-letter queue."""
    settings, client = private
    broker = _broker(settings, outage_aware=False)
    actor, calls = _flaky_actor(broker, failures=5, error="outage")
    actor.send()
    with running_worker(broker, threads=1):
        wait_for(lambda: _dead(client, actor) == 1, 60, "the dead letter")
    assert len(calls) == 1
