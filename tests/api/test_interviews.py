"""Interviews: conflicts for the interviewer and for the candidate (409 naming the other
interview), rescheduling, cancelling, the interviewer's feedback."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from core.domain import Role
from core.settings import Settings
from tests.api.hr import Org, cnic, create_org, insert_application, problem, slot, status_of


@pytest.fixture
def org(services_up: Settings, db: psycopg.Connection[Any]) -> Org:
    return create_org(services_up, db, roles=[Role.ADMIN, Role.HR, Role.INTERVIEWER])


def _second_interviewer(client: TestClient[Any], org: Org) -> uuid.UUID:
    response = client.post(
        "/api/v1/users",
        headers=org.admin,
        json={
            "email": f"i2.{uuid.uuid4().hex[:8]}@example.com",
            "password": "a-long-password-2",
            "role": "interviewer",
        },
    )
    return uuid.UUID(response.json()["id"])


def _schedule(
    client: TestClient[Any],
    org: Org,
    app_id: uuid.UUID,
    interviewer: uuid.UUID,
    when: dict[str, str],
) -> Any:
    return client.post(
        "/api/v1/interviews",
        headers=org.hr,
        json={"application_id": str(app_id), "interviewer_id": str(interviewer), **when},
    )


def test_scheduling_moves_the_application_to_interview(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    app_id = insert_application(db, org, status="shortlisted")
    response = _schedule(client, org, app_id, org.users[Role.INTERVIEWER], slot(0))
    assert response.status_code == 201, response.text
    assert status_of(db, app_id) == "interview"


def test_an_interviewer_cannot_be_double_booked(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    interviewer = org.users[Role.INTERVIEWER]
    first = _schedule(client, org, insert_application(db, org), interviewer, slot(10)).json()
    clash = _schedule(client, org, insert_application(db, org), interviewer, slot(10.5))
    body = problem(clash, 409, "interview_conflict")
    assert body["conflicting_interview_id"] == first["id"]
    assert body["conflict_with"] == "interviewer"
    assert (
        _schedule(client, org, insert_application(db, org), interviewer, slot(11)).status_code
        == 201
    )  # back to back is fine


def test_a_candidate_cannot_be_in_two_interviews_at_once(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    number = cnic()
    other_job = uuid.uuid4()
    db.execute(
        "INSERT INTO jobs (id, organization_id, title) VALUES (%s, %s, 'Other')",
        (other_job, org.id),
    )
    first_app = insert_application(db, org, candidate_cnic=number)
    second_app = insert_application(db, org, candidate_cnic=number, job_id=other_job)
    first = _schedule(client, org, first_app, org.users[Role.INTERVIEWER], slot(20)).json()
    clash = _schedule(client, org, second_app, _second_interviewer(client, org), slot(20.25))
    body = problem(clash, 409, "interview_conflict")
    assert (body["conflicting_interview_id"], body["conflict_with"]) == (first["id"], "candidate")


def test_the_database_refuses_an_overlap_for_the_candidate_too(
    org: Org, db: psycopg.Connection[Any], client: TestClient[Any]
) -> None:
    number = cnic()
    app_id = insert_application(db, org, candidate_cnic=number)
    candidate = db.execute(
        "SELECT candidate_id FROM applications WHERE id = %s", (app_id,)
    ).fetchone()["candidate_id"]
    second = _second_interviewer(client, org)
    sql = (
        "INSERT INTO interviews (organization_id, application_id, candidate_id,"
        " interviewer_id, starts_at, ends_at) VALUES (%s, %s, %s, %s,"
        " '2030-01-01 10:00Z', '2030-01-01 11:00Z')"
    )
    db.execute(sql, (org.id, app_id, candidate, org.users[Role.INTERVIEWER]))
    with pytest.raises(psycopg.errors.ExclusionViolation):
        db.execute(sql, (org.id, app_id, candidate, second))


def test_reschedule_cancel_and_feedback(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    interviewer = org.users[Role.INTERVIEWER]
    busy = _schedule(client, org, insert_application(db, org), interviewer, slot(30)).json()
    mine = _schedule(client, org, insert_application(db, org), interviewer, slot(32)).json()
    url = f"/api/v1/interviews/{mine['id']}"
    clash = client.patch(url, headers=org.hr, json=slot(30.5))
    assert problem(clash, 409, "interview_conflict")["conflicting_interview_id"] == busy["id"]
    moved = client.patch(url, headers=org.hr, json=slot(34))
    assert moved.status_code == 200 and moved.json()["starts_at"] != mine["starts_at"]
    assert (
        client.post(f"/api/v1/interviews/{busy['id']}/cancel", headers=org.hr).json()["status"]
        == "cancelled"
    )
    assert client.patch(url, headers=org.hr, json=slot(30)).status_code == 200  # freed
    stranger = _second_interviewer(client, org)
    from tests.api.hr import bearer

    other = bearer(client.app.state.api.settings, org.id, stranger, Role.INTERVIEWER)
    problem(
        client.post(f"{url}/feedback", headers=other, json={"notes": "x", "score": 1}),
        404,
        "interview_not_found",
    )
    done = client.post(
        f"{url}/feedback",
        headers=org.headers[Role.INTERVIEWER],
        json={"notes": "Solid SQL.", "score": 82.5},
    )
    assert done.json()["status"] == "completed" and done.json()["score"] == 82.5
    mine_only = client.get("/api/v1/interviews", headers=org.headers[Role.INTERVIEWER]).json()
    assert {i["interviewer_id"] for i in mine_only} == {str(interviewer)}


def test_an_application_past_interview_cannot_be_scheduled(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    app_id = insert_application(db, org, status="hired")
    problem(
        _schedule(client, org, app_id, org.users[Role.INTERVIEWER], slot(50)),
        409,
        "application_not_interviewable",
    )
