"""Schemathesis over the whole OpenAPI schema, with valid tokens: no 5xx, and every response
matches what the schema says (bounded: a few examples per operation)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from psycopg.rows import dict_row
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from api.app import create_app
from core.domain import Role
from core.settings import Settings
from ops.processes import free_port
from tests.api.hr import Org, bearer, create_org


@pytest.fixture(scope="module")
def server(services_up: Settings) -> Iterator[str]:
    """The API on a real socket (uvicorn in a thread), rate limits off for the fuzzing."""
    port = free_port()
    app_settings = services_up.model_copy(
        update={
            "rate_limit_ip_per_min": 0,
            "rate_limit_sensitive_per_min": 0,
            "rate_limit_user_per_min": 0,
            "api_port": port,
        }
    )
    config = uvicorn.Config(
        create_app(app_settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def fuzz_org(services_up: Settings) -> Org:
    with psycopg.connect(
        services_up.effective_database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        return create_org(services_up, conn, roles=[Role.ADMIN])


CHECKS_OFF = [
    # Request schemas are looser than the validators: extra="forbid" bodies, e-mail and CNIC
    # formats, ends_at > starts_at and bounds on optional query floats are not in the schema.
    positive_data_acceptance,
    # Only judges negative cases, and this test generates positive ones only.
    negative_data_rejection,
]


def test_no_server_errors_and_responses_match_the_schema(
    server: str, fuzz_org: Org, services_up: Settings
) -> None:
    schema = schemathesis.openapi.from_url(f"{server}/schema/openapi.json").include(
        path_regex="^/api/"
    )
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: Any) -> None:
            headers = bearer(services_up, fuzz_org.id, fuzz_org.users[Role.ADMIN], Role.ADMIN)
            case.call_and_validate(base_url=server, headers=headers, excluded_checks=CHECKS_OFF)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect, then report all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations > 30
    assert not failures, "\n\n".join(failures)
