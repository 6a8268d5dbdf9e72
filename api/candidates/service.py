"""The HR application listing (filters, full-text search, keyset pagination), status changes
through the one state machine (:data:`core.domain.TRANSITIONS`), candidate withdrawal and
erasure of personal data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from api.candidates.proof import blind_cnic, candidate_proven
from api.candidates.schemas import (
    ApplicationDetail,
    ApplicationPage,
    ApplicationSummary,
    ErasureOut,
    Sort,
    StatusChangeOut,
)
from api.errors import ProblemError
from api.security import OrgSession
from api.state import ApiState
from core.domain import ERASED, ApplicationStatus
from core.pii import mask_cnic
from core.pii_crypto import PiiCipher
from core.status import IllegalTransitionError, change_status_async
from ingest.blobs import InvalidBlobKeyError

log = logging.getLogger(__name__)


_SUMMARY_COLUMNS = """
a.id, a.organization_id, a.job_id, a.status, a.ai_score, a.ai_recommendation, a.is_in_shortlist,
a.shortlist_rank, a.needs_review, a.criteria_version, a.candidate_name, a.candidate_email,
a.candidate_phone, a.submitted_at, a.created_at, a.status_changed_at, a.pii_erased_at
"""

_SEARCH = (
    "to_tsvector('simple', coalesce(a.candidate_name, '') || ' ' || coalesce(a.resume_text, ''))"
    " @@ websearch_to_tsquery('simple', %(q)s)"
)

#: sort → (key expression, direction)
_SORTS: dict[str, tuple[str, str]] = {
    "-created_at": ("a.created_at", "DESC"),
    "created_at": ("a.created_at", "ASC"),
    "-score": ("coalesce(a.ai_score, -1)", "DESC"),
    "score": ("coalesce(a.ai_score, -1)", "ASC"),
}

_LOAD_SQL = """
SELECT a.* FROM application_index i
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
 WHERE i.id = %s AND i.organization_id = %s
