"""Fixtures of the screening tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.fakes.llm_server import fake_llm, llm_server
from tests.screening.routing import Clock

__all__ = ["clock", "fake_llm", "llm_server", "namespace"]


def pytest_configure(config: pytest.Config) -> None:
    # Known even under ``-p no:warnings`` (which unregisters it), for ``--strict-markers``.
    config.addinivalue_line("markers", "filterwarnings(warning): filter warnings of a test")


@pytest.fixture
def namespace(redis_client: redis.Redis) -> Iterator[str]:
    """A Redis key prefix of this test alone (its keys are deleted afterwards)."""
    prefix = f"test:llm:{uuid.uuid4().hex}"
    yield prefix
    keys = list(redis_client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def clock() -> Clock:
    return Clock()
