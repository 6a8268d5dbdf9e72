"""Each stage hands its successor what it needs; a stale or missing handoff changes nothing
but costs a read."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import redis

from core.queue import NAMESPACE, PARSE_FIELDS, SCORE, handoff
from core.settings import Settings
from tests.conftest import OrgJob
from tests.pipeline import insert_application


def _row(db: psycopg.Connection[Any], app_id: uuid.UUID) -> dict[str, Any]:
    row: dict[str, Any] = db.execute(
        "SELECT * FROM applications WHERE id = %s", (app_id,)
    ).fetchone()
    return row


def _score_messages(redis_client: redis.Redis, app_id: uuid.UUID) -> list[dict[str, Any]]:
    """The score messages queued for ``app_id`` (taken off the queue)."""
    found = []
    for message_id in redis_client.lrange(f"{NAMESPACE}:{SCORE}", 0, -1):
        raw = redis_client.hget(f"{NAMESPACE}:{SCORE}.msgs", message_id)
        message = json.loads(raw) if raw else {}
        if message.get("args", [None])[0] == str(app_id):
            found.append(message)
            redis_client.lrem(f"{NAMESPACE}:{SCORE}", 0, message_id)
            redis_client.hdel(f"{NAMESPACE}:{SCORE}.msgs", message_id)
    return found


def test_parse_takes_the_bridges_handoff_and_hands_score_the_text_job_and_criteria_version(
    db: psycopg.Connection[Any], org_job: OrgJob, redis_client: redis.Redis, services_up: Settings
) -> None:
    from tasks.parse import parse_application

    app_id = insert_application(db, org_job, status="received")
    parse_application(str(app_id), handoff(_row(db, app_id), PARSE_FIELDS))
    assert _row(db, app_id)["status"] == "screening"
    (message,) = _score_messages(redis_client, app_id)
    given = message["args"][1]
    assert given["resume_text"] == _row(db, app_id)["resume_text"]
    assert (given["job_id"], given["job_tier"], given["criteria_version"]) == (
        str(org_job.job_id),
        "standard",
        1,
    )
    assert given["job_title"] == "Backend Engineer"


def test_a_stale_parse_handoff_changes_nothing_and_resends_score(
    db: psycopg.Connection[Any], org_job: OrgJob, redis_client: redis.Redis, services_up: Settings
) -> None:
    from tasks.parse import parse_application

    app_id = insert_application(db, org_job, status="received")
    stale = handoff(_row(db, app_id), PARSE_FIELDS)
    db.execute(
        "UPDATE applications SET status = 'screening', resume_text = 'already parsed'"
        " WHERE id = %s",
        (app_id,),
    )
    parse_application(str(app_id), stale)  # a replayed message, its handoff out of date
    assert _row(db, app_id)["resume_text"] == "already parsed"
    (message,) = _score_messages(redis_client, app_id)
    assert message["args"][1] is None  # without a handoff: score reads the row itself


def test_score_with_a_handoff_screens_without_reading_and_records_everything(
    db: psycopg.Connection[Any], org_job: OrgJob, redis_client: redis.Redis, services_up: Settings
) -> None:
    from tasks.parse import parse_application
    from tasks.score import score_application

    app_id = insert_application(db, org_job, status="received")
    parse_application(str(app_id), handoff(_row(db, app_id), PARSE_FIELDS))
    (message,) = _score_messages(redis_client, app_id)
    score_application(*message["args"])
    score_application(*message["args"])  # a redelivery: nothing more
    row = _row(db, app_id)
    assert row["status"] == "screened" and row["ai_score"] is not None
    assert row["criteria_version"] == 1
    logs = db.execute(
        "SELECT count(*) AS n FROM ai_screening_log WHERE application_id = %s", (app_id,)
    ).fetchone()
    assert logs["n"] == 1
    topics = db.execute(
        "SELECT topic, payload->>'to' AS to FROM event_outbox"
        " WHERE payload->>'application_id' = %s ORDER BY id",
        (str(app_id),),
    ).fetchall()
    assert sorted((t["topic"], t["to"]) for t in topics) == [
        ("applications.screened", None),
        ("applications.status_changed", "screened"),
        ("applications.status_changed", "screening"),
    ]


def test_a_score_handed_over_before_an_erasure_screens_nothing_and_ends_withdrawn(
    db: psycopg.Connection[Any], org_job: OrgJob, redis_client: redis.Redis, services_up: Settings
) -> None:
    from tasks.parse import parse_application
    from tasks.score import ERASED_REASON, score_application

    app_id = insert_application(db, org_job, status="received")
    parse_application(str(app_id), handoff(_row(db, app_id), PARSE_FIELDS))
    (message,) = _score_messages(redis_client, app_id)
    db.execute(
        "UPDATE applications SET pii_erased_at = now(), resume_text = NULL WHERE id = %s",
        (app_id,),
    )
    score_application(*message["args"])
    row = _row(db, app_id)
    assert (row["status"], row["status_reason"], row["ai_score"]) == (
        "withdrawn",
        ERASED_REASON,
        None,
    )


def test_a_tier_that_may_call_a_model_ignores_the_handoff_and_reads_the_row(
    services_up: Settings,
) -> None:
    from screening.engine import build_router, use_router
    from tasks.score import _from_handoff

    given = {"job_tier": "standard", "id": str(uuid.uuid4())}
    local_only = build_router(services_up)
    with_model = build_router(services_up.model_copy(update={"ollama_host": "http://127.0.0.1:9"}))
    try:
        use_router(local_only)
        assert not local_only.may_call_models("standard")
        use_router(with_model)
        assert with_model.may_call_models("standard")
        assert not with_model.may_call_models("basic")
        assert _from_handoff(given) is None
    finally:
        use_router(None)