"""


def _not_found(app_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "application_not_found", f"No application {app_id}.")


# --- listing -------------------------------------------------------------------------------


def encode_cursor(sort: str, key: Any, app_id: uuid.UUID) -> str:
    raw = json.dumps([sort, str(key), str(app_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, key, app_id = json.loads(raw)
        if cursor_sort != sort:
            raise ValueError("cursor of another sort order")
        value = datetime.fromisoformat(key) if "created_at" in sort else Decimal(key)
        return value, uuid.UUID(app_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, ArithmeticError) as exc:
        raise ProblemError(400, "invalid_cursor", "The cursor is not valid here.") from exc


async def list_applications(
    session: OrgSession,
    *,
    filters: dict[str, Any],
    sort: Sort,
    limit: int,
    cursor: str | None,
) -> ApplicationPage:
    """One page, newest/oldest or best/worst score first, continuing after ``cursor``.

    Pagination is by key (sort key, id), never by offset: a page costs the same at any depth
    and rows inserted meanwhile never shift or repeat what the caller already saw.
    """
    key_sql, direction = _SORTS[sort]
    where = ["a.organization_id = %(org)s"]
    params: dict[str, Any] = {"org": session.organization_id, "limit": limit + 1}
    conditions = {
        "job_id": "a.job_id = %(job_id)s",
        "statuses": "a.status = ANY(%(statuses)s)",
        "min_score": "a.ai_score >= %(min_score)s",
        "max_score": "a.ai_score <= %(max_score)s",
        "submitted_from": "a.created_at >= %(submitted_from)s",
        "submitted_to": "a.created_at < %(submitted_to)s",
        "shortlisted": "a.is_in_shortlist = %(shortlisted)s",
        "q": _SEARCH,
    }
    for name, condition in conditions.items():
        if filters.get(name) not in (None, []):
            where.append(condition)
            params[name] = filters[name]
    if cursor:
        params["ck"], params["ci"] = _decode_cursor(cursor, sort)
        op = "<" if direction == "DESC" else ">"
        where.append(f"({key_sql}, a.id) {op} (%(ck)s, %(ci)s)")
    sql = (
        f"SELECT {_SUMMARY_COLUMNS}, {key_sql} AS sort_key FROM applications a"
        f" WHERE {' AND '.join(where)}"
        f" ORDER BY {key_sql} {direction}, a.id {direction} LIMIT %(limit)s"
    )
    async with session.tx() as conn:
        cur = await conn.execute(sql, params)
        rows: list[Any] = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        key = last["sort_key"].isoformat() if "created_at" in sort else last["sort_key"]
        next_cursor = encode_cursor(sort, key, last["id"])
    pii = session.api.pii
    return ApplicationPage(items=[_summary(pii, r) for r in rows], next_cursor=next_cursor)


def _summary(pii: PiiCipher, row: dict[str, Any]) -> ApplicationSummary:
    org = row["organization_id"]
    return ApplicationSummary(
        id=row["id"],
        job_id=row["job_id"],
        status=row["status"],
        score=float(row["ai_score"]) if row["ai_score"] is not None else None,
        recommendation=row["ai_recommendation"],
        shortlisted=row["is_in_shortlist"],
        shortlist_rank=row["shortlist_rank"],
        needs_review=row["needs_review"],
        criteria_version=row["criteria_version"],
        candidate_name=row["candidate_name"],
        candidate_email=pii.reveal(row["candidate_email"], org) or ERASED,
        candidate_phone=pii.reveal(row["candidate_phone"], org),
        submitted_at=row["submitted_at"],
        status_changed_at=row["status_changed_at"],
        erased=row["pii_erased_at"] is not None,
    )


async def read_application(session: OrgSession, app_id: uuid.UUID) -> ApplicationDetail:
    async with session.tx() as conn:
        row = await load(conn, app_id, session.organization_id)
    if row is None:
        raise _not_found(app_id)
    pii = session.api.pii
    return ApplicationDetail(
        **_summary(pii, row).model_dump(),
        candidate_cnic_masked=mask_cnic(pii.decrypt(row["candidate_cnic"], row["organization_id"]))
        if not row["pii_erased_at"]
        else ERASED,
        status_reason=row["status_reason"],
        resume_media_type=row["resume_media_type"],
        resume_text=row["resume_text"],
        resume_flags=row["resume_flags"] or [],
        ai_reasoning=row["ai_reasoning"],
        skills_matched=row["ai_skills_matched"] or [],
        skills_missing=row["ai_skills_missing"] or [],
        model_version=row["ai_model_version"],
        screened_at=row["ai_screened_at"],
    )


# --- the state machine ---------------------------------------------------------------------


async def load(
    conn: AsyncConnection[Any],
    app_id: uuid.UUID,
    organization_id: uuid.UUID,
    *,
    lock: bool = False,
) -> dict[str, Any] | None:
    """The application row (locked for update when ``lock``), or None."""
    cur = await conn.execute(
        _LOAD_SQL + (" FOR UPDATE OF a" if lock else ""), (app_id, organization_id)
    )
    row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
    return row


async def change_status(
    conn: AsyncConnection[Any],
    app: dict[str, Any],
    to: ApplicationStatus | str,
    reason: str | None,
) -> None:
    """Move a (locked) application to ``to`` if a person may, and emit
    ``applications.status_changed`` in the same transaction (:mod:`core.status`).

    Raises:
        ProblemError: 409 ``illegal_transition`` (naming from/to and the legal targets).
    """
    current = ApplicationStatus(app["status"])
    target = ApplicationStatus(to)
    leaves_shortlist = target not in (
        ApplicationStatus.SHORTLISTED,
        ApplicationStatus.INTERVIEW,
        ApplicationStatus.OFFER,
        ApplicationStatus.HIRED,
    )
    try:
        moved = await change_status_async(
            conn,
            app,
            target,
            expect=current,
            reason=reason,
            by_person=True,
            columns={"is_in_shortlist": False, "shortlist_rank": None} if leaves_shortlist else {},
        )
    except IllegalTransitionError as exc:
        raise ProblemError(
            409,
            "illegal_transition",
            f"An application cannot go from {current} to {target}.",
            extra={"from": current, "to": target},
        ) from exc
    if not moved:
        raise ProblemError(409, "concurrent_update", "The application changed meanwhile; retry.")
    app["status"] = target


async def set_status(
    session: OrgSession, app_id: uuid.UUID, to: ApplicationStatus, reason: str | None
) -> StatusChangeOut:
    async with session.tx() as conn:
        app = await load(conn, app_id, session.organization_id, lock=True)
        if app is None:
            raise _not_found(app_id)
        before = app["status"]
        await change_status(conn, app, to, reason)
        await session.audit(
            conn,
            "application.status",
            "application",
            app_id,
            before={"status": before},
            after={"status": to, "reason": reason},
        )
    return StatusChangeOut(application_id=app_id, previous_status=before, status=to)


async def withdraw(
    api: ApiState,
    app_id: uuid.UUID,
    cnic: str,
    email: str,
    ip: str | None,
    request_id: str | None,
) -> StatusChangeOut:
    """The candidate withdraws, proving who they are with CNIC and e-mail (404 otherwise)."""
    async with api.db.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT a.* FROM application_index i JOIN applications a"
            " ON a.id = i.id AND a.created_at = i.created_at WHERE i.id = %s FOR UPDATE OF a",
            (app_id,),
        )
        app: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
        proven = app is not None and candidate_proven(api.pii, app, cnic, email)
        if app is None or not proven:
            raise _not_found(app_id)
        before = app["status"]
        await change_status(conn, app, ApplicationStatus.WITHDRAWN, "withdrawn by candidate")
        await conn.execute(
            "INSERT INTO audit_logs (organization_id, user_id, action, resource_type,"
            " resource_id, changes, ip_address, request_id)"
            " VALUES (%s, NULL, 'application.withdraw', 'application', %s,"
            " jsonb_build_object('before', jsonb_build_object('status', %s::text),"
            " 'after', jsonb_build_object('status', 'withdrawn'), 'by', 'candidate'), %s, %s)",
            (app["organization_id"], str(app_id), before, ip, request_id),
        )
    return StatusChangeOut(
        application_id=app_id, previous_status=before, status=ApplicationStatus.WITHDRAWN
    )


# --- erasure -------------------------------------------------------------------------------

# The CTE locks the rows and keeps their résumé keys: the UPDATE blanks them, and RETURNING
# only sees new values of the updated table.
_ERASE_APPLICATIONS_SQL = """
WITH erased AS (
    SELECT id, created_at, resume_blob_key FROM applications
     WHERE organization_id = %(org)s AND candidate_cnic_index = %(cnic_index)s
       AND pii_erased_at IS NULL
       FOR UPDATE
)
UPDATE applications a
   SET candidate_name = %(erased)s, candidate_email = %(erased)s, candidate_phone = NULL,
       candidate_cnic = 'erased:' || a.id::text, candidate_cnic_index = NULL,
       candidate_email_index = NULL, status_token_hash = NULL, resume_text = NULL,
       resume_blob_key = NULL,
       ai_reasoning = (a.ai_reasoning - 'evidence')
           || jsonb_build_object('reasoning', %(erased)s::text),
       pii_erased_at = now(), updated_at = now()
  FROM erased
 WHERE a.id = erased.id AND a.created_at = erased.created_at
 RETURNING erased.resume_blob_key
