"""An in-process API (Litestar's test client) on the real PostgreSQL, Redis and Kafka."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from core.settings import Settings


@pytest.fixture(scope="module")
def client(services_up: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(services_up)) as test_client:
        yield test_client
