"""Reading and replaying the Kafka dead-letter topic (records the bridge could not take)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from core.events import DEAD_LETTER
from core.settings import Settings
from ingest.producer import Producer


@dataclass(frozen=True)
class KafkaDeadLetter:
    partition: int
    offset: int
    source_topic: str
    source_partition: int
    source_offset: int
    reason: str
    value: str
    key: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_dead_letters(settings: Settings, limit: int = 100) -> list[KafkaDeadLetter]:
    """The newest ``limit`` dead letters of each partition, oldest first."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.effective_kafka_bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    try:
        partitions = [
            TopicPartition(DEAD_LETTER, p) for p in consumer.partitions_for_topic(DEAD_LETTER) or []
        ]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        begins = consumer.beginning_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(begins[tp], ends[tp] - limit))
        found: list[KafkaDeadLetter] = []
        remaining = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
        while remaining:
            batches = consumer.poll(timeout_ms=1000)
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    found.append(_decode(record))
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(found, key=lambda d: (d.partition, d.offset))
    finally:
        consumer.close()


def replay(settings: Settings, partition: int, offset: int, producer: Producer) -> bool:
    """Produce the original record of one dead letter back to its source topic."""
    for letter in read_dead_letters(settings, limit=10_000):
        if letter.partition == partition and letter.offset == offset:
            if not letter.source_topic:
                return False  # not ours: nothing to replay it to
            producer.send_sync(
                letter.source_topic,
                letter.value.encode(),
                letter.key.encode("utf-8", "surrogateescape") if letter.key else None,
            )
            return True
    return False


def _decode(record: Any) -> KafkaDeadLetter:
    """One dead letter; never raises (a key that is not UTF-8 survives a replay unchanged, an
    envelope that is not ours is listed as unreadable)."""
    key = record.key.decode("utf-8", "surrogateescape") if record.key else None
    try:
        envelope = json.loads(record.value)
        if not isinstance(envelope, dict):
            raise ValueError("not an object")
        return KafkaDeadLetter(
            partition=record.partition,
            offset=record.offset,
            source_topic=str(envelope.get("source_topic", "")),
            source_partition=int(envelope.get("partition", -1)),
            source_offset=int(envelope.get("offset", -1)),
            reason=str(envelope.get("reason", "")),
            value=str(envelope.get("value", "")),
            key=key,
        )
    except (ValueError, TypeError):
        return KafkaDeadLetter(
            partition=record.partition,
            offset=record.offset,
            source_topic="",
            source_partition=-1,
            source_offset=-1,
            reason="unreadable dead letter (not a PVARA envelope)",
            value=(record.value or b"").decode("utf-8", "replace"),
            key=key,
        )