"""

_ERASE_CANDIDATES_SQL = """
UPDATE candidates
   SET name = %(erased)s, email = %(erased)s, phone = NULL, degree = NULL,
       cnic = 'erased:' || id::text, cnic_index = NULL, email_index = NULL, erased_at = now()
 WHERE organization_id = %(org)s AND cnic_index = %(cnic_index)s AND erased_at IS NULL
 RETURNING id
"""

# Without its salt the CNIC no longer leads to the erased applications' ids (core.ids).
_FORGET_SALT_SQL = """
DELETE FROM candidate_keys WHERE organization_id = %(org)s AND cnic_index = %(cnic_index)s
"""


# Partitions past retention live in the archive schema, which only this function reaches.
_ERASE_ARCHIVED_SQL = """
SELECT resume_blob_key FROM pvara_erase_archived_applications(%(cnic_index)s, %(erased)s)
"""

# Across organizations (identical bytes share one blob whoever uploaded them), archive included.
_BLOBS_IN_USE_SQL = """
SELECT key AS resume_blob_key FROM pvara_resume_blobs_in_use(%s) AS key
"""


async def erase_candidate(session: OrgSession, cnic: str) -> ErasureOut:
    """Remove a candidate's personal data from applications (archived ones included) and
    candidates, then the résumé files no application references any more; statuses, scores and
    the audit trail stay (the audit row names no personal data)."""
    org = session.organization_id
    params = {"org": org, "cnic_index": blind_cnic(session.api.pii, org, cnic), "erased": ERASED}
    async with session.tx() as conn:
        cur = await conn.execute(_ERASE_APPLICATIONS_SQL, params)
        erased: list[Any] = await cur.fetchall()
        cur = await conn.execute(_ERASE_ARCHIVED_SQL, params)
        erased += await cur.fetchall()
        cur = await conn.execute(_ERASE_CANDIDATES_SQL, params)
        candidates: list[Any] = await cur.fetchall()
        cur = await conn.execute(_FORGET_SALT_SQL, params)
        if not erased and not candidates and not cur.rowcount:
            raise ProblemError(404, "candidate_not_found", "No personal data of this candidate.")
        await session.audit(
            conn,
            "candidate.erase",
            "candidate",
            candidates[0]["id"] if candidates else None,
            after={"applications_erased": len(erased), "candidates_erased": len(candidates)},
        )
    keys = {row["resume_blob_key"] for row in erased if row["resume_blob_key"]}
    await delete_unreferenced_blobs(session.api, keys)
    return ErasureOut(applications_erased=len(erased), candidates_erased=len(candidates))


async def delete_unreferenced_blobs(api: ApiState, keys: set[str]) -> int:
    """Delete those of ``keys`` that no application references and that were stored more than
    ``blob_grace_s`` ago; returns how many were deleted.

    Runs after the erasure committed, so a failure cannot undo it: a file that cannot be
    deleted is logged by key for an operator and the others are still deleted.
    """
    if not keys:
        return 0
    # Not session.tx(): row-level security would hide other organizations' references.
    async with api.db.connection() as conn:
        cur = await conn.execute(_BLOBS_IN_USE_SQL, (sorted(keys),))
        rows: list[Any] = await cur.fetchall()
    in_use = {row["resume_blob_key"] for row in rows}
    # A file stored within the grace may belong to a submission still in Kafka (same bytes):
    # it stays, and the daily sweep deletes it once the grace has passed, if still unused.
    grace = api.settings.blob_grace_s
    deleted = 0
    for key in sorted(keys - in_use):
        try:
            if await asyncio.to_thread(api.blobs.delete, key, grace):
                deleted += 1
        except (OSError, InvalidBlobKeyError):
            log.exception("erased résumé file not deleted", extra={"blob_key": key})
    log.info(
        "erased résumé files deleted",
        extra={
            "deleted": deleted,
            "in_use": len(in_use),
            "left_for_sweep": len(keys - in_use) - deleted,
        },
    )
    return deleted
