"""An in-process API (Litestar's test client) on the real PostgreSQL, Redis and Kafka."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import create_app
from core.settings import Settings
from tests.api.hr import Org


@pytest.fixture(scope="module")
def client(services_up: Settings) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(services_up)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def org_a(services_up: Settings) -> Org:
    """An organization with one user of every role (module-wide)."""
    import psycopg
    from psycopg.rows import dict_row

    from tests.api.hr import create_org

    with psycopg.connect(
        services_up.effective_database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        return create_org(services_up, conn)


@pytest.fixture(scope="module")
def org_b(services_up: Settings) -> Org:
    """Another organization: it must never see nor change anything of ``org_a``."""
    import psycopg
    from psycopg.rows import dict_row

    from tests.api.hr import create_org

    with psycopg.connect(
        services_up.effective_database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        return create_org(services_up, conn)
