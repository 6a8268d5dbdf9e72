"""The bridge: Kafka ``applications.submitted`` → PostgreSQL row → Dramatiq ``parse``.

Offsets are committed only after the batch's rows are committed and its parse messages are
enqueued. A crash anywhere before that replays the batch: the upsert is idempotent (the
application id is deterministic and ``application_index`` pins its created_at) and ``parse``
is idempotent, so a replay duplicates nothing.

No record can stop the others. Records that cannot be decoded, name a job that does not
exist, or hold values PostgreSQL refuses (a NUL character, a lone surrogate, a value too long
for an index) go to the dead-letter topic with the reason: a batch the database refuses is
split in halves until the refused records are alone (:func:`store_rows`), and everything
else in the batch, on every partition, is stored and committed.

No outage stops the bridge either. When Kafka, PostgreSQL or Redis fails, the batch is
rewound and tried again with backoff; a consumer that lost Kafka is closed and made again;
the bridge starts while Kafka or PostgreSQL is still down. A restarted bridge takes its
partitions back at once with static membership (``bridge_instance_id``), otherwise within
``bridge_session_timeout_ms``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from pydantic import ValidationError

from core.db import DictConnection, Pool
from core.domain import SubmittedApplication
from core.events import APPLICATIONS_SUBMITTED, DEAD_LETTER
from core.liveness import liveness
from core.outages import describe, refused_by_database
from core.pii_crypto import protected_contact
from core.queue import PARSE, PARSE_APPLICATION, PARSE_FIELDS, enqueue_many, handoff
from core.settings import Settings
from ingest.producer import ProduceError, Producer

log = logging.getLogger(__name__)

_INDEX_SQL = """
INSERT INTO application_index (id, organization_id, job_id, created_at)
VALUES (%(id)s, %(organization_id)s, %(job_id)s, %(submitted_at)s)
ON CONFLICT (id) DO NOTHING
"""

# CNIC, e-mail and phone arrive encrypted (core.pii_crypto); rows are matched by blind index.
_CANDIDATE_SQL = """
INSERT INTO candidates (organization_id, cnic, name, email, phone, cnic_index, email_index)
VALUES (%(organization_id)s, %(cnic)s, %(name)s, %(email)s, %(phone)s, %(cnic_index)s,
        %(email_index)s)
ON CONFLICT (organization_id, cnic_index) DO UPDATE
   SET name = EXCLUDED.name, email = EXCLUDED.email, email_index = EXCLUDED.email_index,
       phone = coalesce(EXCLUDED.phone, candidates.phone)
 WHERE candidates.erased_at IS NULL
"""

_APPLICATION_SQL = """
INSERT INTO applications (
    id, organization_id, job_id, candidate_id, candidate_cnic, candidate_email, candidate_name,
    candidate_phone, candidate_cnic_index, candidate_email_index, status_token_hash, status,
    resume_blob_key, resume_media_type, resume_sha256, resume_text, submitted_at, created_at)
SELECT i.id, i.organization_id, i.job_id,
       (SELECT c.id FROM candidates c
         WHERE c.organization_id = i.organization_id AND c.cnic_index = %(cnic_index)s),
       %(cnic)s, %(email)s, %(name)s, %(phone)s, %(cnic_index)s, %(email_index)s,
       %(status_token_hash)s, 'received', %(blob_key)s, %(media_type)s, %(sha256)s,
       %(inline_text)s, %(submitted_at)s, i.created_at
  FROM application_index i
 WHERE i.id = %(id)s
ON CONFLICT (id, created_at) DO NOTHING
"""

#: The statements that store one record, in order, in one transaction.
_STORE_SQL = (_INDEX_SQL, _CANDIDATE_SQL, _APPLICATION_SQL)

_JOBS_SQL = "SELECT id, organization_id FROM jobs WHERE id = ANY(%s)"

# What parse needs goes along with each parse message (core.queue.PARSE_FIELDS).
_RECEIVED_SQL = """
SELECT a.id, a.created_at, a.job_id, a.status, a.pii_erased_at, a.resume_blob_key,
       a.resume_media_type, a.resume_text
  FROM application_index i
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
 WHERE i.id = ANY(%s) AND a.status = 'received'
