"""Offers: created from interview (emits offers.created), accepted (hired), declined,
expired lazily on read and by the scheduler's sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from core.offers import expire_offers
from core.settings import Settings
from tests.api.hr import Org, create_org, insert_application, problem, status_of


@pytest.fixture
def org(services_up: Settings, db: psycopg.Connection[Any]) -> Org:
    return create_org(services_up, db, roles=["admin", "hr", "finance"])


def _offer(client: TestClient[Any], org: Org, app_id: Any, days: float = 7) -> Any:
    return client.post(
        "/api/v1/offers",
        headers=org.hr,
        json={
            "application_id": str(app_id),
            "salary_min": "250000.00",
            "salary_max": "320000.00",
            "expires_at": (datetime.now(UTC) + timedelta(days=days)).isoformat(),
        },
    )


def test_offer_lifecycle_create_then_accept_hires(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    app_id = insert_application(db, org, status="interview")
    created = _offer(client, org, app_id)
    assert created.status_code == 201, created.text
    offer = created.json()
    assert offer["status"] == "pending" and status_of(db, app_id) == "offer"
    event = db.execute(
        "SELECT payload FROM event_outbox WHERE topic = 'offers.created'"
        " AND payload->>'offer_id' = %s",
        (offer["id"],),
    ).fetchone()
    assert event is not None and event["payload"]["salary_max"] == 320000.0
    problem(_offer(client, org, app_id), 409, "offer_pending")
    assert client.get("/api/v1/offers", headers=org.headers["finance"]).status_code == 200
    accepted = client.post(f"/api/v1/offers/{offer['id']}/accept", headers=org.hr)
    assert accepted.json()["status"] == "accepted" and status_of(db, app_id) == "hired"
    problem(
        client.post(f"/api/v1/offers/{offer['id']}/decline", headers=org.hr),
        409,
        "offer_not_pending",
    )


def test_declined_offer_allows_a_new_one(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    app_id = insert_application(db, org, status="interview")
    first = _offer(client, org, app_id).json()
    assert (
        client.post(f"/api/v1/offers/{first['id']}/decline", headers=org.hr).json()["status"]
        == "declined"
    )
    assert _offer(client, org, app_id).status_code == 201


def test_offers_need_an_application_in_interview_or_offer(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    app_id = insert_application(db, org, status="screened")
    problem(_offer(client, org, app_id), 409, "application_not_in_interview")
    bad = client.post(
        "/api/v1/offers",
        headers=org.hr,
        json={
            "application_id": str(app_id),
            "salary_min": 10,
            "salary_max": 5,
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        },
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_failed"


def test_an_overdue_offer_is_expired_on_read_and_cannot_be_accepted(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    app_id = insert_application(db, org, status="offer")
    offer_id = db.execute(
        "INSERT INTO offers (organization_id, application_id, job_id, salary_min, salary_max,"
        " expires_at) VALUES (%s, %s, %s, 1, 2, now() - interval '1 minute') RETURNING id",
        (org.id, app_id, org.job_id),
    ).fetchone()["id"]
    assert client.get(f"/api/v1/offers/{offer_id}", headers=org.hr).json()["status"] == "expired"
    body = problem(
        client.post(f"/api/v1/offers/{offer_id}/accept", headers=org.hr), 409, "offer_not_pending"
    )
    assert body["offer_status"] == "expired"


def test_the_scheduler_sweep_expires_overdue_offers(
    org: Org, db: psycopg.Connection[Any], services_up: Settings
) -> None:
    app_id = insert_application(db, org, status="offer")
    offer_id = db.execute(
        "INSERT INTO offers (organization_id, application_id, job_id, salary_min, salary_max,"
        " expires_at) VALUES (%s, %s, %s, 1, 2, now() - interval '1 hour') RETURNING id",
        (org.id, app_id, org.job_id),
    ).fetchone()["id"]
    with psycopg.connect(services_up.effective_database_url) as conn:
        assert expire_offers(conn) >= 1
    status = db.execute("SELECT status FROM offers WHERE id = %s", (offer_id,)).fetchone()
    assert status is not None and status["status"] == "expired"
