"""Changing an application's status: the state machine's guard, the UPDATE and its
``applications.status_changed`` event, in one statement.

Every status change goes through here (the pipeline's actors, the HR API, the shortlist), so
the guard (:func:`core.domain.can_transition`) is never skipped and the event is never
forgotten. The statement is a single ``WITH moved AS (UPDATE …) INSERT INTO event_outbox …``:
one round trip, atomic on its own, and the event exists exactly when the row moved. A stage
that writes more in the same breath (the score stage's ledger rows and its
``applications.screened`` event) passes them as ``events`` and ``then`` statements, which read
the ``moved`` rows and so also happen only if the move did. Statements are built once per
shape and kept (the actors run the same few shapes millions of times).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.domain import ApplicationStatus, can_transition
from core.events import APPLICATIONS_STATUS_CHANGED


class IllegalTransitionError(ValueError):
    """A status change the state machine does not allow (for this actor)."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"{current} → {target} is not a legal transition")
        self.current = current
        self.target = target


class Expr(str):
    """A column value that is SQL (over the table alias ``a``), not a parameter; it may hold
    named placeholders supplied through ``params``."""

    __slots__ = ()


@dataclass(frozen=True)
class Event:
    """A further event to record if (and only if) the application moved."""

    topic: str
    payload: Mapping[str, Any]


_COLUMN = re.compile(r"[a-z_][a-z0-9_]*")

_STATUS_EVENT = (
    "INSERT INTO event_outbox (topic, key, event_type, payload, job_id)"
    " SELECT %(_topic)s, m.job_id::text, %(_topic)s,"
    " jsonb_build_object('application_id', m.id::text, 'job_id', m.job_id::text,"
    " 'from', %(_expect)s::text, 'to', %(_to)s::text, 'reason', %(_reason)s::text),"
    " m.job_id FROM moved m"
)
_EXTRA_EVENT = (
    "INSERT INTO event_outbox (topic, key, event_type, payload, job_id)"
    " SELECT %(_e{i}_topic)s, m.job_id::text, %(_e{i}_topic)s, %(_e{i}_payload)s, m.job_id"
    " FROM moved m"
)


@functools.lru_cache(maxsize=256)
def _statement(
    single: bool,
    columns: tuple[tuple[str, str | None], ...],
    unless_erased: bool,
    events: int,
    then: tuple[str, ...],
    returning: str,
) -> str:
    """The SQL of one shape of status change (``columns``: name, and SQL or None for a
    parameter)."""
    sets = []
    for name, expr in columns:
        if not _COLUMN.fullmatch(name):
            raise ValueError(f"not a column name: {name!r}")
        sets.append(f", {name} = {expr if expr is not None else f'%(c_{name})s'}")
    where = (
        "a.id = %(_id)s AND a.created_at = %(_created_at)s"
        if single
        else "a.id = ANY(%(_ids)s) AND a.job_id = %(_job_id)s"
    )
    moved = (
        "UPDATE applications a SET status = %(_to)s, status_reason = %(_reason)s,"
        f" updated_at = now(), status_changed_at = now(){''.join(sets)}"
        f" WHERE {where} AND a.status = %(_expect)s"
        + (" AND a.pii_erased_at IS NULL" if unless_erased else "")
        + " RETURNING a.*"
    )
    writes = [_STATUS_EVENT, *(_EXTRA_EVENT.format(i=i) for i in range(events)), *then]
    ctes = ", ".join([f"moved AS ({moved})", *(f"w{i} AS ({w})" for i, w in enumerate(writes))])
    return f"WITH {ctes} SELECT {returning}"


