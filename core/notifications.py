"""Which events notify whom: shared by the outbox relay (what to enqueue) and ``notify``.

E-mails hang off the events already in the outbox, never off calls inside the actors that
change state: the relay hands each event that warrants an e-mail to the ``notify`` pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.events import (
    APPLICATIONS_STATUS_CHANGED,
    INTERVIEWS_CANCELLED,
    INTERVIEWS_RESCHEDULED,
    INTERVIEWS_SCHEDULED,
    OFFERS_CREATED,
    SHORTLIST_UPDATED,
)

EMAIL_EVENT_TYPES = frozenset(
    {
        APPLICATIONS_STATUS_CHANGED,
        OFFERS_CREATED,
        SHORTLIST_UPDATED,
        INTERVIEWS_SCHEDULED,
        INTERVIEWS_RESCHEDULED,
        INTERVIEWS_CANCELLED,
    }
)

#: The status every application leaves once, when the bridge's row is first worked on: its
#: first ``applications.status_changed`` is the moment to confirm the submission.
FIRST_STATUS = "received"

#: The URL a job's webhooks go to: the job's own ``webhook_url`` (set with its secret) when set,
#: else its latest criteria's ``notifications.webhook_url``. ``j`` is the ``jobs`` row.
JOB_WEBHOOK_URL_SQL = """coalesce(
    nullif(j.webhook_url, ''),
    nullif((SELECT c.criteria -> 'notifications' ->> 'webhook_url'
              FROM screening_criteria c WHERE c.job_id = j.id
             ORDER BY c.version DESC LIMIT 1), ''))"""


def status_notices(setting: str) -> frozenset[str]:
    """The statuses of ``PVARA_EMAIL_STATUS_NOTICES``."""
    return frozenset(s.strip() for s in setting.split(",") if s.strip())


def wants_email(event_type: str, payload: Mapping[str, Any], notices: frozenset[str]) -> bool:
    """Whether an event may lead to an e-mail (``notify`` decides the rest from the database).

    Most status changes are the pipeline's own (screening, screened, shortlisted …) and
    e-mail nobody: only the first one (the submission confirmation) and the statuses in
    ``notices`` reach the candidate.
    """
    if event_type == APPLICATIONS_STATUS_CHANGED:
        return payload.get("from") == FIRST_STATUS or payload.get("to") in notices
    return event_type in EMAIL_EVENT_TYPES
