"""Prometheus metrics: HTTP latency in the API process, pipeline numbers read at scrape time.

The pool numbers come from Redis (Dramatiq's keys and what :class:`tasks.middleware.PoolStats`
records), the lag from Kafka, LLM usage from ``ai_screening_log``: any API replica can serve
``/metrics`` for the whole pipeline, and workers need no port.

Budget remaining: call :func:`register_budget_source` with a function returning
``{scope: remaining_usd}``, or keep a number in a Redis key ``pvara:budget:<scope>`` (a string
value, or a hash with a ``remaining_usd`` field); both become ``pvara_llm_budget_remaining_usd``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import redis
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from core.events import APPLICATIONS_SUBMITTED
from core.settings import Settings
from ops import pools as pool_state
from ops.pools import _text
from tasks.middleware import DURATION_BUCKETS, TASKS_KEY

log = logging.getLogger(__name__)

BudgetSource = Callable[[], Mapping[str, float]]
_budget_sources: list[BudgetSource] = []
BUDGET_PREFIX = "pvara:budget:"


def register_budget_source(source: BudgetSource) -> None:
    """Add a function whose ``{scope: remaining_usd}`` is exported as a budget gauge."""
    _budget_sources.append(source)


class _Cached:
    """A value recomputed at most every ``ttl_s`` seconds (scrapes and dashboard polls)."""

    def __init__(self, compute: Callable[[], Any], ttl_s: float) -> None:
        self._compute, self._ttl = compute, ttl_s
        self._value: Any = None
        self._at = 0.0
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if time.monotonic() - self._at > self._ttl:
                self._value = self._compute()
                self._at = time.monotonic()
            return self._value


class KafkaLag:
    """Consumer lag per partition of one group on one topic."""

    def __init__(self, settings: Settings, group: str, topic: str = APPLICATIONS_SUBMITTED) -> None:
        self.settings, self.group, self.topic = settings, group, topic
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None
        self._lock = threading.Lock()

    def read(self) -> dict[int, int]:
        """``{partition: end offset - committed offset}``; empty if Kafka does not answer."""
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(
                        bootstrap_servers=self.settings.effective_kafka_bootstrap,
                        client_id="pvara-ops",
                        request_timeout_ms=3000,
                    )
                    self._consumer = KafkaConsumer(
                        bootstrap_servers=self.settings.effective_kafka_bootstrap,
                        client_id="pvara-ops",
                        group_id=None,
                        enable_auto_commit=False,
                        request_timeout_ms=3000,
                    )
                assert self._consumer is not None
                partitions = self._consumer.partitions_for_topic(self.topic) or set()
                tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
                ends = self._consumer.end_offsets(tps)
                committed = self._admin.list_group_offsets({self.group: tps}).get(self.group, {})
                lag = {}
                for tp in tps:
                    done = committed.get(tp)
                    offset = done.offset if done is not None and done.offset >= 0 else 0
                    lag[tp.partition] = max(0, int(ends.get(tp, 0)) - int(offset))
                return lag
            except Exception as exc:  # Kafka down must not break a scrape
                log.warning("kafka lag unavailable: %s", exc)
                self._close()
                return {}

    def _close(self) -> None:
        for client in (self._admin, self._consumer):
            if client is not None:
                try:
                    client.close()
                except Exception:
                    log.debug("closing a Kafka client failed", exc_info=True)
        self._admin = self._consumer = None

    def close(self) -> None:
        with self._lock:
            self._close()


_LLM_SQL = """
SELECT provider,
       sum(prompt_tokens)::bigint      AS prompt,
       sum(completion_tokens)::bigint  AS completion,
       sum(cached_tokens)::bigint      AS cached,
       sum(cost_usd)::float8           AS cost,
       sum(cost_usd) FILTER (WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC')
                                                 AT TIME ZONE 'UTC')::float8 AS cost_today
  FROM ai_screening_log
 GROUP BY provider
 ORDER BY provider
