"""Budgets: reserve before, settle after, release on failure, never overspent concurrently."""

from __future__ import annotations

import math
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
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


_LEDGER_SQL = """
INSERT INTO ai_screening_log (organization_id, application_id, job_id, provider, llm_model,
                              cost_usd, created_at)
VALUES (%s, %s, %s, %s, 'some-model', %s, %s)
"""


def _logged(
    db: psycopg.Connection[Any], org_job: OrgJob, provider: str, usd: str, at: datetime
) -> None:
    """A ledger row: ``org_job``'s organization spent ``usd`` on ``provider`` at ``at``."""
    db.execute(
        _LEDGER_SQL,
        (org_job.organization_id, uuid.uuid4(), org_job.job_id, provider, Decimal(usd), at),
    )


def _seeding_budget(
    redis_client: redis.Redis, namespace: str, clock: Clock, limits: Limits, pool: Pool | None
) -> Budget:
    return Budget(
        redis_client,
        BudgetLimits(limits, None),
        reservation_ttl_s=60,
        namespace=namespace,
        clock=clock,
        pool=pool,
    )


def _spent_and_reserved(budget: Budget, org: uuid.UUID, provider: str) -> dict[str, Any]:
    """``{"<provider or *> <period>": (spent, reserved)}`` of the buckets of ``provider``."""
    states = {f"{b.provider} {b.period}": budget.state(b) for b in budget.buckets(org, provider)}
    return {name: (s.spent_usd, s.reserved_usd) for name, s in states.items()}


