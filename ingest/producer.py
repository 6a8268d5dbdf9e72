"""The Kafka producer behind the 202 promise: acks=all, idempotent, many sends in flight, and
able to heal itself.

kafka-python's futures resolve on its I/O thread; :meth:`Producer.send` bridges them into
asyncio with ``call_soon_threadsafe`` so a request awaits its own acknowledgement without
blocking the event loop.

Two things keep the producer delivering across broker restarts:

- A record is retried for ``kafka_delivery_timeout_s`` (two minutes), longer than a broker
  restart, while a caller waits only ``produce_timeout_s`` for the acknowledgement (the API
  answers 503 with ``Retry-After`` after that). A record that expired after being sent is
  what makes kafka-python 3.0.12's idempotent producer clear its producer id without ever
  asking for a new one: from then on its sender sends nothing (``shared/repro``).
- A doctor thread watches the producer: a producer id cleared while its state says ready is
  that wedge, and a producer whose deliveries fail while the broker answers a metadata
  request does not deliver either. Either way the KafkaProducer instance is replaced by a
  fresh one (its pending records fail, so their callers see an error, never a silent loss).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
import uuid
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.transaction_manager import TransactionState

from core.events import HEALTH
from core.settings import Settings
from ingest.probe import KafkaProbe

log = logging.getLogger(__name__)

_DOCTOR_INTERVAL_S = 1.0
_WEDGED_FOR_S = 1.0  # a producer id missing this long in the ready state is the wedge
_MIN_REPLACE_INTERVAL_S = 5.0
_CANARY_TIMEOUT_S = 5.0


class ProduceError(RuntimeError):
    """Kafka did not acknowledge the record (unavailable, timed out or refused)."""


def wedge_reason(producer: KafkaProducer) -> str | None:
    """Why ``producer`` can never send again, or None: kafka-python 3.0.12 resets an
    idempotent producer's id when a retried record expires, but stays in the ready state, so
    its sender neither sends nor asks for a new id."""
    manager = getattr(producer, "_transaction_manager", None)
    if manager is None or manager.is_transactional():
        return None
    if manager.has_producer_id():
        return None
    if getattr(manager, "_current_state", None) != TransactionState.READY:
        return None  # still initialising: the id is on its way
    return "producer id cleared and never requested again"


class Producer:
    """A lazily connected, shared, idempotent producer that replaces itself when wedged."""

    def __init__(self, settings: Settings, *, client_id: str = "pvara") -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._known_topics: set[str] = set()
        self._retry_at = 0.0  # after a failed connect, fail fast until then
        self._connect_failures = 0
        self._last_ok = 0.0
        self._last_failure = 0.0
        self._failure_logged_at = 0.0
        self._suspect = False  # a delivery failed and none succeeded since
        self._wedged_since: float | None = None
        self._failing_since: float | None = None  # broker answers, we do not deliver
        self._replaced_at = 0.0
        self._closed = threading.Event()
        self._doctor: threading.Thread | None = None
        self._probe: KafkaProbe | None = None
        self.replacements = 0

    # --- the KafkaProducer instance ---------------------------------------------------------

    def _create(self) -> KafkaProducer:
        timeout_ms = int(self._settings.produce_timeout_s * 1000)
        request_timeout_ms = max(timeout_ms, 5000)
        # kafka-python acknowledges on its own I/O thread, which must win the GIL from a busy
        # event loop: the default 5 ms switch interval adds up to that per hand-over to every
        # request's latency (measured: p50 21 → 9 ms).
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        return KafkaProducer(
            bootstrap_servers=self._settings.effective_kafka_bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._settings.kafka_linger_ms,
            compression_type=None,
            max_block_ms=timeout_ms,
            bootstrap_timeout_ms=min(timeout_ms, 5000),
            request_timeout_ms=request_timeout_ms,
            delivery_timeout_ms=max(
                int(self._settings.kafka_delivery_timeout_s * 1000),
                request_timeout_ms + self._settings.kafka_linger_ms,
            ),
            # Reconnect within a second of a broker coming back (default: up to 30 s).
            reconnect_backoff_max_ms=1000,
        )

    def _get(self) -> KafkaProducer:
        producer = self._producer
        if producer is not None:
            return producer
        if not self._lock.acquire(timeout=self._settings.produce_timeout_s):
            raise ProduceError("kafka unavailable: still connecting")
        try:
            if self._producer is None:
                if time.monotonic() < self._retry_at:
                    raise ProduceError("kafka unavailable: not reachable a moment ago")
                try:
                    self._producer = self._create()
                except (KafkaError, OSError, ValueError) as exc:
                    self._connect_failures += 1
                    backoff = min(5.0, 0.5 * 2 ** (self._connect_failures - 1))
                    self._retry_at = time.monotonic() + backoff
                    raise ProduceError(f"kafka unavailable: {exc}") from exc
                self._connect_failures = 0
                self._known_topics = set()
                self._start_doctor()
            return self._producer
        finally:
            self._lock.release()

    # --- sending ----------------------------------------------------------------------------

    def _track(self, future: Any) -> Any:
        future.add_callback(self._on_delivered)
        future.add_errback(self._on_failed)
        return future

    def _on_delivered(self, _metadata: Any) -> None:
        self._last_ok = time.monotonic()
        self._suspect = False
        self._failing_since = None

    def _on_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._last_failure = now
        self._suspect = True
        if now - self._failure_logged_at < 5.0:  # an outage fails every pending record at once
            return
        self._failure_logged_at = now
        log.warning(
            "kafka delivery failed",
            extra={"client_id": self._client_id, "error": f"{type(exc).__name__}: {exc}"[:300]},
        )

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        """Send one record and wait (asynchronously, at most ``produce_timeout_s``) until the
        broker acknowledged it."""
        if self._producer is None and time.monotonic() < self._retry_at:
            raise ProduceError("kafka unavailable: not reachable a moment ago")
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                return await self._send(topic, value, key)
        except TimeoutError as exc:
            self._on_failed(exc)  # not delivering now, whatever becomes of the record
            raise ProduceError("kafka did not acknowledge in time") from exc

    async def _send(self, topic: str, value: bytes, key: bytes | None) -> Any:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()

        def resolve(result: Any) -> None:
            if not waiter.done():
                waiter.set_result(result)

        def reject(exc: BaseException) -> None:
            if not waiter.done():
                waiter.set_exception(ProduceError(f"kafka refused the record: {exc}"))

        producer: KafkaProducer = self._producer or await asyncio.to_thread(self._get)
        known = self._known_topics
        if topic not in known:
            # The first send of a topic blocks on a metadata fetch: keep it off the loop.
            try:
                await asyncio.to_thread(producer.partitions_for, topic)
            except KafkaError as exc:
                raise ProduceError(f"kafka unavailable: {exc}") from exc
            known.add(topic)
        try:
            future = self._track(producer.send(topic, value=value, key=key))
        except KafkaError as exc:
            raise ProduceError(f"kafka unavailable: {exc}") from exc
        future.add_callback(lambda meta: loop.call_soon_threadsafe(resolve, meta))
        future.add_errback(lambda exc: loop.call_soon_threadsafe(reject, exc))
        return await waiter

    def send_sync(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        """Blocking variant for workers and scripts."""
        future = None
        try:
            future = self._track(self._get().send(topic, value=value, key=key))
            return future.get(timeout=self._settings.produce_timeout_s)
        except KafkaError as exc:
            if future is not None and not future_done(future):
                self._on_failed(exc)  # timed out waiting: not delivering now
            raise ProduceError(str(exc)) from exc

    def send_record(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        """Send without waiting; returns kafka-python's future (``.get()`` to wait)."""
        try:
            return self._track(self._get().send(topic, value=value, key=key))
        except KafkaError as exc:
            raise ProduceError(str(exc)) from exc

    def flush(self, timeout_s: float | None = None) -> None:
        producer = self._producer
        if producer is not None:
            try:
                producer.flush(timeout=timeout_s)
            except KafkaError as exc:
                raise ProduceError(str(exc)) from exc

    # --- health -----------------------------------------------------------------------------

    def delivers(self, *, recent_s: float = 10.0, timeout_s: float = 3.0) -> bool:
        """Whether *this* producer delivers: a record was acknowledged in the last
        ``recent_s`` with no failure since, or a canary record sent now is (blocking, at most
        about ``timeout_s``). What readiness reports."""
        now = time.monotonic()
        if self._last_ok and now - self._last_ok < recent_s and not self._suspect:
            return True
        try:
            producer = self._get()
        except ProduceError:
            return False
        return self._canary(producer, timeout_s)

    def stuck_for(self) -> float:
        """Seconds this producer has failed to deliver while the broker answered (0 when it
        delivers, or when the broker is simply down)."""
        since = self._failing_since
        return 0.0 if since is None else time.monotonic() - since

    def _canary(self, producer: KafkaProducer, timeout_s: float) -> bool:
        value = f'{{"canary":"{uuid.uuid4()}","client_id":"{self._client_id}"}}'.encode()
        future = None
        try:
            future = self._track(producer.send(HEALTH, value=value))
            future.get(timeout=timeout_s)
        except KafkaError as exc:
            if future is not None and not future_done(future):
                self._on_failed(exc)
            return False
        return True

    def _start_doctor(self) -> None:
        if self._doctor is None or not self._doctor.is_alive():
            self._doctor = threading.Thread(
                target=self._doctor_loop, name=f"producer-doctor-{self._client_id}", daemon=True
            )
            self._doctor.start()

    def _doctor_loop(self) -> None:
        while not self._closed.wait(_DOCTOR_INTERVAL_S):
            try:
                self.examine()
            except Exception:
                log.exception("kafka producer check failed")

    def examine(self) -> str | None:
        """One check of the producer; replaces it when it cannot deliver although it could.
        Returns why it was replaced, or None."""
        producer = self._producer
        if producer is None:
            return None
        now = time.monotonic()
        reason = wedge_reason(producer)
        if reason is not None:
            if self._wedged_since is None:
                self._wedged_since = now
            if now - self._wedged_since >= _WEDGED_FOR_S:
                return self._replace(producer, reason)
            return None
        self._wedged_since = None
        if not self._suspect or not self._broker_answers():
            return None
        # The broker answers; a delivery failed and none succeeded since: does ours deliver?
        if self._canary(producer, _CANARY_TIMEOUT_S):
            return None
        if self._failing_since is None:
            self._failing_since = now
        return self._replace(producer, "deliveries fail while the broker answers")

    def _broker_answers(self) -> bool:
        if self._probe is None:
            self._probe = KafkaProbe(self._settings)
        return self._probe.answers()

    def _replace(self, old: KafkaProducer, reason: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            if self._producer is not old or now - self._replaced_at < _MIN_REPLACE_INTERVAL_S:
                return None
            self._producer = None
            self._known_topics = set()
            self._wedged_since = None
            self._suspect = False
            self._replaced_at = now
            self.replacements += 1
        log.warning(
            "kafka producer replaced",
            extra={
                "client_id": self._client_id,
                "reason": reason,
                "replacements": self.replacements,
            },
        )
        threading.Thread(target=_close_now, args=(old,), daemon=True).start()
        with contextlib.suppress(ProduceError):
            self._get()
        return reason

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError):
                producer.close(timeout=5)
        if self._probe is not None:
            self._probe.close()


def future_done(future: Any) -> bool:
    """Whether a kafka-python future has its outcome (False for None)."""
    return bool(future is not None and future.is_done)


def _close_now(producer: KafkaProducer) -> None:
    """Close a replaced producer at once: its pending records fail (their callers see it)."""
    with contextlib.suppress(Exception):
        producer.close(timeout=0)
