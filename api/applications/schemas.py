"""Request and response shapes of the submission routes."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.errors import ProblemError
from core.ids import normalize_cnic

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_CNIC = re.compile(r"^\d{5}-?\d{7}-?\d$")
# PostgreSQL text cannot hold NUL, and UTF-8 has no lone surrogates (JSON's "\ud800" escapes
# decode to them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

#: The longest value each field may hold, in characters (what the database and its indexes
#: are sized for).
MAX_CHARS = {
    "candidate_cnic": 20,
    "candidate_name": 200,
    "candidate_email": 254,
    "phone": 32,
    "resume_text": 200_000,
}


def refuse_unstorable(fields: dict[str, Any]) -> None:
    """400 ``invalid_value`` naming every field whose value PostgreSQL could not store: a NUL
    character, a lone surrogate, or more characters than the field holds. Values are never
    echoed (they are personal data)."""
    errors = []
    for name, value in fields.items():
        if not isinstance(value, str):
            continue
        if _UNSTORABLE.search(value):
            errors.append({"field": name, "message": "contains a NUL or a lone surrogate"})
        elif name in MAX_CHARS and len(value.strip()) > MAX_CHARS[name]:
            errors.append({"field": name, "message": f"longer than {MAX_CHARS[name]} characters"})
    if errors:
        raise ProblemError(
            400,
            "invalid_value",
            "Some values cannot be stored (a NUL character, a lone surrogate, or too long).",
            extra={"errors": errors},
        )


class ApplicationIn(BaseModel):
    """A candidate's submission (JSON body, or the fields of a multipart form)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    candidate_cnic: Annotated[str, Field(description="CNIC, 13 digits, dashes optional")]
    candidate_name: Annotated[str, Field(min_length=1, max_length=MAX_CHARS["candidate_name"])]
    candidate_email: Annotated[str, Field(max_length=MAX_CHARS["candidate_email"])]
    phone: Annotated[str | None, Field(max_length=MAX_CHARS["phone"])] = None
    resume_text: Annotated[str | None, Field(max_length=MAX_CHARS["resume_text"])] = None

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # Raises ProblemError, which pydantic does not wrap: the caller gets a 400, not 422.
        if isinstance(data, dict):
            refuse_unstorable(data)
        return data

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


class ApplicationStatusOut(BaseModel):
    """What a candidate may see of an application: no personal data."""

    application_id: uuid.UUID
    job_id: uuid.UUID
    status: str
    status_reason: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    score: float | None = None
    recommendation: str | None = None
    shortlist_rank: int | None = None
