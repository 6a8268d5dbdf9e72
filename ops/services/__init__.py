"""Local PostgreSQL, Redis and Kafka instances that the project starts itself, and an
optional Ollama server (``PVARA_OLLAMA=local`` or ``--with ollama``)."""

from collections.abc import Collection

from core.settings import Settings
from ops.services._base import Service, ServiceError, ServiceStatus
from ops.services.kafka import KafkaService
from ops.services.ollama import OllamaService
from ops.services.postgres import PostgresService
from ops.services.redis import RedisService

OPTIONAL = ("ollama",)
"""Services started only when asked for (``pvara services up --with NAME``)."""


def all_services(settings: Settings, *, with_: Collection[str] = ()) -> list[Service]:
    """The backing services in start order.

    Ollama is among them when asked for (``with_``), switched on (``PVARA_OLLAMA=local``),
    pointed at an existing server (``PVARA_OLLAMA_HOST``), or still running from an earlier
    ``--with ollama`` (so that ``down`` and ``status`` see it).
    """
    services: list[Service] = [
        PostgresService(settings),
        RedisService(settings),
        KafkaService(settings),
    ]
    ollama = OllamaService(settings)
    if "ollama" in with_ or settings.ollama == "local" or ollama.external or ollama.pid():
        services.append(ollama)
    return services


__all__ = [
    "OPTIONAL",
    "KafkaService",
    "OllamaService",
    "PostgresService",
    "RedisService",
    "Service",
    "ServiceError",
    "ServiceStatus",
    "all_services",
]
