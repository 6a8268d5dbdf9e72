"""A job's screening criteria, parsed once per (job, version) per process.

Versions are immutable (a change of criteria is a new version), so a parsed version is good
for the life of the process: score and shortlist never re-read or re-validate the JSON of a
version they have seen.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from core.db import Pool
from screening.criteria import Criteria

_lock = threading.Lock()
_parsed: dict[tuple[str, int], Criteria] = {}
_KEPT = 10_000

_CRITERIA_SQL = "SELECT criteria FROM screening_criteria WHERE job_id = %s AND version = %s"


def of_version(
    conn: psycopg.Connection[Any] | Callable[[], Pool],
    job_id: uuid.UUID | str,
    version: int | None,
) -> Criteria:
    """The job's criteria of ``version`` (None: no criteria set, the defaults). ``conn`` is a
    connection, or the pool to take one from only if this version must be read."""
    if version is None:
        return Criteria()
    key = (str(job_id), version)
    with _lock:
        known = _parsed.get(key)
    if known is not None:
        return known
    if callable(conn):
        with conn().connection() as pooled:
            row = pooled.execute(_CRITERIA_SQL, (job_id, version)).fetchone()
    else:
        row = conn.execute(_CRITERIA_SQL, (job_id, version)).fetchone()
    raw = (row["criteria"] if isinstance(row, dict) else row[0]) if row else {}
    parsed = Criteria.model_validate(raw)
    with _lock:
        if len(_parsed) >= _KEPT:
            _parsed.clear()
        _parsed[key] = parsed
    return parsed
