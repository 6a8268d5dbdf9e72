"""Organization isolation, twice: every route answers another organization's ids with 404 and
changes nothing; and PostgreSQL row-level security alone hides and protects the rows."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.security import scope_transaction
from core.domain import Role
from core.progress import TASK_TTL_S, task_key, task_record
from core.settings import Settings
from tests.api.hr import Org, cnic, insert_application, slot

PUBLIC_ROUTES = {
    ("POST", "/api/v1/jobs/{job_id:uuid}/applications"),
    ("GET", "/api/v1/applications/{application_id:uuid}"),
    ("POST", "/api/v1/applications/{application_id:uuid}/withdraw"),
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
}


@pytest.fixture(scope="module")
def victim(org_a: Org, services_up: Settings, redis_client: Any) -> dict[str, Any]:
    """Resources of org_a: a job, applications, an interview, an offer, a task."""
    with psycopg.connect(
        services_up.effective_database_url, autocommit=True, row_factory=dict_row
    ) as db:
        number = cnic()
        app_id = insert_application(db, org_a, status="shortlisted", candidate_cnic=number)
        interviewing = insert_application(db, org_a, status="interview")
        interview = db.execute(
            "INSERT INTO interviews (organization_id, application_id, interviewer_id, starts_at,"
            " ends_at) VALUES (%s, %s, %s, now() + interval '40 days',"
            " now() + interval '40 days 1 hour') RETURNING id",
            (org_a.id, interviewing, org_a.users[Role.INTERVIEWER]),
        ).fetchone()["id"]
        offer = db.execute(
            "INSERT INTO offers (organization_id, application_id, job_id, salary_min, salary_max,"
            " expires_at) VALUES (%s, %s, %s, 1, 2, now() + interval '10 days') RETURNING id",
            (org_a.id, interviewing, org_a.job_id),
        ).fetchone()["id"]
    task_id = uuid.uuid4().hex
    redis_client.set(
        task_key(task_id),
        task_record(
            task_id, "shortlist.rebuild", str(org_a.id), "queued", job_id=str(org_a.job_id)
        ),
        ex=TASK_TTL_S,
    )
    return {
        "job_id": org_a.job_id,
        "application_id": app_id,
        "interview_id": interview,
        "offer_id": offer,
        "task_id": task_id,
        "cnic": number,
        "interviewing": interviewing,
    }


def _fingerprint(db: psycopg.Connection[Any], org: Org) -> dict[str, Any]:
    """Everything of ``org`` that a write could change."""
    q = {
        "jobs": "SELECT id, title, status, tier, webhook_url, updated_at FROM jobs",
        "criteria": "SELECT job_id, version FROM screening_criteria",
        "applications": "SELECT id, status, candidate_name, updated_at FROM applications",
        "interviews": "SELECT id, status, starts_at, notes FROM interviews",
        "offers": "SELECT id, status FROM offers",
        "users": "SELECT id, email, role FROM users",
        "candidates": "SELECT id, name, erased_at FROM candidates",
    }
    return {
        name: db.execute(sql + " WHERE organization_id = %s ORDER BY 1, 2", (org.id,)).fetchall()
        for name, sql in q.items()
    }


def _cases(victim: dict[str, Any], org_a: Org) -> dict[tuple[str, str], dict[str, Any]]:
    """Each authenticated route, called with org_a's ids (json body where one is needed)."""
    return {
        ("POST", "/api/v1/auth/logout"): {},
        ("GET", "/api/v1/auth/me"): {},
        ("GET", "/api/v1/users"): {},
        ("POST", "/api/v1/users"): {
            "json": {
                "email": f"x{uuid.uuid4().hex[:6]}@example.com",
                "password": "a-long-password-1",
                "role": "hr",
            }
        },
        ("POST", "/api/v1/jobs"): {"json": {"title": "Mine"}},
        ("GET", "/api/v1/jobs/{job_id:uuid}"): {},
        ("PATCH", "/api/v1/jobs/{job_id:uuid}"): {"json": {"title": "Hijacked"}},
        ("POST", "/api/v1/jobs/{job_id:uuid}/close"): {},
        ("GET", "/api/v1/jobs/{job_id:uuid}/criteria"): {},
        ("PUT", "/api/v1/jobs/{job_id:uuid}/criteria"): {
            "json": {"criteria": {}, "tier": "senior"}
        },
        ("GET", "/api/v1/jobs/{job_id:uuid}/shortlist"): {},
        ("POST", "/api/v1/jobs/{job_id:uuid}/shortlist/rebuild"): {},
        ("GET", "/api/v1/tasks/{task_id:str}"): {},
        ("GET", "/api/v1/applications"): {"params": {"job_id": str(victim["job_id"])}},
        ("GET", "/api/v1/applications/{application_id:uuid}/details"): {},
        ("PUT", "/api/v1/applications/{application_id:uuid}/status"): {
            "json": {"status": "rejected"}
        },
        ("POST", "/api/v1/candidates/erasure"): {"json": {"candidate_cnic": victim["cnic"]}},
        ("POST", "/api/v1/interviews"): {
            "json": {
                "application_id": str(victim["application_id"]),
                "interviewer_id": str(org_a.users[Role.INTERVIEWER]),
                **slot(1),
            }
        },
        ("GET", "/api/v1/interviews"): {"params": {"application_id": str(victim["interviewing"])}},
        ("GET", "/api/v1/interviews/{interview_id:uuid}"): {},
        ("PATCH", "/api/v1/interviews/{interview_id:uuid}"): {"json": slot(5)},
        ("POST", "/api/v1/interviews/{interview_id:uuid}/cancel"): {},
        ("POST", "/api/v1/interviews/{interview_id:uuid}/feedback"): {
            "json": {"notes": "x", "score": 1}
        },
        ("POST", "/api/v1/offers"): {
            "json": {
                "application_id": str(victim["interviewing"]),
                "salary_min": 1,
                "salary_max": 2,
                "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            }
        },
        ("GET", "/api/v1/offers"): {"params": {"application_id": str(victim["interviewing"])}},
        ("GET", "/api/v1/offers/{offer_id:uuid}"): {},
        ("POST", "/api/v1/offers/{offer_id:uuid}/accept"): {},
        ("POST", "/api/v1/offers/{offer_id:uuid}/decline"): {},
        ("POST", "/api/v1/offers/{offer_id:uuid}/expire"): {},
        ("GET", "/api/v1/audit"): {"params": {"resource_id": str(victim["job_id"])}},
        ("GET", "/api/v1/reports/llm-costs"): {"params": {"group_by": "job"}},
    }


def test_every_route_refuses_another_organizations_resources_with_404(
    client: TestClient[Any],
    org_a: Org,
    org_b: Org,
    victim: dict[str, Any],
    db: psycopg.Connection[Any],
    services_up: Settings,
) -> None:
    from tests.api.hr import bearer

    cases = _cases(victim, org_a)
    routes = {
        (method, route.path)
        for route in client.app.routes
        for method in route.methods - {"OPTIONS", "HEAD"}
        if route.path.startswith("/api/")
    }
    assert routes - PUBLIC_ROUTES == set(cases), "a route is missing from the isolation walk"
    before = _fingerprint(db, org_a)
    secrets_of_a = {str(v) for k, v in victim.items() if k != "cnic"} | {str(org_a.id)}
    for (method, path), kwargs in sorted(cases.items()):
        # A fresh admin token of org_b each time (logout revokes the one it is given).
        headers = bearer(services_up, org_b.id, org_b.users[Role.ADMIN], Role.ADMIN)
        url = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: str(victim[m.group(1)]), path)
        response = client.request(method, url, headers=headers, **kwargs)
        if "{" in path or (
            path in ("/api/v1/interviews", "/api/v1/offers", "/api/v1/candidates/erasure")
            and method == "POST"
        ):
            assert response.status_code == 404, (method, path, response.text)
        else:
            assert response.status_code < 300, (method, path, response.text)
        asked = url + repr(kwargs)  # a 404 may echo the id it was asked for
        leaked = [s for s in secrets_of_a if s in response.text and s not in asked]
        assert not leaked, (method, path, leaked)
    assert _fingerprint(db, org_a) == before


