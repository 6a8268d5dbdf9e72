"""Creates PVARA's Kafka topics at start-up, idempotently, waiting for Kafka if it is down."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from core.events import ALL_TOPICS, APPLICATIONS_SUBMITTED, HEALTH
from core.settings import Settings

log = logging.getLogger(__name__)

#: Per-topic configuration besides the partition count.
_TOPIC_CONFIGS = {HEALTH: {"retention.ms": str(3600 * 1000)}}


def topic_partitions(settings: Settings) -> dict[str, int]:
    """The partition count each topic is created with."""
    return {
        topic: settings.submitted_partitions
        if topic == APPLICATIONS_SUBMITTED
        else settings.topic_partitions
        for topic in ALL_TOPICS
    }


def ensure_topics(settings: Settings) -> list[str]:
    """Create every missing PVARA topic; return the names created by this call."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.effective_kafka_bootstrap,
        client_id="pvara-admin",
        reconnect_backoff_max_ms=1000,
    )
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name,
                partitions,
                settings.topic_replication,
                topic_configs=_TOPIC_CONFIGS.get(name, {}),
            )
            for name, partitions in topic_partitions(settings).items()
            if name not in existing
        ]
        created: list[str] = []
        for topic in wanted:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass  # another process created it in between
        if created:
            log.info("created kafka topics", extra={"topics": created})
        return created
    finally:
        admin.close()


def ensure_topics_when_up(
    settings: Settings, stop: threading.Event, on_attempt: Callable[[], None] | None = None
) -> bool:
    """:func:`ensure_topics`, retried with backoff while Kafka is unreachable, so a process can
    start before Kafka does (``on_attempt`` is called before each try). False if ``stop`` was
    set first."""
    delay = 0.5
    while not stop.is_set():
        if on_attempt is not None:
            on_attempt()
        try:
            ensure_topics(settings)
            return True
        except (KafkaError, OSError, ValueError) as exc:
            log.warning(
                "kafka not reachable; topics not checked yet",
                extra={"error": f"{type(exc).__name__}: {exc}"[:300], "retry_in_s": delay},
            )
        stop.wait(delay)
        delay = min(delay * 2, 10.0)
    return False
