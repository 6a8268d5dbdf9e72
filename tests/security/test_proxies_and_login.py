"""Finding 3: X-Forwarded-For is believed only from PVARA_TRUSTED_PROXIES (a real uvicorn, run
with ``pvara api``'s options), and logins are throttled per account whatever the address."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from api.auth.service import create_organization_with_admin
from core.domain import Role
from core.settings import Settings
from tests.api.hr import PASSWORD, Org, problem

Served = Callable[..., Any]


def _audited_ip(db: psycopg.Connection[Any], request_id: str) -> str:
    row = db.execute(
        "SELECT host(ip_address) AS ip FROM audit_logs WHERE request_id = %s", (request_id,)
    ).fetchone()
    assert row is not None, "no audit row"
    return str(row["ip"])


def _create_job(base: str, org: Org, forwarded: str) -> str:
    request_id = uuid.uuid4().hex
    answer = httpx.post(
        f"{base}/api/v1/jobs",
        headers={**org.admin, "X-Forwarded-For": forwarded, "X-Request-ID": request_id},
        json={"title": "Audited"},
    )
    assert answer.status_code == 201, answer.text
    return request_id


def _user(settings: Settings) -> str:
    email = f"throttled-{uuid.uuid4().hex[:8]}@example.com"
    create_organization_with_admin(
        settings,
        name="t",
        slug=f"t-{uuid.uuid4().hex[:10]}",
        email=email,
        password=PASSWORD,
        role=Role.HR,
    )
    return email


def test_forwarded_headers_are_ignored_when_no_proxy_is_trusted(
    served: Served, org_a: Org, db: psycopg.Connection[Any]
) -> None:
    with served(trusted_proxies="", rate_limit_sensitive_per_min=2) as base:
        body = {"email": f"nobody-{uuid.uuid4().hex}@example.com", "password": "x"}
        answers = [
            httpx.post(
                f"{base}/api/v1/auth/login",
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
                json=body,
            )
            for n in range(3)
        ]
        request_id = _create_job(base, org_a, "203.0.113.66")
        plain = httpx.get(f"{base}/health/live")
    assert [a.status_code for a in answers[:2]] == [401, 401]
    problem(answers[2], 429, "rate_limited")  # the header did not make it a new address
    assert _audited_ip(db, request_id) == "127.0.0.1"
    assert "server" not in plain.headers


def test_a_trusted_proxy_names_the_client_and_nothing_left_of_it_counts(
    served: Served, org_a: Org, db: psycopg.Connection[Any]
) -> None:
    with served(trusted_proxies="127.0.0.0/8, 10.1.0.0/16") as base:
        # client-claimed hop, the real client, then an inner trusted proxy
        request_id = _create_job(base, org_a, "6.6.6.6, 198.51.100.23, 10.1.2.3")
    assert _audited_ip(db, request_id) == "198.51.100.23"


def test_failed_logins_throttle_the_account_from_any_address(
    served: Served, services_up: Settings
) -> None:
    email = _user(services_up)
    with served(
        trusted_proxies="127.0.0.1",
        rate_limit_sensitive_per_min=0,
        login_free_failures=3,
        login_backoff_s=60.0,
    ) as base:

        def login(password: str, n: int) -> httpx.Response:
            return httpx.post(
                f"{base}/api/v1/auth/login",
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
                json={"email": email, "password": password},
            )

        failures = [login("wrong password", n).status_code for n in range(3)]
        throttled = login(PASSWORD, 50)  # the right password, from a new address: still waits
    assert failures == [401, 401, 401]
    problem(throttled, 429, "login_throttled")
    assert 1 <= int(throttled.headers["retry-after"]) <= 60


def test_an_unknown_address_is_throttled_exactly_like_an_account(served: Served) -> None:
    with served(
        rate_limit_sensitive_per_min=0, login_free_failures=2, login_backoff_s=60.0
    ) as base:
        body = {"email": f"ghost-{uuid.uuid4().hex}@example.com", "password": "nope"}
        statuses = [
            httpx.post(f"{base}/api/v1/auth/login", json=body).status_code for _ in range(3)
        ]
    assert statuses == [401, 401, 429]


def test_a_success_once_the_wait_is_over_clears_the_account(
    served: Served, services_up: Settings
) -> None:
    email = _user(services_up)
    with served(rate_limit_sensitive_per_min=0, login_free_failures=1, login_backoff_s=0.5) as base:

        def login(password: str) -> httpx.Response:
            return httpx.post(
                f"{base}/api/v1/auth/login", json={"email": email, "password": password}
            )

        assert login("wrong").status_code == 401
        problem(login(PASSWORD), 429, "login_throttled")
        deadline = time.monotonic() + 15
        while (answer := login(PASSWORD)).status_code == 429:
            assert time.monotonic() < deadline, "the wait never ended"
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text
        assert login("wrong").status_code == 401  # counting starts over after a success


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_hsts_only_when_the_request_came_over_tls(served: Served, trusted: str) -> None:
    with served(trusted_proxies=trusted) as base:
        plain = httpx.get(f"{base}/health/live")
        claimed = httpx.get(f"{base}/health/live", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in plain.headers
    assert ("strict-transport-security" in claimed.headers) == bool(trusted)


def test_each_further_failure_doubles_the_wait_up_to_the_cap(services_up: Settings) -> None:
    from api.auth.throttle import LoginThrottle
    from core.pii_crypto import default_cipher

    settings = services_up.model_copy(
        update={"login_free_failures": 5, "login_backoff_s": 30.0, "login_backoff_max_s": 900.0}
    )
    throttle = LoginThrottle(None, settings, default_cipher(), "x@example.com")  # type: ignore[arg-type]
    waits = [throttle.backoff_s(n) for n in range(4, 12)]
    assert waits == [0.0, 30.0, 60.0, 120.0, 240.0, 480.0, 900.0, 900.0]
