"""HR's application listing (filters, text search, keyset pages), the state machine,
withdrawal by the candidate and erasure of personal data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from core.domain import TRANSITIONS, ApplicationStatus, can_transition
from core.settings import Settings
from tests.api.hr import Org, cnic, create_org, insert_application, problem, status_of


@pytest.fixture
def org(services_up: Settings, db: psycopg.Connection[Any]) -> Org:
    return create_org(services_up, db, roles=["admin", "hr"])


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_filters_by_status_score_date_shortlist_and_text(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    a = insert_application(
        db, org, status="screened", score=91, name="Zara Rust", text="Rust and Kubernetes"
    )
    b = insert_application(
        db, org, status="shortlisted", score=75, name="Omar Python", created_at=old
    )
    c = insert_application(
        db, org, status="received", score=None, name="Ali Haskell", text="Functional programming"
    )
    db.execute("UPDATE applications SET is_in_shortlist = true WHERE id = %s", (b,))

    def ids(**params: Any) -> set[str]:
        response = client.get("/api/v1/applications", headers=org.hr, params=params)
        assert response.status_code == 200, response.text
        return set(_ids(response.json()))

    assert ids() == {str(a), str(b), str(c)}
    assert ids(status=["screened", "received"]) == {str(a), str(c)}
    assert ids(min_score=80) == {str(a)}
    assert ids(max_score=80) == {str(b)}
    assert ids(submitted_to=(old + timedelta(hours=1)).isoformat()) == {str(b)}
    assert ids(shortlisted=True) == {str(b)}
    assert ids(q="kubernetes") == {str(a), str(b)}
    assert ids(q="haskell") == {str(c)}
    assert ids(job_id=str(uuid.uuid4())) == set()
    by_score = client.get("/api/v1/applications", headers=org.hr, params={"sort": "-score"}).json()
    assert _ids(by_score) == [str(a), str(b), str(c)]


def test_keyset_pages_stay_stable_while_applications_arrive(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    existing = [
        insert_application(db, org, created_at=start + timedelta(seconds=i)) for i in range(25)
    ]
    for sort in ("-created_at", "created_at", "-score"):
        seen: list[str] = []
        cursor = None
        for page_number in range(10):
            params: dict[str, Any] = {"limit": 10, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/v1/applications", headers=org.hr, params=params).json()
            seen += _ids(page)
            if page_number == 0:  # new arrivals between pages
                for _ in range(5):
                    insert_application(db, org, score=50)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), "a row was repeated"
        assert {str(i) for i in existing} <= set(seen), "a row was skipped"


def test_a_cursor_of_another_sort_or_garbage_is_400(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    for _ in range(3):
        insert_application(db, org)
    page = client.get("/api/v1/applications", headers=org.hr, params={"limit": 1}).json()
    for params in ({"cursor": page["next_cursor"], "sort": "score"}, {"cursor": "garbage"}):
        problem(
            client.get("/api/v1/applications", headers=org.hr, params=params), 400, "invalid_cursor"
        )


def _person_moves() -> list[tuple[ApplicationStatus, ApplicationStatus]]:
    return [(a, b) for a in ApplicationStatus for b in ApplicationStatus]


@pytest.mark.parametrize(
    ("current", "target"), _person_moves(), ids=[f"{a}->{b}" for a, b in _person_moves()]
)
def test_every_status_change_follows_the_state_machine(
    client: TestClient[Any],
    org_a: Org,
    db: psycopg.Connection[Any],
    current: ApplicationStatus,
    target: ApplicationStatus,
) -> None:
    app_id = insert_application(db, org_a, status=current)
    response = client.put(
        f"/api/v1/applications/{app_id}/status",
        headers=org_a.hr,
        json={"status": target, "reason": "test"},
    )
    events = db.execute(
        "SELECT payload FROM event_outbox WHERE topic = 'applications.status_changed'"
        " AND payload->>'application_id' = %s",
        (str(app_id),),
    ).fetchall()
    if can_transition(current, target, by_person=True):
        assert response.status_code == 200, response.text
        assert status_of(db, app_id) == target
        assert [e["payload"]["to"] for e in events] == [target]
    else:
        body = problem(response, 409, "illegal_transition")
        assert (body["from"], body["to"]) == (current, target)
        assert status_of(db, app_id) == current
        assert events == []


def test_rejected_and_withdrawn_are_reachable_from_every_non_final_status() -> None:
    for status, targets in TRANSITIONS.items():
        if status not in ("hired", "rejected", "withdrawn"):
            assert {"rejected", "withdrawn"} <= targets


def test_candidate_withdraws_with_cnic_and_email_as_proof(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    number = cnic()
    app_id = insert_application(
        db, org, status="screened", candidate_cnic=number, email="zara@example.com"
    )
    url = f"/api/v1/applications/{app_id}/withdraw"
    wrong = client.post(url, json={"candidate_cnic": number, "candidate_email": "x@example.com"})
    problem(wrong, 404, "application_not_found")
    digits = number.replace("-", "")
    ok = client.post(url, json={"candidate_cnic": digits, "candidate_email": "Zara@example.com"})
    assert ok.status_code == 200, ok.text
    assert status_of(db, app_id) == "withdrawn"
    again = client.post(url, json={"candidate_cnic": number, "candidate_email": "zara@example.com"})
    problem(again, 409, "illegal_transition")


def test_erasure_removes_personal_data_but_keeps_scores_and_audit(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    number = cnic()
    app_id = insert_application(
        db,
        org,
        status="screened",
        score=77,
        candidate_cnic=number,
        name="Private Person",
        email="private@example.com",
    )
    response = client.post(
        "/api/v1/candidates/erasure", headers=org.admin, json={"candidate_cnic": number}
    )
    assert response.json() == {"applications_erased": 1, "candidates_erased": 1}
    row = db.execute("SELECT * FROM applications WHERE id = %s", (app_id,)).fetchone()
    assert row is not None
    assert number not in str(row) and "Private" not in str(row) and "private@" not in str(row)
    assert row["resume_text"] is None and "evidence" not in row["ai_reasoning"]
    assert float(row["ai_score"]) == 77 and row["status"] == "screened"
    candidate = db.execute(
        "SELECT * FROM candidates WHERE organization_id = %s", (org.id,)
    ).fetchone()
    assert candidate is not None and candidate["erased_at"] is not None
    assert number not in str(candidate)
    audit = db.execute(
        "SELECT changes FROM audit_logs WHERE organization_id = %s AND action = 'candidate.erase'",
        (org.id,),
    ).fetchone()
    assert audit is not None and number not in str(audit)
    problem(
        client.post(
            "/api/v1/candidates/erasure", headers=org.admin, json={"candidate_cnic": number}
        ),
        404,
        "candidate_not_found",
    )
    detail = client.get(f"/api/v1/applications/{app_id}/details", headers=org.hr).json()
    assert detail["erased"] is True and detail["candidate_cnic_masked"] == "[erased]"
