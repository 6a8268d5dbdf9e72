"""Each role's allowed and refused routes (403 ``role_not_allowed``, decided before any data)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from core.domain import Role
from tests.api.hr import Org

A, H, IV, OP, F = Role.ADMIN, Role.HR, Role.INTERVIEWER, Role.OPS, Role.FINANCE

#: (method, path, roles allowed). Ids are unknown ones: allowed roles get 404/200, never 403.
MATRIX: list[tuple[str, str, set[Role]]] = [
    ("GET", "/api/v1/users", {A}),
    ("GET", "/api/v1/audit", {A}),
    ("POST", "/api/v1/candidates/erasure", {A}),
    ("GET", "/api/v1/applications", {A, H}),
    ("GET", "/api/v1/applications/{id}/details", {A, H}),
    ("PUT", "/api/v1/applications/{id}/status", {A, H}),
    ("POST", "/api/v1/jobs", {A, H}),
    ("PATCH", "/api/v1/jobs/{id}", {A, H}),
    ("PUT", "/api/v1/jobs/{id}/criteria", {A, H}),
    ("GET", "/api/v1/jobs/{id}", {A, H, OP}),
    ("GET", "/api/v1/jobs/{id}/shortlist", {A, H, OP}),
    ("POST", "/api/v1/jobs/{id}/shortlist/rebuild", {A, H, OP}),
    ("GET", "/api/v1/tasks/" + "0" * 32, {A, H, OP}),
    ("POST", "/api/v1/interviews", {A, H}),
    ("GET", "/api/v1/interviews", {A, H, IV}),
    ("POST", "/api/v1/interviews/{id}/feedback", {A, H, IV}),
    ("POST", "/api/v1/interviews/{id}/cancel", {A, H}),
    ("POST", "/api/v1/offers", {A, H}),
    ("GET", "/api/v1/offers", {A, H, F}),
    ("POST", "/api/v1/offers/{id}/accept", {A, H}),
    ("GET", "/api/v1/auth/me", {A, H, IV, OP, F}),
]


@pytest.mark.parametrize(
    ("method", "path", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_each_role_is_allowed_or_refused(
    client: TestClient[Any], org_a: Org, method: str, path: str, allowed: set[Role]
) -> None:
    url = path.replace("{id}", str(uuid.uuid4()))
    for role in Role:
        response = client.request(method, url, headers=org_a.headers[role], json={})
        if role in allowed:
            assert response.status_code != 403, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["code"] == "role_not_allowed"
