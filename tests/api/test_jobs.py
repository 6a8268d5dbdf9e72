"""Jobs CRUD, versioned criteria (validated against the published schema), the public listing
with its Redis cache and ETag/If-None-Match."""

from __future__ import annotations

from typing import Any

import psycopg
from litestar.testing import TestClient

from screening.criteria import EXAMPLE_CRITERIA
from tests.api.hr import Org, problem


def test_hr_creates_reads_updates_and_closes_a_job(client: TestClient[Any], org_a: Org) -> None:
    created = client.post(
        "/api/v1/jobs",
        headers=org_a.hr,
        json={"title": "Data Engineer", "department": "Data", "tier": "senior"},
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["organization_id"] == str(org_a.id) and job["status"] == "open"
    url = f"/api/v1/jobs/{job['id']}"
    assert client.get(url, headers=org_a.hr).json()["title"] == "Data Engineer"
    updated = client.patch(url, headers=org_a.hr, json={"openings": 3})
    assert updated.json()["openings"] == 3 and updated.json()["title"] == "Data Engineer"
    closed = client.post(f"{url}/close", headers=org_a.hr)
    assert closed.json()["status"] == "closed"
    problem(client.patch(url, headers=org_a.hr, json={"title": "x"}), 409, "job_closed")


def test_criteria_are_versioned_and_set_tier_and_webhook(
    client: TestClient[Any], org_a: Org, db: psycopg.Connection[Any]
) -> None:
    job = client.post("/api/v1/jobs", headers=org_a.hr, json={"title": "QA"}).json()
    url = f"/api/v1/jobs/{job['id']}/criteria"
    problem(client.get(url, headers=org_a.hr), 404, "criteria_not_set")
    first = client.put(url, headers=org_a.hr, json={"criteria": EXAMPLE_CRITERIA}).json()
    second = client.put(
        url,
        headers=org_a.hr,
        json={
            "criteria": {**EXAMPLE_CRITERIA, "filtering": {"top_n_candidates": 3}},
            "tier": "advanced",
            "webhook_url": "https://hooks.example.com/pvara",
            "webhook_secret": "s3cret-s3cret-s3cret",
        },
    ).json()
    assert (first["version"], second["version"]) == (1, 2)
    assert second["tier"] == "advanced" and second["webhook_secret_set"] is True
    assert (
        client.get(url, headers=org_a.hr).json()["criteria"]["filtering"]["top_n_candidates"] == 3
    )
    versions = db.execute(
        "SELECT version FROM screening_criteria WHERE job_id = %s ORDER BY 1", (job["id"],)
    ).fetchall()
    assert [v["version"] for v in versions] == [1, 2]


def test_criteria_outside_the_published_schema_are_refused(
    client: TestClient[Any], org_a: Org
) -> None:
    url = f"/api/v1/jobs/{org_a.job_id}/criteria"
    bad = [
        {"criteria": {"filtering": {"top_n_candidates": 0}}},
        {"criteria": {"unknown_section": {}}},
        {"criteria": {}, "webhook_url": "http://127.0.0.1/hook"},
        {"criteria": {}, "webhook_secret": "short"},
    ]
    for body in bad:
        response = client.put(url, headers=org_a.hr, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == "validation_failed"


def test_public_listing_answers_304_for_a_matching_etag_and_changes_after_a_write(
    client: TestClient[Any], org_a: Org
) -> None:
    params = {"organization": org_a.slug}
    first = client.get("/api/v1/jobs", params=params)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert str(org_a.job_id) in {j["id"] for j in first.json()["items"]}
    again = client.get("/api/v1/jobs", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    client.post("/api/v1/jobs", headers=org_a.hr, json={"title": "Newly open"})
    changed = client.get("/api/v1/jobs", params=params, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "Newly open" in {j["title"] for j in changed.json()["items"]}


def test_public_listing_shows_only_open_jobs_and_filters(
    client: TestClient[Any], org_a: Org
) -> None:
    draft = client.post(
        "/api/v1/jobs", headers=org_a.hr, json={"title": "Secret draft", "status": "draft"}
    ).json()
    client.post(
        "/api/v1/jobs",
        headers=org_a.hr,
        json={"title": "Remote Go developer", "location": "Remote"},
    )
    listing = client.get("/api/v1/jobs", params={"organization": org_a.slug}).json()["items"]
    assert draft["id"] not in {j["id"] for j in listing}
    remote = client.get(
        "/api/v1/jobs", params={"organization": org_a.slug, "location": "Remote", "q": "go"}
    ).json()
    assert [j["title"] for j in remote["items"]] == ["Remote Go developer"]
    assert "webhook_url" not in remote["items"][0]
