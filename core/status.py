"""Changing an application's status: the state machine's guard, the UPDATE and its
``applications.status_changed`` event, in one statement.

Every status change goes through here (the pipeline's actors, the HR API, the shortlist), so
the guard (:func:`core.domain.can_transition`) is never skipped and the event is never
forgotten. The statement is a single ``WITH moved AS (UPDATE …) INSERT INTO event_outbox …``:
one round trip, atomic on its own, and the event exists exactly when the row moved. A stage
that writes more in the same breath (the score stage's ledger rows and its
``applications.screened`` event) passes them as ``events`` and ``then`` statements, which read
the ``moved`` rows and so also happen only if the move did.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
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


@dataclass(frozen=True)
class Event:
    """A further event to record if (and only if) the application moved."""

    topic: str
    payload: Mapping[str, Any]


def _statement(
    *,
    to: ApplicationStatus | str,
    expect: ApplicationStatus | str,
    reason: str | None,
    single: bool,
    columns: Mapping[str, Any],
    unless_erased: bool,
    by_person: bool,
    events: Sequence[Event],
    then: Sequence[sql.Composable],
    returning: sql.Composable | None,
) -> sql.Composed:
    if not can_transition(expect, to, by_person=by_person):
        raise IllegalTransitionError(str(expect), str(to))
    sets = [
        sql.SQL("{} = {}").format(
            sql.Identifier(name),
            value if isinstance(value, sql.Composable) else sql.Placeholder(f"c_{name}"),
        )
        for name, value in columns.items()
    ]
    where = (
        "a.id = %(_id)s AND a.created_at = %(_created_at)s"
        if single
        else "a.id = ANY(%(_ids)s) AND a.job_id = %(_job_id)s"
    )
    moved = sql.SQL(
        "UPDATE applications a SET status = %(_to)s, status_reason = %(_reason)s,"
        " updated_at = now(), status_changed_at = now(){extra}{sets}"
        " WHERE {where} AND a.status = %(_expect)s{erased}"
        " RETURNING a.*"
    ).format(
        extra=sql.SQL(", ") if sets else sql.SQL(""),
        sets=sql.SQL(", ").join(sets),
        where=sql.SQL(where),  # type: ignore[arg-type]
        erased=sql.SQL(" AND a.pii_erased_at IS NULL" if unless_erased else ""),
    )
    outbox: list[sql.Composable] = [
        sql.SQL(
            "INSERT INTO event_outbox (topic, key, event_type, payload, job_id)"
            " SELECT %(_topic)s, m.job_id::text, %(_topic)s,"
            " jsonb_build_object('application_id', m.id::text, 'job_id', m.job_id::text,"
            " 'from', %(_expect)s::text, 'to', %(_to)s::text, 'reason', %(_reason)s::text),"
            " m.job_id FROM moved m"
        )
    ]
    for index, _ in enumerate(events):
        outbox.append(
            sql.SQL(
                "INSERT INTO event_outbox (topic, key, event_type, payload, job_id)"
                " SELECT {topic}, m.job_id::text, {topic}, {payload}, m.job_id FROM moved m"
            ).format(
                topic=sql.Placeholder(f"_e{index}_topic"),
                payload=sql.Placeholder(f"_e{index}_payload"),
            )
        )
    ctes = [sql.SQL("moved AS ({})").format(moved)]
    ctes += [
        sql.SQL("{} AS ({})").format(sql.Identifier(f"w{index}"), statement)
        for index, statement in enumerate([*outbox, *then])
    ]
    return sql.SQL("WITH {ctes} SELECT {returning}").format(
        ctes=sql.SQL(", ").join(ctes),
        returning=returning if returning is not None else sql.SQL("m.id FROM moved m"),
    )


def _params(
    *,
    to: str,
    expect: str,
    reason: str | None,
    columns: Mapping[str, Any],
    events: Sequence[Event],
    params: Mapping[str, Any],
    key: Mapping[str, Any],
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "_to": str(to),
        "_expect": str(expect),
        "_reason": reason,
        "_topic": APPLICATIONS_STATUS_CHANGED,
        **key,
    }
    for name, value in columns.items():
        if not isinstance(value, sql.Composable):
            values[f"c_{name}"] = value
    for index, event in enumerate(events):
        values[f"_e{index}_topic"] = event.topic
        values[f"_e{index}_payload"] = Jsonb(dict(event.payload))
    clash = set(values) & set(params)
    if clash:
        raise ValueError(f"parameter names used by change_status: {sorted(clash)}")
    return {**values, **params}


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
    then: Sequence[sql.Composable] = (),
    params: Mapping[str, Any] | None = None,
    returning: sql.Composable | None = None,
) -> dict[str, Any] | None:
    """Move ``app`` (its ``id`` and ``created_at``) from ``expect`` to ``to``, with ``columns``
    set alongside (a :class:`psycopg.sql.Composable` value is SQL, anything else a parameter),
    and record ``applications.status_changed`` plus ``events``; ``then`` statements (reading
    the CTE ``moved m``, with ``params``) run in the same statement. ``unless_erased`` also
    requires that the candidate's personal data was not erased.

    Returns the row of ``SELECT {returning}`` (a select list and a FROM over ``moved m``;
    default: ``m.id FROM moved m``) as a dict, or None when the application was no longer in
    ``expect`` (another delivery or a person won).
    Atomic by itself; inside the caller's transaction if there is one.

    Raises:
        IllegalTransitionError: the state machine does not allow ``expect`` → ``to`` (for a
            person, when ``by_person``).
    """
    columns = columns or {}
    statement = _statement(
        to=to,
        expect=expect,
        reason=reason,
        single=True,
        columns=columns,
        unless_erased=unless_erased,
        by_person=by_person,
        events=events,
        then=then,
        returning=returning,
    )
    values = _params(
        to=to,
        expect=expect,
        reason=reason,
        columns=columns,
        events=events,
        params=params or {},
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
    columns = columns or {}
    statement = _statement(
        to=to,
        expect=expect,
        reason=reason,
        single=True,
        columns=columns,
        unless_erased=False,
        by_person=by_person,
        events=(),
        then=(),
        returning=None,
    )
    values = _params(
        to=to,
        expect=expect,
        reason=reason,
        columns=columns,
        events=(),
        params={},
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
    columns = columns or {}
    statement = _statement(
        to=to,
        expect=expect,
        reason=reason,
        single=False,
        columns=columns,
        unless_erased=False,
        by_person=False,
        events=(),
        then=(),
        returning=None,
    )
    values = _params(
        to=to,
        expect=expect,
        reason=reason,
        columns=columns,
        events=(),
        params={},
        key={"_ids": list(ids), "_job_id": job_id},
    )
    with conn.cursor(row_factory=dict_row) as cur:
        return [row["id"] for row in cur.execute(statement, values).fetchall()]
