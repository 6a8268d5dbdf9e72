"""The bridge: nothing lost and nothing duplicated across crashes; poison goes to the DLQ."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from core.domain import Candidate, ResumeRef, SubmittedApplication
from core.events import APPLICATIONS_SUBMITTED, DEAD_LETTER
from core.settings import Settings
from tests.conftest import OrgJob
from tests.pipeline import new_group_at_end, running_bridge, wait_for


def _record(org_job: OrgJob, n: int) -> SubmittedApplication:
    text = f"Candidate {n}: Python developer since 2019, PostgreSQL."
    return SubmittedApplication(
        application_id=uuid.uuid4(),
        organization_id=org_job.organization_id,
        job_id=org_job.job_id,
        candidate=Candidate(
            cnic=f"35202-{n:07d}-1", name=f"Candidate {n}", email=f"c{n}@example.com"
        ),
        resume=ResumeRef(
            media_type="text/plain", inline_text=text, sha256="0" * 64, size=len(text)
        ),
        submitted_at=datetime.now(UTC),
    )


def _produce(settings: Settings, values: list[bytes], key: bytes) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.effective_kafka_bootstrap, acks="all", linger_ms=5
    )
    try:
        for value in values:
            producer.send(APPLICATIONS_SUBMITTED, value=value, key=key)
        producer.flush(30)
    finally:
        producer.close()


def _row_counts(db: psycopg.Connection[Any], job_id: uuid.UUID) -> dict[str, int]:
    row: dict[str, int] = db.execute(
        "SELECT count(*) AS rows, count(DISTINCT id) AS ids FROM applications WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    return row


def _parse_messages_for(client: redis.Redis, ids: set[str], remove: bool) -> set[str]:
    """Application ids with a parse message waiting in Redis (optionally removing them)."""
    found: set[str] = set()
    for message_id, raw in client.hscan_iter("dramatiq:parse.msgs"):
        args = json.loads(raw).get("args", [])
        if args and args[0] in ids:
            found.add(args[0])
            if remove:
                client.hdel("dramatiq:parse.msgs", message_id)
                client.lrem("dramatiq:parse", 0, message_id)
    return found


def test_bridge_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    services_up: Settings, org_job: OrgJob, db: psycopg.Connection[Any], redis_client: redis.Redis
) -> None:
    total = 400
    records = [_record(org_job, n) for n in range(total)]
    ids = {str(r.application_id) for r in records}
    env = {
        **os.environ,
        "PVARA_BRIDGE_GROUP": new_group_at_end(services_up),
        "PVARA_BRIDGE_BATCH_SIZE": "20",
    }
    _produce(
        services_up, [r.model_dump_json().encode() for r in records], str(org_job.job_id).encode()
    )

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "bridge"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    bridge = start()
    try:
        wait_for(lambda: _row_counts(db, org_job.job_id)["rows"] >= 40, 90, "a first batch")
        bridge.send_signal(signal.SIGKILL)  # mid-stream: some batches done, others not
        bridge.wait(10)
        partial = _row_counts(db, org_job.job_id)["rows"]
        assert partial < total, "the bridge finished before it could be killed"

        bridge = start()
        wait_for(lambda: _row_counts(db, org_job.job_id)["rows"] >= total, 120, "all rows")
        # Let the restarted bridge run past the end, then stop it cleanly.
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(30)
    finally:
        if bridge.poll() is None:
            bridge.kill()
    assert _row_counts(db, org_job.job_id) == {"rows": total, "ids": total}
    stored = {
        str(r["id"])
        for r in db.execute("SELECT id FROM applications WHERE job_id = %s", (org_job.job_id,))
    }
    assert stored == ids
    # Every application was handed to the parse pool (at least once).
    assert _parse_messages_for(redis_client, ids, remove=True) == ids
    # Retire the test's applications so no later bridge run hands them to parse again.
    db.execute("UPDATE applications SET status = 'withdrawn' WHERE job_id = %s", (org_job.job_id,))


def test_undecodable_and_unknown_job_records_go_to_the_dead_letter_topic(
    services_up: Settings,
    org_job: OrgJob,
    db: psycopg.Connection[Any],
) -> None:
    from tasks.workers import broker

    dlq = KafkaConsumer(bootstrap_servers=services_up.effective_kafka_bootstrap)
    partitions = [TopicPartition(DEAD_LETTER, p) for p in dlq.partitions_for_topic(DEAD_LETTER)]
    dlq.assign(partitions)
    dlq.seek_to_end()
    for tp in partitions:
        dlq.position(tp)

    marker = uuid.uuid4().hex
    stranger = _record(org_job, 1).model_copy(update={"job_id": uuid.uuid4()})
    good = _record(org_job, 2)
    with running_bridge(services_up, broker):
        _produce(
            services_up,
            [
                f'{{"not": "an application", "marker": "{marker}"'.encode(),
                stranger.model_dump_json().encode(),
                good.model_dump_json().encode(),
            ],
            str(org_job.job_id).encode(),
        )
        wait_for(lambda: _row_counts(db, org_job.job_id)["rows"] == 1, 60, "the good record")

    reasons: dict[str, str] = {}
    where: dict[str, tuple[int, int]] = {}

    def read() -> bool:
        for batch in dlq.poll(timeout_ms=500).values():
            for record in batch:
                envelope = json.loads(record.value)
                if marker in envelope["value"]:
                    reasons["poison"] = envelope["reason"]
                elif str(stranger.application_id) in envelope["value"]:
                    reasons["stranger"] = envelope["reason"]
                    where["stranger"] = (record.partition, record.offset)
        return len(reasons) == 2

    wait_for(read, 30, "both dead letters")
    dlq.close()
    assert reasons["poison"].startswith("undecodable record")
    assert "unknown job" in reasons["stranger"]

    # Ops fixes the cause (the job now exists) and replays the dead letter: it goes through.
    db.execute(
        "INSERT INTO jobs (id, organization_id, title) VALUES (%s, %s, 'Late job')",
        (stranger.job_id, org_job.organization_id),
    )
    with running_bridge(services_up, broker):
        replayed = subprocess.run(
            [
                sys.executable,
                "-m",
                "ops.cli",
                "dlq",
                "replay",
                "{}:{}".format(*where["stranger"]),
                "--kafka",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        wait_for(
            lambda: db.execute(
                "SELECT 1 FROM applications WHERE id = %s", (stranger.application_id,)
            ).fetchone(),
            60,
            "the replayed record",
        )


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe", b"[]", b'{"schema_version": 2}'])
def test_bridge_handle_never_raises_on_garbage(services_up: Settings, payload: bytes) -> None:
    from kafka.consumer.fetcher import ConsumerRecord

    from core.db import create_pool
    from ingest.bridge import Bridge
    from tasks.workers import broker

    pool = create_pool(services_up, name="garbage", max_size=1)
    bridge = Bridge(services_up, pool, broker)
    try:
        record = ConsumerRecord(
            topic=APPLICATIONS_SUBMITTED,
            partition=0,
            leader_epoch=0,
            offset=0,
            timestamp=0,
            timestamp_type=0,
            key=None,
            value=payload,
            headers=[],
            checksum=None,
            serialized_key_size=-1,
            serialized_value_size=len(payload),
            serialized_header_size=-1,
        )
        result = bridge.handle([record])
    finally:
        bridge.close()
        pool.close()
    assert result.dead_lettered == 1


def _poisoned(org_job: OrgJob, n: int, kind: str) -> bytes:
    """A record that decodes but holds what PostgreSQL refuses (or does not decode at all)."""
    record = _record(org_job, n)
    if kind == "nul-email":
        candidate = record.candidate.model_copy(update={"email": "c\x00@example.com"})
        record = record.model_copy(update={"candidate": candidate})
    elif kind == "nul-name":
        candidate = record.candidate.model_copy(update={"name": "Candi\x00date"})
        record = record.model_copy(update={"candidate": candidate})
    elif kind == "nul-resume":
        resume = record.resume.model_copy(update={"inline_text": "Python\x00developer"})
        record = record.model_copy(update={"resume": resume})
    elif kind == "email-too-long-for-its-index":
        email = secrets.token_urlsafe(3000) + "@example.com"  # incompressible, > 2704 bytes
        candidate = record.candidate.model_copy(update={"email": email})
        record = record.model_copy(update={"candidate": candidate})
    elif kind == "lone-surrogate":
        return record.model_dump_json().replace("Candidate", "Cand\\ud800idate", 1).encode()
    return record.model_dump_json().encode()


#: What PostgreSQL refuses in a record. (The CNIC, e-mail and phone arrive encrypted,
#: core.pii_crypto: a NUL or an index-busting length there is ciphertext it stores.)
POISON = ("nul-name", "nul-resume", "lone-surrogate")


def _dead_letter_reader(settings: Settings) -> KafkaConsumer:
    dlq = KafkaConsumer(bootstrap_servers=settings.effective_kafka_bootstrap)
    partitions = [TopicPartition(DEAD_LETTER, p) for p in dlq.partitions_for_topic(DEAD_LETTER)]
    dlq.assign(partitions)
    dlq.seek_to_end()
    for tp in partitions:
        dlq.position(tp)
    return dlq


def test_records_the_database_refuses_are_dead_lettered_and_every_other_record_is_stored(
    services_up: Settings, org_job: OrgJob, db: psycopg.Connection[Any]
) -> None:
    """Poison between good records on every partition, and a clean application of another
    organization: the bridge dead-letters exactly the poison, stores the rest, commits."""
    from tasks.workers import broker
    from tests.conftest import create_org_and_job

    other = create_org_and_job(db)
    dlq = _dead_letter_reader(services_up)
    good = [_record(org_job, n) for n in range(24)] + [_record(other, 100)]
    bad = {kind: _poisoned(org_job, 200 + i, kind) for i, kind in enumerate(POISON)}
    producer = KafkaProducer(bootstrap_servers=services_up.effective_kafka_bootstrap, acks="all")
    try:
        values = [r.model_dump_json().encode() for r in good]
        for i, value in enumerate(bad.values()):
            values.insert(4 * i + 2, value)
        with running_bridge(services_up, broker) as bridge:
            for value in values:  # random keys: records and poison on every partition
                producer.send(APPLICATIONS_SUBMITTED, value=value, key=uuid.uuid4().bytes)
            producer.flush(30)
            ids = [r.application_id for r in good]
            wait_for(
                lambda: (
                    db.execute(
                        "SELECT count(*) AS n FROM applications WHERE id = ANY(%s)", (ids,)
                    ).fetchone()["n"]
                    == len(good)
                ),
                90,
                "every good record",
            )
            group = bridge.settings.bridge_group
            reasons: dict[str, str] = {}

            def read() -> bool:
                for batch in dlq.poll(timeout_ms=500).values():
                    for record in batch:
                        envelope = json.loads(record.value)
                        for kind, value in bad.items():
                            if envelope["value"] == value.decode():
                                reasons[kind] = envelope["reason"]
                return len(reasons) == len(bad)

            wait_for(read, 60, "every poison record in the dead-letter topic")
            consumer = KafkaConsumer(
                bootstrap_servers=services_up.effective_kafka_bootstrap,
                group_id=group,
                enable_auto_commit=False,
            )
            try:
                parts = [
                    TopicPartition(APPLICATIONS_SUBMITTED, p)
                    for p in consumer.partitions_for_topic(APPLICATIONS_SUBMITTED)
                ]
                ends = consumer.end_offsets(parts)

                def committed_to_the_end() -> bool:
                    return all((consumer.committed(tp) or 0) >= ends[tp] for tp in parts)

                wait_for(committed_to_the_end, 30, "offsets committed past the poison")
            finally:
                consumer.close()
    finally:
        producer.close()
        dlq.close()
    assert set(reasons) == set(POISON)
    for kind in POISON:
        expected = "undecodable record" if kind == "lone-surrogate" else "refused by the database"
        assert reasons[kind].startswith(expected), (kind, reasons[kind])
    assert "NUL" in reasons["nul-name"]
    db.execute(
        "UPDATE applications SET status = 'withdrawn' WHERE job_id = ANY(%s)",
        ([org_job.job_id, other.job_id],),
    )


def test_store_rows_finds_each_refused_row_by_halving_and_stores_all_the_others(
    services_up: Settings, org_job: OrgJob, pool: Any, db: psycopg.Connection[Any]
) -> None:
    from ingest.bridge import _params, store_rows

    records = [_record(org_job, 300 + n) for n in range(16)]
    poisoned = {3: "nul-name", 4: "nul-resume", 11: "surrogate-resume"}
    rows = []
    for i, record in enumerate(records):
        if poisoned.get(i) == "surrogate-resume":  # a str psycopg cannot encode as UTF-8
            resume = record.resume.model_copy(update={"inline_text": "Python\ud800developer"})
            record = records[i] = record.model_copy(update={"resume": resume})
        elif i in poisoned:
            record = SubmittedApplication.model_validate_json(
                _poisoned(org_job, 300 + i, poisoned[i])
            )
            records[i] = record
        rows.append(_params(record))
    with pool.connection() as conn:
        refused = store_rows(conn, rows)
        again = store_rows(conn, rows)  # idempotent: the same refusals, nothing duplicated
    assert [index for index, _ in refused] == sorted(poisoned)
    assert [index for index, _ in again] == sorted(poisoned)
    stored = {
        r["id"]
        for r in db.execute(
            "SELECT id FROM applications WHERE job_id = %s AND id = ANY(%s)",
            (org_job.job_id, [r.application_id for r in records]),
        )
    }
    assert stored == {r.application_id for i, r in enumerate(records) if i not in poisoned}
    db.execute("UPDATE applications SET status = 'withdrawn' WHERE job_id = %s", (org_job.job_id,))


def _bridge(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "bridge"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stored_after(
    services_up: Settings, org_job: OrgJob, db: psycopg.Connection[Any], n: int
) -> list[uuid.UUID]:
    records = [_record(org_job, 500 + i) for i in range(n)]
    producer = KafkaProducer(bootstrap_servers=services_up.effective_kafka_bootstrap, acks="all")
    try:
        for record in records:  # random keys: every partition, the dead member's included
            value = record.model_dump_json().encode()
            producer.send(APPLICATIONS_SUBMITTED, value=value, key=uuid.uuid4().bytes)
        producer.flush(30)
    finally:
        producer.close()
    return [r.application_id for r in records]


def _count(db: psycopg.Connection[Any], ids: list[uuid.UUID]) -> int:
    row = db.execute("SELECT count(*) AS n FROM applications WHERE id = ANY(%s)", (ids,)).fetchone()
    return int(row["n"]) if row else 0


@pytest.mark.parametrize("membership", ["dynamic", "static"])
def test_a_killed_bridge_s_partitions_are_taken_over_quickly(
    services_up: Settings, org_job: OrgJob, db: psycopg.Connection[Any], membership: str
) -> None:
    """dynamic: a second member takes the dead one's partitions once its session (7 s)
    expires, not after kafka-python's default 45 s. static: the dead member, restarted with
    its instance id, takes them back at once, although its session is set to 60 s here."""
    env = {**os.environ, "PVARA_BRIDGE_GROUP": new_group_at_end(services_up)}
    if membership == "static":
        env["PVARA_BRIDGE_INSTANCE_ID"] = f"test-{uuid.uuid4().hex[:8]}"
        env["PVARA_BRIDGE_SESSION_TIMEOUT_MS"] = "60000"
    members = [_bridge(env)] + ([_bridge(env)] if membership == "dynamic" else [])
    try:
        warm = _stored_after(services_up, org_job, db, 12)
        wait_for(lambda: _count(db, warm) == len(warm), 120, "the group to consume")
        victim = members[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed = time.monotonic()
        if membership == "static":
            members[0] = _bridge(env)
        after = _stored_after(services_up, org_job, db, 30)
        wait_for(lambda: _count(db, after) == len(after), 120, "every record after the kill")
        took = time.monotonic() - killed
    finally:
        for member in members:
            if member.poll() is None:
                member.send_signal(signal.SIGTERM)
                member.wait(30)
    db.execute("UPDATE applications SET status = 'withdrawn' WHERE job_id = %s", (org_job.job_id,))
    # Measured here: ~6.5 s (dynamic) and ~5 s (static, most of it starting Python).
    assert took < 25, f"took {took:.1f} s"


def test_the_dead_letter_reader_survives_binary_keys_and_foreign_records(
    services_up: Settings,
) -> None:
    from ingest.deadletter_topic import read_dead_letters

    marker = uuid.uuid4().hex
    envelope = {"source_topic": APPLICATIONS_SUBMITTED, "reason": "test", "value": marker}
    producer = KafkaProducer(bootstrap_servers=services_up.effective_kafka_bootstrap, acks="all")
    try:
        producer.send(DEAD_LETTER, value=json.dumps(envelope).encode(), key=b"\xf4\x00\xff")
        producer.send(DEAD_LETTER, value=f"not json {marker}".encode(), key=b"\xfe")
        producer.flush(30)
    finally:
        producer.close()
    letters = [d for d in read_dead_letters(services_up) if marker in d.value]
    assert len(letters) == 2
    ours = next(d for d in letters if d.reason == "test")
    assert ours.key is not None and ours.key.encode("utf-8", "surrogateescape") == b"\xf4\x00\xff"
    assert any(d.reason.startswith("unreadable dead letter") for d in letters)