"""

_SCHEDULER_SQL = """
SELECT job, extract(epoch FROM max(finished_at) FILTER (WHERE status = 'ok'))::float8 AS ok_at,
       count(*) FILTER (WHERE status = 'failed')::bigint AS failed
  FROM scheduler_runs GROUP BY job
"""


class OpsSources:
    """Connections the dashboard and ``/metrics`` read from; opened lazily, thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.effective_redis_url)
        self.kafka = KafkaLag(settings, settings.bridge_group)
        self._pool: ConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()
        self.lag = _Cached(self.kafka.read, 2.0)
        self.llm = _Cached(self._llm_usage, 5.0)

    def pool(self) -> ConnectionPool[Any]:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.settings.effective_database_url,
                    min_size=0,
                    max_size=2,
                    kwargs={"row_factory": dict_row, "autocommit": True},
                    name="ops",
                    open=True,
                )
            return self._pool

    def _llm_usage(self) -> list[dict[str, Any]]:
        with self.pool().connection(timeout=5) as conn:
            return list(conn.execute(_LLM_SQL).fetchall())

    def scheduler_runs(self) -> list[dict[str, Any]]:
        with self.pool().connection(timeout=5) as conn:
            return list(conn.execute(_SCHEDULER_SQL).fetchall())

    def budgets(self) -> dict[str, float]:
        """Remaining budget per scope from the registered sources and ``pvara:budget:*``."""
        found: dict[str, float] = {}
        for source in _budget_sources:
            try:
                found.update({k: float(v) for k, v in source().items()})
            except Exception:
                log.warning("budget source failed", exc_info=True)
        for key in self.redis.scan_iter(match=BUDGET_PREFIX + "*", count=100):
            scope = _text(key).removeprefix(BUDGET_PREFIX)
            kind = self.redis.type(key)
            raw = (
                self.redis.get(key)
                if kind == b"string"
                else (self.redis.hget(key, "remaining_usd") if kind == b"hash" else None)
            )
            try:
                found[scope] = float(raw) if raw is not None else found.get(scope, 0.0)
            except ValueError:
                continue
        return found

    def close(self) -> None:
        self.kafka.close()
        self.redis.close()
        if self._pool is not None:
            self._pool.close()


