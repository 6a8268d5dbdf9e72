"""How a pool hands work to the next: by actor name (:func:`core.queue.enqueue`), never by
importing the next pool's module, and with what the next stage needs so it need not load it.

- bridge → parse: ``parse_application(id, handoff)`` (the bridge lives in ``ingest`` and
  enqueues by name itself, :func:`core.queue.enqueue_many`, with
  :data:`core.queue.PARSE_FIELDS`);
- parse → score: ``score_application(id, handoff)`` (:func:`to_score`);
- score → shortlist: a debounced ``rebuild_shortlist(job_id)`` (:func:`to_shortlist`).

A handoff is only a head start: every stage still moves the application with a guarded
UPDATE (:mod:`core.status`), so a stale or replayed handoff changes nothing, and a message
without one (the sweeper's, a retry's) makes the stage load the row itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from core.queue import (
    PARSE_FIELDS,
    REBUILD_SHORTLIST,
    SCORE,
    SCORE_APPLICATION,
    SHORTLIST,
    enqueue,
    handoff,
)
from tasks import _resources
from tasks.broker import broker

#: What score needs of an application (parse's handoff carries these).
SCORE_FIELDS = (
    "id",
    "created_at",
    "organization_id",
    "job_id",
    "job_title",
    "job_description",
    "job_tier",
    "resume_text",
    "resume_flags",
    "needs_review",
    "criteria_version",
)

__all__ = ["PARSE_FIELDS", "PENDING_KEY", "SCORE_FIELDS", "handoff", "to_score", "to_shortlist"]

PENDING_KEY = "pvara:shortlist:pending:{}"


def to_score(application_id: str, handoff: dict[str, Any] | None = None) -> None:
    """Hand a parsed application to ``score``."""
    enqueue(broker, SCORE, SCORE_APPLICATION, application_id, handoff)


def to_shortlist(job_id: uuid.UUID | str, *, delay_ms: int | None = None) -> bool:
    """Schedule a rebuild of ``job_id``'s shortlist unless one is already pending.

    A Redis ``SET NX`` marks it pending; the rebuild clears the mark before it reads the
    scores, so a score landing during a rebuild schedules another. Returns whether this call
    scheduled it.
    """
    settings = _resources.settings()
    delay = settings.shortlist_debounce_ms if delay_ms is None else delay_ms
    pending = _resources.redis_client().set(
        PENDING_KEY.format(job_id), "1", nx=True, px=max(delay * 20, 60_000)
    )
    if pending:
        enqueue(broker, SHORTLIST, REBUILD_SHORTLIST, str(job_id), "scores", delay_ms=delay)
    return bool(pending)
