"""Webhooks: signed, retried with backoff, dead-lettered after the last try, replayable."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import psycopg
import pytest
import redis

from core import deadletters
from core.settings import Settings
from core.webhooks import SignatureError, sign, verify
from tests.conftest import create_org_and_job
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.pipeline import running_worker, wait_for

SECRET = b"test-webhook-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(SECRET)
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def worker(broker: dramatiq.Broker) -> Iterator[dramatiq.Worker]:
    with running_worker(broker) as running:
        yield running


def _job_with_hook(db: psycopg.Connection[Any], url: str) -> uuid.UUID:
    job = create_org_and_job(db, webhook_url=url)
    db.execute("UPDATE jobs SET webhook_secret = %s WHERE id = %s", (SECRET.decode(), job.job_id))
    return job.job_id


def _event() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": "shortlist.updated", "payload": {"version": 1}}


def test_signature_verifies_and_refuses_tampering_and_replay() -> None:
    body = b'{"a":1}'
    header = sign(SECRET, body, timestamp=1_700_000_000)
    assert verify(SECRET, body, header, now=1_700_000_100) == 1_700_000_000
    with pytest.raises(SignatureError):
        verify(SECRET, b'{"a":2}', header, now=1_700_000_100)
    with pytest.raises(SignatureError):
        verify(b"other", body, header, now=1_700_000_100)
    with pytest.raises(SignatureError):
        verify(SECRET, body, header, now=1_700_000_000 + 3600)


def test_delivery_is_signed_and_a_failing_receiver_is_retried(
    db: psycopg.Connection[Any], receiver: WebhookReceiver, worker: dramatiq.Worker
) -> None:
    from tasks.notify import deliver_webhook

    receiver.script.extend([500, 503])
    job_id = _job_with_hook(db, receiver.url)
    event = _event()
    deliver_webhook.send_with_options(args=(str(job_id), event), min_backoff=50, max_backoff=200)
    deliveries = receiver.wait_for(3)
    assert [d.status for d in deliveries[:3]] == [500, 503, 204]
    assert all(d.signature_ok for d in deliveries)
    assert {d.delivery_id for d in deliveries} == {event["id"]}
    assert deliveries[0].body == event


def test_delivered_event_is_not_sent_twice(
    db: psycopg.Connection[Any],
    receiver: WebhookReceiver,
    worker: dramatiq.Worker,
    redis_client: redis.Redis,
) -> None:
    from tasks.notify import deliver_webhook

    job_id = _job_with_hook(db, receiver.url)
    event = _event()
    deliver_webhook.send(str(job_id), event)
    receiver.wait_for(1)
    # Delivery is at least once: the actor records success after the receiver answered.
    wait_for(
        lambda: redis_client.exists(f"pvara:webhook:delivered:{event['id']}"),
        10,
        "the delivery to be recorded",
    )
    deliver_webhook(str(job_id), event)  # a redelivery, run synchronously to its end
    assert len(receiver.deliveries) == 1


def test_exhausted_delivery_is_dead_lettered_and_replays(
    db: psycopg.Connection[Any],
    receiver: WebhookReceiver,
    worker: dramatiq.Worker,
    broker: dramatiq.Broker,
    redis_client: redis.Redis,
) -> None:
    from tasks.notify import deliver_webhook

    receiver.default_status = 500
    job_id = _job_with_hook(db, receiver.url)
    event = _event()
    deliver_webhook.send_with_options(
        args=(str(job_id), event), max_retries=1, min_backoff=50, max_backoff=100
    )
    receiver.wait_for(2)

    def dead() -> deadletters.DeadLetter | None:
        return next(
            (
                d
                for d in deadletters.list_dead(redis_client, ("notify",))
                if d.args and d.args[1]["id"] == event["id"]
            ),
            None,
        )

    letter = wait_for(dead, 20, "the message in the dead-letter queue")
    assert letter.actor == "deliver_webhook"
    assert "WebhookFailedError" in letter.error

    receiver.default_status = 204
    assert deadletters.replay(redis_client, broker, letter.queue, letter.message_id)
    deliveries = receiver.wait_for(3)
    assert deliveries[-1].status == 204
    assert dead() is None


def test_internal_addresses_are_refused(services_up: Settings) -> None:
    from tasks.notify import WebhookRefusedError, check_url

    for url in (
        "http://127.0.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "http://[::1]/",
        "ftp://example.com/",
        "http://localhost/",
    ):
        with pytest.raises(WebhookRefusedError):
            check_url(url, allowed_hosts=set())
    check_url("http://127.0.0.1:9/x", allowed_hosts={"127.0.0.1"})


def test_a_poison_parse_message_is_dead_lettered_and_replays_once_fixed(
    db: psycopg.Connection[Any],
    worker: dramatiq.Worker,
    broker: dramatiq.Broker,
    redis_client: redis.Redis,
    services_up: Settings,
) -> None:
    """A parse whose résumé blob is missing keeps failing; once the blob exists, replay works."""
    from datetime import UTC, datetime

    from ingest.blobs import LocalBlobStore
    from tasks.parse import parse_application

    job = create_org_and_job(db)
    text = f"Python engineer {uuid.uuid4()} with PostgreSQL since 2016".encode()
    store = LocalBlobStore(services_up.effective_blob_dir)
    key = store.put(text, "text/plain")
    # The blob goes missing (e.g. a store outage): the parse cannot succeed.
    hidden = store._path(key).with_suffix(".hidden")
    store._path(key).rename(hidden)
    app_id, now = uuid.uuid4(), datetime.now(UTC)
    db.execute(
        "INSERT INTO application_index VALUES (%s, %s, %s, %s)",
        (app_id, job.organization_id, job.job_id, now),
    )
    db.execute(
        "INSERT INTO applications (id, organization_id, job_id, candidate_cnic, candidate_email,"
        " candidate_name, status, resume_blob_key, resume_media_type, created_at)"
        " VALUES (%s, %s, %s, '35202-0000000-1', 'p@example.com', 'Poison', 'received', %s,"
        " 'text/plain', %s)",
        (app_id, job.organization_id, job.job_id, key, now),
    )
    parse_application.send_with_options(
        args=(str(app_id),), max_retries=1, min_backoff=50, max_backoff=100
    )
    letter = wait_for(
        lambda: next(
            (d for d in deadletters.list_dead(redis_client, ("parse",)) if d.args == [str(app_id)]),
            None,
        ),
        30,
        "dead-lettered parse",
    )

    hidden.rename(store._path(key))
    assert deadletters.replay(redis_client, broker, "parse", letter.message_id)
    wait_for(
        lambda: (
            db.execute("SELECT status FROM applications WHERE id = %s", (app_id,)).fetchone()[
                "status"
            ]
            != "received"
        ),
        60,
        "parse after replay",
    )


def test_the_criteria_webhook_url_is_used_when_the_job_has_none(
    db: psycopg.Connection[Any], receiver: WebhookReceiver, worker: dramatiq.Worker
) -> None:
    """``notifications.webhook_url`` of the latest criteria, for the relay and for notify."""
    from psycopg.types.json import Jsonb

    from core.notifications import JOB_WEBHOOK_URL_SQL
    from tasks.notify import deliver_webhook

    job = create_org_and_job(db, criteria={"notifications": {"webhook_url": "https://old.example"}})
    db.execute(
        "INSERT INTO screening_criteria (organization_id, job_id, version, criteria)"
        " VALUES (%s, %s, 2, %s)",
        (job.organization_id, job.job_id, Jsonb({"notifications": {"webhook_url": receiver.url}})),
    )
    db.execute("UPDATE jobs SET webhook_secret = %s WHERE id = %s", (SECRET.decode(), job.job_id))
    url = db.execute(
        f"SELECT {JOB_WEBHOOK_URL_SQL} AS url FROM jobs j WHERE j.id = %s", (job.job_id,)
    ).fetchone()
    assert url["url"] == receiver.url  # the latest version wins

    event = _event()
    deliver_webhook.send(str(job.job_id), event)

    (delivery,) = receiver.wait_for(1)
    assert delivery.signature_ok and delivery.delivery_id == event["id"]
    own = create_org_and_job(db, webhook_url="https://job.example/hook", criteria={})
    url = db.execute(
        f"SELECT {JOB_WEBHOOK_URL_SQL} AS url FROM jobs j WHERE j.id = %s", (own.job_id,)
    ).fetchone()
    assert url["url"] == "https://job.example/hook"  # the job's own URL comes first
