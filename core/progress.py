"""Progress of tasks a user asked for (a shortlist rebuild), kept in Redis for a day.

The API creates the record and enqueues the actor by name; the actor moves it through
``queued → running → succeeded | failed``. Both sides share the key and the JSON shape here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

TaskState = Literal["queued", "running", "succeeded", "failed"]

#: The actor that re-scores a job's stale applications, then rebuilds its shortlist
#: (queue ``shortlist``; declared in ``tasks.rebuild``).
RESCORE_AND_REBUILD = "rescore_and_rebuild"

TASK_TTL_S = 24 * 3600


def task_key(task_id: str) -> str:
    return f"pvara:task:{task_id}"


def task_record(
    task_id: str,
    kind: str,
    organization_id: str,
    state: TaskState,
    *,
    job_id: str | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    created_at: str | None = None,
) -> str:
    """The JSON stored under :func:`task_key`."""
    now = datetime.now(UTC).isoformat()
    return json.dumps(
        {
            "id": task_id,
            "kind": kind,
            "organization_id": organization_id,
            "job_id": job_id,
            "state": state,
            "result": result,
            "error": error,
            "created_at": created_at or now,
            "updated_at": now,
        }
    )


def advance(
    current: str | bytes,
    state: TaskState,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> str:
    """``current`` (a stored record) moved to ``state``."""
    record = json.loads(current)
    return task_record(
        record["id"],
        record["kind"],
        record["organization_id"],
        state,
        job_id=record.get("job_id"),
        result=result,
        error=error,
        created_at=record["created_at"],
    )
