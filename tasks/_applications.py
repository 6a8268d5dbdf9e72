"""Reading and moving applications through the pipeline (SQL shared by the actors)."""

from __future__ import annotations

from typing import Any

import psycopg

from core.domain import can_transition
from core.events import APPLICATIONS_STATUS_CHANGED
from core.outbox import add_event


class IllegalTransitionError(ValueError):
    """The pipeline asked for a status change the state machine does not allow."""


LOAD_SQL = """
SELECT a.*, j.title AS job_title, j.description AS job_description, j.tier AS job_tier,
       j.status AS job_status
  FROM application_index i
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
  JOIN jobs j ON j.id = a.job_id
 WHERE i.id = %s
"""


def load(conn: psycopg.Connection[Any], application_id: str) -> dict[str, Any] | None:
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
    """Change status from ``expect`` to ``to_status`` (plus columns) and record the event.

    Returns False when the application was no longer in ``expect`` (another delivery won).
    Runs in the caller's transaction.
    """
    if not can_transition(expect, to_status):
        raise IllegalTransitionError(f"{expect} → {to_status} is not a legal transition")
    sets = ", ".join(f"{name} = %({name})s" for name in columns)
    sql = (
        "UPDATE applications SET status = %(to)s, status_reason = %(reason)s,"
        " updated_at = now(), status_changed_at = now()"
        + (f", {sets}" if sets else "")
        + " WHERE id = %(id)s AND created_at = %(created_at)s AND status = %(expect)s"
    )
    params = {
        **columns,
        "to": to_status,
        "reason": reason,
        "id": app["id"],
        "created_at": app["created_at"],
        "expect": expect,
    }
    if conn.execute(sql, params).rowcount != 1:
        return False
    add_event(
        conn,
        APPLICATIONS_STATUS_CHANGED,
        {
            "application_id": str(app["id"]),
            "job_id": str(app["job_id"]),
            "from": expect,
            "to": to_status,
            "reason": reason,
        },
        key=str(app["job_id"]),
        job_id=app["job_id"],
    )
    return True
