"""The screening entry point used by the ``score`` pool: one request in, one outcome out.

Today every application is scored by the local screener; the cost-aware router plugs in here
(it returns the same :class:`ScreeningOutcome`, with one :class:`CallRecord` per model call).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from screening.criteria import Criteria
from screening.local import LocalScreener
from screening.result import ScreeningResult

LOCAL_PROVIDER = "local"
LOCAL_MODEL = "pvara-local-v1"


@dataclass(frozen=True)
class ScreeningRequest:
    application_id: uuid.UUID
    organization_id: uuid.UUID
    job_id: uuid.UUID
    job_title: str
    job_description: str | None
    tier: str
    criteria: Criteria
    criteria_version: int | None
    resume_text: str


@dataclass(frozen=True)
class CallRecord:
    """One screener or model call, as written to ``ai_screening_log``."""

    provider: str
    model: str
    routing_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int = 0
    outcome: str = "ok"
    score: float | None = None
    price_table_version: str | None = None


@dataclass(frozen=True)
class ScreeningOutcome:
    result: ScreeningResult
    provider: str
    model: str
    routing_reason: str
    calls: list[CallRecord] = field(default_factory=list)


_local = LocalScreener()


def screen(request: ScreeningRequest) -> ScreeningOutcome:
    """Score one application."""
    started = time.perf_counter()
    result = _local.screen(request.resume_text, request.criteria, request.job_description)
    latency = int((time.perf_counter() - started) * 1000)
    reason = "local screener (default)"
    return ScreeningOutcome(
        result=result,
        provider=LOCAL_PROVIDER,
        model=LOCAL_MODEL,
        routing_reason=reason,
        calls=[
            CallRecord(LOCAL_PROVIDER, LOCAL_MODEL, reason, latency_ms=latency, score=result.score)
        ],
    )
