"""Finding 5: no input makes a 5xx. Deep nesting and huge numbers are 400 before any parser
recurses or converts; the fuzz run (test_fuzz.py) covers the rest of the document."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.api.hr import Org, problem

DEEP = "[" * 1000 + "]" * 1000


def _routes(org: Org) -> list[tuple[str, str, dict[str, str]]]:
    return [
        ("POST", f"/api/v1/jobs/{org.job_id}/applications", {}),
        ("POST", "/api/v1/auth/login", {}),
        ("PUT", f"/api/v1/jobs/{org.job_id}/criteria", org.hr),
        ("PUT", "/api/v1/ops/pools", {}),
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"candidate_cnic": ' + DEEP + "}", "json_too_deep"),
        ("[" * 5000, "json_too_deep"),  # never closed: the parser would recurse all the same
        ('{"candidate_cnic": ' + "9" * 5000 + "}", "number_too_large"),
        ('{"criteria": {"filtering": {"min_score_threshold": 1e999}}}', "number_too_large"),
    ],
    ids=["nested-1000", "open-5000", "int-5000-digits", "float-overflow"],
)
def test_deep_or_huge_json_is_400_on_every_body_route(
    client: TestClient[Any], org_a: Org, body: str, code: str
) -> None:
    for method, url, headers in _routes(org_a):
        answer = client.request(
            method, url, content=body, headers={"content-type": "application/json", **headers}
        )
        problem(answer, 400, code)


def test_ordinary_nesting_and_numbers_still_pass(client: TestClient[Any], org_a: Org) -> None:
    criteria = {
        "criteria": {
            "screening_criteria": {
                "must_have_skills": [{"name": f"Skill{n}", "years": 2} for n in range(40)]
            },
            "filtering": {"min_score_threshold": 61.5, "top_n_candidates": 12},
        }
    }
    answer = client.put(f"/api/v1/jobs/{org_a.job_id}/criteria", headers=org_a.hr, json=criteria)
    assert answer.status_code == 200, answer.text


def test_malformed_json_and_bad_form_text_are_400(client: TestClient[Any], org_a: Org) -> None:
    login = client.post(
        "/api/v1/auth/login", content='{"email": ', headers={"content-type": "application/json"}
    )
    problem(login, 400, "malformed_json")
    boundary = "b0undary"
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="candidate_name"\r\n\r\n'.encode()
        + b"\xff\xfe not utf-8"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    answer = client.post(
        f"/api/v1/jobs/{org_a.job_id}/applications",
        content=form,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    problem(answer, 400, "malformed_form")
