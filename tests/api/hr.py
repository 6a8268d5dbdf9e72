"""Helpers of the HR API tests: organizations with one user per role, tokens, applications."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from api.auth.service import create_organization_with_admin
from api.security import KeyRing
from core.domain import ORGANIZATION_ROLES, Role
from core.ids import normalize_cnic
from core.pii_crypto import default_cipher
from core.settings import Settings
from screening.criteria import EXAMPLE_CRITERIA

PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"


@dataclass
class Org:
    """An organization with a user of every role, a job with criteria, and bearer headers."""

    id: uuid.UUID
    slug: str
    job_id: uuid.UUID
    users: dict[Role, uuid.UUID] = field(default_factory=dict)
    emails: dict[Role, str] = field(default_factory=dict)
    headers: dict[Role, dict[str, str]] = field(default_factory=dict)

    @property
    def admin(self) -> dict[str, str]:
        return self.headers[Role.ADMIN]

    @property
    def hr(self) -> dict[str, str]:
        return self.headers[Role.HR]


def bearer(settings: Settings, org_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> dict[str, str]:
    """Headers with an access token signed by the API's key (as login would issue it)."""
    token, _ = KeyRing.from_settings(settings).issue(
        user_id=user_id, organization_id=org_id, role=role, family_id=uuid.uuid4()
    )
    return {"Authorization": f"Bearer {token}"}


def create_org(
    settings: Settings, db: psycopg.Connection[Any], *, roles: Any = ORGANIZATION_ROLES
) -> Org:
    slug = f"t-{uuid.uuid4().hex[:12]}"
    org: Org | None = None
    for role in roles:
        email = f"{role}.{slug}@example.com"
        org_id, user_id = create_organization_with_admin(
            settings, name=slug, slug=slug, email=email, password=PASSWORD, role=role
        )
        if org is None:
            job_id = uuid.uuid4()
            db.execute(
                "INSERT INTO jobs (id, organization_id, title, description, status)"
                " VALUES (%s, %s, 'Backend Engineer', 'Python and PostgreSQL', 'open')",
                (job_id, org_id),
            )
            db.execute(
                "INSERT INTO screening_criteria (organization_id, job_id, version, criteria)"
                " VALUES (%s, %s, 1, %s)",
                (org_id, job_id, Jsonb(EXAMPLE_CRITERIA)),
            )
            org = Org(org_id, slug, job_id)
        org.users[role] = user_id
        org.emails[role] = email
        org.headers[role] = bearer(settings, org_id, user_id, role)
    assert org is not None
    return org


def cnic() -> str:
    """A random CNIC, as stored (normalized: 12345-1234567-1)."""
    return normalize_cnic(f"{uuid.uuid4().int % 10**13:013d}")


def insert_application(
    db: psycopg.Connection[Any],
    org: Org,
    *,
    status: str = "screened",
    score: float | None = 80.0,
    name: str = "Ayesha Khan",
    email: str = "ayesha@example.com",
    text: str = "Python and PostgreSQL developer since 2015, Docker and Kubernetes.",
    created_at: datetime | None = None,
    criteria_version: int | None = 1,
    job_id: uuid.UUID | None = None,
    candidate_cnic: str | None = None,
) -> uuid.UUID:
    """An application row as the pipeline would leave it (with its candidate)."""
    app_id = uuid.uuid4()
    created = created_at or datetime.now(UTC)
    number = candidate_cnic or cnic()
    job = job_id or org.job_id
    contact = default_cipher().protect_contact(org.id, number, email, None)
    candidate = db.execute(
        "INSERT INTO candidates (organization_id, cnic, name, email, cnic_index, email_index)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (organization_id, cnic_index)"
        " DO UPDATE SET name = EXCLUDED.name RETURNING id",
        (org.id, contact.cnic, name, contact.email, contact.cnic_index, contact.email_index),
    ).fetchone()
    assert candidate is not None
    db.execute(
        "INSERT INTO application_index (id, organization_id, job_id, created_at)"
        " VALUES (%s, %s, %s, %s)",
        (app_id, org.id, job, created),
    )
    db.execute(
        "INSERT INTO applications (id, organization_id, job_id, candidate_id, candidate_cnic,"
        " candidate_email, candidate_cnic_index, candidate_email_index, candidate_name, status,"
        " resume_media_type, resume_text, ai_score, ai_reasoning, ai_recommendation,"
        " ai_skills_matched, ai_skills_missing, criteria_version, submitted_at, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'text/plain', %s, %s, %s, %s, %s, %s,"
        " %s, %s, %s)",
        (
            app_id,
            org.id,
            job,
            candidate["id"],
            contact.cnic,
            contact.email,
            contact.cnic_index,
            contact.email_index,
            name,
            status,
            text,
            score,
            Jsonb({"reasoning": "Strong Python.", "evidence": [{"quote": text[:20]}]})
            if score is not None
            else None,
            "advance" if score is not None else None,
            Jsonb(["Python"]),
            Jsonb(["Go"]),
            criteria_version if score is not None else None,
            created,
            created,
        ),
    )
    return app_id


def status_of(db: psycopg.Connection[Any], app_id: uuid.UUID) -> str:
    row = db.execute("SELECT status FROM applications WHERE id = %s", (app_id,)).fetchone()
    assert row is not None
    return str(row["status"])


def slot(hours_from_now: float, length_h: float = 1.0) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30, hours=hours_from_now)
    return {
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=length_h)).isoformat(),
    }


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body
