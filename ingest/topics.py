"""Creates PVARA's Kafka topics at start-up, idempotently."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from core.events import ALL_TOPICS, APPLICATIONS_SUBMITTED
from core.settings import Settings

log = logging.getLogger(__name__)


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
        bootstrap_servers=settings.effective_kafka_bootstrap, client_id="pvara-admin"
    )
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name, partitions, settings.topic_replication)
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
