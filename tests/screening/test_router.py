"""The router: tier choices, the local-first cascade, fallbacks and the shared circuits."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import redis

from core.settings import Settings
from screening.limits import Limits
from screening.router import parse_routes
from tests.fakes.llm_server import FakeLlmServer, hang, status
from tests.screening.routing import (
    RESUME,
    Clock,
    criteria,
    llm_settings,
    local_score,
    make_router,
    only,
    request,
)

pytestmark = pytest.mark.filterwarnings("ignore:The model 'claude-sonnet-4-5' is deprecated")

SCORE = local_score()
CONFIDENT = criteria(threshold=SCORE - 40)  # far outside the ±10 band
UNCERTAIN = criteria(threshold=SCORE - 5)  # inside it


@pytest.fixture
def routed(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> Settings:
    return llm_settings(services_up, fake_llm)


def test_basic_tier_stays_local_and_calls_no_model(
    routed: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    router, _, _ = make_router(routed, redis_client, namespace, clock)

    outcome = router.screen(request(uuid.uuid4(), "basic", UNCERTAIN))

    assert (outcome.provider, outcome.routing_reason) == ("local", "tier basic: local only")
    assert [c.provider for c in outcome.calls] == ["local"]
    assert fake_llm.requests == []


def test_confident_local_result_stays_local_on_the_standard_tier(
    routed: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    router, _, _ = make_router(routed, redis_client, namespace, clock)

    outcome = router.screen(request(uuid.uuid4(), "standard", CONFIDENT))

    assert outcome.provider == "local"
    assert "local result confident" in outcome.routing_reason
    assert fake_llm.requests == []


def test_uncertain_local_score_goes_to_the_tiers_model(
    routed: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    router, _, _ = make_router(routed, redis_client, namespace, clock)

    outcome = router.screen(request(uuid.uuid4(), "standard", UNCERTAIN))

    assert (outcome.provider, outcome.model) == ("ollama", "llama3.1:8b")
    assert f"within ±10 of threshold {SCORE - 5:g}" in outcome.routing_reason
    assert outcome.result.score == 82  # the fake's answer
    assert [c.provider for c in outcome.calls] == ["local", "ollama"]
    assert outcome.calls[1].cost_usd > 0 and outcome.calls[1].outcome == "ok"
    assert [r.route for r in fake_llm.requests] == ["ollama"]
    assert not outcome.degraded


def test_low_local_confidence_goes_to_the_tiers_model(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(services_up, fake_llm, llm_min_confidence=0.9)
    router, _, _ = make_router(settings, redis_client, namespace, clock)

    outcome = router.screen(request(uuid.uuid4(), "standard", CONFIDENT))

    assert outcome.provider == "ollama"
    assert "local confidence" in outcome.routing_reason


@pytest.mark.parametrize(
    ("tier", "provider", "model"),
    [("advanced", "anthropic", "claude-sonnet-4-5"), ("senior", "openai", "gpt-5")],
)
def test_advanced_and_senior_tiers_always_use_their_first_model(
    tier: str,
    provider: str,
    model: str,
    routed: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    router, _, _ = make_router(routed, redis_client, namespace, clock)

    outcome = router.screen(request(uuid.uuid4(), tier, CONFIDENT))

    assert (outcome.provider, outcome.model) == (provider, model)
    assert outcome.routing_reason == f"tier {tier} requires a paid model → {provider}:{model}"
    assert [c.provider for c in outcome.calls] == ["local", provider]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [(status(500), "error"), (status(429), "rate_limited"), (hang(5), "timeout")],
)
def test_a_failed_call_falls_back_to_the_next_provider(
    failure: object,
    kind: str,
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(services_up, fake_llm, llm_timeout_s=0.5)
    router, _, breaker = make_router(settings, redis_client, namespace, clock)
    fake_llm.script(failure)  # type: ignore[arg-type]

    outcome = router.screen(request(uuid.uuid4(), "senior", CONFIDENT))

    assert outcome.provider == "anthropic"
    assert [(c.provider, c.outcome) for c in outcome.calls] == [
        ("local", "ok"),
        ("openai", kind),
        ("anthropic", "ok"),
    ]
    assert f"openai:gpt-5 failed ({kind})" in outcome.routing_reason
    assert f"degraded: openai {kind}, used anthropic:claude-sonnet-4-5" in outcome.result.flags
    assert breaker.state("openai") == "closed"  # one failure of five


def test_an_unconfigured_provider_is_skipped_with_the_reason(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(services_up, fake_llm, openai_api_key=None)
    router, _, _ = make_router(settings, redis_client, namespace, clock)

    outcome = router.screen(request(uuid.uuid4(), "senior", CONFIDENT))

    assert outcome.provider == "anthropic"
    assert "openai:gpt-5 not configured" in outcome.routing_reason
    assert not outcome.degraded
    assert [r.route for r in fake_llm.requests] == ["anthropic"]


def test_without_any_configured_provider_everything_stays_local_and_undegraded(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    router, _, _ = make_router(services_up, redis_client, namespace, clock)

    for tier in ("basic", "standard", "advanced", "senior"):
        outcome = router.screen(request(uuid.uuid4(), tier, UNCERTAIN))
        assert outcome.provider == "local"
        assert not outcome.degraded
        assert [c.provider for c in outcome.calls] == ["local"]
    assert fake_llm.requests == []


def test_circuit_opens_after_n_failures_and_recovers_after_the_cooldown(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(
        services_up,
        fake_llm,
        llm_routes=only("senior", "openai:gpt-5-mini"),
        llm_breaker_failures=2,
        llm_breaker_cooldown_s=30,
    )
    router, _, breaker = make_router(settings, redis_client, namespace, clock)
    fake_llm.script(status(500), status(500))

    for _ in range(2):
        assert router.screen(request(uuid.uuid4(), "senior", CONFIDENT)).provider == "local"
    assert breaker.state("openai") == "open"

    shut = router.screen(request(uuid.uuid4(), "senior", CONFIDENT))
    assert len(fake_llm.requests) == 2  # no call went out
    assert "openai:gpt-5-mini circuit open" in shut.routing_reason
    assert "degraded: circuit open, used local" in shut.result.flags

    clock.advance(31)
    assert breaker.state("openai") == "half-open"
    recovered = router.screen(request(uuid.uuid4(), "senior", CONFIDENT))
    assert recovered.provider == "openai"
    assert breaker.state("openai") == "closed"


def test_half_open_circuit_lets_one_trial_call_through(
    services_up: Settings, redis_client: redis.Redis, namespace: str, clock: Clock
) -> None:
    from screening.breaker import CircuitBreaker

    breaker = CircuitBreaker(
        redis_client, failures=1, cooldown_s=10, namespace=namespace, clock=clock
    )
    breaker.failure("anthropic")
    assert not breaker.allow("anthropic")
    clock.advance(11)

    assert [breaker.allow("anthropic") for _ in range(3)] == [True, False, False]
    breaker.failure("anthropic")  # the trial failed: open again
    assert breaker.state("anthropic") == "open"


def test_a_step_over_budget_leaves_the_half_open_trial_to_a_screening_that_fits(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(
        services_up,
        fake_llm,
        llm_routes=only("senior", "openai:gpt-5-mini"),
        llm_breaker_failures=1,
        llm_breaker_cooldown_s=30,
    )
    no_openai: Limits = {("openai", "day"): Decimal(0)}
    broke, _, breaker = make_router(settings, redis_client, namespace, clock, limits=no_openai)
    funded, _, _ = make_router(settings, redis_client, namespace, clock, limits={})
    breaker.failure("openai")
    clock.advance(31)
    assert breaker.state("openai") == "half-open"

    skipped = broke.screen(request(uuid.uuid4(), "senior", CONFIDENT))
    trial = funded.screen(request(uuid.uuid4(), "senior", CONFIDENT))

    assert "openai:gpt-5-mini budget exhausted" in skipped.routing_reason
    assert (trial.provider, trial.model) == ("openai", "gpt-5-mini")  # the trial was still free
    assert breaker.state("openai") == "closed"
    assert [r.route for r in fake_llm.requests] == ["openai"]


def test_a_refused_circuit_releases_the_steps_reservation(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(
        services_up,
        fake_llm,
        llm_routes=only("senior", "openai:gpt-5-mini"),
        llm_breaker_failures=1,
        llm_breaker_cooldown_s=30,
    )
    router, budget, breaker = make_router(settings, redis_client, namespace, clock, limits={})
    breaker.failure("openai")
    org = uuid.uuid4()

    outcome = router.screen(request(org, "senior", CONFIDENT))

    assert "openai:gpt-5-mini circuit open" in outcome.routing_reason
    assert all(budget.state(b).reserved_usd == 0 for b in budget.buckets(org, "openai"))
    assert fake_llm.requests == []


def test_retry_after_opens_the_circuit_until_then(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    settings = llm_settings(services_up, fake_llm, llm_breaker_cooldown_s=5)
    router, _, breaker = make_router(settings, redis_client, namespace, clock)
    fake_llm.script(status(429, retry_after=120))

    outcome = router.screen(request(uuid.uuid4(), "senior", CONFIDENT))

    assert outcome.provider == "anthropic"
    assert breaker.state("openai") == "open"
    clock.advance(60)
    assert breaker.state("openai") == "open"  # the cool-down alone would have ended
    clock.advance(61)
    assert breaker.state("openai") == "half-open"


def test_the_jobs_preferred_model_goes_first_when_its_tier_offers_it(
    routed: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    router, _, _ = make_router(routed, redis_client, namespace, clock)
    prefers_ollama = criteria(SCORE - 40, prefer="ollama:llama3.1:8b")
    prefers_openai = criteria(SCORE - 40, prefer="openai:gpt-5")

    chosen = router.screen(request(uuid.uuid4(), "advanced", prefers_ollama))
    outside = router.screen(request(uuid.uuid4(), "advanced", prefers_openai))

    assert chosen.provider == "ollama"
    assert "job prefers ollama:llama3.1:8b" in chosen.routing_reason
    assert outside.provider == "anthropic"  # the tier's chain has no OpenAI model
    assert "job prefers openai:gpt-5, not in the tier's chain" in outside.routing_reason
    assert [r.route for r in fake_llm.requests] == ["ollama", "anthropic"]


def test_an_exhausted_budget_degrades_to_cheaper_models_only(
    services_up: Settings,
    fake_llm: FakeLlmServer,
    redis_client: redis.Redis,
    namespace: str,
    clock: Clock,
) -> None:
    chain = ("openai:gpt-5", "anthropic:claude-opus-4-5", "anthropic:claude-haiku-4-5")
    settings = llm_settings(services_up, fake_llm, llm_routes=only("senior", *chain))
    no_openai: Limits = {("openai", "day"): Decimal(0)}
    router, _, _ = make_router(settings, redis_client, namespace, clock, limits=no_openai)

    outcome = router.screen(request(uuid.uuid4(), "senior", CONFIDENT))

    assert (outcome.provider, outcome.model) == ("anthropic", "claude-haiku-4-5")
    assert "openai:gpt-5 budget" in outcome.routing_reason
    assert "anthropic:claude-opus-4-5 not cheaper than over-budget openai:gpt-5" in (
        outcome.routing_reason
    )
    assert "degraded: budget exhausted, used anthropic:claude-haiku-4-5" in outcome.result.flags
    assert [r.route for r in fake_llm.requests] == ["anthropic"]  # Opus was never called


def test_routes_reject_unknown_providers() -> None:
    with pytest.raises(ValueError, match="provider:model"):
        parse_routes({"basic": {"escalate": "always", "chain": ["mystery:model"]}})
    assert parse_routes(Settings().llm_routes)["standard"].escalate == "uncertain"


def test_resume_fixture_scores_high_locally() -> None:
    assert SCORE >= 50 and RESUME
