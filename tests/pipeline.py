"""A running pipeline for tests: the bridge (own consumer group), the outbox relay and an
in-process Dramatiq worker, all on the real Kafka, PostgreSQL and Redis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import dramatiq
import psycopg
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from psycopg.rows import dict_row

from core.db import create_pool
from core.events import APPLICATIONS_SUBMITTED
from core.pii_crypto import default_cipher
from core.settings import Settings
from ingest.bridge import Bridge
from ingest.outbox_relay import OutboxRelay
from ingest.producer import Producer
from tests.conftest import OrgJob

T = TypeVar("T")


def new_group_at_end(settings: Settings, topic: str = APPLICATIONS_SUBMITTED) -> str:
    """A consumer group whose committed offsets are the topic's current end."""
    group = f"test-{uuid.uuid4().hex[:10]}"
    consumer = KafkaConsumer(
        bootstrap_servers=settings.effective_kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(partitions)
        consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in ends.items()})
    finally:
        consumer.close()
    return group


def wait_for(check: Callable[[], T], timeout_s: float = 60, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def statuses(settings: Settings, ids: list[str]) -> dict[str, str]:
    with psycopg.connect(settings.effective_database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT id::text AS id, status FROM applications WHERE id = ANY(%s::uuid[])", (ids,)
        ).fetchall()
    return {r["id"]: r["status"] for r in rows}


@contextmanager
def running_bridge(settings: Settings, broker: dramatiq.Broker) -> Iterator[Bridge]:
    """The bridge and the outbox relay in threads, on a fresh consumer group."""
    group_settings = settings.model_copy(
        update={"bridge_group": new_group_at_end(settings), "bridge_batch_size": 100}
    )
    pool = create_pool(group_settings, name="test-bridge", max_size=4)
    producer = Producer(group_settings, client_id="test-bridge")
    bridge = Bridge(group_settings, pool, broker, producer)
    relay = OutboxRelay(group_settings, pool, broker, producer)
    stop = threading.Event()
    threads = [
        threading.Thread(target=bridge.run, args=(stop,), daemon=True),
        threading.Thread(target=relay.run, args=(stop, 0.05), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield bridge
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        producer.close()
        pool.close()


@contextmanager
def running_worker(broker: dramatiq.Broker, threads: int = 4) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10_000)


def submitted_ids(responses: list[Any]) -> list[str]:
    return [r.json()["application_id"] for r in responses]


def insert_application(
    db: psycopg.Connection[Any],
    org_job: OrgJob,
    *,
    status: str,
    score: float | None = None,
    text: str = "Python and PostgreSQL developer since 2015, Docker and Kubernetes.",
) -> uuid.UUID:
    """An application row (and its index row) in ``status``, created now."""
    app_id = uuid.uuid4()
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO application_index (id, organization_id, job_id, created_at)"
        " VALUES (%s, %s, %s, %s)",
        (app_id, org_job.organization_id, org_job.job_id, now),
    )
    contact = default_cipher().protect_contact(
        org_job.organization_id, f"{uuid.uuid4().int % 10**13:013d}", "c@example.com", None
    )
    db.execute(
        "INSERT INTO applications (id, organization_id, job_id, candidate_cnic,"
        " candidate_email, candidate_cnic_index, candidate_email_index, candidate_name, status,"
        " resume_media_type, resume_text, ai_score, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'text/plain', %s, %s, %s)",
        (
            app_id,
            org_job.organization_id,
            org_job.job_id,
            contact.cnic,
            contact.email,
            contact.cnic_index,
            contact.email_index,
            "Candidate",
            status,
            text,
            score,
            now,
        ),
    )
    return app_id
