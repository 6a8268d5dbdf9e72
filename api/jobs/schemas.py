"""Request and response shapes of jobs, criteria, shortlists and tasks."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from api.inputs import Input
from core.domain import JobTier
from screening.criteria import Criteria

Text = Annotated[str, Field(min_length=1, max_length=200)]


_In = Input

# http(s), a host *name* (never an address literal: those are where SSRF hides), port, path.
_WEBHOOK_URL = r"^https?://[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?(/[!-~]*)?$"


class JobIn(_In):
    title: Text
    department: Annotated[str | None, Field(max_length=100)] = None
    description: Annotated[str | None, Field(max_length=20_000)] = None
    location: Annotated[str | None, Field(max_length=100)] = None
    status: Literal["draft", "open"] = "open"
    openings: Annotated[int, Field(ge=1, le=10_000)] = 1
    tier: JobTier = JobTier.STANDARD


class JobPatch(_In):
    """Fields to change; absent fields stay. Close a job with POST /jobs/{id}/close."""

    title: Text | None = None
    department: Annotated[str | None, Field(max_length=100)] = None
    description: Annotated[str | None, Field(max_length=20_000)] = None
    location: Annotated[str | None, Field(max_length=100)] = None
    status: Literal["draft", "open"] | None = None
    openings: Annotated[int | None, Field(ge=1, le=10_000)] = None


class JobOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    title: str
    department: str | None
    description: str | None
    location: str | None
    status: Literal["draft", "open", "closed"]
    openings: int
    tier: JobTier
    webhook_url: str | None
    criteria_version: int | None
    created_at: datetime
    updated_at: datetime | None


class PublicJob(BaseModel):
    """An open job as candidates see it."""

    id: uuid.UUID
    organization: str
    title: str
    department: str | None
    description: str | None
    location: str | None
    tier: JobTier
    openings: int
    created_at: datetime
    apply_url: str


class PublicJobPage(BaseModel):
    items: list[PublicJob]
    limit: int
    offset: int


class CriteriaIn(_In):
    """A new version of the job's screening criteria, plus its tier and webhook."""

    criteria: Criteria
    tier: JobTier | None = Field(default=None, description="Unchanged when absent.")
    webhook_url: Annotated[str | None, Field(max_length=2000, pattern=_WEBHOOK_URL)] = Field(
        default=None,
        description="Where shortlist/offer events are POSTed, by host name (its addresses are"
        " checked at delivery); unchanged if absent.",
    )
    webhook_secret: Annotated[str | None, Field(min_length=16, max_length=200)] = Field(
        default=None, description="HMAC key of this job's webhooks; unchanged when absent."
    )

    @field_validator("webhook_url")
    @classmethod
    def _public_http_url(cls, value: str | None) -> str | None:
        """http(s) only; literal private/loopback addresses are refused here (names are
        resolved and checked again at delivery)."""
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return value
        if not address.is_global:
            raise ValueError("must not point at a private, loopback or link-local address")
        return value


class CriteriaOut(BaseModel):
    job_id: uuid.UUID
    version: int
    criteria: dict[str, Any]
    tier: JobTier
    webhook_url: str | None
    webhook_secret_set: bool
    created_at: datetime
    updated_by: uuid.UUID | None


class ShortlistEntry(BaseModel):
    rank: int
    application_id: uuid.UUID
    score: float
    status: str
    reasoning: str | None
    recommendation: str | None
    skills_matched: list[Any]
    skills_missing: list[Any]
    criteria_version: int | None
    candidate_name: str
    candidate_email: str
    candidate_phone: str | None


class ShortlistOut(BaseModel):
    job_id: uuid.UUID
    version: int | None
    criteria_version: int | None
    built_at: datetime | None
    entries: list[ShortlistEntry]


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str


class TaskOut(BaseModel):
    id: str
    kind: str
    job_id: uuid.UUID | None
    state: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
