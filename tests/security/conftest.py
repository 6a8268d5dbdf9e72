"""Fixtures of the security suite: the API as ``pvara api`` serves it (ops routes included),
two organizations with a user of every role, a platform operator, and a real uvicorn server
launched with the same options as ``pvara api``."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import uvicorn
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.rows import dict_row

from api.auth.service import create_organization_with_admin
from core.domain import Role
from core.settings import Settings
from ops.processes import free_port
from ops.web import create_ops_app, uvicorn_options
from tests.api.hr import PASSWORD, Org, bearer, create_org


@dataclass(frozen=True)
class Operator:
    organization_id: uuid.UUID
    user_id: uuid.UUID
    email: str

    def headers(self, settings: Settings) -> dict[str, str]:
        return bearer(settings, self.organization_id, self.user_id, Role.OPERATOR)


def connect(settings: Settings) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(settings.effective_database_url, autocommit=True, row_factory=dict_row)


@pytest.fixture(scope="module")
def client(services_up: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_ops_app(services_up)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def org_a(services_up: Settings) -> Org:
    with connect(services_up) as conn:
        return create_org(services_up, conn)


@pytest.fixture(scope="module")
def org_b(services_up: Settings) -> Org:
    with connect(services_up) as conn:
        return create_org(services_up, conn)


@pytest.fixture(scope="module")
def operator(services_up: Settings) -> Operator:
    """A platform operator, made the only way there is (``pvara users create --operator``)."""
    email = f"operator-{uuid.uuid4().hex[:8]}@platform.example.com"
    org_id, user_id = create_organization_with_admin(
        services_up,
        name="Platform",
        slug="platform",
        email=email,
        password=PASSWORD,
        role=Role.OPERATOR,
    )
    return Operator(org_id, user_id, email)


@contextmanager
def serve(app: Litestar, settings: Settings) -> Iterator[str]:
    """``app`` on a real socket under uvicorn, with the options ``pvara api`` uses."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped while starting"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def served(services_up: Settings) -> Callable[..., Any]:
    """``served(**setting_overrides)`` → a context manager yielding the base URL."""

    def start(**overrides: Any) -> Any:
        settings = services_up.model_copy(update=overrides)
        return serve(create_ops_app(settings), settings)

    return start