def test_a_bucket_without_redis_state_starts_from_what_the_ledger_spent(
    services_up: Settings,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
    db: psycopg.Connection[Any],
    pool: Pool,
) -> None:
    org_job = create_org_and_job(db)
    now = datetime.fromtimestamp(clock(), UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _logged(db, org_job, "openai", "0.30", midnight)
    _logged(db, org_job, "openai", "0.60", now - timedelta(minutes=5))
    limits: Limits = {("openai", "day"): Decimal("1.00")}
    budget = _seeding_budget(redis_client, namespace, clock, limits, pool)
    org = org_job.organization_id

    with pytest.raises(BudgetExhausted, match="openai day limit"):
        budget.reserve(org, "openai", Decimal("0.11"))
    budget.reserve(org, "openai", Decimal("0.10"))

    assert _spent_and_reserved(budget, org, "openai")["openai day"] == (
        Decimal("0.90"),
        Decimal("0.10"),
    )


def test_only_the_organizations_provider_and_period_count_when_seeding(
    services_up: Settings,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
    db: psycopg.Connection[Any],
    pool: Pool,
) -> None:
    org_job, other_org = create_org_and_job(db), create_org_and_job(db)
    now = datetime.fromtimestamp(clock(), UTC)  # 2026-05-28 20:26:40
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _logged(db, org_job, "openai", "0.05", now)
    _logged(db, org_job, "openai", "0.10", midnight - timedelta(microseconds=1))
    _logged(db, org_job, "openai", "1.00", midnight.replace(day=1) - timedelta(microseconds=1))
    _logged(db, org_job, "openai", "2.00", midnight + timedelta(days=1))  # month only
    _logged(db, org_job, "openai", "4.00", datetime(2026, 6, 1, tzinfo=UTC))
    _logged(db, org_job, "anthropic", "0.20", now)
    _logged(db, other_org, "openai", "5.00", now)
    limits: Limits = {("openai", "day"): Decimal("1.00"), ("openai", "month"): Decimal("3.10")}
    budget = _seeding_budget(redis_client, namespace, clock, limits, pool)
    org = org_job.organization_id

    budget.reserve(org, "openai", Decimal("0.95"))  # fits only if the day holds just $0.05

    assert _spent_and_reserved(budget, org, "openai") == {
        "* day": (Decimal("0.25"), Decimal("0.95")),
        "openai day": (Decimal("0.05"), Decimal("0.95")),
        "* month": (Decimal("2.35"), Decimal("0.95")),
        "openai month": (Decimal("2.15"), Decimal("0.95")),
    }


def test_concurrent_first_reservations_seed_once_and_never_exceed_the_limit(
    services_up: Settings,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
    db: psycopg.Connection[Any],
    pool: Pool,
) -> None:
    org_job = create_org_and_job(db)
    _logged(db, org_job, "anthropic", "0.70", datetime.fromtimestamp(clock(), UTC))
    limits: Limits = {("*", "day"): Decimal("1.00")}
    budget = _seeding_budget(redis_client, namespace, clock, limits, pool)
    org = org_job.organization_id
    workers = 32
    start = threading.Barrier(workers)

    def one(_: int) -> bool:
        start.wait()
        try:
            budget.reserve(org, "anthropic", Decimal("0.05"))
        except BudgetExhausted:
            return False
        return True

    with ThreadPoolExecutor(max_workers=workers) as threads:
        reserved = sum(threads.map(one, range(workers)))

    assert reserved == 6  # $0.30 left after the ledger's $0.70
    states = _spent_and_reserved(budget, org, "anthropic")
    assert states["* day"] == states["anthropic month"] == (Decimal("0.70"), Decimal("0.30"))


def test_a_call_settled_after_redis_lost_the_bucket_counts_with_the_ledger(
    services_up: Settings,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
    db: psycopg.Connection[Any],
    pool: Pool,
) -> None:
    org_job = create_org_and_job(db)
    org = org_job.organization_id
    limits: Limits = {("*", "day"): Decimal("1.00")}
    budget = _seeding_budget(redis_client, namespace, clock, limits, pool)
    in_flight = budget.reserve(org, "openai", Decimal("0.30"))
    _logged(db, org_job, "openai", "0.50", datetime.fromtimestamp(clock(), UTC))
    redis_client.delete(*redis_client.scan_iter(f"{namespace}:*"))  # Redis lost

    budget.settle(in_flight, Decimal("0.30"))  # its ledger row is not written yet
    with pytest.raises(BudgetExhausted):
        budget.reserve(org, "openai", Decimal("0.21"))
    budget.reserve(org, "openai", Decimal("0.20"))

    day = budget.buckets(org, "openai")[0]
    assert (budget.state(day).spent_usd, budget.state(day).reserved_usd) == (
        Decimal("0.80"),
        Decimal("0.20"),
    )


def test_a_bucket_recreated_by_a_settle_still_expires(
    services_up: Settings, redis_client: redis.Redis, namespace: str, clock: Clock
) -> None:
    budget = _seeding_budget(redis_client, namespace, clock, {}, None)
    in_flight = budget.reserve(uuid.uuid4(), "openai", Decimal("0.30"))
    redis_client.delete(*redis_client.scan_iter(f"{namespace}:*"))  # Redis lost

    budget.settle(in_flight, Decimal("0.30"))

    hashes = in_flight.keys[0::2]  # the zsets are not recreated
    for key, reserve_ttl in zip(hashes, in_flight.key_ttls_s, strict=True):
        ttl = redis_client.ttl(key)  # -1: no expiry
        assert reserve_ttl - 60 < ttl <= reserve_ttl, (key, ttl)  # what reserve would set


def test_without_a_pool_a_bucket_without_redis_state_starts_at_zero(
    services_up: Settings,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
    db: psycopg.Connection[Any],
) -> None:
    org_job = create_org_and_job(db)
    _logged(db, org_job, "openai", "0.90", datetime.fromtimestamp(clock(), UTC))
    limits: Limits = {("openai", "day"): Decimal("1.00")}
    budget = _seeding_budget(redis_client, namespace, clock, limits, None)
    org = org_job.organization_id

    budget.reserve(org, "openai", Decimal("0.50"))

    assert _spent_and_reserved(budget, org, "openai")["openai day"] == (
        Decimal(0),
        Decimal("0.50"),
    )


def test_the_production_router_seeds_a_lost_budget_from_the_ledger(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    db: psycopg.Connection[Any],
) -> None:
    from screening.engine import build_router

    org_job = create_org_and_job(db)
    now = datetime.now(UTC)
    _logged(db, org_job, "openai", "0.999", now)
    # build_router runs on the real clock: should UTC midnight pass before it reserves, its
    # day is the next one, which this row fills the same way (it is outside today's bucket).
    next_midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    _logged(db, org_job, "openai", "0.999", next_midnight)
    settings = llm_settings(
        services_up,
        fake_llm,
        llm_routes=only("senior", f"openai:{MODEL}"),
        llm_budgets={"day": {"openai": 1.0}},
    )
    router = build_router(settings, client=redis_client, namespace=namespace)

    outcome = router.screen(request(org_job.organization_id, "senior", RULES))

    assert outcome.provider == "local"
    assert "degraded: budget exhausted, used local" in outcome.result.flags
    assert fake_llm.requests == []
