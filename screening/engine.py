"""The screening entry point used by the ``score`` pool: one request in, one outcome out.

:func:`screen` goes through the process's :class:`~screening.router.Router`, built on first
use from the settings (Redis and PostgreSQL are touched only once a paid provider is
configured). :func:`use_router` swaps it (tests, the demo).
"""

from __future__ import annotations

import threading

import redis

from core.db import Pool, create_pool, lazy_pool
from core.settings import Settings, get_settings
from screening.breaker import CircuitBreaker
from screening.budget import Budget
from screening.limits import BudgetLimits, default_limits
from screening.outcome import (
    LOCAL_MODEL,
    LOCAL_PROVIDER,
    CallRecord,
    ScreeningOutcome,
    ScreeningRequest,
)
from screening.prices import load_prices
from screening.providers import all_providers
from screening.router import Router

__all__ = [
    "LOCAL_MODEL",
    "LOCAL_PROVIDER",
    "CallRecord",
    "ScreeningOutcome",
    "ScreeningRequest",
    "build_router",
    "may_call_models",
    "screen",
    "use_router",
]

_lock = threading.Lock()
_router: Router | None = None


def build_router(
    settings: Settings,
    *,
    client: redis.Redis | None = None,
    pool: Pool | None = None,
    namespace: str = "pvara:llm",
) -> Router:
    """A router wired to the settings' providers, prices, Redis budgets and circuits."""
    client = client or redis.Redis.from_url(settings.effective_redis_url)
    # Limit overrides and ledger seeding share one small pool, made on first use.
    database = pool or lazy_pool(
        lambda: create_pool(settings, name="screening", min_size=0, max_size=2)
    )
    limits = BudgetLimits(default_limits(settings.llm_budgets), database)
    return Router(
        settings,
        providers=all_providers(settings),
        prices=load_prices(settings),
        budget=Budget(
            client,
            limits,
            reservation_ttl_s=settings.llm_reservation_ttl_s,
            namespace=namespace,
            pool=database,
        ),
        breaker=CircuitBreaker(
            client,
            failures=settings.llm_breaker_failures,
            cooldown_s=settings.llm_breaker_cooldown_s,
            namespace=namespace,
        ),
    )


def use_router(router: Router | None) -> None:
    """Route through ``router`` from now on (``None``: build the default again on next use)."""
    global _router
    with _lock:
        _router = router


def _current() -> Router:
    global _router
    with _lock:
        if _router is None:
            _router = build_router(get_settings())
        return _router


def screen(request: ScreeningRequest) -> ScreeningOutcome:
    """Score one application: local screener first, then the tier's models where needed."""
    return _current().screen(request)


def may_call_models(tier: str) -> bool:
    """Whether screening an application of ``tier`` may send its résumé to a model."""
    return _current().may_call_models(tier)
