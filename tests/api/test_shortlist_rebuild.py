"""HR changes a criterion and rebuilds: stale scores are redone first, the task reports its
progress, and the new shortlist is built under the new criteria version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import psycopg
import pytest
from litestar.testing import TestClient

from core.settings import Settings
from screening.criteria import EXAMPLE_CRITERIA
from tests.api.hr import Org, create_org, insert_application
from tests.pipeline import running_worker, wait_for


@pytest.fixture(scope="module")
def worker(services_up: Settings) -> Iterator[dramatiq.Worker]:
    from tasks.workers import broker

    with running_worker(broker) as running:
        yield running


def test_rebuild_after_a_criteria_change_rescores_then_rebuilds(
    client: TestClient[Any],
    services_up: Settings,
    db: psycopg.Connection[Any],
    worker: dramatiq.Worker,
) -> None:
    org: Org = create_org(services_up, db, roles=["admin", "hr"])
    texts = [
        "Senior Python engineer, 8 years. PostgreSQL, Docker, Kubernetes. Bachelor's degree.",
        "Python developer 5 years, PostgreSQL and Docker. Bachelor's degree. Remote.",
        "Java developer 6 years, Oracle. Master's degree.",
    ]
    ids = [
        insert_application(db, org, status="screened", score=90 - i * 5, text=text)
        for i, text in enumerate(texts)
    ]
    criteria = {
        **EXAMPLE_CRITERIA,
        "llm_config": {"provider": "local"},
        "filtering": {"top_n_candidates": 2, "min_score_threshold": 0},
    }
    put = client.put(
        f"/api/v1/jobs/{org.job_id}/criteria", headers=org.hr, json={"criteria": criteria}
    )
    assert put.json()["version"] == 2

    accepted = client.post(f"/api/v1/jobs/{org.job_id}/shortlist/rebuild", headers=org.hr)
    assert accepted.status_code == 202, accepted.text
    task_url = f"/api/v1/tasks/{accepted.json()['task_id']}"
    assert accepted.json()["status_url"].endswith(task_url)

    def finished() -> dict[str, Any] | None:
        task: dict[str, Any] = client.get(task_url, headers=org.hr).json()
        return task if task["state"] in ("succeeded", "failed") else None

    task = wait_for(finished, timeout_s=90, what="the rebuild task")
    assert task["state"] == "succeeded", task
    assert task["result"]["rescored"] == 3

    shortlist = client.get(f"/api/v1/jobs/{org.job_id}/shortlist", headers=org.hr).json()
    assert shortlist["criteria_version"] == 2
    assert len(shortlist["entries"]) == 2
    assert [e["rank"] for e in shortlist["entries"]] == [1, 2]
    for entry in shortlist["entries"]:
        assert entry["criteria_version"] == 2 and entry["status"] == "shortlisted"
        assert entry["reasoning"] and entry["candidate_email"]
    versions = db.execute(
        "SELECT criteria_version FROM applications WHERE id = ANY(%s)", (ids,)
    ).fetchall()
    assert {v["criteria_version"] for v in versions} == {2}
