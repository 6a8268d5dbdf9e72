"""Kafka topic names and the envelope every PVARA event travels in."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

APPLICATIONS_SUBMITTED = "applications.submitted"
APPLICATIONS_SCREENED = "applications.screened"
APPLICATIONS_STATUS_CHANGED = "applications.status_changed"
SHORTLIST_UPDATED = "shortlist.updated"
OFFERS_CREATED = "offers.created"
INTERVIEWS_SCHEDULED = "interviews.scheduled"
INTERVIEWS_RESCHEDULED = "interviews.rescheduled"
INTERVIEWS_CANCELLED = "interviews.cancelled"
DEAD_LETTER = "pvara.deadletter"
#: Canary records of producers proving they deliver (readiness); kept an hour.
HEALTH = "pvara.health"

EVENT_TOPICS = (
    APPLICATIONS_SCREENED,
    APPLICATIONS_STATUS_CHANGED,
    SHORTLIST_UPDATED,
    OFFERS_CREATED,
    INTERVIEWS_SCHEDULED,
    INTERVIEWS_RESCHEDULED,
    INTERVIEWS_CANCELLED,
)
ALL_TOPICS = (APPLICATIONS_SUBMITTED, *EVENT_TOPICS, DEAD_LETTER, HEALTH)


@dataclass(frozen=True)
class Event:
    """An event as published: type, id, time and a JSON payload."""

    type: str
    payload: dict[str, Any]
    id: str = ""
    occurred_at: str = ""

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "id": self.id or str(uuid.uuid4()),
                "type": self.type,
                "occurred_at": self.occurred_at or datetime.now(UTC).isoformat(),
                "payload": self.payload,
            },
            separators=(",", ":"),
            default=str,
        ).encode()
