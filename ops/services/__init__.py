"""Local PostgreSQL, Redis and Kafka instances that the project starts itself."""

from core.settings import Settings
from ops.services._base import Service, ServiceError, ServiceStatus
from ops.services.kafka import KafkaService
from ops.services.postgres import PostgresService
from ops.services.redis import RedisService


def all_services(settings: Settings) -> list[Service]:
    """The three backing services in start order."""
    return [PostgresService(settings), RedisService(settings), KafkaService(settings)]


__all__ = [
    "KafkaService",
    "PostgresService",
    "RedisService",
    "Service",
    "ServiceError",
    "ServiceStatus",
    "all_services",
]
