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

#: What erased personal data (and résumé-derived text) is replaced with.
ERASED = "[erased]"


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
    """The candidate as the ingress sends it: ``cnic``, ``email`` and ``phone`` are tokens of
    :mod:`core.pii_crypto` (never plaintext in Kafka), found again by their blind indexes."""

    model_config = ConfigDict(frozen=True)

    cnic: str
    name: str
    email: str
    phone: str | None = None
    cnic_index: str | None = None
    email_index: str | None = None


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
    #: SHA-256 (hex) of the status token the 202 answer carried; the token itself is not kept.
    status_token_hash: str | None = None


# --- the application status machine (shared by the pipeline and the API) --------------------
_S = ApplicationStatus

#: Statuses nothing leaves.
FINAL_STATUSES = frozenset({_S.HIRED, _S.REJECTED, _S.WITHDRAWN})

#: Every legal move. ``rejected`` and ``withdrawn`` are reachable from any non-final status.
#: ``parse_failed`` is where the pipeline parks a résumé it could not read: not final, but only
#: a person moves it on (reject it, or record the candidate's withdrawal); a resubmission is the
#: same application (deterministic id), so there is no "retry" edge. ``screened``/``shortlisted``
#: → ``screening`` is the re-score after a criteria change; ``shortlisted`` → ``screened`` is an
#: application dropping out of a rebuilt shortlist.
TRANSITIONS: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    _S.RECEIVED: frozenset({_S.SCREENING, _S.PARSE_FAILED}),
    _S.SCREENING: frozenset({_S.SCREENED}),
    _S.SCREENED: frozenset({_S.SHORTLISTED, _S.SCREENING, _S.INTERVIEW}),
    _S.SHORTLISTED: frozenset({_S.INTERVIEW, _S.SCREENED, _S.SCREENING}),
    _S.INTERVIEW: frozenset({_S.OFFER}),
    _S.OFFER: frozenset({_S.HIRED}),
    _S.PARSE_FAILED: frozenset(),
    _S.HIRED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.WITHDRAWN: frozenset(),
}
for _status in ApplicationStatus:
    if _status not in FINAL_STATUSES:
        TRANSITIONS[_status] = TRANSITIONS[_status] | {_S.REJECTED, _S.WITHDRAWN}

#: Statuses only the pipeline sets (a person asking for them gets a 409).
PIPELINE_ONLY_TARGETS = frozenset({_S.RECEIVED, _S.SCREENING, _S.SCREENED, _S.PARSE_FAILED})


def can_transition(
    current: ApplicationStatus | str, target: ApplicationStatus | str, *, by_person: bool = False
) -> bool:
    """Whether ``current`` → ``target`` is legal (for a person, pipeline-only targets are not)."""
    try:
        frm, to = ApplicationStatus(current), ApplicationStatus(target)
    except ValueError:
        return False
    if by_person and to in PIPELINE_ONLY_TARGETS:
        return False
    return to in TRANSITIONS[frm]


class Role(StrEnum):
    """What a user may do: inside their organization, or (``operator``) on the platform."""

    ADMIN = "admin"
    HR = "hr"
    INTERVIEWER = "interviewer"
    OPS = "ops"
    FINANCE = "finance"
    #: A platform operator (pools, every dead letter, platform metrics). Only users of the
    #: platform organization have it, and only ``pvara users create --operator`` makes them.
    OPERATOR = "operator"


#: The roles a user of an (ordinary) organization can have.
ORGANIZATION_ROLES = (Role.ADMIN, Role.HR, Role.INTERVIEWER, Role.OPS, Role.FINANCE)