TABLES = [
    "users",
    "jobs",
    "candidates",
    "application_index",
    "applications",
    "interviews",
    "offers",
    "screening_criteria",
    "shortlist_versions",
    "shortlist",
    "ai_screening_log",
    "audit_logs",
    "refresh_tokens",
]


def test_row_level_security_alone_hides_and_protects_other_organizations_rows(
    services_up: Settings,
    org_a: Org,
    org_b: Org,
    victim: dict[str, Any],
) -> None:
    """Queries without any organization filter, in a transaction scoped to org_b."""

    async def scenario() -> None:
        pool = AsyncConnectionPool(
            services_up.effective_database_url,
            min_size=1,
            max_size=1,
            kwargs={"row_factory": dict_row, "autocommit": True},
            open=False,
        )
        await pool.open()
        try:
            async with pool.connection() as conn:
                async with conn.transaction():
                    await scope_transaction(conn, org_b.id)
                    for table in TABLES:
                        cur = await conn.execute(
                            f"SELECT count(*) AS n FROM {table} WHERE organization_id <> %s",
                            (org_b.id,),
                        )
                        assert (await cur.fetchone())["n"] == 0, table  # type: ignore[index]
                    cur = await conn.execute("SELECT id FROM organizations")
                    assert [r["id"] for r in await cur.fetchall()] == [org_b.id]
                    cur = await conn.execute(
                        "UPDATE applications SET status = 'rejected' WHERE id = %s",
                        (victim["application_id"],),
                    )
                    assert cur.rowcount == 0
                    cur = await conn.execute(
                        "UPDATE jobs SET title = 'x' WHERE id = %s", (victim["job_id"],)
                    )
                    assert cur.rowcount == 0
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    async with conn.transaction():
                        await scope_transaction(conn, org_b.id)
                        await conn.execute(
                            "INSERT INTO jobs (organization_id, title) VALUES (%s, 'planted')",
                            (org_a.id,),
                        )
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    async with conn.transaction():
                        await scope_transaction(conn, org_b.id)
                        await conn.execute("DELETE FROM audit_logs")
                async with conn.transaction():  # no organization set: nothing at all
                    await conn.execute("SET LOCAL ROLE pvara_app")
                    cur = await conn.execute("SELECT count(*) AS n FROM applications")
                    assert (await cur.fetchone())["n"] == 0  # type: ignore[index]
        finally:
            await pool.close()

    asyncio.run(scenario())
