"""Publishes the transactional outbox to Kafka and hands webhook deliveries to ``notify``."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import dramatiq

from core.db import Pool
from core.events import Event
from core.queue import DELIVER_WEBHOOK, NOTIFY, enqueue
from core.settings import Settings
from ingest.producer import Producer

log = logging.getLogger(__name__)

_PENDING_SQL = """
SELECT o.id, o.topic, o.key, o.event_type, o.payload, o.created_at, o.job_id,
       j.webhook_url
  FROM event_outbox o
  LEFT JOIN jobs j ON j.id = o.job_id
 WHERE o.published_at IS NULL
 ORDER BY o.id
 LIMIT %s
   FOR UPDATE OF o SKIP LOCKED
"""


_BATCH = 500


def event_id(outbox_id: int) -> str:
    """A stable event id: the same outbox row always publishes the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pvara:outbox:{outbox_id}"))


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

    def publish_pending(self, limit: int = _BATCH) -> int:
        """Publish up to ``limit`` events; returns how many were published."""
        with self.pool.connection() as conn, conn.transaction():
            rows: list[dict[str, Any]] = conn.execute(_PENDING_SQL, (limit,)).fetchall()
            if not rows:
                return 0
            futures = []
            for row in rows:
                event = Event(
                    type=row["event_type"],
                    payload=row["payload"],
                    id=event_id(row["id"]),
                    occurred_at=row["created_at"].isoformat(),
                )
                key = row["key"].encode() if row["key"] else None
                futures.append(self.producer.send_record(row["topic"], event.to_json(), key))
            self.producer.flush(self.settings.produce_timeout_s)
            for future in futures:
                future.get(timeout=self.settings.produce_timeout_s)
            for row in rows:
                if row["webhook_url"] and row["event_type"] in self.webhook_events:
                    body = Event(
                        type=row["event_type"],
                        payload=row["payload"],
                        id=event_id(row["id"]),
                        occurred_at=row["created_at"].isoformat(),
                    ).to_json()
                    enqueue(
                        self.broker, NOTIFY, DELIVER_WEBHOOK, str(row["job_id"]), json.loads(body)
                    )
            conn.execute(
                "UPDATE event_outbox SET published_at = now() WHERE id = ANY(%s)",
                ([row["id"] for row in rows],),
            )
        return len(rows)

    def run(self, stop: threading.Event, interval_s: float = 0.2) -> None:
        """Publish until ``stop`` is set, checking every ``interval_s`` when idle."""
        while not stop.is_set():
            try:
                published = self.publish_pending()
            except Exception:
                log.exception("outbox relay failed; retrying")
                published = 0
            if published < _BATCH:
                # Less than a full batch waiting: let events gather for one interval, so a
                # busy pipeline publishes them in a few large sends, not one loop per event.
                stop.wait(interval_s)
