"""Request and response shapes of the submission routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field, field_validator

from api.inputs import Cnic, Input, normalized_cnic

#: A candidate's e-mail address: its domain has a dot.
CandidateEmail = Annotated[
    str,
    Field(
        max_length=254,
        pattern=r"^[!-?A-~]{1,64}@[!-?A-~]+\.[!-?A-~]{2,}$",
        description="E-mail address (ASCII); the proof, with the CNIC, that it is the candidate",
    ),
]


#: The longest value each submission field may hold, in characters (what the columns and
#: their indexes are sized for); longer is refused at the ingress as ``invalid_value``.
MAX_CHARS = {
    "candidate_cnic": 20,
    "candidate_name": 200,
    "candidate_email": 254,
    "phone": 32,
    "resume_text": 200_000,
}


class ApplicationIn(Input):
    """A candidate's submission (JSON body, or the fields of a multipart form)."""

    storage_limits: ClassVar[dict[str, int]] = MAX_CHARS

    candidate_cnic: Cnic
    candidate_name: Annotated[str, Field(min_length=1, max_length=MAX_CHARS["candidate_name"])]
    candidate_email: CandidateEmail
    phone: Annotated[str | None, Field(max_length=MAX_CHARS["phone"])] = None
    resume_text: Annotated[str | None, Field(max_length=MAX_CHARS["resume_text"])] = None

    @field_validator("candidate_cnic")
    @classmethod
    def _cnic(cls, value: str) -> str:
        return normalized_cnic(value)

    @field_validator("candidate_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return value.lower()


class ApplicationJson(ApplicationIn):
    """The JSON form of a submission: the résumé is its text."""

    resume_text: Annotated[str, Field(min_length=1, max_length=MAX_CHARS["resume_text"])]


class ApplicationForm(ApplicationIn):
    """The multipart form of a submission: the résumé is a file (PDF, DOCX or text)."""

    resume: Annotated[bytes | None, Field(description="The résumé file")] = None


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
