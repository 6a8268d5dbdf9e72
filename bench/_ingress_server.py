"""One ingress under test, in its own process(es):

- ``kafka``: the real app, its producer writing to ``bench.<topic>`` with acks=all;
- ``null``: the same app with a producer that answers at once (everything but Kafka);
- ``bare``: a bare Litestar app answering 202 to the same POST (the framework's ceiling).

Run by bench/ingress.py as ``python bench/_ingress_server.py MODE PORT [WORKERS]``; with
WORKERS > 1 uvicorn starts that many processes on the port, each building its app here.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
from litestar import Litestar, Request, get, post

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import create_app
from core.settings import get_settings
from ingest.producer import Producer
from ops.web import uvicorn_options

BENCH_TOPIC_PREFIX = "bench."
_MODE = "PVARA_BENCH_INGRESS_MODE"


class BenchTopicProducer(Producer):
    """The real producer (acks=all, idempotent), writing to ``bench.<topic>`` so benchmark
    records never reach the bridge's topic."""

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        return await super().send(BENCH_TOPIC_PREFIX + topic, value, key)


class NullProducer(Producer):
    """Answers at once: the framework's ceiling with the same validation and lookups."""

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        return SimpleNamespace(topic=topic, partition=0, offset=0)


def bare_app() -> Litestar:
    """The same route answering 202 with nothing behind it: no validation, no lookups."""

    @post("/api/v1/jobs/{job_id:uuid}/applications", status_code=202)
    async def submit(request: Request[Any, Any, Any], job_id: uuid.UUID) -> dict[str, str]:
        await request.body()
        return {"application_id": str(uuid.uuid4()), "status": "submitted"}

    @get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([submit, live])


def app() -> Litestar:
    """The app of one worker process (uvicorn's factory)."""
    mode = os.environ[_MODE]
    if mode == "bare":
        return bare_app()
    settings = get_settings()
    producer = (
        BenchTopicProducer(settings, client_id="bench")
        if mode == "kafka"
        else NullProducer(settings)
    )
    return create_app(settings, producer=producer)


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.environ[_MODE] = mode
    uvicorn.run(
        "bench._ingress_server:app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        **uvicorn_options(get_settings()),
    )


if __name__ == "__main__":
    main()
