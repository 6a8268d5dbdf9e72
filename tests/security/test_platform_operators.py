"""Finding 1: platform operations are not an organization's. An organization's admin and ops
see only their own dead letters and spend; pools and everyone's dead letters are for platform
operators, who exist only in the platform organization and see no organization's data."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import dramatiq
import psycopg
import pytest
import redis
from litestar.testing import TestClient
from pydantic import SecretStr

from core.domain import Role
from core.queue import PARSE, PARSE_APPLICATION, SHORTLIST
from core.settings import Settings
from ops import pools
from tests.api.hr import Org, bearer, insert_application, problem
from tests.security.conftest import Operator, connect


def _dead_letter(client: redis.Redis, queue: str, actor: str, subject: str) -> str:
    """A message that exhausted its retries, stored the way Dramatiq dead-letters it."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue,
        actor_name=actor,
        args=(subject,),
        kwargs={},
        options={"retries": 3, "traceback": f"Traceback\nValueError: webhook.{subject}.example"},
    )
    client.hset(f"dramatiq:{queue}.XQ.msgs", message.message_id, message.encode())
    client.zadd(f"dramatiq:{queue}.XQ", {message.message_id: int(time.time() * 1000)})
    return message.message_id


@pytest.fixture(scope="module")
def dead(
    org_a: Org, org_b: Org, services_up: Settings, redis_client: redis.Redis
) -> Iterator[dict[str, str]]:
    """One dead parse message per organization (by application), one of org_b by job, and
    a maintenance message that is nobody's."""
    with connect(services_up) as db:
        app_a = insert_application(db, org_a, status="received", score=None)
        app_b = insert_application(db, org_b, status="received", score=None)
    ids = {
        "a": _dead_letter(redis_client, PARSE, PARSE_APPLICATION, str(app_a)),
        "b": _dead_letter(redis_client, PARSE, PARSE_APPLICATION, str(app_b)),
        "b_job": _dead_letter(redis_client, SHORTLIST, "rebuild_shortlist", str(org_b.job_id)),
        "platform": _dead_letter(redis_client, "maintenance", "run_maintenance", "x"),
    }
    yield ids
    for queue in (PARSE, SHORTLIST, "maintenance"):
        for message_id in ids.values():
            redis_client.zrem(f"dramatiq:{queue}.XQ", message_id)
            redis_client.hdel(f"dramatiq:{queue}.XQ.msgs", message_id)


@pytest.fixture(scope="module")
def spend(org_a: Org, org_b: Org, services_up: Settings) -> dict[str, Decimal]:
    costs = {"a": Decimal("0.0123"), "b": Decimal("4.5678")}
    with connect(services_up) as db:
        for key, org in (("a", org_a), ("b", org_b)):
            db.execute(
                "INSERT INTO ai_screening_log (organization_id, application_id, job_id, provider,"
                " llm_model, cost_usd) VALUES (%s, %s, %s, 'anthropic', 'claude', %s)",
                (org.id, uuid.uuid4(), org.job_id, costs[key]),
            )
    return costs


def _fresh(settings: Settings, org: Org, role: Role) -> dict[str, str]:
    return bearer(settings, org.id, org.users[role], role)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPS])
def test_an_organizations_overview_holds_only_its_own_dead_letters_and_spend(
    client: TestClient[Any],
    org_a: Org,
    dead: dict[str, str],
    spend: dict[str, Decimal],
    services_up: Settings,
    role: Role,
) -> None:
    response = client.get("/api/v1/ops/overview", headers=_fresh(services_up, org_a, role))
    assert response.status_code == 200, response.text
    body = response.json()
    seen = {d["message_id"] for d in body["dead_letters"]}
    assert dead["a"] in seen
    assert not seen & {dead["b"], dead["b_job"], dead["platform"]}
    assert body["scope"] == "organization"
    assert body["pools"] == [] and body["workers"] == [] and body["failures"] == []
    assert body["kafka"]["partitions"] == []
    total = sum(p["cost_usd"] for p in body["llm"]["by_provider"])
    assert total == pytest.approx(float(spend["a"]))
    text = response.text
    assert str(spend["b"]) not in text and f"webhook.{org_a.job_id}" not in text


