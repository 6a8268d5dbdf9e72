"""Dramatiq middleware: pool statistics and worker heartbeats in Redis, log context, retries
that do not count outages, and worker processes that die with their parent.

What a worker records (read by ``ops.pools`` and ``ops.metrics`` at scrape time, so the API
process can show every pool's numbers without talking to the workers):

``pvara:tasks``                     hash ``{actor}|{pool}|{field}`` → cumulative count, failed,
                                    sum (seconds) and per-bucket counts ``le=<bound>``.
``pvara:stats:{pool}:{bucket}``     hash ``processed``/``failed`` per 5-second bucket (1 h TTL).
``pvara:failures``                  list of the latest failures (JSON), newest first.
``pvara:workers``                   hash ``{host}:{pid}`` → heartbeat (JSON) of each worker.

Counters are kept in memory and flushed every ``worker_heartbeat_s``: one Redis round trip per
second instead of one per message.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import socket
import threading
import time
import traceback
import uuid
from collections import defaultdict
from typing import Any

import dramatiq
import redis
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, Retries

from core.liveness import liveness
from core.logs import application_id_var, configure_logging
from core.outages import describe, is_outage
from core.parent_death import die_with_parent
from core.queue import POOLS
from core.settings import Settings

TASKS_KEY = "pvara:tasks"
STATS_PREFIX = "pvara:stats"
FAILURES_KEY = "pvara:failures"
WORKERS_KEY = "pvara:workers"
BUCKET_S = 5
STATS_TTL_S = 3900
FAILURES_KEPT = 200
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)

log = logging.getLogger(__name__)


def stats_key(pool: str, bucket: int) -> str:
    """The Redis hash of one pool's 5-second bucket (``bucket`` = unix time // 5)."""
    return f"{STATS_PREFIX}:{pool}:{bucket}"


def _application_id(message: MessageProxy) -> str | None:
    candidate = message.kwargs.get("application_id") or (message.args[0] if message.args else None)
    if isinstance(candidate, str):
        try:
            return str(uuid.UUID(candidate))
        except ValueError:
            return None
    return None


