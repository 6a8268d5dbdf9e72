"""Each actor is idempotent; the shortlist is debounced and versioned atomically."""

from __future__ import annotations

from typing import Any

import psycopg
import redis

from core.settings import Settings
from tests.conftest import OrgJob
from tests.pipeline import insert_application


def test_parse_then_score_twice_changes_nothing_the_second_time(
    db: psycopg.Connection[Any], org_job: OrgJob, services_up: Settings
) -> None:
    from tasks.parse import parse_application
    from tasks.score import score_application

    app_id = insert_application(db, org_job, status="received")
    parse_application(str(app_id))
    parse_application(str(app_id))
    score_application(str(app_id))
    first = db.execute("SELECT * FROM applications WHERE id = %s", (app_id,)).fetchone()
    score_application(str(app_id))
    second = db.execute("SELECT * FROM applications WHERE id = %s", (app_id,)).fetchone()
    assert first["status"] == "screened"
    assert first == second
    logs = db.execute(
        "SELECT count(*) AS n FROM ai_screening_log WHERE application_id = %s", (app_id,)
    ).fetchone()["n"]
    assert logs == 1
    events = db.execute(
        "SELECT payload->>'to' AS to FROM event_outbox WHERE payload->>'application_id' = %s"
        " AND topic = 'applications.status_changed' ORDER BY id",
        (str(app_id),),
    ).fetchall()
    assert [e["to"] for e in events] == ["screening", "screened"]


def test_a_burst_of_rebuild_requests_schedules_one_rebuild(
    org_job: OrgJob, redis_client: redis.Redis, services_up: Settings
) -> None:
    from tasks.shortlist import request_rebuild

    scheduled = [request_rebuild(org_job.job_id, delay_ms=60_000) for _ in range(50)]
    assert scheduled.count(True) == 1
    redis_client.delete(f"pvara:shortlist:pending:{org_job.job_id}")


def test_shortlist_is_top_n_above_threshold_as_a_new_version(
    db: psycopg.Connection[Any], org_job: OrgJob, services_up: Settings
) -> None:
    from tasks.shortlist import build

    scores = [95, 90, 88, 71, 69, 40, 99, 85, 80, 77, 76, 75, 74]
    ids = {
        score: insert_application(db, org_job, status="screened", score=score) for score in scores
    }
    version = build(str(org_job.job_id), "test")
    assert version == 1
    rows = db.execute(
        "SELECT application_id, rank, ai_score FROM shortlist WHERE job_id = %s AND version = 1"
        " ORDER BY rank",
        (org_job.job_id,),
    ).fetchall()
    expected = sorted((s for s in scores if s >= 70), reverse=True)[:10]
    assert [float(r["ai_score"]) for r in rows] == expected
    assert [r["application_id"] for r in rows] == [ids[s] for s in expected]
    assert build(str(org_job.job_id), "test") is None  # nothing changed: no new version

    # A better candidate arrives: version 2 replaces version 1; the 10th drops out.
    newcomer = insert_application(db, org_job, status="screened", score=98)
    assert build(str(org_job.job_id), "test") == 2
    dropped = ids[expected[-1]]
    row = db.execute(
        "SELECT status, is_in_shortlist, shortlist_rank FROM applications WHERE id = %s", (dropped,)
    ).fetchone()
    assert row == {"status": "screened", "is_in_shortlist": False, "shortlist_rank": None}
    top = db.execute(
        "SELECT status, shortlist_rank FROM applications WHERE id = %s", (ids[99],)
    ).fetchone()
    assert top == {"status": "shortlisted", "shortlist_rank": 1}
    assert (
        db.execute("SELECT shortlist_rank FROM applications WHERE id = %s", (newcomer,)).fetchone()[
            "shortlist_rank"
        ]
        == 2
    )
    event = db.execute(
        "SELECT payload FROM event_outbox WHERE topic = 'shortlist.updated' AND job_id = %s"
        " ORDER BY id DESC LIMIT 1",
        (org_job.job_id,),
    ).fetchone()["payload"]
    assert event["version"] == 2 and len(event["entries"]) == 10


def test_maintenance_creates_partitions_and_refreshes_metrics(
    db: psycopg.Connection[Any], org_job: OrgJob, services_up: Settings
) -> None:
    from tasks.maintenance import run

    insert_application(db, org_job, status="screened", score=80)
    result = run(services_up)
    assert result["metrics_refreshed"] is True
    count = db.execute(
        "SELECT sum(count) AS n FROM application_metrics WHERE job_id = %s", (org_job.job_id,)
    ).fetchone()["n"]
    assert count == 1