def test_an_organization_cannot_read_replay_or_delete_another_organizations_dead_letters(
    client: TestClient[Any],
    org_a: Org,
    dead: dict[str, str],
    services_up: Settings,
    redis_client: redis.Redis,
) -> None:
    for message_id, queue in ((dead["b"], PARSE), (dead["b_job"], SHORTLIST)):
        base = f"/api/v1/ops/deadletters/{queue}/{message_id}"
        admin = _fresh(services_up, org_a, Role.ADMIN)
        problem(client.get(base, headers=admin), 404, "not_found")
        problem(client.post(f"{base}/replay", headers=admin), 404, "not_found")
        problem(client.delete(base, headers=admin), 404, "not_found")
        assert redis_client.hexists(f"dramatiq:{queue}.XQ.msgs", message_id)
    own = client.get(
        f"/api/v1/ops/deadletters/{PARSE}/{dead['a']}", headers=_fresh(services_up, org_a, Role.OPS)
    )
    assert own.status_code == 200


def test_a_platform_operator_sees_every_dead_letter_and_the_pools(
    client: TestClient[Any], operator: Operator, dead: dict[str, str], services_up: Settings
) -> None:
    response = client.get("/api/v1/ops/overview", headers=operator.headers(services_up))
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "platform"
    assert set(dead.values()) <= {d["message_id"] for d in body["dead_letters"]}
    assert [p["pool"] for p in body["pools"]][:2] == ["parse", "score"]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPS])
def test_pools_are_scaled_by_platform_operators_only(
    client: TestClient[Any],
    org_a: Org,
    operator: Operator,
    services_up: Settings,
    redis_client: redis.Redis,
    role: Role,
) -> None:
    group = f"victim-{uuid.uuid4().hex[:8]}"
    body = {"desired": {"parse": 0}, "group": group}
    try:
        for path, method in (("/api/v1/ops/pools", "GET"), ("/api/v1/ops/pools", "PUT")):
            answer = client.request(
                method, path, headers=_fresh(services_up, org_a, role), json=body
            )
            problem(answer, 403, "role_not_allowed")
        assert not redis_client.exists(pools.desired_key(group))
        done = client.put("/api/v1/ops/pools", headers=operator.headers(services_up), json=body)
        assert done.status_code == 200, done.text
        assert pools.desired(redis_client, services_up, group)["parse"] == 0
    finally:
        redis_client.delete(pools.desired_key(group))


def test_the_operator_role_exists_only_in_the_platform_organization(
    client: TestClient[Any], org_a: Org, operator: Operator, services_up: Settings
) -> None:
    made = client.post(
        "/api/v1/users",
        headers=org_a.admin,
        json={"email": "op@example.com", "password": "a-long-password-1", "role": "operator"},
    )
    problem(made, 422, "validation_failed")
    with connect(services_up) as db, pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO users (organization_id, email, password_hash, role)"
            " VALUES (%s, 'sneaky@example.com', 'x', 'operator')",
            (org_a.id,),
        )
    with connect(services_up) as db, pytest.raises(psycopg.errors.CheckViolation):
        db.execute("UPDATE users SET role = 'operator' WHERE id = %s", (org_a.users[Role.ADMIN],))


def test_a_platform_operator_reads_no_organizations_data(
    client: TestClient[Any], operator: Operator, org_a: Org, services_up: Settings
) -> None:
    for path in (
        "/api/v1/applications",
        f"/api/v1/jobs/{org_a.job_id}",
        f"/api/v1/jobs/{org_a.job_id}/shortlist",
        "/api/v1/audit",
        "/api/v1/users",
    ):
        problem(client.get(path, headers=operator.headers(services_up)), 403, "role_not_allowed")


def test_metrics_are_for_platform_operators_or_the_ops_token(
    services_up: Settings, org_a: Org, operator: Operator
) -> None:
    from ops.web import create_ops_app

    token = SecretStr("s3cret-ops-token-for-scrapers")
    settings = services_up.model_copy(update={"ops_token": token})
    with TestClient(app=create_ops_app(settings)) as client:
        problem(client.get("/metrics"), 401, "missing_token")
        problem(client.get("/metrics", headers=org_a.admin), 403, "role_not_allowed")
        forged = {"Authorization": "Bearer not-a-token"}
        problem(client.get("/metrics", headers=forged), 401, "invalid_token")
        assert client.get("/metrics", headers=operator.headers(services_up)).status_code == 200
        scraper = {"Authorization": "Bearer s3cret-ops-token-for-scrapers"}
        assert client.get("/metrics", headers=scraper).status_code == 200
