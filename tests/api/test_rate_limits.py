"""Rate limits per client IP and per user: 429 with Retry-After."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import TestClient

from api.app import create_app
from core.settings import Settings
from tests.api.hr import Org, problem


def _address() -> dict[str, str]:
    return {"X-Forwarded-For": f"192.0.2.{uuid.uuid4().int % 250}, 10.9.{uuid.uuid4().int % 250}.1"}


def test_more_requests_per_minute_than_the_ip_limit_are_429(services_up: Settings) -> None:
    settings = services_up.model_copy(
        update={"rate_limit_ip_per_min": 5, "trusted_proxies": "testclient"}
    )
    headers = _address()
    with TestClient(app=create_app(settings)) as client:
        statuses = [client.get("/health/live", headers=headers).status_code for _ in range(5)]
        limited = client.get("/health/live", headers=headers)
        other_ip = client.get("/health/live", headers=_address())
    assert statuses == [200] * 5
    problem(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert other_ip.status_code == 200


def test_more_requests_per_minute_than_the_user_limit_are_429(
    services_up: Settings, org_a: Org
) -> None:
    from tests.api.hr import bearer

    settings = services_up.model_copy(update={"rate_limit_user_per_min": 3})
    user = uuid.uuid4()  # a fresh user id: its own counter
    headers = bearer(services_up, org_a.id, user, "hr")  # type: ignore[arg-type]
    with TestClient(app=create_app(settings)) as client:
        statuses = [client.get("/api/v1/auth/me", headers=headers).status_code for _ in range(3)]
        limited = client.get("/api/v1/auth/me", headers=headers)
    assert statuses == [200] * 3
    problem(limited, 429, "rate_limited")
    assert limited.headers["retry-after"].isdigit()


def test_login_attempts_are_limited_per_ip(services_up: Settings, org_a: Org) -> None:
    settings = services_up.model_copy(
        update={"rate_limit_sensitive_per_min": 2, "trusted_proxies": "testclient"}
    )
    headers = _address()
    body: dict[str, Any] = {"email": f"nobody-{uuid.uuid4().hex}@example.com", "password": "x"}
    with TestClient(app=create_app(settings)) as client:
        first = [
            client.post("/api/v1/auth/login", headers=headers, json=body).status_code
            for _ in range(2)
        ]
        limited = client.post("/api/v1/auth/login", headers=headers, json=body)
    assert first == [401, 401]
    problem(limited, 429, "rate_limited")


def test_redis_down_is_503_with_retry_after_and_back_to_normal_once_it_restarts(
    services_up: Settings,
) -> None:
    from ops.sandbox import Sandbox

    with Sandbox(services_up) as sandbox:
        sandbox.up("redis")
        settings = services_up.model_copy(
            update={"redis_url": sandbox.settings.local_redis_url, "trusted_proxies": "testclient"}
        )
        headers = {**_address(), "X-Status-Token": "not-a-token"}
        status_of = f"/api/v1/applications/{uuid.uuid4()}"
        with TestClient(app=create_app(settings)) as client:
            before = client.get(status_of, headers=headers)
            sandbox.kill("redis")
            during = client.get(status_of, headers=headers)
            live = client.get("/health/live", headers=headers)
            sandbox.restart("redis")
            after = client.get(status_of, headers=headers)
    assert before.status_code == 404
    body = problem(during, 503, "service_unavailable")
    assert during.headers["retry-after"].isdigit()
    assert "retry" in body["detail"].lower()
    assert live.status_code == 503  # every route counts against the IP limit
    assert after.status_code == 404


def test_submissions_count_once_each_against_the_ip_limit_accepted_or_refused(
    services_up: Settings, org_a: Org
) -> None:
    # The submission counts its IP in one Redis round trip with its resubmission check; one
    # that fails before (bad input, unknown job) is still counted, exactly once.
    from tests.conftest import create_org_and_job

    settings = services_up.model_copy(
        update={"rate_limit_ip_per_min": 4, "trusted_proxies": "testclient"}
    )
    unknown = f"/api/v1/jobs/{uuid.uuid4()}/applications"
    import psycopg

    with psycopg.connect(services_up.effective_database_url, autocommit=True) as db:
        job = create_org_and_job(db).job_id
    url = f"/api/v1/jobs/{job}/applications"
    from api.ratelimit import window_key

    with TestClient(app=create_app(settings)) as client:
        for _ in range(3):  # a minute boundary inside the sequence restarts the count: again
            headers = _address()
            fields = {
                "candidate_cnic": f"{uuid.uuid4().int % 10**13:013d}",
                "candidate_name": "Rate Limited",
                "candidate_email": "limited@example.com",
                "resume_text": "Python developer, PostgreSQL, five years.",
            }
            window = window_key("ip", "x")[0]
            statuses = [
                client.post(url, headers=headers, json=fields).status_code,  # accepted
                client.post(url, headers=headers, json=fields).status_code,  # a resubmission
                client.post(unknown, headers=headers, json=fields).status_code,
                client.post(
                    url, headers={**headers, "Content-Type": "application/json"}, content=b"{"
                ).status_code,
            ]
            limited = client.post(url, headers=headers, json=fields)
            if window_key("ip", "x")[0] == window:
                break
    assert statuses == [202, 200, 404, 400]
    problem(limited, 429, "rate_limited")
