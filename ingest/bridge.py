"""The bridge: Kafka ``applications.submitted`` → PostgreSQL row → Dramatiq ``parse``.

Offsets are committed only after the batch's rows are committed and its parse messages are
enqueued. A crash anywhere before that replays the batch: the upsert is idempotent (the
application id is deterministic and ``application_index`` pins its created_at) and ``parse``
is idempotent, so a replay duplicates nothing. Records that cannot be decoded, or name a job
that does not exist, go to the dead-letter topic with the reason.
"""

from __future__ import annotations

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
from pydantic import ValidationError

from core.db import Pool
from core.domain import SubmittedApplication
from core.events import APPLICATIONS_SUBMITTED, DEAD_LETTER
from core.queue import PARSE, PARSE_APPLICATION, PARSE_FIELDS, enqueue_many, handoff
from core.settings import Settings
from ingest.producer import Producer

log = logging.getLogger(__name__)

_INDEX_SQL = """
INSERT INTO application_index (id, organization_id, job_id, created_at)
VALUES (%(id)s, %(organization_id)s, %(job_id)s, %(submitted_at)s)
ON CONFLICT (id) DO NOTHING
"""

_CANDIDATE_SQL = """
INSERT INTO candidates (organization_id, cnic, name, email, phone)
VALUES (%(organization_id)s, %(cnic)s, %(name)s, %(email)s, %(phone)s)
ON CONFLICT (organization_id, cnic) DO UPDATE
   SET name = EXCLUDED.name, email = EXCLUDED.email,
       phone = coalesce(EXCLUDED.phone, candidates.phone)
 WHERE candidates.erased_at IS NULL
"""

_APPLICATION_SQL = """
INSERT INTO applications (
    id, organization_id, job_id, candidate_id, candidate_cnic, candidate_email, candidate_name,
    candidate_phone, status, resume_blob_key, resume_media_type, resume_sha256, resume_text,
    submitted_at, created_at)
SELECT i.id, i.organization_id, i.job_id,
       (SELECT c.id FROM candidates c
         WHERE c.organization_id = i.organization_id AND c.cnic = %(cnic)s),
       %(cnic)s, %(email)s, %(name)s, %(phone)s, 'received', %(blob_key)s, %(media_type)s,
       %(sha256)s, %(inline_text)s, %(submitted_at)s, i.created_at
  FROM application_index i
 WHERE i.id = %(id)s
ON CONFLICT (id, created_at) DO NOTHING
"""

# What parse needs goes along with each parse message (core.queue.PARSE_FIELDS).
_RECEIVED_SQL = """
SELECT a.id, a.created_at, a.job_id, a.status, a.pii_erased_at, a.resume_blob_key,
       a.resume_media_type, a.resume_text
  FROM application_index i
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
 WHERE i.id = ANY(%s) AND a.status = 'received'
"""


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

    def _consumer(self) -> KafkaConsumer:
        if self.consumer is None:
            self.consumer = KafkaConsumer(
                APPLICATIONS_SUBMITTED,
                bootstrap_servers=self.settings.effective_kafka_bootstrap,
                group_id=self.settings.bridge_group,
                client_id="pvara-bridge",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=self.settings.bridge_batch_size,
                # A fetch waits a moment for more records (fewer, larger fetches: less broker
                # and bridge CPU per record under load) instead of returning each one at once.
                fetch_min_bytes=self.settings.bridge_fetch_min_bytes,
                fetch_max_wait_ms=self.settings.bridge_fetch_wait_ms,
            )
        return self.consumer

    def run(self, stop: threading.Event) -> None:
        """Poll and handle batches until ``stop`` is set."""
        consumer = self._consumer()
        log.info("bridge started", extra={"group": self.settings.bridge_group})
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=500, max_records=self.settings.bridge_batch_size)
            records = [r for batch in polled.values() for r in batch]
            if records:
                self.handle_and_commit(records)
        consumer.close(autocommit=False)
        self.consumer = None

    def handle_and_commit(self, records: Sequence[ConsumerRecord]) -> BatchResult:
        """Handle one polled batch; commit its offsets only if all of it succeeded."""
        consumer = self._consumer()
        try:
            result = self.handle(records)
        except Exception:
            log.exception("bridge batch failed; rewinding to retry it")
            _rewind(consumer, records)
            time.sleep(1.0)  # back off before the retry instead of spinning on a dead service
            return BatchResult(records=len(records))
        consumer.commit()
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
        """Upsert rows, enqueue ``parse``, dead-letter the undecodable. Raises on failure."""
        result = BatchResult(records=len(records))
        good: list[tuple[SubmittedApplication, ConsumerRecord]] = []
        dead: list[_DeadLetter] = []
        for record in records:
            try:
                good.append((SubmittedApplication.model_validate_json(record.value), record))
            except (ValidationError, ValueError, TypeError) as exc:
                dead.append(_DeadLetter(record, f"undecodable record: {_short(exc)}"))

        with self.pool.connection() as conn:
            jobs = {
                row["id"]: row["organization_id"]
                for row in conn.execute(
                    "SELECT id, organization_id FROM jobs WHERE id = ANY(%s)",
                    ([app.job_id for app, _ in good],),
                )
            }
            known = []
            for app, record in good:
                if jobs.get(app.job_id) != app.organization_id:
                    dead.append(_DeadLetter(record, f"unknown job {app.job_id}"))
                else:
                    known.append(app)
            params = [_params(app) for app in known]
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_INDEX_SQL, params)
                cur.executemany(_CANDIDATE_SQL, params)
                cur.executemany(_APPLICATION_SQL, params)
            result.upserted = len(known)
            to_parse = conn.execute(_RECEIVED_SQL, ([a.application_id for a in known],)).fetchall()
        result.enqueued = _enqueue_parse(self.broker, to_parse)
        if dead:
            self._dead_letter(dead)
            result.dead_lettered = len(dead)
        return result

    def _dead_letter(self, dead: list[_DeadLetter]) -> None:
        for item in dead:
            envelope = {
                "source_topic": item.record.topic,
                "partition": item.record.partition,
                "offset": item.record.offset,
                "reason": item.reason,
                "value": (item.record.value or b"").decode("utf-8", errors="replace"),
                "dead_lettered_at": time.time(),
            }
            self.producer.send_sync(DEAD_LETTER, json.dumps(envelope).encode(), item.record.key)
            log.warning(
                "record dead-lettered", extra={"offset": item.record.offset, "reason": item.reason}
            )

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
            self.consumer = None
        self.producer.close()


def _params(app: SubmittedApplication) -> dict[str, Any]:
    return {
        "id": app.application_id,
        "organization_id": app.organization_id,
        "job_id": app.job_id,
        "submitted_at": app.submitted_at,
        "cnic": app.candidate.cnic,
        "name": app.candidate.name,
        "email": app.candidate.email,
        "phone": app.candidate.phone,
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
        consumer.seek(tp, offset)


def _short(exc: BaseException) -> str:
    return str(exc).replace("\n", " ")[:300]
