"""Session fixtures: the real PostgreSQL, Redis and Kafka, started once and migrated.

``make test`` has already brought the services up; running pytest alone does the same here.
Tests share one database, so each creates its own organization and job (unique ids) and never
truncates tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import redis
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

# Test-only settings, fixed before anything reads the settings: webhooks to our local receivers.
os.environ.setdefault("PVARA_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
# Every test client submits from one address; tests/security sets the limit where it is tested.
os.environ.setdefault("PVARA_RATE_LIMIT_SUBMIT_PER_MIN", "0")

from core.db import create_pool
from core.settings import Settings, get_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def services_up(settings: Settings) -> Settings:
    from core.migrate import migrate
    from ingest.topics import ensure_topics
    from ops.services import all_services

    for service in all_services(settings):
        service.up()
    migrate(settings)
    ensure_topics(settings)
    return settings


@pytest.fixture(scope="session")
def pool(services_up: Settings) -> Iterator[ConnectionPool]:
    pool = create_pool(services_up, name="tests", max_size=8)
    yield pool
    pool.close()


@pytest.fixture
def db(services_up: Settings) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """An autocommit connection for arranging and checking rows."""
    with psycopg.connect(
        services_up.effective_database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        yield conn


@pytest.fixture(scope="session")
def redis_client(services_up: Settings) -> redis.Redis:
    return redis.Redis.from_url(services_up.effective_redis_url)


@dataclass(frozen=True)
class OrgJob:
    organization_id: uuid.UUID
    job_id: uuid.UUID


def create_org_and_job(
    conn: psycopg.Connection[Any],
    *,
    status: str = "open",
    tier: str = "standard",
    webhook_url: str | None = None,
    criteria: dict[str, Any] | None = None,
) -> OrgJob:
    """A fresh organization with one job (and, if given, version 1 of its criteria)."""
    from psycopg.types.json import Jsonb

    org_id, job_id = uuid.uuid4(), uuid.uuid4()
    conn.execute(
        "INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)",
        (org_id, f"Org {org_id.hex[:6]}", f"org-{org_id.hex}"),
    )
    conn.execute(
        "INSERT INTO jobs (id, organization_id, title, status, tier, webhook_url)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (job_id, org_id, "Backend Engineer", status, tier, webhook_url),
    )
    if criteria is not None:
        conn.execute(
            "INSERT INTO screening_criteria (organization_id, job_id, version, criteria)"
            " VALUES (%s, %s, 1, %s)",
            (org_id, job_id, Jsonb(criteria)),
        )
    return OrgJob(org_id, job_id)


@pytest.fixture
def org_job(db: psycopg.Connection[Any]) -> OrgJob:
    from screening.criteria import EXAMPLE_CRITERIA

    return create_org_and_job(db, criteria=EXAMPLE_CRITERIA)