def _prepare(
    *,
    to: ApplicationStatus | str,
    expect: ApplicationStatus | str,
    key: Mapping[str, Any],
    single: bool,
    reason: str | None = None,
    by_person: bool = False,
    columns: Mapping[str, Any] | None = None,
    unless_erased: bool = False,
    events: Sequence[Event] = (),
    then: Sequence[str] = (),
    params: Mapping[str, Any] | None = None,
    returning: str | None = None,
) -> tuple[str, dict[str, Any]]:
    if not can_transition(expect, to, by_person=by_person):
        raise IllegalTransitionError(str(expect), str(to))
    columns = columns or {}
    params = params or {}
    statement = _statement(
        single,
        tuple((n, str(v) if isinstance(v, Expr) else None) for n, v in columns.items()),
        unless_erased,
        len(events),
        tuple(then),
        returning or "m.id FROM moved m",
    )
    values: dict[str, Any] = {
        "_to": str(to),
        "_expect": str(expect),
        "_reason": reason,
        "_topic": APPLICATIONS_STATUS_CHANGED,
        **key,
    }
    for name, value in columns.items():
        if not isinstance(value, Expr):
            values[f"c_{name}"] = value
    for index, event in enumerate(events):
        values[f"_e{index}_topic"] = event.topic
        values[f"_e{index}_payload"] = Jsonb(dict(event.payload))
    clash = set(values) & set(params)
    if clash:
        raise ValueError(f"parameter names used by change_status: {sorted(clash)}")
    return statement, {**values, **params}


def change_status(
    conn: psycopg.Connection[Any],
    app: Mapping[str, Any],
    to: ApplicationStatus | str,
    *,
    expect: ApplicationStatus | str,
    reason: str | None = None,
    columns: Mapping[str, Any] | None = None,
    unless_erased: bool = False,
    by_person: bool = False,
    events: Sequence[Event] = (),
    then: Sequence[str] = (),
    params: Mapping[str, Any] | None = None,
    returning: str | None = None,
) -> dict[str, Any] | None:
    """Move ``app`` (its ``id`` and ``created_at``) from ``expect`` to ``to``, with ``columns``
    set alongside (an :class:`Expr` value is SQL, anything else a parameter), and record
    ``applications.status_changed`` plus ``events``; ``then`` statements (SQL reading the
    CTE ``moved m``, with ``params``) run in the same statement. ``unless_erased`` also
    requires that the candidate's personal data was not erased.

    Returns the row of ``SELECT {returning}`` (a select list and a FROM over ``moved m``;
    default: ``m.id FROM moved m``) as a dict, or None when the application was no longer in
    ``expect`` (another delivery or a person won). Atomic by itself; inside the caller's
    transaction if there is one.

    Raises:
        IllegalTransitionError: the state machine does not allow ``expect`` → ``to`` (for a
            person, when ``by_person``).
    """
    statement, values = _prepare(
        to=to,
        expect=expect,
        reason=reason,
        by_person=by_person,
        single=True,
        columns=columns,
        unless_erased=unless_erased,
        events=events,
        then=then,
        params=params,
        returning=returning,
        key={"_id": app["id"], "_created_at": app["created_at"]},
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row: dict[str, Any] | None = cur.execute(statement, values).fetchone()
    return row


async def change_status_async(
    conn: psycopg.AsyncConnection[Any],
    app: Mapping[str, Any],
    to: ApplicationStatus | str,
    *,
    expect: ApplicationStatus | str,
    reason: str | None = None,
    columns: Mapping[str, Any] | None = None,
    by_person: bool = False,
) -> bool:
    """:func:`change_status` on an async connection (the API); True if it moved."""
    statement, values = _prepare(
        to=to,
        expect=expect,
        reason=reason,
        by_person=by_person,
        single=True,
        columns=columns,
        key={"_id": app["id"], "_created_at": app["created_at"]},
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, values)
        return await cur.fetchone() is not None


def change_status_many(
    conn: psycopg.Connection[Any],
    job_id: uuid.UUID | str,
    ids: Sequence[uuid.UUID],
    to: ApplicationStatus | str,
    *,
    expect: ApplicationStatus | str,
    reason: str | None = None,
    columns: Mapping[str, Any] | None = None,
) -> list[uuid.UUID]:
    """:func:`change_status` for those of ``ids`` (applications of ``job_id``) that are in
    ``expect``; one event each. Returns the ids that moved."""
    if not ids:
        return []
    statement, values = _prepare(
        to=to,
        expect=expect,
        reason=reason,
        single=False,
        columns=columns,
        key={"_ids": list(ids), "_job_id": job_id},
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return [row["id"] for row in cur.execute(statement, values).fetchall()]
