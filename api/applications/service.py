"""Submitting an application: validate, store the résumé, produce with acks=all."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from api.applications.schemas import ApplicationIn, ApplicationStatusOut
from api.errors import ProblemError
from api.ratelimit import DeferredHit
from api.state import ApiState
from core.domain import SUBMITTED, Candidate, ResumeRef, SubmittedApplication
from core.events import APPLICATIONS_SUBMITTED
from core.ids import application_id
from ingest.extract import ExtractionError, sniff_media_type
from ingest.producer import ProduceError

_ACCEPTED_KEY = "pvara:accepted:{}"
_ACCEPTED_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class ResumeFile:
    data: bytes
    filename: str | None
    content_type: str | None


@dataclass(frozen=True)
class Submission:
    application_id: uuid.UUID
    status: str
    created: bool


def parse_fields(fields: dict[str, Any]) -> ApplicationIn:
    """Validate submitted fields; 422 with per-field errors when they do not hold."""
    try:
        return ApplicationIn.model_validate(fields)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ProblemError(
            422,
            "validation_failed",
            "Some fields are missing or invalid.",
            extra={"errors": errors},
        ) from exc


async def submit(
    state: ApiState,
    job_id: uuid.UUID,
    fields: ApplicationIn,
    resume: ResumeFile | None,
    request_id: str | None,
    ip_limit: DeferredHit | None = None,
) -> Submission:
    """Accept one application; returns only after Kafka acknowledged it (or it existed).

    ``ip_limit`` counts the request against its IP in the same Redis round trip as the
    resubmission marker is read.
    """
    job = await state.job(job_id)
    if job is None:
        raise ProblemError(404, "job_not_found", f"No job {job_id}.")
    if job.status != "open":
        raise ProblemError(409, "job_closed", f"Job {job_id} is not accepting applications.")

    app_id = application_id(
        state.settings.id_secret.get_secret_value().encode(),
        job.organization_id,
        job.id,
        fields.candidate_cnic,
    )
    existing = await current_status(state, app_id, ip_limit)
    if existing is not None:
        return Submission(app_id, existing, created=False)

    resume_ref = await _store_resume(state, fields, resume)
    record = SubmittedApplication(
        application_id=app_id,
        organization_id=job.organization_id,
        job_id=job.id,
        candidate=Candidate(
            cnic=fields.candidate_cnic,
            name=fields.candidate_name,
            email=fields.candidate_email,
            phone=fields.phone,
        ),
        resume=resume_ref,
        submitted_at=datetime.now(UTC),
        request_id=request_id,
    )
    try:
        await state.producer.send(
            APPLICATIONS_SUBMITTED, record.model_dump_json().encode(), key=str(job.id).encode()
        )
    except ProduceError as exc:
        raise ProblemError(
            503,
            "queue_unavailable",
            "The application could not be queued; nothing was accepted. Try again shortly.",
            headers={"Retry-After": "5"},
        ) from exc
    marker = {"job_id": str(job.id), "submitted_at": record.submitted_at.isoformat()}
    await state.redis.set(_ACCEPTED_KEY.format(app_id), json.dumps(marker), ex=_ACCEPTED_TTL_S)
    return Submission(app_id, SUBMITTED, created=True)


async def _store_resume(
    state: ApiState, fields: ApplicationIn, resume: ResumeFile | None
) -> ResumeRef:
    if resume is None:
        if not fields.resume_text:
            raise ProblemError(
                422,
                "resume_missing",
                "Send a résumé file or resume_text.",
                extra={"errors": [{"field": "resume", "message": "required"}]},
            )
        data = fields.resume_text.encode()
        return ResumeRef(
            media_type="text/plain",
            inline_text=fields.resume_text,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
    if len(resume.data) > state.settings.max_upload_bytes:
        raise ProblemError(
            413,
            "file_too_large",
            f"The résumé is larger than {state.settings.max_upload_bytes} bytes.",
        )
    if not resume.data:
        raise ProblemError(422, "resume_empty", "The résumé file is empty.")
    try:
        media_type = sniff_media_type(resume.data, resume.filename, resume.content_type)
    except ExtractionError as exc:
        raise ProblemError(
            415,
            "unsupported_media_type",
            "The résumé must be a PDF, a DOCX or plain text.",
        ) from exc
    key = await asyncio.to_thread(state.blobs.put, resume.data, media_type)
    return ResumeRef(
        media_type=media_type,  # type: ignore[arg-type]
        blob_key=key,
        sha256=hashlib.sha256(resume.data).hexdigest(),
        size=len(resume.data),
        filename=(resume.filename or "")[:200] or None,
    )


_STATUS_SQL = """
SELECT a.id, a.job_id, a.status, a.status_reason, a.submitted_at, a.updated_at,
       a.ai_score, a.ai_recommendation, a.shortlist_rank
  FROM application_index i
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
 WHERE i.id = %s
"""


async def current_status(
    state: ApiState, app_id: uuid.UUID, ip_limit: DeferredHit | None = None
) -> str | None:
    """The application's status: from PostgreSQL, or "submitted" while it is still in Kafka
    (the Redis marker, read in one round trip with ``ip_limit``'s count)."""
    key = _ACCEPTED_KEY.format(app_id)
    accepted: Any = None
    if ip_limit is not None:
        (accepted,) = await ip_limit.count(lambda pipe: pipe.get(key))
    async with state.db.connection() as conn:
        cur = await conn.execute(
            "SELECT a.status FROM application_index i JOIN applications a"
            " ON a.id = i.id AND a.created_at = i.created_at WHERE i.id = %s",
            (app_id,),
        )
        row: Any = await cur.fetchone()
    if row is not None:
        return str(row["status"])
    if ip_limit is None:
        accepted = await state.redis.get(key)
    return SUBMITTED if accepted else None


async def read_status(state: ApiState, app_id: uuid.UUID) -> ApplicationStatusOut | None:
    async with state.db.connection() as conn:
        cur = await conn.execute(_STATUS_SQL, (app_id,))
        row: Any = await cur.fetchone()
    if row is not None:
        return ApplicationStatusOut(
            application_id=row["id"],
            job_id=row["job_id"],
            status=row["status"],
            status_reason=row["status_reason"],
            submitted_at=row["submitted_at"],
            updated_at=row["updated_at"],
            score=float(row["ai_score"]) if row["ai_score"] is not None else None,
            recommendation=row["ai_recommendation"],
            shortlist_rank=row["shortlist_rank"],
        )
    accepted = await state.redis.get(_ACCEPTED_KEY.format(app_id))
    if accepted is None:
        return None
    marker = json.loads(accepted)
    return ApplicationStatusOut(
        application_id=app_id,
        job_id=marker["job_id"],
        status=SUBMITTED,
        submitted_at=marker["submitted_at"],
    )


def parse_json_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProblemError(400, "malformed_json", f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(value, dict):
        raise ProblemError(400, "malformed_json", "The body must be a JSON object.")
    return value
