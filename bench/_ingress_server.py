"""One ingress under test: the real app with Kafka acks, or the same app without Kafka.

Run by bench/ingress.py as ``python bench/_ingress_server.py kafka|null PORT``.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import uvicorn

from api.app import create_app
from core.settings import get_settings
from ingest.producer import Producer
from ops.web import uvicorn_options

BENCH_TOPIC_PREFIX = "bench."


class BenchTopicProducer(Producer):
    """The real producer (acks=all, idempotent), writing to ``bench.<topic>`` so benchmark
    records never reach the bridge's topic."""

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        return await super().send(BENCH_TOPIC_PREFIX + topic, value, key)


class NullProducer(Producer):
    """Answers at once: the framework's ceiling with the same validation and lookups."""

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        return SimpleNamespace(topic=topic, partition=0, offset=0)


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    settings = get_settings()
    producer = (
        BenchTopicProducer(settings, client_id="bench")
        if mode == "kafka"
        else (NullProducer(settings))
    )
    uvicorn.run(
        create_app(settings, producer=producer),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **uvicorn_options(settings),
    )


if __name__ == "__main__":
    main()
