"""Finding 7, one test each: e-mails unique per organization only, bounded pool group names,
request ids not stored verbatim, interview feedback given once, anonymous submissions limited
per address, and HR validation errors 422 ``validation_failed`` as the README says."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import redis
from litestar.testing import TestClient

from api.app import create_app
from core.domain import Role
from core.settings import Settings
from ops import pools
from tests.api.hr import PASSWORD, Org, cnic, insert_application, problem, slot
from tests.security.conftest import Operator

README = Path(__file__).resolve().parents[2] / "README.md"


def test_an_e_mail_of_another_organization_is_not_taken_and_login_names_the_organization(
    client: TestClient[Any], org_a: Org, org_b: Org
) -> None:
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    for org in (org_a, org_b):
        made = client.post(
            "/api/v1/users",
            headers=org.admin,
            json={"email": email, "password": PASSWORD, "role": "hr"},
        )
        assert made.status_code == 201, made.text  # never 409 for another organization's user
    again = client.post(
        "/api/v1/users",
        headers=org_a.admin,
        json={"email": email, "password": PASSWORD, "role": "hr"},
    )
    problem(again, 409, "email_taken")  # within one organization it is taken
    ambiguous = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    problem(ambiguous, 401, "organization_required")
    named = client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD, "organization": org_b.slug},
    )
    assert named.status_code == 200, named.text
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {named.json()['access_token']}"}
    )
    assert me.json()["organization_id"] == str(org_b.id)


def test_a_pool_group_name_is_bounded(
    client: TestClient[Any], operator: Operator, services_up: Settings, redis_client: redis.Redis
) -> None:
    group = "g" * 5000
    answer = client.put(
        "/api/v1/ops/pools",
        headers=operator.headers(services_up),
        json={"desired": {"parse": 1}, "group": group},
    )
    problem(answer, 422, "validation_failed")
    assert not redis_client.exists(pools.desired_key(group))


def test_a_clients_request_id_is_not_stored_verbatim(
    client: TestClient[Any], org_a: Org, db: psycopg.Connection[Any]
) -> None:
    hostile = "x' OR 1=1 -- <script>" + "A" * 40
    answer = client.post(
        "/api/v1/jobs", headers={**org_a.hr, "X-Request-ID": hostile}, json={"title": "Tagged"}
    )
    assert answer.status_code == 201
    echoed = answer.headers["x-request-id"]
    assert echoed != hostile and len(echoed) == 32
    row = db.execute(
        "SELECT request_id FROM audit_logs WHERE resource_id = %s", (answer.json()["id"],)
    ).fetchone()
    assert row["request_id"] == echoed
    fine = client.post(
        "/api/v1/jobs", headers={**org_a.hr, "X-Request-ID": "trace-1:abc.2"}, json={"title": "T"}
    )
    assert fine.headers["x-request-id"] == "trace-1:abc.2"


def test_an_interviewer_cannot_overwrite_the_feedback_of_a_completed_interview(
    client: TestClient[Any], org_a: Org, db: psycopg.Connection[Any]
) -> None:
    app_id = insert_application(db, org_a, status="shortlisted", candidate_cnic=cnic())
    scheduled = client.post(
        "/api/v1/interviews",
        headers=org_a.hr,
        json={
            "application_id": str(app_id),
            "interviewer_id": str(org_a.users[Role.INTERVIEWER]),
            **slot(300),
        },
    )
    assert scheduled.status_code == 201, scheduled.text
    url = f"/api/v1/interviews/{scheduled.json()['id']}/feedback"
    interviewer = org_a.headers[Role.INTERVIEWER]
    first = client.post(url, headers=interviewer, json={"notes": "Strong", "score": 90})
    assert first.status_code == 200, first.text
    rewrite = client.post(url, headers=interviewer, json={"notes": "Weak", "score": 10})
    problem(rewrite, 409, "interview_not_scheduled")
    assert client.post(url, headers=org_a.hr, json={"notes": "x", "score": 1}).status_code == 409
    row = db.execute(
        "SELECT notes, score FROM interviews WHERE id = %s", (scheduled.json()["id"],)
    ).fetchone()
    assert (row["notes"], float(row["score"])) == ("Strong", 90.0)


def test_anonymous_submissions_are_limited_per_address(services_up: Settings, org_a: Org) -> None:
    settings = services_up.model_copy(update={"rate_limit_submit_per_min": 5})
    with TestClient(app=create_app(settings)) as limited:
        statuses = []
        for _ in range(6):
            answer = limited.post(
                f"/api/v1/jobs/{uuid.uuid4()}/applications",
                json={"candidate_cnic": cnic(), "candidate_name": "A", "candidate_email": "a@b.co"},
            )
            statuses.append(answer.status_code)
    assert statuses[:5] == [404] * 5  # unknown job: counted all the same
    assert statuses[5] == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60


def test_hr_validation_errors_are_422_validation_failed_as_the_readme_says(
    client: TestClient[Any], org_a: Org
) -> None:
    answer = client.post("/api/v1/jobs", headers=org_a.hr, json={"title": "", "openings": 0})
    body = problem(answer, 422, "validation_failed")
    assert {e["field"] for e in body["errors"]} >= {"title", "openings"}
    query = client.get("/api/v1/applications", headers=org_a.hr, params={"limit": "many"})
    problem(query, 422, "validation_failed")
    assert "`validation_failed` 422" in README.read_text()
