"""Interviews. Overlaps are refused for the interviewer and for the candidate: checked first
(to name the conflicting interview in the 409), and made impossible by the EXCLUDE
constraints of the ``interviews`` table when two requests race."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import AsyncConnection

from api.candidates.service import change_status, load
from api.errors import ProblemError
from api.interviews.schemas import FeedbackIn, InterviewIn, InterviewOut, RescheduleIn
from api.security import OrgSession
from core.domain import ApplicationStatus, Role

_COLUMNS = (
    "id, application_id, candidate_id, interviewer_id, interview_type, starts_at,"
    " ends_at, status, notes, score, created_at, updated_at"
)

_CONFLICT_SQL = """
SELECT id, interviewer_id = %(interviewer)s AS interviewer_busy FROM interviews
 WHERE organization_id = %(org)s AND status = 'scheduled' AND id IS DISTINCT FROM %(self)s
   AND tstzrange(starts_at, ends_at) && tstzrange(%(starts)s, %(ends)s)
   AND (interviewer_id = %(interviewer)s OR candidate_id = %(candidate)s
        OR application_id = %(application)s)
 ORDER BY starts_at LIMIT 1
"""

_INTERVIEWABLE = {
    ApplicationStatus.SCREENED,
    ApplicationStatus.SHORTLISTED,
    ApplicationStatus.INTERVIEW,
}


def _not_found(interview_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "interview_not_found", f"No interview {interview_id}.")


async def _interview(
    conn: AsyncConnection[Any],
    session: OrgSession,
    interview_id: uuid.UUID,
    *,
    lock: bool = False,
) -> dict[str, Any]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM interviews WHERE id = %s AND organization_id = %s"
        + (" FOR UPDATE" if lock else ""),
        (interview_id, session.organization_id),
    )
    row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
    if row is None or not _visible(session, row):
        raise _not_found(interview_id)
    return row


def _visible(session: OrgSession, row: dict[str, Any]) -> bool:
    """Interviewers see only their own interviews."""
    principal = session.principal
    return principal.role != Role.INTERVIEWER or row["interviewer_id"] == principal.user_id


async def _check_interviewer(
    conn: AsyncConnection[Any], session: OrgSession, interviewer_id: uuid.UUID
) -> None:
    cur = await conn.execute(
        "SELECT 1 FROM users WHERE id = %s AND organization_id = %s AND is_active"
        " AND role IN ('interviewer', 'hr', 'admin')",
        (interviewer_id, session.organization_id),
    )
    if await cur.fetchone() is None:
        raise ProblemError(
            422,
            "interviewer_not_found",
            f"No active interviewer {interviewer_id} in this organization.",
        )


async def _check_conflicts(
    conn: AsyncConnection[Any],
    session: OrgSession,
    *,
    interview_id: uuid.UUID | None,
    interviewer_id: uuid.UUID,
    candidate_id: uuid.UUID | None,
    application_id: uuid.UUID,
    starts: Any,
    ends: Any,
) -> None:
    cur = await conn.execute(
        _CONFLICT_SQL,
        {
            "org": session.organization_id,
            "self": interview_id,
            "interviewer": interviewer_id,
            "candidate": candidate_id,
            "application": application_id,
            "starts": starts,
            "ends": ends,
        },
    )
    row: Any = await cur.fetchone()
    if row is not None:
        _raise_conflict(row["id"], "interviewer" if row["interviewer_busy"] else "candidate")


def _raise_conflict(conflicting: uuid.UUID | None, who: str) -> None:
    raise ProblemError(
        409,
        "interview_conflict",
        f"The {who} already has an interview at that time"
        + (f": {conflicting}." if conflicting else "."),
        extra={
            "conflicting_interview_id": str(conflicting) if conflicting else None,
            "conflict_with": who,
        },
    )


async def schedule(session: OrgSession, data: InterviewIn) -> InterviewOut:
    """Schedule an interview; the application moves to ``interview`` if it is not there."""
    try:
        async with session.tx() as conn:
            app = await load(conn, data.application_id, session.organization_id, lock=True)
            if app is None:
                raise ProblemError(
                    404, "application_not_found", f"No application {data.application_id}."
                )
            if app["status"] not in _INTERVIEWABLE:
                raise ProblemError(
                    409,
                    "application_not_interviewable",
                    f"An application in {app['status']} cannot be interviewed.",
                )
            await _check_interviewer(conn, session, data.interviewer_id)
            await _check_conflicts(
                conn,
                session,
                interview_id=None,
                interviewer_id=data.interviewer_id,
                candidate_id=app["candidate_id"],
                application_id=app["id"],
                starts=data.starts_at,
                ends=data.ends_at,
            )
            cur = await conn.execute(
                "INSERT INTO interviews (organization_id, application_id, candidate_id,"
                " interviewer_id, interview_type, starts_at, ends_at)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (
                    session.organization_id,
                    app["id"],
                    app["candidate_id"],
                    data.interviewer_id,
                    data.interview_type,
                    data.starts_at,
                    data.ends_at,
                ),
            )
            row: Any = await cur.fetchone()
            if app["status"] != ApplicationStatus.INTERVIEW:
                await change_status(conn, app, ApplicationStatus.INTERVIEW, "interview scheduled")
            out = InterviewOut.model_validate(row)
            await session.audit(
                conn, "interview.schedule", "interview", out.id, after=out.model_dump(mode="json")
            )
    except psycopg.errors.ExclusionViolation:
        _raise_conflict(None, "interviewer or candidate")
    return out


async def reschedule(
    session: OrgSession, interview_id: uuid.UUID, data: RescheduleIn
) -> InterviewOut:
    try:
        async with session.tx() as conn:
            before = await _interview(conn, session, interview_id, lock=True)
            if before["status"] != "scheduled":
                raise ProblemError(
                    409, "interview_not_scheduled", f"The interview is {before['status']}."
                )
            interviewer = data.interviewer_id or before["interviewer_id"]
            if data.interviewer_id:
                await _check_interviewer(conn, session, interviewer)
            await _check_conflicts(
                conn,
                session,
                interview_id=interview_id,
                interviewer_id=interviewer,
                candidate_id=before["candidate_id"],
                application_id=before["application_id"],
                starts=data.starts_at,
                ends=data.ends_at,
            )
            cur = await conn.execute(
                "UPDATE interviews SET starts_at = %s, ends_at = %s, interviewer_id = %s,"
                f" updated_at = now() WHERE id = %s AND organization_id = %s RETURNING {_COLUMNS}",
                (data.starts_at, data.ends_at, interviewer, interview_id, session.organization_id),
            )
            out = InterviewOut.model_validate(await cur.fetchone())
            await session.audit(
                conn,
                "interview.reschedule",
                "interview",
                interview_id,
                before=InterviewOut.model_validate(before).model_dump(mode="json"),
                after=out.model_dump(mode="json"),
            )
    except psycopg.errors.ExclusionViolation:
        _raise_conflict(None, "interviewer or candidate")
    return out


async def cancel(session: OrgSession, interview_id: uuid.UUID) -> InterviewOut:
    async with session.tx() as conn:
        before = await _interview(conn, session, interview_id, lock=True)
        if before["status"] != "scheduled":
            raise ProblemError(
                409, "interview_not_scheduled", f"The interview is {before['status']}."
            )
        cur = await conn.execute(
            "UPDATE interviews SET status = 'cancelled', updated_at = now()"
            f" WHERE id = %s AND organization_id = %s RETURNING {_COLUMNS}",
            (interview_id, session.organization_id),
        )
        out = InterviewOut.model_validate(await cur.fetchone())
        await session.audit(
            conn,
            "interview.cancel",
            "interview",
            interview_id,
            before={"status": "scheduled"},
            after={"status": "cancelled"},
        )
    return out


async def feedback(session: OrgSession, interview_id: uuid.UUID, data: FeedbackIn) -> InterviewOut:
    """The interviewer's notes and score, given once; the interview is then ``completed``
    (feedback is not rewritten afterwards, by the interviewer or anyone)."""
    async with session.tx() as conn:
        before = await _interview(conn, session, interview_id, lock=True)
        if before["status"] != "scheduled":
            raise ProblemError(
                409,
                "interview_not_scheduled",
                f"The interview is {before['status']}: its feedback cannot be given again.",
            )
        cur = await conn.execute(
            "UPDATE interviews SET notes = %s, score = %s, status = 'completed',"
            f" updated_at = now() WHERE id = %s AND organization_id = %s RETURNING {_COLUMNS}",
            (data.notes, data.score, interview_id, session.organization_id),
        )
        out = InterviewOut.model_validate(await cur.fetchone())
        await session.audit(
            conn,
            "interview.feedback",
            "interview",
            interview_id,
            before={"status": before["status"], "score": before["score"]},
            after={"status": "completed", "score": data.score},
        )
    return out


async def read(session: OrgSession, interview_id: uuid.UUID) -> InterviewOut:
    async with session.tx() as conn:
        return InterviewOut.model_validate(await _interview(conn, session, interview_id))


async def list_interviews(session: OrgSession, filters: dict[str, Any]) -> list[InterviewOut]:
    where = ["organization_id = %(org)s"]
    params: dict[str, Any] = {**filters, "org": session.organization_id}
    if session.principal.role == Role.INTERVIEWER:
        params["interviewer_id"] = session.principal.user_id
    for name, condition in {
        "application_id": "application_id = %(application_id)s",
        "interviewer_id": "interviewer_id = %(interviewer_id)s",
        "starts_from": "starts_at >= %(starts_from)s",
        "starts_to": "starts_at < %(starts_to)s",
    }.items():
        if params.get(name) is not None:
            where.append(condition)
    async with session.tx() as conn:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM interviews WHERE {' AND '.join(where)}"
            " ORDER BY starts_at, id LIMIT 500",
            params,
        )
        return [InterviewOut.model_validate(r) for r in await cur.fetchall()]
