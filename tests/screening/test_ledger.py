"""Every call lands in ai_screening_log with its tokens, cost, reason and price version."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis

from core.settings import Settings
from screening import engine
from tests.conftest import OrgJob, create_org_and_job
from tests.fakes.llm_server import FakeLlmServer, good, status
from tests.screening.routing import (
    PRICES,
    RESUME,
    Clock,
    criteria,
    llm_settings,
    make_router,
    only,
)

pytestmark = pytest.mark.filterwarnings("ignore:The model 'claude-sonnet-4-5' is deprecated")

RULES = criteria(threshold=20).model_dump(mode="json")


def _application(db: psycopg.Connection[Any], org_job: OrgJob) -> uuid.UUID:
    app_id, now = uuid.uuid4(), datetime.now(UTC)
    db.execute(
        "INSERT INTO application_index (id, organization_id, job_id, created_at)"
        " VALUES (%s, %s, %s, %s)",
        (app_id, org_job.organization_id, org_job.job_id, now),
    )
    db.execute(
        "INSERT INTO applications (id, organization_id, job_id, candidate_cnic, candidate_email,"
        " candidate_name, status, resume_media_type, resume_text, created_at)"
        " VALUES (%s, %s, %s, %s, 'c@example.com', 'Candidate', 'screening', 'text/plain',"
        " %s, %s)",
        (
            app_id,
            org_job.organization_id,
            org_job.job_id,
            f"{uuid.uuid4().int % 10**13:013d}",
            RESUME,
            now,
        ),
    )
    return app_id


@pytest.fixture
def scored(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
    db: psycopg.Connection[Any],
) -> Iterator[Any]:
    """``score(chain)``: screen a fresh senior-tier application through ``chain``."""

    def score(*chain: str) -> tuple[uuid.UUID, list[dict[str, Any]]]:
        from tasks.score import score_application

        settings = llm_settings(services_up, fake_llm, llm_routes=only("senior", *chain))
        router, _, _ = make_router(settings, redis_client, namespace, clock)
        org_job = create_org_and_job(db, tier="senior", criteria=RULES)
        app_id = _application(db, org_job)
        engine.use_router(router)
        score_application(str(app_id))
        rows = db.execute(
            "SELECT * FROM ai_screening_log WHERE application_id = %s ORDER BY created_at, id",
            (app_id,),
        ).fetchall()
        assert all(r["organization_id"] == org_job.organization_id for r in rows)
        assert all(r["job_id"] == org_job.job_id and r["tier"] == "senior" for r in rows)
        order = ["local", *(step.partition(":")[0] for step in chain)]
        return app_id, sorted(rows, key=lambda r: order.index(r["provider"]))

    yield score
    engine.use_router(None)


def test_openai_cost_with_cached_tokens_lands_in_the_ledger(
    scored: Any, fake_llm: FakeLlmServer, db: psycopg.Connection[Any]
) -> None:
    fake_llm.script(
        good(
            usage={
                "prompt_tokens": 1200,
                "completion_tokens": 90,
                "prompt_tokens_details": {"cached_tokens": 1000},
            }
        )
    )

    app_id, (local, paid) = scored("openai:gpt-5-mini")

    assert (local["provider"], local["cost_usd"], local["outcome"]) == ("local", 0, "ok")
    assert (paid["provider"], paid["llm_model"], paid["outcome"]) == ("openai", "gpt-5-mini", "ok")
    assert (paid["prompt_tokens"], paid["cached_tokens"], paid["completion_tokens"]) == (
        200,
        1000,
        90,
    )
    # 200 x 0.25 + 1000 x 0.025 + 90 x 2, per million tokens
    assert paid["cost_usd"] == Decimal("0.000255")
    assert paid["price_table_version"] == PRICES.version
    assert paid["routing_reason"] == "tier senior requires a paid model"
    assert paid["final_score"] == 82
    app = db.execute("SELECT * FROM applications WHERE id = %s", (app_id,)).fetchone()
    assert app is not None
    assert app["ai_model_version"] == "openai:gpt-5-mini"
    assert app["ai_reasoning"]["routing_reason"].endswith("→ openai:gpt-5-mini")


def test_anthropic_cost_with_cache_reads_and_writes_lands_in_the_ledger(
    scored: Any, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(
        good(
            usage={
                "input_tokens": 300,
                "output_tokens": 120,
                "cache_read_input_tokens": 1200,
                "cache_creation_input_tokens": 100,
            }
        )
    )

    _, (_, paid) = scored("anthropic:claude-sonnet-4-5")

    assert (paid["prompt_tokens"], paid["cached_tokens"], paid["cache_write_tokens"]) == (
        300,
        1200,
        100,
    )
    # 300 x 3 + 1200 x 0.30 + 100 x 3.75 + 120 x 15, per million tokens
    assert paid["cost_usd"] == Decimal("0.003435")


def test_ollama_cost_is_the_gpu_time_it_occupies(scored: Any, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(good(usage={"prompt_eval_count": 1400, "eval_count": 110}))

    _, (_, paid) = scored("ollama:llama3.1:8b")

    seconds = Decimal(1400) / 2000 + Decimal(110) / 120  # prefill + decode throughput
    expected = (seconds * Decimal("1.20") / 3600).quantize(Decimal("0.00000001"))
    assert paid["cost_usd"] == expected == Decimal("0.00053889")


def test_a_failed_attempt_is_in_the_ledger_too(scored: Any, fake_llm: FakeLlmServer) -> None:
    fake_llm.script(status(503))

    _, rows = scored("openai:gpt-5-mini", "anthropic:claude-sonnet-4-5")

    assert [(r["provider"], r["outcome"]) for r in rows] == [
        ("local", "ok"),
        ("openai", "error"),
        ("anthropic", "ok"),
    ]
    failed = rows[1]
    assert failed["cost_usd"] == 0 and failed["error"].startswith("openai:")
    assert rows[2]["routing_reason"].startswith(
        "tier senior requires a paid model; fallback after openai:gpt-5-mini failed (error)"
    )


def test_routing_mix_summary_names_models_reasons_and_cost(
    scored: Any, fake_llm: FakeLlmServer, db: psycopg.Connection[Any], services_up: Settings
) -> None:
    from screening.ledger import routing_mix_and_costs

    app_id, _ = scored("openai:gpt-5-mini")
    job_id = db.execute("SELECT job_id FROM applications WHERE id = %s", (app_id,)).fetchone()

    assert job_id is not None
    text = routing_mix_and_costs(services_up, job_id["job_id"])

    assert "openai:gpt-5-mini" in text and "1 applications" in text
    assert "tier senior requires a paid model → openai:gpt-5-mini" in text
    assert "for 1 applications" in text
