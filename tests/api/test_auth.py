"""Login, token expiry, pinned algorithms, refresh rotation with reuse detection, logout."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import psycopg
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.security import KeyRing
from core.domain import Role
from core.settings import Settings
from tests.api.hr import PASSWORD, Org, problem


@pytest.fixture(scope="module")
def proxied(services_up: Settings) -> Iterator[TestClient[Any]]:
    """A client behind a trusted proxy, so each test can log in from its own address."""
    settings = services_up.model_copy(update={"trusted_proxies": "testclient"})
    with TestClient(app=create_app(settings)) as client:
        yield client


def _ip() -> dict[str, str]:
    return {"X-Forwarded-For": f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"}


def _login(client: TestClient[Any], org: Org, role: Role = Role.HR) -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/login", headers=_ip(), json={"email": org.emails[role], "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _auth(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_login_returns_an_eddsa_access_token_with_kid_and_a_refresh_token(
    proxied: TestClient[Any], org_a: Org
) -> None:
    tokens = _login(proxied, org_a)
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"]
    assert tokens["expires_in"] == 900
    assert tokens["refresh_expires_in"] == 7 * 24 * 3600
    me = proxied.get("/api/v1/auth/me", headers=_auth(tokens)).json()
    assert me == {
        "user_id": str(org_a.users[Role.HR]),
        "organization_id": str(org_a.id),
        "role": "hr",
    }


def test_wrong_password_and_unknown_user_are_the_same_401(
    proxied: TestClient[Any], org_a: Org
) -> None:
    wrong = proxied.post(
        "/api/v1/auth/login",
        headers=_ip(),
        json={"email": org_a.emails[Role.HR], "password": "nope"},
    )
    unknown = proxied.post(
        "/api/v1/auth/login",
        headers=_ip(),
        json={"email": f"nobody-{uuid.uuid4().hex}@example.com", "password": "nope"},
    )
    assert problem(wrong, 401, "invalid_credentials") | {"instance": 0} == (
        problem(unknown, 401, "invalid_credentials") | {"instance": 0}
    )


def test_refresh_tokens_are_stored_hashed(
    proxied: TestClient[Any], org_a: Org, db: psycopg.Connection[Any]
) -> None:
    tokens = _login(proxied, org_a)
    found = db.execute(
        "SELECT count(*) AS n FROM refresh_tokens WHERE token_hash = %s",
        (tokens["refresh_token"],),
    ).fetchone()
    assert found is not None and found["n"] == 0


def test_an_expired_access_token_is_401_token_expired(
    client: TestClient[Any], org_a: Org, services_up: Settings
) -> None:
    expired = KeyRing.from_settings(services_up.model_copy(update={"access_token_ttl_s": -60}))
    token, _ = expired.issue(
        user_id=org_a.users[Role.HR], organization_id=org_a.id, role="hr", family_id=uuid.uuid4()
    )
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    problem(response, 401, "token_expired")


def test_tokens_with_another_algorithm_or_key_are_refused(
    client: TestClient[Any], org_a: Org, services_up: Settings
) -> None:
    keys = KeyRing.from_settings(services_up)
    claims = {
        "sub": str(org_a.users[Role.ADMIN]),
        "org": str(org_a.id),
        "role": "admin",
        "jti": "x",
        "fam": str(uuid.uuid4()),
        "iat": 0,
        "exp": 2**31,
        "iss": "pvara",
        "aud": "pvara-api",
    }
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": keys.kid})
    hmac_with_public = jwt.encode(
        claims,
        "a-guessable-secret-that-is-long-enough!",
        algorithm="HS256",
        headers={"kid": keys.kid},
    )
    for token in (unsigned, hmac_with_public, "not-a-jwt"):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        problem(response, 401, "invalid_token")


def test_missing_token_is_401(client: TestClient[Any]) -> None:
    problem(client.get("/api/v1/applications"), 401, "missing_token")


def test_refresh_rotates_the_token(proxied: TestClient[Any], org_a: Org) -> None:
    first = _login(proxied, org_a)
    second = proxied.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = proxied.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


def test_reusing_a_spent_refresh_token_revokes_its_whole_family(
    proxied: TestClient[Any], org_a: Org
) -> None:
    first = _login(proxied, org_a)
    second = proxied.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json()
    reuse = proxied.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    problem(reuse, 401, "refresh_token_reused")
    # The legitimate successor is dead too, and so are the family's access tokens.
    after = proxied.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    problem(after, 401, "invalid_refresh_token")
    problem(proxied.get("/api/v1/auth/me", headers=_auth(second)), 401, "token_revoked")
    # Another session of the same user is unaffected.
    other = _login(proxied, org_a)
    assert proxied.get("/api/v1/auth/me", headers=_auth(other)).status_code == 200


def test_logout_revokes_the_access_and_refresh_tokens(proxied: TestClient[Any], org_a: Org) -> None:
    tokens = _login(proxied, org_a)
    assert proxied.post("/api/v1/auth/logout", headers=_auth(tokens)).status_code == 204
    problem(proxied.get("/api/v1/auth/me", headers=_auth(tokens)), 401, "token_revoked")
    refresh = proxied.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    problem(refresh, 401, "invalid_refresh_token")


def test_a_disabled_user_cannot_log_in(
    proxied: TestClient[Any], services_up: Settings, db: psycopg.Connection[Any]
) -> None:
    from tests.api.hr import create_org

    org = create_org(services_up, db, roles=[Role.HR])
    db.execute("UPDATE users SET is_active = false WHERE id = %s", (org.users[Role.HR],))
    response = proxied.post(
        "/api/v1/auth/login",
        headers=_ip(),
        json={"email": org.emails[Role.HR], "password": PASSWORD},
    )
    problem(response, 401, "invalid_credentials")


def test_admin_creates_users_in_its_own_organization(client: TestClient[Any], org_a: Org) -> None:
    email = f"new.{uuid.uuid4().hex[:8]}@example.com"
    created = client.post(
        "/api/v1/users",
        headers=org_a.admin,
        json={"email": email, "password": PASSWORD, "role": "interviewer"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["organization_id"] == str(org_a.id)
    again = client.post(
        "/api/v1/users",
        headers=org_a.admin,
        json={"email": email, "password": PASSWORD, "role": "hr"},
    )
    problem(again, 409, "email_taken")
    listed = client.get("/api/v1/users", headers=org_a.admin).json()
    assert email in {u["email"] for u in listed}
    assert {u["organization_id"] for u in listed} == {str(org_a.id)}
