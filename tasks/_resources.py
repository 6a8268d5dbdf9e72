"""Per-process resources of a worker, created lazily (after Dramatiq forked the process)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import redis

from core.db import Pool, create_pool
from core.settings import Settings, get_settings
from ingest.blob_crypto import encrypted_blob_store
from ingest.blobs import BlobStore
from ingest.producer import Producer

T = TypeVar("T")
_lock = threading.Lock()
_made: dict[str, object] = {}


def _once(name: str, make: Callable[[], T]) -> T:
    with _lock:
        if name not in _made:
            _made[name] = make()
        return _made[name]  # type: ignore[return-value]


def settings() -> Settings:
    return get_settings()


def db() -> Pool:
    """The process's PostgreSQL pool. Connections are in autocommit: a stage's single
    statement (:mod:`core.status`) is its own transaction, with no BEGIN/COMMIT round trips;
    multi-statement work opens ``conn.transaction()`` explicitly."""
    return _once("db", _make_pool)


def _make_pool() -> Pool:
    config = settings()
    threads = max(config.worker_threads, *config.pool_threads.values())
    return create_pool(config, name="worker", max_size=threads + 2, configure=_autocommit)


def _autocommit(conn: psycopg.Connection[Any]) -> None:
    conn.autocommit = True


def redis_client() -> redis.Redis:
    return _once("redis", lambda: redis.Redis.from_url(settings().effective_redis_url))


def blobs() -> BlobStore:
    return _once("blobs", lambda: encrypted_blob_store(settings()))


def producer() -> Producer:
    return _once("producer", lambda: Producer(settings(), client_id="pvara-worker"))
