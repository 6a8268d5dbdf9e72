"""Finding 4 and the role × route matrix: every operation of the OpenAPI document, called with
every role, with no token and with a bad token, answers as :data:`api.policy.POLICY` says.

The expected answers come from the one policy table; the operations come from the document
the app publishes, so a route nobody decided about fails here (and the app refuses to start).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from api.policy import POLICY, PUBLIC, allowed
from core.domain import ORGANIZATION_ROLES, Role
from core.settings import Settings, get_settings
from ops.roles_table import BEGIN, DOC, END, render
from ops.web import create_ops_app
from tests.api.hr import Org, bearer
from tests.security.conftest import Operator


def _operations() -> list[tuple[str, str]]:
    schema = create_ops_app(get_settings()).openapi_schema.to_schema()
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        if path.startswith("/api/")
        for method in item
    )


OPERATIONS = _operations()
_VALUES = {"queue": "parse", "task_id": "0" * 32}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _VALUES.get(m[1], str(uuid.uuid4())), path)


def _headers(settings: Settings, role: Role, org: Org, operator: Operator) -> dict[str, str]:
    """A fresh token each call: logout revokes the one it is given."""
    if role == Role.OPERATOR:
        return bearer(settings, operator.organization_id, operator.user_id, role)
    return bearer(settings, org.id, org.users[role], role)


def test_the_policy_decides_every_operation_of_the_openapi_document() -> None:
    assert len(OPERATIONS) > 40
    assert {f"{m} {p}" for m, p in OPERATIONS} == set(POLICY)


def test_the_role_table_in_docs_security_is_generated_from_the_document() -> None:
    text = DOC.read_text()
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table.strip() == render().strip(), "run: .venv/bin/python -m ops.roles_table"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_each_role_no_token_and_a_bad_token_get_what_the_policy_says(
    client: TestClient[Any],
    org_a: Org,
    operator: Operator,
    services_up: Settings,
    method: str,
    path: str,
) -> None:
    rule = allowed(method, path)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    for role in (*ORGANIZATION_ROLES, Role.OPERATOR):
        answer = client.request(
            method,
            _url(path),
            headers=_headers(services_up, role, org_a, operator),
            json=body,
        )
        if rule == PUBLIC or (isinstance(rule, frozenset) and role in rule):
            assert answer.status_code not in (401, 403), (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert answer.json()["code"] == "role_not_allowed"
    anonymous = client.request(method, _url(path), json=body)
    forged = client.request(
        method, _url(path), json=body, headers={"Authorization": "Bearer eyJhbGciOi.bad.token"}
    )
    if rule == PUBLIC:
        assert anonymous.status_code not in (401, 403), anonymous.text
        assert forged.status_code not in (401, 403), forged.text
    else:
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "missing_token")
        assert (forged.status_code, forged.json()["code"]) == (401, "invalid_token")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/jobs/{job_id}/shortlist"),
        ("GET", "/api/v1/jobs/{job_id}/criteria"),
        ("POST", "/api/v1/jobs/{job_id}/shortlist/rebuild"),
        ("GET", "/api/v1/jobs/{job_id}"),
        ("GET", "/api/v1/tasks/{task_id}"),
    ],
)
def test_the_ops_role_reads_no_candidate_data_nor_criteria_and_starts_no_rebuild(
    client: TestClient[Any], org_a: Org, services_up: Settings, method: str, path: str
) -> None:
    url = path.replace("{job_id}", str(org_a.job_id)).replace("{task_id}", "0" * 32)
    answer = client.request(
        method, url, headers=bearer(services_up, org_a.id, org_a.users[Role.OPS], Role.OPS)
    )
    assert answer.status_code == 403
    hr = client.request(method, url, headers=org_a.hr)
    assert hr.status_code != 403
