"""The producer across real broker restarts (a Kafka of the module's own, killed and started
again): a record in flight is delivered once the broker is back, a wedged producer is
replaced, and the API answers 503 for a moment, then accepts again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.errors import KafkaError
from litestar.testing import TestClient

from core.events import DEAD_LETTER
from core.settings import Settings
from ingest.producer import ProduceError, Producer, wedge_reason
from ingest.topics import ensure_topics
from ops.sandbox import Sandbox
from tests.conftest import OrgJob
from tests.pipeline import wait_for

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def kafka(services_up: Settings) -> Iterator[Sandbox]:
    with Sandbox(services_up) as box:
        box.up("kafka")
        ensure_topics(box.settings)
        yield box


def _in_flight(producer: Producer) -> bool:
    sender = producer._get()._sender
    return bool(sender._in_flight_batches) and sender._client.in_flight_request_count() > 0


def _crash_with_a_record_in_flight(kafka: Sandbox, producer: Producer) -> Any:
    """Freeze the broker, send (the request is written but never answered), then SIGKILL it:
    the connection resets and the record goes into retry while the broker is gone."""
    producer.send_sync(DEAD_LETTER, b'{"probe": "warm-up"}', b"producer-test")
    kafka.freeze("kafka")
    future = producer.send_record(DEAD_LETTER, b'{"probe": "in flight"}', b"producer-test")
    wait_for(lambda: _in_flight(producer), 10, "the produce request to be in flight")
    kafka.kill("kafka")
    return future


def _delivers(producer: Producer) -> bool:
    try:
        producer.send_sync(DEAD_LETTER, b'{"probe": "after"}', b"producer-test")
    except ProduceError:
        return False
    return True


def test_a_record_in_flight_when_the_broker_dies_is_delivered_once_it_is_back(
    kafka: Sandbox,
) -> None:
    settings = kafka.settings.model_copy(update={"produce_timeout_s": 5.0})
    producer = Producer(settings, client_id="restart-test")
    try:
        future = _crash_with_a_record_in_flight(kafka, producer)
        took = kafka.restart("kafka")
        metadata = future.get(timeout=settings.kafka_delivery_timeout_s)  # not expired
        assert metadata.offset >= 0
        assert took < settings.kafka_delivery_timeout_s
        assert _delivers(producer)
        assert wedge_reason(producer._get()) is None
    finally:
        producer.close()


def test_a_producer_wedged_by_an_expired_record_is_replaced_and_delivers_again(
    kafka: Sandbox,
) -> None:
    # A record given less time than the restart takes expires after it was sent: this is what
    # leaves kafka-python 3.0.12's idempotent producer without a producer id, for good.
    settings = kafka.settings.model_copy(
        update={"produce_timeout_s": 5.0, "kafka_delivery_timeout_s": 1.0}
    )
    producer = Producer(settings, client_id="wedge-test")
    try:
        future = _crash_with_a_record_in_flight(kafka, producer)
        with pytest.raises(KafkaError):
            future.get(timeout=60)
        wait_for(lambda: producer.replacements >= 1, 30, "the wedged producer to be replaced")
        kafka.restart("kafka")
        wait_for(lambda: _delivers(producer), 90, "a delivery after the restart")
        assert wedge_reason(producer._get()) is None
    finally:
        producer.close()


def test_the_api_answers_503_while_the_broker_restarts_then_accepts_again(
    kafka: Sandbox, services_up: Settings, org_job: OrgJob
) -> None:
    from api.app import create_app

    settings = services_up.model_copy(
        update={"kafka_bootstrap": kafka.settings.local_kafka_bootstrap, "produce_timeout_s": 3.0}
    )

    def fields() -> dict[str, str]:
        return {
            "candidate_cnic": f"{uuid.uuid4().int % 10**13:013d}",
            "candidate_name": "Ayesha Khan",
            "candidate_email": "ayesha@example.com",
            "resume_text": "Python developer since 2018.",
        }

    url = f"/api/v1/jobs/{org_job.job_id}/applications"
    with TestClient(app=create_app(settings)) as client:
        assert client.post(url, json=fields()).status_code == 202
        assert client.get("/health/ready").json()["checks"]["kafka"] is True
        kafka.kill("kafka")
        refused_fields = fields()
        started = time.monotonic()
        refused = client.post(url, json=refused_fields)
        waited = time.monotonic() - started
        not_ready = client.get("/health/ready")
        kafka.restart("kafka")
        wait_for(lambda: client.get("/health/ready").status_code == 200, 90, "ready again")
        again = client.post(url, json=refused_fields)
        fresh = client.post(url, json=fields())
    assert refused.status_code == 503
    assert refused.json()["code"] == "queue_unavailable"
    assert refused.headers["retry-after"].isdigit()
    assert waited < settings.produce_timeout_s + 3  # the request stays bounded
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["kafka"] is False
    assert again.status_code in (200, 202)
    assert fresh.status_code == 202
