"""Request and response shapes of the submission routes."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.ids import normalize_cnic

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_CNIC = re.compile(r"^\d{5}-?\d{7}-?\d$")


class ApplicationIn(BaseModel):
    """A candidate's submission (JSON body, or the fields of a multipart form)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    candidate_cnic: Annotated[str, Field(description="CNIC, 13 digits, dashes optional")]
    candidate_name: Annotated[str, Field(min_length=1, max_length=200)]
    candidate_email: Annotated[str, Field(max_length=254)]
    phone: Annotated[str | None, Field(max_length=32)] = None
    resume_text: Annotated[str | None, Field(max_length=200_000)] = None

    @field_validator("candidate_cnic")
    @classmethod
    def _cnic(cls, value: str) -> str:
        if not _CNIC.match(value):
            raise ValueError("must be 13 digits, as 12345-1234567-1 or 1234512345671")
        return normalize_cnic(value)

    @field_validator("candidate_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError("not an e-mail address")
        return value.lower()


class SubmissionAccepted(BaseModel):
    """Answer to a submission: 202 when newly accepted, 200 when it already existed."""

    application_id: uuid.UUID
    status: str
    status_url: str
    status_token: str | None = Field(
        default=None,
        description="Only in the 202 answer, and only once: send it as `X-Status-Token` to read"
        " the status. It is not stored, so keep it.",
    )


class ApplicationStatusOut(BaseModel):
    """What the holder of the status token may see: no personal data, no HR notes."""

    application_id: uuid.UUID
    job_id: uuid.UUID
    status: str
    status_reason: str | None = Field(
        default=None,
        description="Why the résumé could not be read (parse_failed only; HR's notes on other"
        " statuses stay internal).",
    )
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    score: float | None = None
    recommendation: str | None = None
    shortlist_rank: int | None = None
