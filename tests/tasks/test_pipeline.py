"""Applications flow from the API through Kafka, the bridge and the pools to a shortlist."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from litestar.testing import TestClient

from core.settings import Settings
from ops.samples import generate_samples
from tests.conftest import OrgJob
from tests.ingest.hostile import corrupt_pdf
from tests.pipeline import statuses, wait_for

FINAL = {"screened", "shortlisted", "parse_failed"}


def _submit(client: TestClient[Any], job_id: uuid.UUID, sample: Any) -> str:
    return _submit_with_token(client, job_id, sample)[0]


def _submit_with_token(
    client: TestClient[Any], job_id: uuid.UUID, sample: Any
) -> tuple[str, dict[str, str]]:
    """The new application's id and the header that reads its status."""
    fields = {
        "candidate_cnic": sample.cnic,
        "candidate_name": sample.name,
        "candidate_email": sample.email,
    }
    url = f"/api/v1/jobs/{job_id}/applications"
    if sample.media_type == "text/plain":
        response = client.post(url, json={**fields, "resume_text": sample.text})
    else:
        response = client.post(
            url, data=fields, files={"resume": (sample.filename, sample.data, sample.media_type)}
        )
    assert response.status_code == 202, response.text
    body = response.json()
    return str(body["application_id"]), {"X-Status-Token": body["status_token"]}


def test_a_few_dozen_applications_end_in_a_shortlist(
    pipeline: TestClient[Any],
    org_job: OrgJob,
    db: psycopg.Connection[Any],
    services_up: Settings,
) -> None:
    samples = generate_samples(36, seed=11)
    ids = [_submit(pipeline, org_job.job_id, s) for s in samples]

    final = wait_for(
        lambda: (
            (s := statuses(services_up, ids))
            and len(s) == len(ids)
            and all(v in FINAL for v in s.values())
            and s
        ),
        timeout_s=240,
        what="every application in a final state",
    )
    assert set(final) == set(ids)
    rows = db.execute(
        "SELECT count(*) AS n, count(DISTINCT id) AS d FROM applications WHERE job_id = %s",
        (org_job.job_id,),
    ).fetchone()
    assert rows == {"n": 36, "d": 36}  # nothing lost, nothing duplicated

    def shortlist_settled() -> list[dict[str, Any]] | None:
        version = db.execute(
            "SELECT max(version) AS v FROM shortlist_versions WHERE job_id = %s",
            (org_job.job_id,),
        ).fetchone()["v"]
        if version is None:
            return None
        entries = db.execute(
            "SELECT s.rank, s.ai_score, a.status, a.shortlist_rank FROM shortlist s"
            " JOIN applications a ON a.id = s.application_id"
            " WHERE s.job_id = %s AND s.version = %s ORDER BY s.rank",
            (org_job.job_id, version),
        ).fetchall()
        consistent = all(
            e["status"] == "shortlisted" and e["shortlist_rank"] == e["rank"] for e in entries
        )
        return entries if consistent and entries else None

    entries = wait_for(shortlist_settled, 30, "a consistent shortlist")
    scores = [float(e["ai_score"]) for e in entries]
    assert scores == sorted(scores, reverse=True)
    assert len(entries) <= 10 and min(scores) >= 70
    scored = db.execute(
        "SELECT count(*) AS n FROM ai_screening_log WHERE job_id = %s", (org_job.job_id,)
    ).fetchone()["n"]
    assert scored == sum(1 for v in final.values() if v != "parse_failed")


def test_a_corrupt_pdf_ends_parse_failed_with_a_reason(
    pipeline: TestClient[Any],
    org_job: OrgJob,
    db: psycopg.Connection[Any],
    services_up: Settings,
) -> None:
    fields = {
        "candidate_cnic": "35202-1111111-1",
        "candidate_name": "Broken File",
        "candidate_email": "broken@example.com",
    }
    response = pipeline.post(
        f"/api/v1/jobs/{org_job.job_id}/applications",
        data=fields,
        files={"resume": ("cv.pdf", corrupt_pdf(), "application/pdf")},
    )
    assert response.status_code == 202
    app_id = response.json()["application_id"]
    wait_for(
        lambda: statuses(services_up, [app_id]).get(app_id) == "parse_failed", 60, "parse_failed"
    )
    row = db.execute(
        "SELECT status_reason, ai_score FROM applications WHERE id = %s", (app_id,)
    ).fetchone()
    assert row["status_reason"]
    assert row["ai_score"] is None
    token = {"X-Status-Token": response.json()["status_token"]}
    status = pipeline.get(f"/api/v1/applications/{app_id}", headers=token).json()
    assert status["status"] == "parse_failed" and status["status_reason"]


def test_status_url_shows_score_and_rank_once_screened(
    pipeline: TestClient[Any], org_job: OrgJob, services_up: Settings
) -> None:
    strong = generate_samples(40, seed=3)
    best = max(strong, key=lambda s: s.text.count("Python") + s.text.count("PostgreSQL"))
    app_id, token = _submit_with_token(pipeline, org_job.job_id, best)
    wait_for(lambda: statuses(services_up, [app_id]).get(app_id) in FINAL, 120, "screened")
    status = pipeline.get(f"/api/v1/applications/{app_id}", headers=token).json()
    assert status["score"] is not None
    assert status["recommendation"] in {"advance", "review", "reject"}
