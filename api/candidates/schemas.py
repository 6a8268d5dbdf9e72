"""Shapes of the HR application routes, withdrawal and erasure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from api.inputs import Cnic, Email, Input, normalized_cnic
from core.domain import ApplicationStatus

Sort = Literal["-created_at", "created_at", "-score", "score"]


_In = Input


class ApplicationSummary(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID
    status: ApplicationStatus
    score: float | None
    recommendation: str | None
    shortlisted: bool
    shortlist_rank: int | None
    needs_review: bool
    criteria_version: int | None
    candidate_name: str
    candidate_email: str
    candidate_phone: str | None
    submitted_at: datetime
    status_changed_at: datetime
    erased: bool


class ApplicationPage(BaseModel):
    items: list[ApplicationSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null = end.")


class ApplicationDetail(ApplicationSummary):
    candidate_cnic_masked: str
    status_reason: str | None
    resume_media_type: str | None
    resume_text: str | None
    resume_flags: list[Any]
    ai_reasoning: dict[str, Any] | None
    skills_matched: list[Any]
    skills_missing: list[Any]
    model_version: str | None
    screened_at: datetime | None


class StatusChangeIn(_In):
    status: ApplicationStatus
    reason: Annotated[str | None, Field(max_length=500)] = None


class StatusChangeOut(BaseModel):
    application_id: uuid.UUID
    previous_status: ApplicationStatus
    status: ApplicationStatus


class _Cnic(_In):
    candidate_cnic: Cnic

    @field_validator("candidate_cnic")
    @classmethod
    def _cnic(cls, value: str) -> str:
        return normalized_cnic(value)


class WithdrawIn(_Cnic):
    """Proof that the caller is the candidate: the CNIC and e-mail given at submission."""

    candidate_email: Email


class ErasureIn(_Cnic):
    """The candidate (by CNIC) whose personal data this organization must erase."""


class ErasureOut(BaseModel):
    applications_erased: int
    candidates_erased: int
