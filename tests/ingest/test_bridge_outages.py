"""The bridge through outages of its own Kafka and PostgreSQL (a sandbox of the module's own):
it starts while Kafka is down, and goes on after each of them is killed and started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaProducer

from core.domain import Candidate, ResumeRef, SubmittedApplication
from core.events import APPLICATIONS_SUBMITTED
from core.migrate import migrate
from core.settings import Settings
from ops.sandbox import Sandbox
from tests.conftest import OrgJob, create_org_and_job
from tests.pipeline import wait_for

pytestmark = pytest.mark.timeout(900)

PRIVATE_REDIS_DB = 10  # parse messages go where no worker of another test takes them


@pytest.fixture(scope="module")
def sandbox(services_up: Settings) -> Iterator[Sandbox]:
    with Sandbox(services_up) as box:
        box.up("postgres")
        migrate(box.settings)
        yield box


def _record(job: OrgJob) -> SubmittedApplication:
    return SubmittedApplication(
        application_id=uuid.uuid4(),
        organization_id=job.organization_id,
        job_id=job.job_id,
        candidate=Candidate(
            cnic=f"{uuid.uuid4().int % 10**13:013d}", name="Candidate", email="c@example.com"
        ),
        resume=ResumeRef(media_type="text/plain", inline_text="Python", sha256="0" * 64, size=6),
        submitted_at=datetime.now(UTC),
    )


def _stored(sandbox: Sandbox, ids: list[uuid.UUID]) -> int:
    try:
        with psycopg.connect(sandbox.settings.effective_database_url, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT count(*) FROM applications WHERE id = ANY(%s)", (ids,)
            ).fetchone()
    except psycopg.OperationalError:
        return -1
    return int(row[0]) if row else 0


def _produce(sandbox: Sandbox, job: OrgJob, n: int) -> list[uuid.UUID]:
    records = [_record(job) for _ in range(n)]
    producer = KafkaProducer(
        bootstrap_servers=sandbox.settings.local_kafka_bootstrap, acks="all", retries=10
    )
    try:
        for record in records:
            value = record.model_dump_json().encode()
            producer.send(APPLICATIONS_SUBMITTED, value=value, key=uuid.uuid4().bytes)
        producer.flush(60)
    finally:
        producer.close()
    return [r.application_id for r in records]


def _logged(path: Path, text: str) -> bool:
    return text in path.read_text(errors="replace")


def test_the_bridge_starts_before_kafka_and_goes_on_through_kafka_and_postgresql_restarts(
    sandbox: Sandbox, services_up: Settings, tmp_path: Path
) -> None:
    with psycopg.connect(sandbox.settings.effective_database_url, autocommit=True) as conn:
        job = create_org_and_job(conn)
    redis_url = services_up.effective_redis_url.rsplit("/", 1)[0] + f"/{PRIVATE_REDIS_DB}"
    env = sandbox.env(dict(os.environ), PVARA_REDIS_URL=redis_url)
    log = tmp_path / "bridge.log"
    with log.open("ab") as out:
        bridge = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "bridge"], env=env, stdout=out, stderr=out
        )
    try:
        # Kafka has never run: the bridge waits for it instead of exiting.
        wait_for(lambda: _logged(log, "kafka not reachable"), 60, "the bridge to wait for Kafka")
        assert bridge.poll() is None
        sandbox.up("kafka")
        first = _produce(sandbox, job, 20)
        wait_for(lambda: _stored(sandbox, first) == 20, 120, "records once Kafka is up")

        sandbox.kill("kafka")
        killed_at = time.time()
        # The bridge goes on without Kafka: its loop keeps going round (its liveness file is
        # refreshed after the kill), whether the client raises or its poll just returns
        # nothing (kafka-python often does the latter for a while).
        live = sandbox.home / "live" / "bridge"
        wait_for(lambda: live.stat().st_mtime > killed_at + 2, 60, "the bridge to go on")
        assert bridge.poll() is None
        sandbox.restart("kafka")
        second = _produce(sandbox, job, 20)
        wait_for(lambda: _stored(sandbox, second) == 20, 120, "records after Kafka's restart")

        sandbox.kill("postgres")
        third = _produce(sandbox, job, 20)
        wait_for(lambda: _logged(log, "PoolTimeout") or _logged(log, "Operational"), 90, "it")
        assert bridge.poll() is None
        sandbox.restart("postgres")
        wait_for(lambda: _stored(sandbox, third) == 20, 120, "records after PostgreSQL's restart")
        assert bridge.poll() is None
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(60)
        except subprocess.TimeoutExpired:
            bridge.kill()
    assert bridge.returncode == 0
    with psycopg.connect(sandbox.settings.effective_database_url) as conn:
        counted: Any = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM applications WHERE job_id = %s",
            (job.job_id,),
        ).fetchone()
    assert counted == (60, 60)
