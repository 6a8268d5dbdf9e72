"""The running pipeline (bridge, relay, worker) and an API client for the task tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from litestar.testing import TestClient

from api.app import create_app
from core.settings import Settings
from tests.pipeline import running_bridge, running_worker


@pytest.fixture(scope="session")
def broker(services_up: Settings) -> dramatiq.Broker:
    from tasks.workers import broker

    return broker


@pytest.fixture(scope="module")
def pipeline(services_up: Settings, broker: dramatiq.Broker) -> Iterator[TestClient[Any]]:
    """API client + bridge + outbox relay + worker, running for the module."""
    with (
        running_bridge(services_up, broker),
        running_worker(broker),
        TestClient(app=create_app(services_up)) as client,
    ):
        yield client
