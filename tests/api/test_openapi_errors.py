"""The OpenAPI document states the problem+json errors of every ``/api/`` operation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from api.errors import PROBLEM_JSON
from api.policy import PUBLIC, allowed
from core.settings import Settings
from ops.web import create_ops_app
from tests.api.hr import Org, problem

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def app() -> Litestar:
    return create_ops_app(Settings())


@pytest.fixture(scope="module")
def operations(app: Litestar) -> list[Operation]:
    paths: dict[str, dict[str, Any]] = app.openapi_schema.to_schema()["paths"]
    found = [
        (method.upper(), path, operation)
        for path, item in paths.items()
        if path.startswith("/api/")
        for method, operation in item.items()
    ]
    assert len(found) > 30
    return found


def _problem_statuses(operation: dict[str, Any]) -> set[int]:
    return {
        int(status)
        for status, response in operation["responses"].items()
        if status.startswith("4")
        and response.get("content", {}).get(PROBLEM_JSON, {}).get("schema")
        == {"$ref": "#/components/schemas/Problem"}
    }


def _guarded(app: Litestar) -> Iterator[tuple[str, str]]:
    """Method and schema path of every documented handler that needs a role (api.policy)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in route.route_handlers:
            if handler.include_in_schema:
                yield from (
                    (method, path)
                    for method in handler.http_methods
                    if allowed(method, path) not in (None, PUBLIC)
                )


def test_every_operation_documents_a_problem_response(operations: list[Operation]) -> None:
    missing = [f"{m} {p}" for m, p, op in operations if not _problem_statuses(op)]
    assert not missing


def test_guarded_operations_document_401_and_403(
    app: Litestar, operations: list[Operation]
) -> None:
    by_key = {(m, p): op for m, p, op in operations}
    guarded = [key for key in _guarded(app) if key[1].startswith("/api/")]
    assert len(guarded) > 25
    for method, path in guarded:
        operation = by_key[(method, path)]
        assert operation.get("security"), f"{method} {path}: no security requirement"
        assert {401, 403} <= _problem_statuses(operation), f"{method} {path}"


def test_public_operations_are_rate_limited_not_authenticated(
    operations: list[Operation],
) -> None:
    public = [(m, p, op) for m, p, op in operations if not op.get("security")]
    assert {("POST", "/api/v1/auth/login"), ("GET", "/api/v1/jobs")} <= {
        (m, p) for m, p, _ in public
    }
    for method, path, operation in public:
        statuses = _problem_statuses(operation)
        assert 429 in statuses, f"{method} {path}"
        assert 403 not in statuses, f"{method} {path}"


def test_a_nul_character_is_a_documented_400_not_a_500(
    client: TestClient[Any], org_a: Org, operations: list[Operation]
) -> None:
    answer = client.post("/api/v1/jobs", headers=org_a.hr, json={"title": "QA\x00"})
    problem(answer, 400, "invalid_value")
    create_job = next(op for m, p, op in operations if (m, p) == ("POST", "/api/v1/jobs"))
    assert 400 in _problem_statuses(create_job)
