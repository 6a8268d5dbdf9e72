"""Shapes of the HR application routes, withdrawal and erasure."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.domain import ApplicationStatus
from core.ids import normalize_cnic

_CNIC = re.compile(r"^\d{5}-?\d{7}-?\d$")

Sort = Literal["-created_at", "created_at", "-score", "score"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
    candidate_cnic: Annotated[str, Field(max_length=20)]

    @field_validator("candidate_cnic")
    @classmethod
    def _cnic(cls, value: str) -> str:
        if not _CNIC.match(value):
            raise ValueError("must be 13 digits, as 12345-1234567-1 or 1234512345671")
        return normalize_cnic(value)


class WithdrawIn(_Cnic):
    """Proof that the caller is the candidate: the CNIC and e-mail given at submission."""

    candidate_email: Annotated[str, Field(min_length=3, max_length=254)]


class ErasureIn(_Cnic):
    """The candidate (by CNIC) whose personal data this organization must erase."""


class ErasureOut(BaseModel):
    applications_erased: int
    candidates_erased: int