class PipelineCollector(Collector):
    """Every pipeline metric, computed when Prometheus scrapes."""

    def __init__(self, sources: OpsSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        yield from self._pools()
        yield from self._kafka()
        yield from self._tasks()
        yield from self._llm()
        yield from self._scheduler()

    def _pools(self) -> Iterator[Metric]:
        rows = pool_state.pool_status(self.sources.redis, self.sources.settings)
        families = {
            "queue_depth": GaugeMetricFamily(
                "pvara_queue_depth", "Messages waiting in a pool's queue.", labels=["pool"]
            ),
            "delayed": GaugeMetricFamily(
                "pvara_queue_delayed",
                "Messages scheduled for later (retries, debounce).",
                labels=["pool"],
            ),
            "in_flight": GaugeMetricFamily(
                "pvara_queue_in_flight",
                "Messages fetched by a worker and not yet acknowledged.",
                labels=["pool"],
            ),
            "dead": GaugeMetricFamily(
                "pvara_queue_dead_letters",
                "Messages in a pool's dead-letter queue.",
                labels=["pool"],
            ),
            "desired": GaugeMetricFamily(
                "pvara_pool_desired_processes",
                "Desired worker processes (supervisor group).",
                labels=["pool", "group"],
            ),
            "actual": GaugeMetricFamily(
                "pvara_pool_processes",
                "Live worker processes serving a pool (heartbeats).",
                labels=["pool", "group"],
            ),
        }
        group = self.sources.settings.worker_group
        for row in rows:
            for name, family in families.items():
                labels = [row.pool, group] if name in ("desired", "actual") else [row.pool]
                family.add_metric(labels, float(getattr(row, name)))
        yield from families.values()

    def _kafka(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "pvara_kafka_consumer_lag",
            "Records not yet consumed by the bridge, per partition.",
            labels=["group", "topic", "partition"],
        )
        for partition, lag in sorted(self.sources.lag.get().items()):
            family.add_metric(
                [self.sources.kafka.group, self.sources.kafka.topic, str(partition)], float(lag)
            )
        yield family

    def _tasks(self) -> Iterator[Metric]:
        raw = {_text(k): float(v) for k, v in self.sources.redis.hgetall(TASKS_KEY).items()}
        series: dict[tuple[str, str], dict[str, float]] = {}
        for field, value in raw.items():
            actor, pool, name = field.split("|", 2)
            series.setdefault((actor, pool), {})[name] = value
        duration = HistogramMetricFamily(
            "pvara_task_duration_seconds",
            "Time an actor took per message (all outcomes).",
            labels=["actor", "pool"],
        )
        failures = CounterMetricFamily(
            "pvara_task_failures",
            "Actor runs that raised (each attempt counts).",
            labels=["actor", "pool"],
        )
        for (actor, pool), values in sorted(series.items()):
            cumulative, buckets = 0.0, []
            for bound in DURATION_BUCKETS:
                cumulative += values.get(f"le={bound}", 0.0)
                buckets.append((str(bound), cumulative))
            buckets.append(("+Inf", values.get("count", 0.0)))
            duration.add_metric([actor, pool], buckets, values.get("sum", 0.0))
            failures.add_metric([actor, pool], values.get("failed", 0.0))
        yield duration
        yield failures

    def _llm(self) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "pvara_llm_tokens",
            "LLM tokens used, by provider and kind.",
            labels=["provider", "kind"],
        )
        cost = CounterMetricFamily(
            "pvara_llm_cost_usd", "LLM spend in USD, by provider.", labels=["provider"]
        )
        today = GaugeMetricFamily(
            "pvara_llm_cost_usd_today", "LLM spend in USD since 00:00 UTC.", labels=["provider"]
        )
        try:
            usage: list[dict[str, Any]] = self.sources.llm.get()
        except Exception as exc:
            log.warning("llm usage unavailable: %s", exc)
            usage = []
        for row in usage:
            for kind in ("prompt", "completion", "cached"):
                tokens.add_metric([row["provider"], kind], float(row[kind] or 0))
            cost.add_metric([row["provider"]], float(row["cost"] or 0))
            today.add_metric([row["provider"]], float(row["cost_today"] or 0))
        budget = GaugeMetricFamily(
            "pvara_llm_budget_remaining_usd", "LLM budget left, per scope.", labels=["scope"]
        )
        for scope, remaining in sorted(self.sources.budgets().items()):
            budget.add_metric([scope], remaining)
        yield from (tokens, cost, today, budget)

    def _scheduler(self) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "pvara_scheduler_last_success_timestamp_seconds",
            "When a scheduler job last finished successfully.",
            labels=["job"],
        )
        failed = CounterMetricFamily(
            "pvara_scheduler_failures", "Scheduler job runs that failed.", labels=["job"]
        )
        try:
            rows = self.sources.scheduler_runs()
        except Exception as exc:
            log.warning("scheduler runs unavailable: %s", exc)
            rows = []
        for row in rows:
            if row["ok_at"] is not None:
                last.add_metric([row["job"]], float(row["ok_at"]))
            failed.add_metric([row["job"]], float(row["failed"]))
        yield last
        yield failed


class Metrics:
    """One registry per app: the HTTP histogram plus the pipeline collector."""

    def __init__(self, sources: OpsSources) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.http = Histogram(
            "pvara_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.registry.register(PipelineCollector(sources))


class HttpMetricsMiddleware(ASGIMiddleware):
    """Observes each request's latency, labelled with its route template (never the raw path)."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != ScopeType.HTTP:
            await next_app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, send_wrapper)
        except Exception as exc:  # answered by an outer exception handler
            code = getattr(exc, "status", None) or getattr(exc, "status_code", None)
            status = code if isinstance(code, int) else 500
            raise
        finally:
            route = scope.get("path_template") or "unmatched"
            self.histogram.labels(scope.get("method", "GET"), route, str(status)).observe(
                time.perf_counter() - started
            )
