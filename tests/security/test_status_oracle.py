"""Finding 2: knowing a CNIC reveals nothing. The status needs the token the 202 carried; a
resubmission with someone else's CNIC learns nothing about their application; erasure unlinks
the CNIC from the old id."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from litestar.testing import TestClient

from core.pii_crypto import default_cipher
from core.settings import Settings
from tests.api.hr import Org, cnic, problem
from tests.security.pii import submit_and_store


def _fields(number: str, email: str = "ayesha.khan@example.com") -> dict[str, Any]:
    return {
        "candidate_cnic": number,
        "candidate_name": "Ayesha Khan",
        "candidate_email": email,
        "resume_text": "Python developer since 2018. PostgreSQL, Docker.",
    }


def _submit(client: TestClient[Any], org: Org, fields: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/jobs/{org.job_id}/applications", json=fields)


def test_the_status_needs_the_token_of_the_202_and_a_wrong_one_looks_unknown(
    client: TestClient[Any], org_a: Org
) -> None:
    created = _submit(client, org_a, _fields(cnic()))
    assert created.status_code == 202
    body = created.json()
    token, url = body["status_token"], f"/api/v1/applications/{body['application_id']}"
    assert len(token) >= 40
    problem(client.get(url), 422, "validation_failed")  # no token at all
    wrong = client.get(url, headers={"X-Status-Token": "x" * len(token)})
    unknown = client.get(f"/api/v1/applications/{uuid.uuid4()}", headers={"X-Status-Token": token})
    problem(wrong, 404, "application_not_found")  # exactly what an unknown id gets
    problem(unknown, 404, "application_not_found")
    mine = client.get(url, headers={"X-Status-Token": token})
    assert mine.status_code == 200
    assert mine.json()["status"] in {"submitted", "received"}


def test_a_resubmission_with_someone_elses_cnic_reveals_nothing_about_their_application(
    client: TestClient[Any], org_a: Org
) -> None:
    victim = cnic()
    first = _submit(client, org_a, _fields(victim, "victim@example.com"))
    assert first.status_code == 202
    victim_id = first.json()["application_id"]
    attacker = _submit(client, org_a, _fields(victim, "attacker@example.com"))
    body = problem(attacker, 409, "already_applied")
    assert victim_id not in attacker.text
    assert not {"application_id", "status_url", "score", "recommendation"} & body.keys()
    assert "location" not in attacker.headers
    # The candidate themselves (same CNIC and e-mail) is told their application.
    again = _submit(client, org_a, _fields(victim, "Victim@Example.com"))
    assert again.status_code == 200
    assert again.json()["application_id"] == victim_id
    assert again.json().get("status_token") is None  # the token is given once


def test_erasure_unlinks_the_cnic_from_the_old_application_id(
    client: TestClient[Any], org_a: Org, services_up: Settings, db: psycopg.Connection[Any]
) -> None:
    number = cnic()
    first, _ = submit_and_store(client, services_up, org_a.job_id, json=_fields(number))
    old_id = first.json()["application_id"]
    erased = client.post(
        "/api/v1/candidates/erasure", headers=org_a.admin, json={"candidate_cnic": number}
    )
    assert erased.status_code == 200, erased.text
    index = default_cipher().blind_index(org_a.id, "cnic", number)
    assert (
        db.execute(
            "SELECT count(*) AS n FROM candidate_keys"
            " WHERE organization_id = %s AND cnic_index = %s",
            (org_a.id, index),
        ).fetchone()["n"]
        == 0
    )
    row = db.execute(
        "SELECT candidate_cnic, candidate_cnic_index, status_token_hash FROM applications"
        " WHERE id = %s",
        (old_id,),
    ).fetchone()
    assert row["candidate_cnic"].startswith("erased:")
    assert row["candidate_cnic_index"] is None and row["status_token_hash"] is None
    # The same CNIC applies again: a new application, not the erased one.
    again = _submit(client, org_a, _fields(number))
    assert again.status_code == 202
    assert again.json()["application_id"] != old_id
    old_token = first.json()["status_token"]
    problem(
        client.get(f"/api/v1/applications/{old_id}", headers={"X-Status-Token": old_token}),
        404,
        "application_not_found",
    )
