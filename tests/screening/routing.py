"""Building routers for tests: the fake LLM server's URLs, a private Redis namespace, a clock
the test moves, and requests whose local score sits where the test wants it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import redis
from pydantic import SecretStr

from core.db import Pool
from core.settings import Settings
from screening.breaker import CircuitBreaker
from screening.budget import Budget
from screening.criteria import EXAMPLE_CRITERIA, Criteria
from screening.limits import BudgetLimits, Limits, default_limits
from screening.local import LocalScreener
from screening.outcome import ScreeningRequest
from screening.prices import PriceTable
from screening.providers import all_providers
from screening.router import Router
from tests.fakes.llm_server import FakeLlmServer

RESUME = """Jane Doe - Backend Engineer, Remote
Experience
2016 - present  Acme Corp, Senior Backend Engineer: Python, PostgreSQL, Docker, Kubernetes.
2013 - 2016     Initech, Developer: Python services, PostgreSQL tuning, REST APIs.
Education
Bachelor's degree in Computer Science, 2012
Skills: Python, PostgreSQL, Docker, Kubernetes, Redis, Kafka, Linux, Git, CI/CD, testing.
Built payment APIs handling 2,000 requests per second; led a team of four engineers;
migrated a monolith to services; on-call for production incidents; mentored juniors.
"""
PRICES = PriceTable.load()
LOCAL = LocalScreener()


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def llm_settings(base: Settings, server: FakeLlmServer, **overrides: Any) -> Settings:
    """``base`` with every provider pointed at the fake server (and ``overrides``)."""
    update: dict[str, Any] = {
        "openai_api_key": SecretStr("sk-test"),
        "openai_base_url": server.openai_base_url,
        "anthropic_api_key": SecretStr("sk-ant-test"),
        "anthropic_base_url": server.anthropic_base_url,
        "ollama_host": server.ollama_host,
        "llm_timeout_s": 10.0,
        "llm_min_confidence": 0.0,
        **overrides,
    }
    return base.model_copy(update=update)


def make_router(
    settings: Settings,
    client: redis.Redis,
    namespace: str,
    clock: Clock,
    *,
    limits: Limits | None = None,
    pool: Pool | None = None,
) -> tuple[Router, Budget, CircuitBreaker]:
    """A router on the real Redis under ``namespace``, with its budget and breaker (the
    budget's table overrides and ledger seeding need ``pool``)."""
    budget = Budget(
        client,
        BudgetLimits(limits if limits is not None else default_limits(settings.llm_budgets), pool),
        reservation_ttl_s=settings.llm_reservation_ttl_s,
        namespace=namespace,
        clock=clock,
        pool=pool,
    )
    breaker = CircuitBreaker(
        client,
        failures=settings.llm_breaker_failures,
        cooldown_s=settings.llm_breaker_cooldown_s,
        namespace=namespace,
        clock=clock,
    )
    router = Router(
        settings,
        providers=all_providers(settings),
        prices=PRICES,
        budget=budget,
        breaker=breaker,
        local=LOCAL,
    )
    return router, budget, breaker


def criteria(threshold: float, advance: float = 100.0, prefer: str = "local:") -> Criteria:
    """The seed's criteria with the given thresholds and preferred ``provider:model``
    (default: no preference, so the tier's chain order stands)."""
    provider, _, model = prefer.partition(":")
    raw: dict[str, Any] = {**EXAMPLE_CRITERIA, "notifications": {"notify_on_complete": False}}
    raw["llm_config"] = {**raw["llm_config"], "provider": provider}
    if model:
        raw["llm_config"]["model"] = model
    raw["filtering"] = {
        "top_n_candidates": 10,
        "min_score_threshold": threshold,
        "auto_advance_score": advance,
    }
    return Criteria.model_validate(raw)


def local_score(resume: str = RESUME) -> float:
    return LOCAL.screen(resume, criteria(70)).score


def request(
    organization_id: uuid.UUID,
    tier: str,
    rules: Criteria,
    resume: str = RESUME,
    *,
    job_id: uuid.UUID | None = None,
) -> ScreeningRequest:
    return ScreeningRequest(
        application_id=uuid.uuid4(),
        organization_id=organization_id,
        job_id=job_id or uuid.uuid4(),
        job_title="Backend Engineer",
        job_description="Build and run our Python APIs.",
        tier=tier,
        criteria=rules,
        criteria_version=1,
        resume_text=resume,
    )


def only(tier: str, *chain: str, escalate: str = "always") -> dict[str, Mapping[str, Any]]:
    """Routes with one tier."""
    return {tier: {"escalate": escalate, "chain": list(chain)}}


def usd(value: Any) -> Decimal:
    return Decimal(str(value))
