"""Helpers of the security suite: what the ingress really sent to Kafka, and the bridge storing
it (the real :class:`ingest.bridge.Bridge` SQL, Dramatiq's in-memory broker for the parse
messages so no pool of another test picks them up)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from dramatiq.brokers.stub import StubBroker
from kafka import KafkaConsumer, TopicPartition
from litestar.testing import TestClient

from core.db import create_pool
from core.events import APPLICATIONS_SUBMITTED
from core.queue import PARSE
from core.settings import Settings
from ingest.bridge import Bridge


@dataclass(frozen=True)
class Sent:
    topic: str
    value: bytes
    partition: int
    offset: int


@contextmanager
def recorded_sends(client: TestClient[Any]) -> Iterator[list[Sent]]:
    """Every record the app's producer got Kafka's acknowledgement for, while inside."""
    producer = client.app.state.api.producer
    original = producer.send
    sent: list[Sent] = []

    async def send(topic: str, value: bytes, key: bytes | None = None) -> Any:
        meta = await original(topic, value, key)
        sent.append(Sent(topic, value, meta.partition, meta.offset))
        return meta

    producer.send = send
    try:
        yield sent
    finally:
        producer.send = original


def read_back(settings: Settings, sent: Sent) -> bytes:
    """The bytes Kafka holds for ``sent`` (read from the broker, not from memory)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.effective_kafka_bootstrap, enable_auto_commit=False
    )
    try:
        tp = TopicPartition(sent.topic, sent.partition)
        consumer.assign([tp])
        consumer.seek(tp, sent.offset)
        for _ in range(40):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.offset == sent.offset:
                        value: bytes = record.value
                        return value
        raise AssertionError("record not found in Kafka")
    finally:
        consumer.close()


def store(settings: Settings, values: list[bytes]) -> None:
    """Run the bridge's batch handling on these record values (as if consumed)."""
    broker = StubBroker()
    broker.declare_queue(PARSE)
    pool = create_pool(settings, name="security-bridge", max_size=2)
    bridge = Bridge(settings, pool, broker)
    try:
        records = [
            SimpleNamespace(
                topic=APPLICATIONS_SUBMITTED, partition=0, offset=i, key=b"k", value=value
            )
            for i, value in enumerate(values)
        ]
        result = bridge.handle(records)  # type: ignore[arg-type]
        assert result.dead_lettered == 0
    finally:
        bridge.close()
        pool.close()


def submit_and_store(
    client: TestClient[Any], settings: Settings, job_id: uuid.UUID, **request: Any
) -> tuple[Any, list[Sent]]:
    """Submit through the API, then store what it sent to Kafka through the bridge."""
    with recorded_sends(client) as sent:
        response = client.post(f"/api/v1/jobs/{job_id}/applications", **request)
    assert response.status_code == 202, response.text
    store(settings, [read_back(settings, s) for s in sent])
    return response, sent
