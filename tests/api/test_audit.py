"""Every write by a user leaves an audit row (who, what, before/after, IP, request id);
the log is append-only and readable by admins with filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from core.domain import Role
from core.pii_crypto import decrypt
from core.settings import Settings
from screening.criteria import EXAMPLE_CRITERIA
from tests.api.hr import Org, create_org, insert_application, slot


def test_each_write_route_records_an_audit_row(
    client: TestClient[Any], services_up: Settings, db: psycopg.Connection[Any]
) -> None:
    org = create_org(services_up, db, roles=[Role.ADMIN, Role.HR, Role.INTERVIEWER])
    app_id = insert_application(db, org, status="shortlisted")
    hired = insert_application(db, org, status="interview")
    calls: list[tuple[str, str, str, dict[str, Any]]] = []

    def write(action: str, method: str, url: str, **kwargs: Any) -> Any:
        request_id = uuid.uuid4().hex
        headers = {**kwargs.pop("headers", org.hr), "X-Request-ID": request_id}
        response = client.request(method, url, headers=headers, **kwargs)
        assert response.status_code < 300, (url, response.text)
        calls.append((action, request_id, url, kwargs))
        return response.json() if response.content else None

    job = write("job.create", "POST", "/api/v1/jobs", json={"title": "Audited"})
    write("job.update", "PATCH", f"/api/v1/jobs/{job['id']}", json={"openings": 2})
    write(
        "criteria.update",
        "PUT",
        f"/api/v1/jobs/{job['id']}/criteria",
        json={"criteria": EXAMPLE_CRITERIA},
    )
    write("shortlist.rebuild", "POST", f"/api/v1/jobs/{job['id']}/shortlist/rebuild")
    write("job.close", "POST", f"/api/v1/jobs/{job['id']}/close")
    interview = write(
        "interview.schedule",
        "POST",
        "/api/v1/interviews",
        json={
            "application_id": str(app_id),
            "interviewer_id": str(org.users[Role.INTERVIEWER]),
            **slot(60),
        },
    )
    write("interview.reschedule", "PATCH", f"/api/v1/interviews/{interview['id']}", json=slot(62))
    write(
        "interview.feedback",
        "POST",
        f"/api/v1/interviews/{interview['id']}/feedback",
        json={"notes": "ok", "score": 70},
        headers=org.headers[Role.INTERVIEWER],
    )
    second = write(
        "interview.schedule",
        "POST",
        "/api/v1/interviews",
        json={
            "application_id": str(hired),
            "interviewer_id": str(org.users[Role.INTERVIEWER]),
            **slot(70),
        },
    )
    write("interview.cancel", "POST", f"/api/v1/interviews/{second['id']}/cancel")
    offer = write(
        "offer.create",
        "POST",
        "/api/v1/offers",
        json={
            "application_id": str(hired),
            "salary_min": 1,
            "salary_max": 2,
            "expires_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        },
    )
    write("offer.accept", "POST", f"/api/v1/offers/{offer['id']}/accept")
    write(
        "application.status",
        "PUT",
        f"/api/v1/applications/{app_id}/status",
        json={"status": "rejected"},
    )
    write(
        "user.create",
        "POST",
        "/api/v1/users",
        headers=org.admin,
        json={
            "email": f"u.{uuid.uuid4().hex[:6]}@example.com",
            "password": "a-long-password-3",
            "role": "finance",
        },
    )
    write(
        "candidate.erase",
        "POST",
        "/api/v1/candidates/erasure",
        headers=org.admin,
        json={
            "candidate_cnic": decrypt(
                db.execute(
                    "SELECT candidate_cnic FROM applications WHERE id = %s", (hired,)
                ).fetchone()["candidate_cnic"],
                org.id,
            )
        },
    )
    write("auth.logout", "POST", "/api/v1/auth/logout")

    for action, request_id, url, _ in calls:
        rows = db.execute(
            "SELECT * FROM audit_logs WHERE organization_id = %s AND request_id = %s",
            (org.id, request_id),
        ).fetchall()
        assert action in {r["action"] for r in rows}, (action, url)
        row = next(r for r in rows if r["action"] == action)
        assert row["user_id"] is not None and "after" in row["changes"]

    update = db.execute(
        "SELECT changes FROM audit_logs WHERE organization_id = %s AND action = 'job.update'",
        (org.id,),
    ).fetchone()
    assert update is not None
    assert (update["changes"]["before"]["openings"], update["changes"]["after"]["openings"]) == (
        1,
        2,
    )


def test_admins_read_the_log_with_filters(client: TestClient[Any], org_a: Org) -> None:
    job = client.post("/api/v1/jobs", headers=org_a.hr, json={"title": "Filtered"}).json()
    page = client.get(
        "/api/v1/audit",
        headers=org_a.admin,
        params={"resource_id": job["id"], "action": "job.create"},
    ).json()
    assert [e["action"] for e in page["items"]] == ["job.create"]
    assert page["items"][0]["user_id"] == str(org_a.users[Role.HR])
    first = client.get("/api/v1/audit", headers=org_a.admin, params={"limit": 1}).json()
    assert first["next_cursor"]
    second = client.get(
        "/api/v1/audit", headers=org_a.admin, params={"limit": 1, "cursor": first["next_cursor"]}
    ).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]


def test_the_audit_log_is_append_only(db: psycopg.Connection[Any], org_a: Org) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute(
            "UPDATE audit_logs SET action = 'forged' WHERE organization_id = %s", (org_a.id,)
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("DELETE FROM audit_logs WHERE organization_id = %s", (org_a.id,))
