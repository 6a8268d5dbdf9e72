"""Reading and moving applications through the pipeline (SQL shared by the actors)."""

from __future__ import annotations

from typing import Any

import psycopg

from core.status import IllegalTransitionError, change_status

__all__ = ["LOAD_SQL", "IllegalTransitionError", "load", "move"]

LOAD_SQL = """
SELECT a.*, j.title AS job_title, j.description AS job_description, j.tier AS job_tier,
       j.status AS job_status
  FROM application_index i
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
  JOIN jobs j ON j.id = a.job_id
 WHERE i.id = %s
"""


def load(conn: psycopg.Connection[Any], application_id: str) -> dict[str, Any] | None:
    """The application with its job's title, description, tier and status; None if unknown."""
    row: dict[str, Any] | None = conn.execute(LOAD_SQL, (application_id,)).fetchone()
    return row


def move(
    conn: psycopg.Connection[Any],
    app: dict[str, Any],
    to_status: str,
    *,
    expect: str,
    reason: str | None = None,
    **columns: Any,
) -> bool:
    """Change status from ``expect`` to ``to_status`` (plus columns) and record the event
    (:func:`core.status.change_status`). False when the application was no longer in
    ``expect`` (another delivery won)."""
    moved = change_status(conn, app, to_status, expect=expect, reason=reason, columns=columns)
    return moved is not None
