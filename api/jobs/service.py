"""Jobs, their versioned criteria, the shortlist and on-demand rebuilds.

Every HR query runs in an :class:`OrgSession` transaction (RLS-bound) *and* names the
caller's organization. The public listing of open jobs reads across organizations as the
owner role, returns only public fields, and is cached in Redis (a generation counter bumped on
every job change invalidates all cached pages at once).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from api.errors import ProblemError
from api.jobs.schemas import (
    CriteriaIn,
    CriteriaOut,
    JobIn,
    JobOut,
    JobPatch,
    PublicJob,
    PublicJobPage,
    ShortlistEntry,
    ShortlistOut,
    TaskAccepted,
    TaskOut,
)
from api.security import OrgSession, SecurityState
from api.state import ApiState
from core.domain import ERASED
from core.progress import RESCORE_AND_REBUILD, TASK_TTL_S, task_key, task_record
from core.queue import SHORTLIST, enqueue

_PUBLIC_GEN_KEY = "pvara:jobs:public:gen"

_JOB_SQL = """
SELECT j.id, j.organization_id, j.title, j.department, j.description, j.location, j.status,
       j.openings, j.tier, j.webhook_url, j.created_at, j.updated_at,
       (SELECT max(c.version) FROM screening_criteria c WHERE c.job_id = j.id) AS criteria_version
  FROM jobs j
 WHERE j.id = %s AND j.organization_id = %s
"""

_PUBLIC_SQL = """
SELECT j.id, o.slug AS organization, j.title, j.department, j.description, j.location, j.tier,
       j.openings, j.created_at
  FROM jobs j JOIN organizations o ON o.id = j.organization_id
 WHERE j.status = 'open'
   AND (%(organization)s::text IS NULL OR o.slug = %(organization)s)
   AND (%(department)s::text IS NULL OR j.department = %(department)s)
   AND (%(location)s::text IS NULL OR j.location = %(location)s)
   AND (%(tier)s::text IS NULL OR j.tier = %(tier)s)
   AND (%(q)s::text IS NULL OR j.title ILIKE %(q)s OR j.description ILIKE %(q)s)
 ORDER BY j.created_at DESC, j.id DESC
 LIMIT %(limit)s OFFSET %(offset)s
"""

_LATEST_CRITERIA_SQL = """
SELECT c.job_id, c.version, c.criteria, c.created_at, c.updated_by, j.tier, j.webhook_url,
       j.webhook_secret IS NOT NULL AS webhook_secret_set
  FROM screening_criteria c JOIN jobs j ON j.id = c.job_id
 WHERE c.job_id = %s AND c.organization_id = %s
 ORDER BY c.version DESC LIMIT 1
"""

_SHORTLIST_VERSION_SQL = """
SELECT version, criteria_version, created_at FROM shortlist_versions
 WHERE job_id = %s AND organization_id = %s ORDER BY version DESC LIMIT 1
"""

_SHORTLIST_SQL = """
SELECT s.rank, s.application_id, s.ai_score, a.status, a.ai_reasoning -> 'reasoning' AS reasoning,
       a.ai_recommendation, a.ai_skills_matched, a.ai_skills_missing, a.criteria_version,
       a.candidate_name, a.candidate_email, a.candidate_phone
  FROM shortlist s
  JOIN application_index i ON i.id = s.application_id
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
 WHERE s.job_id = %s AND s.version = %s AND s.organization_id = %s
 ORDER BY s.rank
