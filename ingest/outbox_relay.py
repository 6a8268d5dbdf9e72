"""Publishes the transactional outbox to Kafka and hands webhook deliveries to ``notify``.

Rows are published in id order, at least once (a row is marked only after Kafka acknowledged
it). A row Kafka refuses for what it holds (a payload over the broker's size limit) is
published to the dead-letter topic with the reason instead, so it cannot hold back the rows
behind it; an outage of Kafka, PostgreSQL or Redis leaves every row pending and the relay
tries again with backoff.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import dramatiq
from kafka.errors import InvalidTopicError, MessageSizeTooLargeError, RecordListTooLargeError

from core.db import Pool
from core.events import DEAD_LETTER, Event
from core.liveness import liveness
from core.notifications import JOB_WEBHOOK_URL_SQL, status_notices, wants_email
from core.outages import describe
from core.queue import DELIVER_WEBHOOK, NOTIFY, SEND_EVENT_EMAILS, enqueue
from core.settings import Settings
from ingest.producer import ProduceError, Producer

log = logging.getLogger(__name__)

_PENDING_SQL = f"""
SELECT o.id, o.topic, o.key, o.event_type, o.payload, o.created_at, o.job_id,
       {JOB_WEBHOOK_URL_SQL} AS webhook_url
  FROM event_outbox o
  LEFT JOIN jobs j ON j.id = o.job_id
 WHERE o.published_at IS NULL
 ORDER BY o.id
 LIMIT %s
   FOR UPDATE OF o SKIP LOCKED
"""

_MARK_SQL = "UPDATE event_outbox SET published_at = now() WHERE id = ANY(%s)"

#: Refusals about the record itself: sending it again can never succeed.
_REFUSED_RECORD = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidTopicError)

_MAX_BACKOFF_S = 5.0


_BATCH = 500


def event_id(outbox_id: int) -> str:
    """A stable event id: the same outbox row always publishes the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pvara:outbox:{outbox_id}"))


def _envelope(row: dict[str, Any]) -> dict[str, Any]:
    """The event as the relay publishes it (id, type, time, payload), as a JSON object."""
    envelope: dict[str, Any] = json.loads(_event(row).to_json())
    return envelope


class OutboxRelay:
    """Moves committed events from ``event_outbox`` to Kafka, at least once."""

    def __init__(
        self,
        settings: Settings,
        pool: Pool,
        broker: dramatiq.Broker,
        producer: Producer,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.broker = broker
        self.producer = producer
        self.webhook_events = {e.strip() for e in settings.webhook_events.split(",") if e.strip()}
        self.email_notices = status_notices(settings.email_status_notices)
        self.liveness = liveness(settings, "bridge")

    def publish_pending(self, limit: int = _BATCH) -> int:
        """Publish up to ``limit`` events; returns how many rows were done (published or
        dead-lettered)."""
        with self.pool.connection() as conn, conn.transaction():
            rows: list[dict[str, Any]] = conn.execute(_PENDING_SQL, (limit,)).fetchall()
            if not rows:
                return 0
            sent: list[tuple[dict[str, Any], Any]] = []
            refused: list[tuple[dict[str, Any], str]] = []
            for row in rows:
                key = row["key"].encode() if row["key"] else None
                try:
                    future = self.producer.send_record(row["topic"], _event(row).to_json(), key)
                except ProduceError as exc:
                    if isinstance(exc.__cause__, _REFUSED_RECORD):
                        refused.append((row, describe(exc.__cause__)))
                        continue
                    raise
                sent.append((row, future))
            self.producer.flush(self.settings.produce_timeout_s)
            published: list[dict[str, Any]] = []
            deadline = time.monotonic() + self.settings.produce_timeout_s
            for row, future in sent:
                try:
                    future.get(timeout=max(0.1, deadline - time.monotonic()))
                except _REFUSED_RECORD as exc:
                    refused.append((row, describe(exc)))
                    continue
                published.append(row)
            for row, reason in refused:
                self._dead_letter(row, reason)
            for row in published:
                if row["webhook_url"] and row["event_type"] in self.webhook_events:
                    enqueue(
                        self.broker,
                        NOTIFY,
                        DELIVER_WEBHOOK,
                        str(row["job_id"]),
                        _envelope(row),
                    )
                if self.settings.smtp_host and wants_email(
                    row["event_type"], row["payload"], self.email_notices
                ):
                    enqueue(self.broker, NOTIFY, SEND_EVENT_EMAILS, _envelope(row))
            conn.execute(_MARK_SQL, ([row["id"] for row in rows],))
        return len(rows)

    def _dead_letter(self, row: dict[str, Any], reason: str) -> None:
        envelope = {
            "source_topic": row["topic"],
            "partition": -1,
            "offset": -1,
            "outbox_id": row["id"],
            "reason": f"refused by kafka: {reason}",
            "value": json.dumps({"event_type": row["event_type"], "id": event_id(row["id"])}),
            "dead_lettered_at": time.time(),
        }
        key = row["key"].encode() if row["key"] else None
        self.producer.send_sync(DEAD_LETTER, json.dumps(envelope).encode(), key)
        log.warning("outbox event dead-lettered", extra={"outbox_id": row["id"], "reason": reason})

    def run(self, stop: threading.Event, interval_s: float = 0.2) -> None:
        """Publish until ``stop`` is set, checking every ``interval_s`` when idle and backing
        off (up to 5 s) while Kafka, PostgreSQL or Redis fails."""
        failures = 0
        while not stop.is_set():
            self.liveness.progress("outbox")
            try:
                published = self.publish_pending()
                failures = 0
            except Exception as exc:
                failures += 1
                delay = min(_MAX_BACKOFF_S, interval_s * 2**failures)
                log.warning(
                    "outbox relay cannot publish; retrying",
                    extra={"error": describe(exc), "retry_in_s": delay},
                )
                stop.wait(delay)
                continue
            if published < _BATCH:
                # Less than a full batch waiting: let events gather for one interval, so a
                # busy pipeline publishes them in a few large sends, not one loop per event.
                stop.wait(interval_s)


def _event(row: dict[str, Any]) -> Event:
    return Event(
        type=row["event_type"],
        payload=row["payload"],
        id=event_id(row["id"]),
        occurred_at=row["created_at"].isoformat(),
    )