class PoolStats(Middleware):
    """Times every message, counts outcomes per actor and pool, and sends heartbeats.

    Also sets ``application_id`` in the log context while an actor whose first argument (or
    ``application_id`` keyword) is an application id runs, and switches worker processes to
    the JSON log format.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._counts: dict[str, float] = defaultdict(float)
        self._buckets: dict[tuple[str, int, str], int] = defaultdict(int)
        self._failures: list[str] = []
        self._processed = 0
        self._failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker_key = ""
        self._heartbeat: dict[str, Any] = {}
        self._running: dict[int, tuple[float, float]] = {}  # thread → (started, limit s)

    # --- process and worker lifecycle ---------------------------------------------------------
    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        configure_logging(self._settings.log_level)
        liveness(self._settings, "worker").add_check(self.overdue)

    def overdue(self) -> str | None:
        """Why this worker is wedged: a message still running well past its time limit
        (Dramatiq's TimeLimit cannot interrupt a thread blocked in C), or None."""
        now = time.monotonic()
        with self._lock:
            running = list(self._running.values())
        for started, limit_s in running:
            if now - started > limit_s + self._settings.liveness_timeout_s:
                return f"a message has been running for {now - started:.0f} s"
        return None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        whitelist = getattr(worker, "consumer_whitelist", None)
        queues = sorted(whitelist) if whitelist else list(POOLS)
        self._worker_key = f"{socket.gethostname()}:{os.getpid()}"
        self._heartbeat = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "group": self._settings.worker_group,
            "pools": [q for q in queues if q in POOLS],
            "threads": worker.worker_threads,
            "started": time.time(),
        }
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pvara-stats", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.flush()
            self._redis().hdel(WORKERS_KEY, self._worker_key)
        except redis.RedisError:
            log.warning("could not flush worker statistics at shutdown")

    # --- messages -----------------------------------------------------------------------------
    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._local.started = time.perf_counter()
        self._local.token = application_id_var.set(_application_id(message))
        limit_ms = message.options.get("time_limit") or _actor_option(
            broker, message.actor_name, "time_limit", 600_000
        )
        with self._lock:
            self._running[threading.get_ident()] = (time.monotonic(), float(limit_ms) / 1000)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = getattr(self._local, "started", None)
        duration = time.perf_counter() - started if started is not None else 0.0
        with self._lock:
            self._running.pop(threading.get_ident(), None)
        self.record(
            message.queue_name,
            message.actor_name,
            duration,
            exception,
            message_id=message.message_id,
            application_id=application_id_var.get(),
        )
        token = getattr(self._local, "token", None)
        if token is not None:
            application_id_var.reset(token)
            self._local.token = None

    def record(
        self,
        queue: str,
        actor: str,
        duration_s: float,
        exception: BaseException | None = None,
        *,
        message_id: str = "",
        application_id: str | None = None,
    ) -> None:
        """Count one finished message (kept in memory until the next :meth:`flush`)."""
        pool = queue.removesuffix(".DQ")
        bound = next((b for b in DURATION_BUCKETS if duration_s <= b), "+Inf")
        bucket = int(time.time()) // BUCKET_S
        with self._lock:
            prefix = f"{actor}|{pool}|"
            self._counts[prefix + "count"] += 1
            self._counts[prefix + "sum"] += duration_s
            self._counts[prefix + f"le={bound}"] += 1
            self._buckets[(pool, bucket, "processed")] += 1
            self._processed += 1
            if exception is not None:
                self._counts[prefix + "failed"] += 1
                self._buckets[(pool, bucket, "failed")] += 1
                self._failed += 1
                self._failures.append(
                    json.dumps(
                        {
                            "ts": time.time(),
                            "pool": pool,
                            "actor": actor,
                            "message_id": message_id,
                            "application_id": application_id,
                            "error": _error_line(exception),
                        }
                    )
                )

    # --- Redis --------------------------------------------------------------------------------
    def _redis(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self._settings.effective_redis_url)
        return self._client

    def flush(self) -> None:
        """Write the counters gathered since the last flush and this worker's heartbeat."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(float)
            buckets, self._buckets = self._buckets, defaultdict(int)
            failures, self._failures = self._failures, []
            processed, failed = self._processed, self._failed
        pipe = self._redis().pipeline(transaction=False)
        for field, value in counts.items():
            if field.endswith("|sum"):
                pipe.hincrbyfloat(TASKS_KEY, field, value)
            else:
                pipe.hincrby(TASKS_KEY, field, int(value))
        for (pool, bucket, kind), n in buckets.items():
            pipe.hincrby(stats_key(pool, bucket), kind, n)
            pipe.expire(stats_key(pool, bucket), STATS_TTL_S)
        if failures:
            pipe.lpush(FAILURES_KEY, *failures)
            pipe.ltrim(FAILURES_KEY, 0, FAILURES_KEPT - 1)
        if self._worker_key:
            beat = {
                **self._heartbeat,
                "last_seen": time.time(),
                "processed": processed,
                "failed": failed,
            }
            pipe.hset(WORKERS_KEY, self._worker_key, json.dumps(beat))
        try:
            pipe.execute()
        except redis.RedisError:
            with self._lock:  # keep the numbers for the next attempt
                for field, value in counts.items():
                    self._counts[field] += value
                for key, n in buckets.items():
                    self._buckets[key] += n
                self._failures[:0] = failures
            raise

    def _run(self) -> None:
        while True:
            try:
                self.flush()
            except redis.RedisError as exc:
                log.warning("worker statistics not flushed: %s", exc)
            if self._stop.wait(self._settings.worker_heartbeat_s):
                return


class OutageRetries(Retries):
    """Dramatiq's retries, except that a failure caused by an outage (PostgreSQL, Redis or
    Kafka unreachable: :func:`core.outages.is_outage`) is not counted towards the message's
    ``max_retries``: the message runs again after a short backoff (``outage_retry_*``), as
    often as needed for up to ``outage_retry_limit_s``. A database restart therefore costs no
    retries and sends nothing to the dead-letter queue."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None or not is_outage(exception):
            message.options.pop("outage_since_ms", None)
            message.options.pop("outage_retries", None)
            super().after_process_message(  # type: ignore[no-untyped-call]
                broker, message, result=result, exception=exception
            )
            return
        now_ms = int(time.time() * 1000)
        since_ms = message.options.setdefault("outage_since_ms", now_ms)
        if now_ms - since_ms > self._settings.outage_retry_limit_s * 1000:
            super().after_process_message(  # type: ignore[no-untyped-call]
                broker, message, result=result, exception=exception
            )
            return
        attempt = int(message.options.get("outage_retries", 0))
        message.options["outage_retries"] = attempt + 1
        message.options["traceback"] = traceback.format_exc(limit=30)
        backoff = min(
            self._settings.outage_retry_max_backoff_ms,
            self._settings.outage_retry_min_backoff_ms * 2 ** min(attempt, 16),
        )
        delay = int(backoff * random.uniform(0.5, 1.0))
        log.warning(
            "message failed on an outage; retrying without counting it",
            extra={
                "actor": message.actor_name,
                "message_id": message.message_id,
                "error": describe(exception),
                "retry_in_ms": delay,
                "outage_retries": attempt + 1,
            },
        )
        try:
            broker.enqueue(message, delay=delay)  # type: ignore[arg-type]
        except redis.RedisError:
            # Redis itself is the outage: the message stays unacknowledged, and PostgreSQL's
            # status brings its application back through the sweeper.
            log.warning(
                "message not put back while Redis is down",
                extra={"actor": message.actor_name, "message_id": message.message_id},
            )


class DieWithParent(Middleware):
    """Ends a worker process (SIGTERM: it stops consuming and finishes what it holds) when
    Dramatiq's main process dies, even by SIGKILL, so no orphan keeps consuming beside a
    restarted pool (:mod:`core.parent_death`)."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        parent = multiprocessing.parent_process()
        if parent is None or parent.pid is None:
            return
        if not die_with_parent(parent.pid):
            log.warning("could not ask to die with the parent process")


def _actor_option(broker: dramatiq.Broker, actor_name: str, name: str, default: Any) -> Any:
    try:
        return broker.get_actor(actor_name).options.get(name, default)
    except Exception:
        return default


def _error_line(exception: BaseException) -> str:
    lines = traceback.format_exception_only(type(exception), exception)
    return (lines[-1] if lines else repr(exception)).strip()[:500]