"""


def _not_found(job_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "job_not_found", f"No job {job_id}.")


async def _job(conn: AsyncConnection[Any], session: OrgSession, job_id: uuid.UUID) -> JobOut:
    cur = await conn.execute(_JOB_SQL, (job_id, session.organization_id))
    row: Any = await cur.fetchone()
    if row is None:
        raise _not_found(job_id)
    return JobOut.model_validate(row)


async def _lock_job(conn: AsyncConnection[Any], session: OrgSession, job_id: uuid.UUID) -> None:
    cur = await conn.execute(
        "SELECT id FROM jobs WHERE id = %s AND organization_id = %s FOR UPDATE",
        (job_id, session.organization_id),
    )
    if await cur.fetchone() is None:
        raise _not_found(job_id)


async def _invalidate_public(api: ApiState, job_id: uuid.UUID | None = None) -> None:
    await api.redis.incr(_PUBLIC_GEN_KEY)
    await api.jobs.changed(api.redis, job_id)  # the submission path's cache, every process


async def create_job(session: OrgSession, data: JobIn) -> JobOut:
    async with session.tx() as conn:
        cur = await conn.execute(
            "INSERT INTO jobs (organization_id, title, department, description, location, status,"
            " openings, tier, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                session.organization_id,
                data.title,
                data.department,
                data.description,
                data.location,
                data.status,
                data.openings,
                data.tier,
                session.principal.user_id,
            ),
        )
        row: Any = await cur.fetchone()
        job = await _job(conn, session, row["id"])
        await session.audit(conn, "job.create", "job", job.id, after=_audit_view(job))
    await _invalidate_public(session.api)
    return job


async def read_job(session: OrgSession, job_id: uuid.UUID) -> JobOut:
    async with session.tx() as conn:
        return await _job(conn, session, job_id)


async def update_job(session: OrgSession, job_id: uuid.UUID, patch: JobPatch) -> JobOut:
    """Change the given fields (409 ``job_closed`` for a closed job)."""
    changes = patch.model_dump(exclude_unset=True)
    async with session.tx() as conn:
        await _lock_job(conn, session, job_id)
        before = await _job(conn, session, job_id)
        if before.status == "closed":
            raise ProblemError(409, "job_closed", f"Job {job_id} is closed.")
        if changes:
            sets = ", ".join(f"{name} = %({name})s" for name in changes)
            await conn.execute(
                f"UPDATE jobs SET {sets}, updated_at = now()"
                " WHERE id = %(id)s AND organization_id = %(org)s",
                {**changes, "id": job_id, "org": session.organization_id},
            )
        after = await _job(conn, session, job_id)
        await session.audit(
            conn, "job.update", "job", job_id, before=_audit_view(before), after=_audit_view(after)
        )
    await _invalidate_public(session.api, job_id)
    return after


async def close_job(session: OrgSession, job_id: uuid.UUID) -> JobOut:
    """Stop accepting applications (idempotent)."""
    async with session.tx() as conn:
        await _lock_job(conn, session, job_id)
        before = await _job(conn, session, job_id)
        await conn.execute(
            "UPDATE jobs SET status = 'closed', updated_at = now()"
            " WHERE id = %s AND organization_id = %s",
            (job_id, session.organization_id),
        )
        after = await _job(conn, session, job_id)
        await session.audit(
            conn,
            "job.close",
            "job",
            job_id,
            before={"status": before.status},
            after={"status": after.status},
        )
    await _invalidate_public(session.api, job_id)
    return after


def _audit_view(job: JobOut) -> dict[str, Any]:
    return job.model_dump(mode="json", exclude={"created_at", "updated_at", "organization_id"})


# --- public listing ------------------------------------------------------------------------


async def public_jobs(api: ApiState, filters: dict[str, Any]) -> tuple[bytes, str]:
    """The JSON page of open jobs matching ``filters`` and its ETag (cached in Redis)."""
    generation = _text_of(await api.redis.get(_PUBLIC_GEN_KEY)) or "0"
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:32]
    key = f"pvara:jobs:public:{generation}:{digest}"
    cached = await api.redis.get(key)
    body = cached.encode() if isinstance(cached, str) else cached
    if body is None:
        params = {**filters, "q": f"%{_escape_like(filters['q'])}%" if filters["q"] else None}
        async with api.db.connection() as conn:
            cur = await conn.execute(_PUBLIC_SQL, params)
            rows: list[Any] = await cur.fetchall()
        base = api.settings.effective_public_url
        page = PublicJobPage(
            items=[
                PublicJob(**r, apply_url=f"{base}/api/v1/jobs/{r['id']}/applications") for r in rows
            ],
            limit=filters["limit"],
            offset=filters["offset"],
        )
        body = page.model_dump_json().encode()
        await api.redis.set(key, body, ex=api.settings.jobs_cache_ttl_s)
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _text_of(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- criteria ------------------------------------------------------------------------------


async def put_criteria(session: OrgSession, job_id: uuid.UUID, data: CriteriaIn) -> CriteriaOut:
    """Store a new criteria version (and the job's tier/webhook when given)."""
    criteria = data.criteria.model_dump(mode="json")
    async with session.tx() as conn:
        await _lock_job(conn, session, job_id)
        cur = await conn.execute(
            "SELECT coalesce(max(version), 0) + 1 AS v FROM screening_criteria"
            " WHERE job_id = %s AND organization_id = %s",
            (job_id, session.organization_id),
        )
        version: int = (await cur.fetchone())["v"]  # type: ignore[index]
        await conn.execute(
            "INSERT INTO screening_criteria (organization_id, job_id, version, criteria,"
            " model_used, top_n_candidates, min_score_threshold, updated_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                session.organization_id,
                job_id,
                version,
                Jsonb(criteria),
                data.criteria.llm_config.provider,
                data.criteria.filtering.top_n_candidates,
                data.criteria.filtering.min_score_threshold,
                session.principal.user_id,
            ),
        )
        job_changes = data.model_dump(
            include={"tier", "webhook_url", "webhook_secret"}, exclude_none=True
        )
        if job_changes:
            sets = ", ".join(f"{name} = %({name})s" for name in job_changes)
            await conn.execute(
                f"UPDATE jobs SET {sets}, updated_at = now()"
                " WHERE id = %(id)s AND organization_id = %(org)s",
                {**job_changes, "id": job_id, "org": session.organization_id},
            )
        out = await _criteria(conn, session, job_id)
        if "webhook_secret" in job_changes:
            job_changes["webhook_secret"] = "(set)"  # noqa: S105 (never audit the secret)
        await session.audit(
            conn,
            "criteria.update",
            "job",
            job_id,
            after={"version": version, "criteria": criteria, **job_changes},
        )
    if "tier" in job_changes:
        await _invalidate_public(session.api, job_id)
    return out


