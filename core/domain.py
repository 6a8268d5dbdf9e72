"""Domain vocabulary shared by every package: statuses, tiers, the submitted-application record."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ApplicationStatus(StrEnum):
    RECEIVED = "received"
    SCREENING = "screening"
    SCREENED = "screened"
    SHORTLISTED = "shortlisted"
    INTERVIEW = "interview"
    OFFER = "offer"
    HIRED = "hired"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    PARSE_FAILED = "parse_failed"


#: Where the automatic pipeline stops: HR takes over from here.
PIPELINE_DONE = frozenset(
    {
        ApplicationStatus.SCREENED,
        ApplicationStatus.SHORTLISTED,
        ApplicationStatus.PARSE_FAILED,
        ApplicationStatus.REJECTED,
        ApplicationStatus.WITHDRAWN,
        ApplicationStatus.INTERVIEW,
        ApplicationStatus.OFFER,
        ApplicationStatus.HIRED,
    }
)

#: The status reported for an application accepted into Kafka but not yet in the database.
SUBMITTED = "submitted"


class JobTier(StrEnum):
    BASIC = "basic"
    STANDARD = "standard"
    ADVANCED = "advanced"
    SENIOR = "senior"


MediaType = Literal[
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
]


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    cnic: str
    name: str
    email: str
    phone: str | None = None


class ResumeRef(BaseModel):
    """Where the résumé is: a blob key (files) or the text itself (JSON submissions)."""

    model_config = ConfigDict(frozen=True)

    media_type: MediaType
    blob_key: str | None = None
    inline_text: str | None = None
    sha256: str
    size: Annotated[int, Field(ge=0)]
    filename: str | None = None


class SubmittedApplication(BaseModel):
    """The record on ``applications.submitted`` (value JSON; key = job id)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    application_id: uuid.UUID
    organization_id: uuid.UUID
    job_id: uuid.UUID
    candidate: Candidate
    resume: ResumeRef
    submitted_at: datetime
    request_id: str | None = None
