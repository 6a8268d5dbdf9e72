"""Erasure removes the candidate's résumé files too: a file whose bytes another application
still uses stays, and a parse racing the erasure writes nothing back."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
import redis
from litestar.testing import TestClient
from psycopg.types.json import Jsonb

from core.settings import Settings
from ingest.blobs import LocalBlobStore
from tests.api.hr import Org, cnic, create_org, insert_application, problem

ERASURE = "/api/v1/candidates/erasure"


@pytest.fixture
def org(services_up: Settings, db: psycopg.Connection[Any]) -> Org:
    return create_org(services_up, db, roles=["admin", "hr"])


@pytest.fixture
def store(services_up: Settings) -> LocalBlobStore:
    """The folder the API and the workers keep résumés in."""
    return LocalBlobStore(services_up.effective_blob_dir)


def _resume(label: str = "") -> bytes:
    # Unique bytes: the database outlives test runs, and equal bytes would share one blob.
    return f"%PDF-1.7 {label} CV {uuid.uuid4()}".encode()


def _apply_with_file(
    db: psycopg.Connection[Any],
    store: LocalBlobStore,
    org: Org,
    data: bytes,
    *,
    number: str | None = None,
    media_type: str = "application/pdf",
    status: str = "screened",
) -> tuple[uuid.UUID, str]:
    """An application whose résumé file is in the store, as the API and bridge left it two
    days ago (past the grace that protects submissions still in Kafka)."""
    key = _stored_long_ago(store, data, media_type)
    app_id = insert_application(db, org, candidate_cnic=number or cnic(), status=status)
    db.execute(
        "UPDATE applications SET resume_blob_key = %s, resume_media_type = %s WHERE id = %s",
        (key, media_type, app_id),
    )
    return app_id, key


def _stored_long_ago(store: LocalBlobStore, data: bytes, media_type: str) -> str:
    key = store.put(data, media_type)
    two_days_ago = time.time() - 2 * 86_400
    os.utime(store.root / key, (two_days_ago, two_days_ago))
    return key


def _erase(client: TestClient[Any], org: Org, number: str) -> dict[str, Any]:
    response = client.post(ERASURE, headers=org.admin, json={"candidate_cnic": number})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _row(db: psycopg.Connection[Any], app_id: uuid.UUID) -> dict[str, Any]:
    row = db.execute("SELECT * FROM applications WHERE id = %s", (app_id,)).fetchone()
    assert row is not None
    return row


def test_erasure_deletes_the_candidates_resume_files(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any], store: LocalBlobStore
) -> None:
    number = cnic()
    first, first_key = _apply_with_file(db, store, org, _resume("first"), number=number)
    second, second_key = _apply_with_file(db, store, org, _resume("second"), number=number)

    assert _erase(client, org, number) == {"applications_erased": 2, "candidates_erased": 1}

    assert not store.exists(first_key) and not store.exists(second_key)
    assert _row(db, first)["resume_blob_key"] is None
    assert _row(db, second)["resume_blob_key"] is None


def test_a_file_with_the_same_bytes_stays_while_any_application_uses_it(
    client: TestClient[Any],
    org: Org,
    db: psycopg.Connection[Any],
    store: LocalBlobStore,
    services_up: Settings,
) -> None:
    other_org = create_org(services_up, db, roles=["admin"])
    data = _resume("shared")
    erased_number, colleague_number, outsider_number = cnic(), cnic(), cnic()
    _, key = _apply_with_file(db, store, org, data, number=erased_number)
    colleague, same_key = _apply_with_file(db, store, org, data, number=colleague_number)
    outsider, outsider_key = _apply_with_file(db, store, other_org, data, number=outsider_number)
    assert key == same_key == outsider_key

    _erase(client, org, erased_number)
    assert store.get(key) == data
    assert _row(db, colleague)["resume_blob_key"] == key

    # The last reference in this organization goes; the other organization's keeps the file
    # (row-level security hides that row from the erasing organization's session).
    _erase(client, org, colleague_number)
    assert store.get(key) == data
    assert _row(db, outsider)["resume_blob_key"] == key

    _erase(client, other_org, outsider_number)
    assert not store.exists(key)


def test_erasing_twice_or_with_the_file_already_gone_is_harmless(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any], store: LocalBlobStore
) -> None:
    number = cnic()
    _, key = _apply_with_file(db, store, org, _resume("twice"), number=number)
    gone_number = cnic()
    gone, gone_key = _apply_with_file(db, store, org, _resume("gone"), number=gone_number)
    assert store.delete(gone_key)

    _erase(client, org, number)
    problem(
        client.post(ERASURE, headers=org.admin, json={"candidate_cnic": number}),
        404,
        "candidate_not_found",
    )
    assert not store.exists(key)

    assert _erase(client, org, gone_number) == {"applications_erased": 1, "candidates_erased": 1}
    assert _row(db, gone)["pii_erased_at"] is not None


# --- the parse worker and erasure ------------------------------------------------------------


def _received_with_text_file(
    db: psycopg.Connection[Any], store: LocalBlobStore, org: Org, number: str
) -> tuple[uuid.UUID, str]:
    data = f"Python and PostgreSQL engineer {uuid.uuid4()} since 2015".encode()
    app_id, key = _apply_with_file(
        db, store, org, data, number=number, media_type="text/plain", status="received"
    )
    db.execute("UPDATE applications SET resume_text = NULL WHERE id = %s", (app_id,))
    return app_id, key


def _assert_ended_erased(db: psycopg.Connection[Any], app_id: uuid.UUID, key: str) -> None:
    from tasks.parse import ERASED_REASON

    row = _row(db, app_id)
    assert row["status"] == "parse_failed" and row["status_reason"] == ERASED_REASON
    assert row["resume_text"] is None and row["resume_blob_key"] is None
    assert key not in str(row)
    moves = db.execute(
        "SELECT payload->>'to' AS to FROM event_outbox WHERE payload->>'application_id' = %s"
        " AND topic = 'applications.status_changed' ORDER BY id",
        (str(app_id),),
    ).fetchall()
    assert [m["to"] for m in moves] == ["parse_failed"]


def test_a_parse_queued_before_the_erasure_ends_without_a_file(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any], store: LocalBlobStore
) -> None:
    from tasks.parse import parse_application

    number = cnic()
    app_id, key = _received_with_text_file(db, store, org, number)
    _erase(client, org, number)

    parse_application(str(app_id))
    parse_application(str(app_id))  # a redelivery (or the sweeper) changes nothing

    _assert_ended_erased(db, app_id, key)


def test_a_parse_that_read_the_file_before_the_erasure_writes_nothing_back(
    client: TestClient[Any],
    org: Org,
    db: psycopg.Connection[Any],
    store: LocalBlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tasks.parse
    from tasks.parse import parse_application

    number = cnic()
    app_id, key = _received_with_text_file(db, store, org, number)
    extract = tasks.parse.extract_text

    def extract_then_erase(*args: Any, **kwargs: Any) -> Any:
        extracted = extract(*args, **kwargs)
        _erase(client, org, number)  # lands between reading the file and saving its text
        return extracted

    monkeypatch.setattr(tasks.parse, "extract_text", extract_then_erase)
    parse_application(str(app_id))

    assert not store.exists(key)
    _assert_ended_erased(db, app_id, key)


def test_a_parse_whose_file_the_erasure_deleted_finishes_without_retrying(
    client: TestClient[Any],
    org: Org,
    db: psycopg.Connection[Any],
    store: LocalBlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tasks import _resources
    from tasks.parse import parse_application

    number = cnic()
    app_id, key = _received_with_text_file(db, store, org, number)

    class ErasedWhileReading(LocalBlobStore):
        def get(self, key: str) -> bytes:
            _erase(client, org, number)  # the worker loaded the row before the erasure
            return super().get(key)

    erasing: Callable[[], LocalBlobStore] = lambda: ErasedWhileReading(store.root)  # noqa: E731
    monkeypatch.setattr(_resources, "blobs", erasing)
    parse_application(str(app_id))  # returns: no BlobNotFoundError, so no retry

    _assert_ended_erased(db, app_id, key)


def test_erasure_removes_the_reasoning_that_quotes_the_resume(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    number = cnic()
    app_id = insert_application(db, org, candidate_cnic=number)
    quoted = {
        "reasoning": "Must-have: Python — “2015 - now: Acme, Karachi, ayesha@example.com”.",
        "evidence": [{"quote": "2015 - now: Acme, Karachi", "supports": "Python"}],
        "routing_reason": "tier basic: local only",
        "provider": "local",
    }
    db.execute("UPDATE applications SET ai_reasoning = %s WHERE id = %s", (Jsonb(quoted), app_id))

    _erase(client, org, number)

    row = _row(db, app_id)
    assert row["ai_reasoning"] == {
        "reasoning": "[erased]",
        "routing_reason": "tier basic: local only",
        "provider": "local",
    }
    assert row["ai_score"] is not None  # the score stays


def test_a_score_overlapping_the_erasure_keeps_the_score_but_writes_no_quotes(
    client: TestClient[Any],
    org: Org,
    db: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tasks.score
    from tasks.score import score_application

    number = cnic()
    app_id = insert_application(db, org, candidate_cnic=number, status="screening", score=None)
    screen = tasks.score.screen

    def screen_then_erase(*args: Any, **kwargs: Any) -> Any:
        outcome = screen(*args, **kwargs)
        _erase(client, org, number)  # lands between screening and saving the result
        return outcome

    monkeypatch.setattr(tasks.score, "screen", screen_then_erase)
    score_application(str(app_id))

    row = _row(db, app_id)
    assert row["status"] == "screened" and row["ai_score"] is not None
    assert row["ai_reasoning"]["reasoning"] == "[erased]"
    assert "evidence" not in row["ai_reasoning"]
    assert "Python" not in str(row["ai_reasoning"])  # nothing read from the résumé text


def test_erasure_reaches_applications_archived_by_retention(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any], store: LocalBlobStore
) -> None:
    from scheduler.jobs import archive_partitions

    # 1900: older than any partition other tests make, so only this one is archived here.
    month = date(1900, random.randint(1, 12), 1)
    # 25 months later: with 24 months of retention, this month is the last one past it.
    retention_passed = date(1902 + month.month // 12, month.month % 12 + 1, 15)
    name = f"applications_y{month:%Y}m{month:%m}"
    db.execute("SELECT pvara_create_month_partition('applications'::regclass, %s)", (month,))
    data = _resume("shared by a live and an archived application")
    live_number, archived_number = cnic(), cnic()
    _apply_with_file(db, store, org, data, number=live_number)
    archived_id = insert_application(
        db,
        org,
        candidate_cnic=archived_number,
        created_at=datetime(month.year, month.month, 2, tzinfo=UTC),
    )
    key = _stored_long_ago(store, data, "application/pdf")
    db.execute("UPDATE applications SET resume_blob_key = %s WHERE id = %s", (key, archived_id))
    try:
        with db.transaction():
            archived = archive_partitions(db, retention_months=24, today=retention_passed)
            assert archived == [f"archive.{name}"]

        _erase(client, org, live_number)
        assert store.exists(key)  # the archived application still references the file

        assert _erase(client, org, archived_number)["applications_erased"] == 1
        row = db.execute(f'SELECT * FROM archive."{name}" WHERE id = %s', (archived_id,)).fetchone()
        assert row is not None and row["pii_erased_at"] is not None
        assert (row["candidate_name"], row["candidate_email"]) == ("[erased]", "[erased]")
        assert row["resume_text"] is None and row["resume_blob_key"] is None
        assert not store.exists(key)
    finally:
        db.execute(f'DROP TABLE IF EXISTS archive."{name}"')  # this test's own partition
        db.execute(f'DROP TABLE IF EXISTS public."{name}"')


def test_a_recent_file_outlives_the_erasure_until_the_sweep_after_the_grace(
    client: TestClient[Any],
    org: Org,
    db: psycopg.Connection[Any],
    store: LocalBlobStore,
    services_up: Settings,
    redis_client: redis.Redis,
) -> None:
    from core.db import create_pool
    from core.queue import create_broker
    from scheduler.jobs import JobContext, sweep_resume_files

    number = cnic()
    # Stored a moment ago: the same bytes may be in a submission the bridge has not written yet.
    key = store.put(_resume("just submitted"), "application/pdf")
    app_id = insert_application(db, org, candidate_cnic=number)
    db.execute("UPDATE applications SET resume_blob_key = %s WHERE id = %s", (key, app_id))
    kept_key = _stored_long_ago(store, _resume("still referenced"), "application/pdf")
    kept_id = insert_application(db, org)
    db.execute("UPDATE applications SET resume_blob_key = %s WHERE id = %s", (kept_key, kept_id))

    _erase(client, org, number)
    assert store.exists(key)  # within the grace: left for the sweep

    pool = create_pool(services_up, name="test-blob-sweep", max_size=1)
    ctx = JobContext(services_up, pool, create_broker(services_up), redis_client)
    try:
        sweep_resume_files(ctx)
        assert store.exists(key)  # still within the grace
        past_grace = time.time() - services_up.blob_grace_s - 60
        os.utime(store.root / key, (past_grace, past_grace))

        summary = sweep_resume_files(ctx)
    finally:
        pool.close()

    assert summary["deleted"] >= 1
    assert not store.exists(key)
    assert store.exists(kept_key)  # referenced by an application: never swept


def test_a_score_queued_before_the_erasure_screens_nothing_and_ends_withdrawn(
    client: TestClient[Any], org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.score import ERASED_REASON, score_application

    number = cnic()
    app_id = insert_application(db, org, candidate_cnic=number, status="screening", score=None)
    _erase(client, org, number)

    score_application(str(app_id))
    score_application(str(app_id))  # a redelivery changes nothing

    row = _row(db, app_id)
    assert (row["status"], row["status_reason"]) == ("withdrawn", ERASED_REASON)
    assert row["ai_score"] is None
    calls = db.execute(
        "SELECT count(*) AS n FROM ai_screening_log WHERE application_id = %s", (app_id,)
    ).fetchone()
    assert calls is not None and calls["n"] == 0