"""

_MIN_BACKOFF_S = 0.5
_COMMIT_TIMEOUT_MS = 10_000  # a frozen broker fails the commit (the batch replays) in time
_MAX_BACKOFF_S = 5.0


@dataclass
class BatchResult:
    records: int = 0
    upserted: int = 0
    enqueued: int = 0
    dead_lettered: int = 0


@dataclass(frozen=True)
class _DeadLetter:
    record: ConsumerRecord
    reason: str


def store_rows(conn: DictConnection, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Store ``rows`` (the parameters of :data:`_STORE_SQL`) batched; return the index and
    reason of every row PostgreSQL refused.

    The whole batch goes in one transaction; if the database refuses a value, the batch is
    split in halves, each tried on its own, until each refused row is alone. An outage (or
    any other error) is raised: nothing about the rows can be concluded from it.
    """
    refused: list[tuple[int, str]] = []

    def attempt(start: int, end: int) -> None:
        if start >= end:
            return
        try:
            with conn.transaction(), conn.cursor() as cur:
                for statement in _STORE_SQL:
                    cur.executemany(statement, rows[start:end])
        except Exception as exc:
            if not refused_by_database(exc):
                raise
            if end - start == 1:
                refused.append((start, describe(exc)))
                return
            middle = (start + end) // 2
            attempt(start, middle)
            attempt(middle, end)

    attempt(0, len(rows))
    return refused


def _enqueue_parse(broker: dramatiq.Broker, rows: Sequence[dict[str, Any]]) -> int:
    """Hand the applications to the ``parse`` pool, with what parse needs of each row, in one
    Redis round trip (the one place the bridge enqueues)."""
    return enqueue_many(
        broker,
        PARSE,
        PARSE_APPLICATION,
        ((str(row["id"]), handoff(row, PARSE_FIELDS)) for row in rows),
    )


