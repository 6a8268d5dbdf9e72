"""PVARA's Kafka topics on the real broker, and the producer settings the 202 promise needs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from core.events import ALL_TOPICS, APPLICATIONS_SUBMITTED
from core.settings import Settings
from ingest.topics import ensure_topics, topic_partitions


@pytest.fixture
def admin(services_up: Settings) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(
        bootstrap_servers=services_up.effective_kafka_bootstrap, client_id="pvara-tests"
    )
    yield client
    client.close()


def describe(admin: KafkaAdminClient, topics: list[str]) -> dict[str, dict[str, Any]]:
    return {topic["name"]: topic for topic in admin.describe_topics(topics)}


def test_topics_exist_with_their_configured_partition_counts(
    services_up: Settings, admin: KafkaAdminClient
) -> None:
    wanted = topic_partitions(services_up)
    assert set(wanted) == set(ALL_TOPICS)
    assert wanted[APPLICATIONS_SUBMITTED] == services_up.submitted_partitions == 6

    found = describe(admin, list(wanted))

    assert {name: len(t["partitions"]) for name, t in found.items()} == wanted
    for name, topic in found.items():
        assert topic["error_code"] == 0, name
        for partition in topic["partitions"]:
            assert partition["leader_id"] >= 0, name
            assert len(partition["replica_nodes"]) == services_up.topic_replication, name
    others = {n: c for n, c in wanted.items() if n != APPLICATIONS_SUBMITTED}
    assert set(others.values()) == {services_up.topic_partitions}


def test_ensure_topics_twice_creates_nothing_and_changes_nothing(
    services_up: Settings, admin: KafkaAdminClient
) -> None:
    before = describe(admin, list(ALL_TOPICS))

    assert ensure_topics(services_up) == []
    assert ensure_topics(services_up) == []

    after = describe(admin, list(ALL_TOPICS))
    assert {n: (t["topic_id"], len(t["partitions"])) for n, t in after.items()} == {
        n: (t["topic_id"], len(t["partitions"])) for n, t in before.items()
    }


@pytest.fixture
def scratch_topic(services_up: Settings, admin: KafkaAdminClient) -> Iterator[str]:
    """A topic of this test's own, so no shared consumer (the bridge) sees its records."""
    name = f"pvara.test.{uuid.uuid4().hex[:12]}"
    admin.create_topics(
        {name: {"num_partitions": 3, "replication_factor": services_up.topic_replication}},
        wait_for_metadata=True,
    )
    yield name
    admin.delete_topics([name])


def test_idempotent_acks_all_record_is_read_back_by_a_consumer_group_from_its_offset(
    services_up: Settings, scratch_topic: str
) -> None:
    bootstrap = services_up.effective_kafka_bootstrap
    key = uuid.uuid4().hex.encode()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, retries=5
    )
    try:
        producer.send(scratch_topic, key=key, value=b"earlier").get(timeout=30)
        written = producer.send(scratch_topic, key=key, value=b"ours").get(timeout=30)
    finally:
        producer.close()
    assert written.offset >= 1  # same key, same partition, after "earlier"
    partition = TopicPartition(scratch_topic, written.partition)

    consumer = KafkaConsumer(
        scratch_topic,
        bootstrap_servers=bootstrap,
        group_id=f"pvara-test-{uuid.uuid4().hex[:12]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        deadline = time.monotonic() + 60
        while partition not in consumer.assignment():  # joining the group
            assert time.monotonic() < deadline, "the consumer group never got its partitions"
            consumer.poll(timeout_ms=500)
        consumer.seek(partition, written.offset)
        records: list[Any] = []
        while not records:
            assert time.monotonic() < deadline, "the record was never read back"
            records = consumer.poll(timeout_ms=500).get(partition, [])
        consumer.commit()
        committed = consumer.committed(partition)
    finally:
        consumer.close()

    first = records[0]
    assert (first.offset, first.key, first.value) == (written.offset, key, b"ours")
    assert committed == first.offset + len(records)
