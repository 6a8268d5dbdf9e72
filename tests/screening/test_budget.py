"""Budgets: reserve before, settle after, release on failure, never overspent concurrently."""

from __future__ import annotations

import math
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis

from core.db import Pool
from core.settings import Settings
from screening.budget import Budget, BudgetExhausted
from screening.limits import BudgetLimits, Limits
from screening.outcome import ScreeningOutcome
from screening.prices import CHARS_PER_TOKEN
from screening.prompt import build_prompt
from tests.conftest import create_org_and_job
from tests.fakes.llm_server import FakeLlmServer, good, status
from tests.screening.routing import (
    PRICES,
    RESUME,
    Clock,
    criteria,
    llm_settings,
    make_router,
    only,
    request,
)

RULES = criteria(threshold=20)
MODEL = "gpt-5-mini"


def _estimate_and_usage(settings: Settings) -> tuple[Decimal, dict[str, Any]]:
    """The router's estimate for RESUME, and an OpenAI usage block costing exactly that."""
    prompt = build_prompt(
        RULES,
        job_title="Backend Engineer",
        job_description="Build and run our Python APIs.",
        resume_text=RESUME,
        max_resume_chars=settings.prompt_resume_max_chars,
    )
    chars = len(prompt.system) + len(prompt.user)
    max_tokens = RULES.llm_config.max_tokens
    estimate = PRICES.estimate_usd("openai", MODEL, chars, max_tokens, attempts=2)
    tokens = math.ceil(Decimal(chars) / CHARS_PER_TOKEN) + 150  # + OpenAI's request overhead
    usage = {
        "prompt_tokens": 2 * tokens + max_tokens,  # the prompt twice plus a repaired answer
        "completion_tokens": 2 * max_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    return estimate, usage


def test_concurrent_screenings_never_spend_more_than_the_budget(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(services_up, fake_llm, llm_routes=only("senior", f"openai:{MODEL}"))
    estimate, usage = _estimate_and_usage(settings)
    limit = 50 * estimate
    client = redis.Redis.from_url(services_up.effective_redis_url, max_connections=256)
    router, budget, _ = make_router(
        settings, client, namespace, clock, limits={("*", "day"): limit}
    )
    fake_llm.script(*[good(usage=usage) for _ in range(200)])
    org = uuid.uuid4()
    start = threading.Barrier(200)

    def one(_: int) -> ScreeningOutcome:
        start.wait()
        return router.screen(request(org, "senior", RULES))

    with ThreadPoolExecutor(max_workers=200) as pool:
        outcomes = list(pool.map(one, range(200)))

    paid = [o for o in outcomes if o.provider == "openai"]
    degraded = [o for o in outcomes if "degraded: budget exhausted, used local" in o.result.flags]
    spent = sum((c.cost_usd for o in outcomes for c in o.calls), Decimal(0))
    assert paid[0].calls[1].cost_usd == estimate  # the actual cost equals the reservation
    assert (len(paid), len(degraded)) == (50, 150)
    assert spent == limit
    day = next(b for b in budget.buckets(org, "openai") if (b.provider, b.period) == ("*", "day"))
    state = budget.state(day)
    assert (state.spent_usd, state.reserved_usd) == (limit, Decimal(0))


def test_a_failed_call_releases_its_reservation(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(services_up, fake_llm, llm_routes=only("senior", f"openai:{MODEL}"))
    router, budget, _ = make_router(settings, redis_client, namespace, clock)
    fake_llm.script(status(500))
    org = uuid.uuid4()

    outcome = router.screen(request(org, "senior", RULES))

    assert outcome.provider == "local" and outcome.calls[1].outcome == "error"
    for bucket in budget.buckets(org, "openai"):
        assert budget.state(bucket).spent_usd == 0
        assert budget.state(bucket).reserved_usd == 0


def test_a_reservation_of_a_dead_worker_expires(
    services_up: Settings, redis_client: redis.Redis, namespace: str, clock: Clock
) -> None:
    budget = Budget(
        redis_client,
        BudgetLimits({("*", "day"): Decimal("1.00")}, None),
        reservation_ttl_s=60,
        namespace=namespace,
        clock=clock,
    )
    org = uuid.uuid4()
    budget.reserve(org, "anthropic", Decimal("0.80"))  # then the worker dies
    with pytest.raises(BudgetExhausted):
        budget.reserve(org, "anthropic", Decimal("0.30"))

    clock.advance(61)

    budget.reserve(org, "anthropic", Decimal("0.30"))
    day = budget.buckets(org, "anthropic")[0]
    assert budget.state(day).reserved_usd == Decimal("0.30")


def test_a_refused_reservation_reserves_nothing_in_any_bucket(
    services_up: Settings, redis_client: redis.Redis, namespace: str, clock: Clock
) -> None:
    limits: Limits = {("*", "month"): Decimal("10"), ("openai", "day"): Decimal("0.10")}
    budget = Budget(
        redis_client,
        BudgetLimits(limits, None),
        reservation_ttl_s=60,
        namespace=namespace,
        clock=clock,
    )
    org = uuid.uuid4()

    with pytest.raises(BudgetExhausted, match="openai day limit"):
        budget.reserve(org, "openai", Decimal("0.20"))

    assert all(budget.state(b).reserved_usd == 0 for b in budget.buckets(org, "openai"))


def test_settling_replaces_the_reservation_with_the_actual_cost(
    services_up: Settings, redis_client: redis.Redis, namespace: str, clock: Clock
) -> None:
    budget = Budget(
        redis_client,
        BudgetLimits({}, None),
        reservation_ttl_s=60,
        namespace=namespace,
        clock=clock,
    )
    org = uuid.uuid4()
    reservation = budget.reserve(org, "ollama", Decimal("0.05"))

    budget.settle(reservation, Decimal("0.01234567"))
    budget.settle(reservation, Decimal(0))  # a second settle adds nothing

    for bucket in budget.buckets(org, "ollama"):
        assert (budget.state(bucket).spent_usd, budget.state(bucket).reserved_usd) == (
            Decimal("0.01234567"),
            Decimal(0),
        )


def test_an_organizations_table_override_degrades_to_the_next_cheaper_option(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
    db: psycopg.Connection[Any],
    pool: Pool,
) -> None:
    org = create_org_and_job(db).organization_id
    db.execute(
        "INSERT INTO llm_budgets (organization_id, provider, period, limit_usd)"
        " VALUES (%s, 'anthropic', 'day', 0)",
        (org,),
    )
    settings = llm_settings(services_up, fake_llm)
    router, _, _ = make_router(settings, redis_client, namespace, clock, pool=pool)

    outcome = router.screen(request(org, "advanced", RULES))

    assert (outcome.provider, outcome.model) == ("ollama", "llama3.1:8b")
    assert "anthropic:claude-sonnet-4-5 budget exhausted" in outcome.routing_reason
    assert "degraded: budget exhausted, used ollama:llama3.1:8b" in outcome.result.flags
