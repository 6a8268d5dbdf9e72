"""Finding 6 and the seed's browser rules: security headers on every response, API docs from
local assets only (rendered under the CSP in a real Chromium), no server header, CORS from
an allow-list (none by default), and no cookie that could carry a cross-site request."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from api.headers import API_CSP, PAGE_CSP
from core.settings import Settings
from ops.browser import Browser, chromium_path
from ops.web import create_ops_app, issue_ops_token
from tests.api.hr import Org, problem

Served = Callable[..., Any]

_ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _requests(org: Org) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", "/api/v1/jobs", {}),
        ("GET", "/api/v1/applications", {}),  # 401
        ("GET", "/api/v1/applications", {"headers": org.hr}),
        ("POST", "/api/v1/auth/login", {"json": {}}),  # 422
        ("GET", "/api/v1/no-such-route", {}),  # 404
        ("GET", "/health/live", {}),
        ("GET", "/schema", {}),
        ("GET", "/schema/openapi.json", {}),
        ("GET", "/schema/assets/docs.js", {}),
        ("GET", "/ops", {}),
        ("GET", "/ops/static/dashboard.js", {}),
        ("GET", "/metrics", {}),  # 401
    ]


def test_every_response_carries_the_security_headers(client: TestClient[Any], org_a: Org) -> None:
    for method, path, kwargs in _requests(org_a):
        answer = client.request(method, path, **kwargs)
        for name, value in _ALWAYS.items():
            assert answer.headers.get(name) == value, (path, answer.status_code, name)
        page = path.startswith(("/ops", "/schema"))
        assert answer.headers["content-security-policy"] == (PAGE_CSP if page else API_CSP), path
        assert "unsafe-inline" not in answer.headers["content-security-policy"]
        assert "permissions-policy" in answer.headers


def test_api_answers_are_not_cached_unless_they_say_so(client: TestClient[Any], org_a: Org) -> None:
    assert client.get("/api/v1/applications", headers=org_a.hr).headers["cache-control"] == (
        "no-store"
    )
    assert client.get("/api/v1/jobs").headers["cache-control"].startswith("public")


def test_the_api_docs_load_only_assets_the_api_serves(client: TestClient[Any]) -> None:
    page = client.get("/schema")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/schema/assets/") for s in sources), sources
    assert "<script>" not in page.text and "cdn" not in page.text.lower()
    for source in sources:
        assert client.get(source).status_code == 200, source


@pytest.mark.skipif(chromium_path() is None, reason="needs Chromium (tests/ops installs it)")
def test_the_api_docs_and_the_dashboard_work_under_their_csp_in_a_browser(
    served: Served, services_up: Settings
) -> None:
    watch = (
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    with served() as base, Browser() as browser:
        browser.send("Page.enable")
        browser.send("Page.addScriptToEvaluateOnNewDocument", source=watch)
        browser.navigate(f"{base}/schema")
        browser.wait_for("document.querySelectorAll('.opblock').length > 30", 30)
        assert browser.evaluate("window.__csp") == []
        browser.navigate(f"{base}/ops#token={issue_ops_token(services_up)}")
        browser.wait_for("document.body.dataset.loaded === '1'", 30)
        assert browser.evaluate("window.__csp") == []


def test_no_cors_by_default(client: TestClient[Any]) -> None:
    origin = {"Origin": "https://evil.example"}
    preflight = client.options(
        "/api/v1/jobs",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    plain = client.get("/api/v1/jobs", headers=origin)
    for answer in (preflight, plain):
        assert "access-control-allow-origin" not in answer.headers


def test_cors_allows_only_the_listed_origins_without_credentials(services_up: Settings) -> None:
    settings = services_up.model_copy(update={"cors_origins": "https://hr.example.com"})
    with TestClient(app=create_ops_app(settings)) as client:
        allowed = client.options(
            "/api/v1/applications",
            headers={
                "Origin": "https://hr.example.com",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        other = client.get("/api/v1/jobs", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://hr.example.com"
    assert "access-control-allow-credentials" not in allowed.headers
    assert "access-control-allow-origin" not in other.headers


def test_no_cookie_is_set_and_none_authenticates(
    client: TestClient[Any], org_a: Org, services_up: Settings
) -> None:
    from core.domain import Role
    from tests.api.hr import PASSWORD

    login = client.post(
        "/api/v1/auth/login", json={"email": org_a.emails[Role.HR], "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert "set-cookie" not in login.headers
    token = login.json()["access_token"]
    # A browser would attach a cookie to a cross-site request; a bearer header it does not.
    riding = client.get("/api/v1/applications", headers={"Cookie": f"access_token={token}"})
    problem(riding, 401, "missing_token")


def test_no_server_header_from_uvicorn(served: Served) -> None:
    with served() as base:
        answer = httpx.get(f"{base}/api/v1/jobs")
    assert "server" not in answer.headers
