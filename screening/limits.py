"""Budget limits of an organization: the ``PVARA_LLM_BUDGETS`` defaults, overridden per
organization by the ``llm_budgets`` table (read through a short cache)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal

from core.db import Pool, lazy_pool
from screening.budget import PERIODS, Period

_OVERRIDES_SQL = """
SELECT provider, period, limit_usd FROM llm_budgets WHERE organization_id = %s
"""

Limits = dict[tuple[str, Period], Decimal]


def default_limits(budgets: Mapping[str, Mapping[str, float]]) -> Limits:
    """``{period: {provider|*: usd}}`` as ``{(provider, period): Decimal}``.

    Raises:
        ValueError: a period other than ``day`` or ``month``.
    """
    limits: Limits = {}
    for period, per_provider in budgets.items():
        if period not in PERIODS:
            raise ValueError(f"budget period must be day or month, not {period!r}")
        for provider, usd in per_provider.items():
            limits[(provider, period)] = Decimal(str(usd))  # type: ignore[index]
    return limits


class BudgetLimits:
    """Callable ``organization_id -> limits``; table rows replace the defaults they name.

    Args:
        defaults: from :func:`default_limits`.
        pool: PostgreSQL (or a function making it on first use); ``None``: defaults only.
        cache_s: how long an organization's overrides are reused.
    """

    def __init__(
        self, defaults: Limits, pool: Pool | Callable[[], Pool] | None, *, cache_s: float = 30.0
    ) -> None:
        self._defaults = dict(defaults)
        self._pool = lazy_pool(pool) if pool is not None else None
        self._cache_s = cache_s
        self._cache: dict[uuid.UUID, tuple[float, Limits]] = {}
        self._lock = threading.Lock()

    def __call__(self, organization_id: uuid.UUID) -> Limits:
        if self._pool is None:
            return self._defaults
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(organization_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        limits = dict(self._defaults)
        with self._pool().connection() as conn:
            for row in conn.execute(_OVERRIDES_SQL, (organization_id,)):
                limits[(row["provider"], row["period"])] = Decimal(row["limit_usd"])
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[organization_id] = (now + self._cache_s, limits)
        return limits