async def read_criteria(session: OrgSession, job_id: uuid.UUID) -> CriteriaOut:
    async with session.tx() as conn:
        await _job(conn, session, job_id)
        return await _criteria(conn, session, job_id)


async def _criteria(
    conn: AsyncConnection[Any], session: OrgSession, job_id: uuid.UUID
) -> CriteriaOut:
    cur = await conn.execute(_LATEST_CRITERIA_SQL, (job_id, session.organization_id))
    row: Any = await cur.fetchone()
    if row is None:
        raise ProblemError(404, "criteria_not_set", f"Job {job_id} has no criteria yet.")
    return CriteriaOut.model_validate(row)


# --- shortlist and rebuilds ----------------------------------------------------------------


async def read_shortlist(session: OrgSession, job_id: uuid.UUID) -> ShortlistOut:
    """The current shortlist version with each candidate's score, reasoning and contact."""
    async with session.tx() as conn:
        await _job(conn, session, job_id)
        cur = await conn.execute(_SHORTLIST_VERSION_SQL, (job_id, session.organization_id))
        current: Any = await cur.fetchone()
        if current is None:
            return ShortlistOut(
                job_id=job_id, version=None, criteria_version=None, built_at=None, entries=[]
            )
        cur = await conn.execute(
            _SHORTLIST_SQL, (job_id, current["version"], session.organization_id)
        )
        rows: list[Any] = await cur.fetchall()
    pii = session.api.pii
    entries = [
        ShortlistEntry(
            rank=r["rank"],
            application_id=r["application_id"],
            score=float(r["ai_score"]),
            status=r["status"],
            reasoning=_text(r["reasoning"]),
            recommendation=r["ai_recommendation"],
            skills_matched=r["ai_skills_matched"] or [],
            skills_missing=r["ai_skills_missing"] or [],
            criteria_version=r["criteria_version"],
            candidate_name=r["candidate_name"],
            candidate_email=pii.reveal(r["candidate_email"], session.organization_id) or ERASED,
            candidate_phone=pii.reveal(r["candidate_phone"], session.organization_id),
        )
        for r in rows
    ]
    return ShortlistOut(
        job_id=job_id,
        version=current["version"],
        criteria_version=current["criteria_version"],
        built_at=current["created_at"],
        entries=entries,
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


async def request_rebuild(
    session: OrgSession, security: SecurityState, job_id: uuid.UUID
) -> TaskAccepted:
    """Queue a re-score of stale applications followed by a rebuild; returns the task."""
    task_id = uuid.uuid4().hex
    async with session.tx() as conn:
        await _job(conn, session, job_id)
        await session.audit(conn, "shortlist.rebuild", "job", job_id, after={"task_id": task_id})
    await session.api.redis.set(
        task_key(task_id),
        task_record(
            task_id, "shortlist.rebuild", str(session.organization_id), "queued", job_id=str(job_id)
        ),
        ex=TASK_TTL_S,
    )
    await asyncio.to_thread(
        enqueue, security.broker, SHORTLIST, RESCORE_AND_REBUILD, str(job_id), task_id
    )
    base = session.api.settings.effective_public_url
    return TaskAccepted(task_id=task_id, status_url=f"{base}/api/v1/tasks/{task_id}")


async def read_task(session: OrgSession, task_id: str) -> TaskOut:
    raw = await session.api.redis.get(task_key(task_id))
    record = json.loads(raw) if raw else None
    if record is None or record["organization_id"] != str(session.organization_id):
        raise ProblemError(404, "task_not_found", f"No task {task_id}.")
    return TaskOut.model_validate(record)
