"""One status change: the state machine's guard, the row and its event, in one statement."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from core.domain import ApplicationStatus as S
from core.status import Event, IllegalTransitionError, change_status, change_status_many
from tests.conftest import OrgJob
from tests.pipeline import insert_application


def _app(db: psycopg.Connection[Any], app_id: uuid.UUID) -> dict[str, Any]:
    row: dict[str, Any] = db.execute(
        "SELECT * FROM applications WHERE id = %s", (app_id,)
    ).fetchone()
    return row


def _events(db: psycopg.Connection[Any], app_id: uuid.UUID) -> list[dict[str, Any]]:
    return db.execute(
        "SELECT topic, payload FROM event_outbox WHERE payload->>'application_id' = %s ORDER BY id",
        (str(app_id),),
    ).fetchall()


def test_a_move_writes_the_row_and_its_status_changed_event_together(
    db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    app = _app(db, insert_application(db, org_job, status="received"))
    moved = change_status(
        db, app, S.SCREENING, expect=S.RECEIVED, reason="parsed", columns={"resume_text": "t"}
    )
    assert moved == {"id": app["id"]}
    row = _app(db, app["id"])
    assert (row["status"], row["status_reason"], row["resume_text"]) == ("screening", "parsed", "t")
    assert row["status_changed_at"] > app["status_changed_at"]
    assert _events(db, app["id"]) == [
        {
            "topic": "applications.status_changed",
            "payload": {
                "application_id": str(app["id"]),
                "job_id": str(org_job.job_id),
                "from": "received",
                "to": "screening",
                "reason": "parsed",
            },
        }
    ]


def test_an_illegal_transition_is_refused_before_anything_is_written(
    db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    app = _app(db, insert_application(db, org_job, status="received"))
    with pytest.raises(IllegalTransitionError):
        change_status(db, app, S.HIRED, expect=S.RECEIVED)
    with pytest.raises(IllegalTransitionError):
        change_status(db, app, S.SCREENING, expect=S.RECEIVED, by_person=True)
    assert _app(db, app["id"])["status"] == "received"
    assert _events(db, app["id"]) == []


def test_an_application_no_longer_in_the_expected_status_is_left_alone(
    db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    app = _app(db, insert_application(db, org_job, status="screened"))
    assert change_status(db, app, S.SCREENED, expect=S.SCREENING) is None
    assert _app(db, app["id"]) == app
    assert _events(db, app["id"]) == []


def test_further_events_and_statements_happen_only_if_the_row_moved(
    db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    app = _app(db, insert_application(db, org_job, status="screening"))
    also = [Event("applications.screened", {"application_id": str(app["id"]), "score": 80})]
    note = (
        "INSERT INTO audit_logs (organization_id, action, resource_type, resource_id)"
        " SELECT m.organization_id, %(p_action)s, 'application', m.id::text FROM moved m"
    )
    action = f"test.{uuid.uuid4().hex}"
    for _ in range(2):  # the second is a redelivery: nothing moves, nothing is written
        change_status(
            db,
            app,
            S.SCREENED,
            expect=S.SCREENING,
            events=also,
            then=[note],
            params={"p_action": action},
        )
    assert sorted(e["topic"] for e in _events(db, app["id"])) == [
        "applications.screened",
        "applications.status_changed",
    ]
    written = db.execute("SELECT count(*) AS n FROM audit_logs WHERE action = %s", (action,))
    assert written.fetchone()["n"] == 1


def test_unless_erased_leaves_an_erased_candidates_application_alone(
    db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    app = _app(db, insert_application(db, org_job, status="received"))
    db.execute("UPDATE applications SET pii_erased_at = now() WHERE id = %s", (app["id"],))
    assert change_status(db, app, S.SCREENING, expect=S.RECEIVED, unless_erased=True) is None
    assert _app(db, app["id"])["status"] == "received"


def test_many_move_only_those_in_the_expected_status_one_event_each(
    db: psycopg.Connection[Any], org_job: OrgJob
) -> None:
    screened = [insert_application(db, org_job, status="screened") for _ in range(3)]
    interview = insert_application(db, org_job, status="interview")
    moved = change_status_many(
        db, org_job.job_id, [*screened, interview], S.SHORTLISTED, expect=S.SCREENED
    )
    assert sorted(moved) == sorted(screened)
    assert _app(db, interview)["status"] == "interview"
    assert [len(_events(db, a)) for a in [*screened, interview]] == [1, 1, 1, 0]