class Bridge:
    """Consumes ``applications.submitted`` in batches; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        pool: Pool,
        broker: dramatiq.Broker,
        producer: Producer | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.broker = broker
        self.producer = producer or Producer(settings, client_id="pvara-bridge")
        self.consumer: KafkaConsumer | None = None
        self.liveness = liveness(settings, "bridge")
        self._failures = 0

    def _consumer(self) -> KafkaConsumer:
        if self.consumer is None:
            session_ms = self.settings.bridge_session_timeout_ms
            self.consumer = KafkaConsumer(
                APPLICATIONS_SUBMITTED,
                bootstrap_servers=self.settings.effective_kafka_bootstrap,
                group_id=self.settings.bridge_group,
                group_instance_id=self.settings.bridge_instance_id or None,
                client_id="pvara-bridge",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=self.settings.bridge_batch_size,
                session_timeout_ms=session_ms,
                heartbeat_interval_ms=min(3000, session_ms // 3),
                reconnect_backoff_max_ms=1000,
                # A fetch waits a moment for more records (fewer, larger fetches: less broker
                # and bridge CPU per record under load) instead of returning each one at once.
                fetch_min_bytes=self.settings.bridge_fetch_min_bytes,
                fetch_max_wait_ms=self.settings.bridge_fetch_wait_ms,
            )
        return self.consumer

    def run(self, stop: threading.Event) -> None:
        """Poll and handle batches until ``stop`` is set, surviving any outage."""
        log.info(
            "bridge started",
            extra={
                "group": self.settings.bridge_group,
                "instance": self.settings.bridge_instance_id or None,
            },
        )
        while not stop.is_set():
            self.liveness.progress("consumer")
            try:
                self.poll_once()
            except Exception as exc:
                self._back_off(stop, exc)
        self.close_consumer()

    def poll_once(self) -> BatchResult | None:
        """One poll and its batch. Raises when Kafka, PostgreSQL or Redis failed (the batch
        was rewound)."""
        consumer = self._consumer()
        polled = consumer.poll(timeout_ms=500, max_records=self.settings.bridge_batch_size)
        records = [r for batch in polled.values() for r in batch]
        result = self.handle_and_commit(records) if records else None
        self._failures = 0
        return result

    def _back_off(self, stop: threading.Event, exc: BaseException) -> None:
        self._failures += 1
        delay = min(_MAX_BACKOFF_S, _MIN_BACKOFF_S * 2 ** (self._failures - 1))
        log.warning(
            "bridge cannot go on; retrying",
            extra={"error": describe(exc), "retry_in_s": delay, "attempt": self._failures},
        )
        if isinstance(exc, KafkaError | OSError):
            # The consumer may be half-connected or out of the group: make a fresh one, which
            # starts from the committed offsets (the uncommitted batch is read again).
            self.close_consumer()
        stop.wait(delay)

    def handle_and_commit(self, records: Sequence[ConsumerRecord]) -> BatchResult:
        """Handle one polled batch; commit its offsets once all of it is stored, enqueued or
        dead-lettered. On an outage the batch is rewound and the error raised."""
        consumer = self._consumer()
        try:
            result = self.handle(records)
        except Exception:
            _rewind(consumer, records)
            raise
        consumer.commit(timeout_ms=_COMMIT_TIMEOUT_MS)
        log.info(
            "bridge batch committed",
            extra={
                "records": result.records,
                "upserted": result.upserted,
                "enqueued": result.enqueued,
                "dead_lettered": result.dead_lettered,
            },
        )
        return result

    def handle(self, records: Sequence[ConsumerRecord]) -> BatchResult:
        """Upsert rows, enqueue ``parse``, dead-letter what cannot be taken. Raises on an
        outage, never because of what a record holds."""
        result = BatchResult(records=len(records))
        decoded: list[tuple[SubmittedApplication, ConsumerRecord]] = []
        dead: list[_DeadLetter] = []
        for record in records:
            try:
                decoded.append((SubmittedApplication.model_validate_json(record.value), record))
            except (ValidationError, ValueError, TypeError) as exc:
                dead.append(_DeadLetter(record, f"undecodable record: {_short(exc)}"))

        with self.pool.connection() as conn:
            jobs = {
                row["id"]: row["organization_id"]
                for row in conn.execute(_JOBS_SQL, ([app.job_id for app, _ in decoded],))
            }
            conn.commit()
            known: list[tuple[SubmittedApplication, ConsumerRecord]] = []
            for app, record in decoded:
                if jobs.get(app.job_id) != app.organization_id:
                    dead.append(_DeadLetter(record, f"unknown job {app.job_id}"))
                else:
                    known.append((app, record))
            refused = store_rows(conn, [_params(app) for app, _ in known])
            refused_at = {index for index, _ in refused}
            for index, reason in refused:
                dead.append(_DeadLetter(known[index][1], f"refused by the database: {reason}"))
            stored = [app for i, (app, _) in enumerate(known) if i not in refused_at]
            result.upserted = len(stored)
            to_parse = conn.execute(_RECEIVED_SQL, ([a.application_id for a in stored],)).fetchall()
            conn.commit()
        result.enqueued = _enqueue_parse(self.broker, to_parse)
        if dead:
            self._dead_letter(dead)
            result.dead_lettered = len(dead)
        return result

    def _dead_letter(self, dead: list[_DeadLetter]) -> None:
        """Publish every dead letter and wait for all the acknowledgements (raises if any is
        missing: the batch is then tried again)."""
        futures = []
        for item in dead:
            envelope = {
                "source_topic": item.record.topic,
                "partition": item.record.partition,
                "offset": item.record.offset,
                "reason": item.reason,
                "value": (item.record.value or b"").decode("utf-8", errors="replace"),
                "dead_lettered_at": time.time(),
            }
            futures.append(
                self.producer.send_record(
                    DEAD_LETTER, json.dumps(envelope).encode(), item.record.key
                )
            )
        deadline = time.monotonic() + self.settings.produce_timeout_s
        for item, future in zip(dead, futures, strict=True):
            try:
                future.get(timeout=max(0.1, deadline - time.monotonic()))
            except KafkaError as exc:
                raise ProduceError(f"dead letter not acknowledged: {exc}") from exc
            log.warning(
                "record dead-lettered",
                extra={
                    "partition": item.record.partition,
                    "offset": item.record.offset,
                    "reason": item.reason,
                },
            )

    def close_consumer(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False)

    def close(self) -> None:
        self.close_consumer()
        self.producer.close()


def _params(app: SubmittedApplication) -> dict[str, Any]:
    contact = protected_contact(app.organization_id, app.candidate)
    return {
        "id": app.application_id,
        "organization_id": app.organization_id,
        "job_id": app.job_id,
        "submitted_at": app.submitted_at,
        "cnic": contact.cnic,
        "name": app.candidate.name,
        "email": contact.email,
        "phone": contact.phone,
        "cnic_index": contact.cnic_index,
        "email_index": contact.email_index,
        "status_token_hash": app.status_token_hash,
        "blob_key": app.resume.blob_key,
        "media_type": app.resume.media_type,
        "sha256": app.resume.sha256,
        "inline_text": app.resume.inline_text,
    }


def _rewind(consumer: KafkaConsumer, records: Sequence[ConsumerRecord]) -> None:
    first: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        first[tp] = min(first.get(tp, record.offset), record.offset)
    for tp, offset in first.items():
        with contextlib.suppress(Exception):  # not ours any more after a rebalance: fine
            consumer.seek(tp, offset)


def _short(exc: BaseException) -> str:
    return str(exc).replace("\n", " ")[:300]
