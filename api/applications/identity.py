"""Whose application this is, without letting a CNIC reveal anything.

* The application id is an HMAC of (organization, job, CNIC, the candidate's salt). The salt is
  random, one per (organization, CNIC) in ``candidate_keys``, created by the first submission
  and deleted by erasure: afterwards the CNIC leads nowhere, and a new application of it gets a
  new id.
* A resubmission is the same application only when the e-mail matches as well (the proof a
  withdrawal asks for, compared by blind index); otherwise it is refused with 409
  ``already_applied`` and learns nothing about the existing one (no id, no status).
* Reading the status needs the status token from the 202 answer: random, sent once, kept only
  as its SHA-256 (in the Kafka record, the application row and the accepted marker).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from api.errors import ProblemError
from api.state import ApiState, JobInfo
from core.domain import SUBMITTED
from core.ids import application_id
from core.pii_crypto import ProtectedContact

ACCEPTED_KEY = "pvara:accepted:{}"
ACCEPTED_TTL_S = 7 * 24 * 3600
STATUS_TOKEN_HEADER = "X-Status-Token"  # noqa: S105 (a header name)

_SALT_BYTES = 16

# The candidate's salt (created if this is their first submission in the organization) and the
# application they already have for this job, in one round trip. A data-modifying CTE's
# siblings do not see its rows, hence the UNION with what the INSERT returned; a concurrent
# first submission of the same CNIC can leave both empty, and the caller asks again.
_RESOLVE_SQL = """
WITH created AS (
    INSERT INTO candidate_keys (organization_id, cnic_index, salt)
    VALUES (%(org)s, %(cnic_index)s, %(salt)s)
    ON CONFLICT DO NOTHING
    RETURNING salt
), salt AS (
    SELECT salt FROM created
    UNION ALL
    SELECT salt FROM candidate_keys WHERE organization_id = %(org)s AND cnic_index = %(cnic_index)s
    LIMIT 1
)
SELECT salt.salt, a.status, a.candidate_email_index
  FROM salt
  LEFT JOIN LATERAL (
      SELECT status, candidate_email_index FROM applications
       WHERE organization_id = %(org)s AND candidate_cnic_index = %(cnic_index)s
         AND job_id = %(job)s AND pii_erased_at IS NULL
       LIMIT 1
  ) a ON true
"""


@dataclass(frozen=True)
class Existing:
    """An application this CNIC already has for the job (in PostgreSQL or still in Kafka)."""

    status: str
    email_index: str | None


@dataclass(frozen=True)
class Applicant:
    """The submitting candidate: application id, protected identifiers, what already exists."""

    application_id: uuid.UUID
    contact: ProtectedContact
    existing: Existing | None


async def resolve(
    state: ApiState, job: JobInfo, cnic: str, email: str, phone: str | None
) -> Applicant:
    """Encrypt the candidate's identifiers, find (or create) their salt, derive the id and look
    for the application they already have."""
    contact = state.pii.protect_contact(job.organization_id, cnic, email, phone)
    params = {
        "org": job.organization_id,
        "job": job.id,
        "cnic_index": contact.cnic_index,
        "salt": secrets.token_bytes(_SALT_BYTES),
    }
    row: dict[str, Any] | None = None
    async with state.db.connection() as conn:
        for _ in range(3):
            cur = await conn.execute(_RESOLVE_SQL, params)
            row = await cur.fetchone()  # type: ignore[assignment]
            if row is not None:
                break
    if row is None:
        raise ProblemError(
            503,
            "queue_unavailable",
            "The application could not be accepted right now; nothing was stored. Try again.",
            headers={"Retry-After": "1"},
        )
    app_id = application_id(
        state.settings.id_secret.get_secret_value().encode(),
        job.organization_id,
        job.id,
        cnic,
        bytes(row["salt"]),
    )
    existing = None
    if row["status"] is not None:
        existing = Existing(str(row["status"]), row["candidate_email_index"])
    else:
        marker = await state.redis.get(ACCEPTED_KEY.format(app_id))
        if marker is not None:
            existing = Existing(SUBMITTED, json.loads(marker).get("email_index"))
    return Applicant(app_id, contact, existing)


def require_same_candidate(applicant: Applicant) -> Existing:
    """The existing application, if the resubmission proved it is the same candidate.

    Raises:
        ProblemError: 409 ``already_applied`` (nothing about the application itself).
    """
    existing = applicant.existing
    assert existing is not None
    if existing.email_index is None or not hmac.compare_digest(
        existing.email_index, applicant.contact.email_index
    ):
        raise ProblemError(
            409,
            "already_applied",
            "An application with this CNIC exists for this job. Resubmit with the e-mail it"
            " was sent with, or read its status with the status token you received.",
        )
    return existing


def new_status_token() -> tuple[str, str]:
    """A fresh status token and the hash that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str | None, stored_hash: str | None) -> bool:
    """Whether ``token`` is the one whose hash is ``stored_hash`` (constant time)."""
    if not token or not stored_hash:
        return False
    return hmac.compare_digest(token_hash(token), stored_hash)


def accepted_marker(
    job_id: uuid.UUID, submitted_at: str, email_index: str, status_token_hash: str
) -> str:
    """What Redis keeps of an application Kafka has and PostgreSQL not yet (no PII)."""
    return json.dumps(
        {
            "job_id": str(job_id),
            "submitted_at": submitted_at,
            "email_index": email_index,
            "token_hash": status_token_hash,
        }
    )
