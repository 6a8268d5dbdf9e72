"""What the ``score`` pool hands the screening engine, and what it gets back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from screening.criteria import Criteria
from screening.result import ScreeningResult

LOCAL_PROVIDER = "local"
LOCAL_MODEL = "pvara-local-v1"


@dataclass(frozen=True)
class ScreeningRequest:
    """One application to score, with its job's tier and criteria."""

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
    """One screener or model call, as written to ``ai_screening_log``.

    ``outcome`` is ``ok`` or the failure kind (``rate_limited``, ``timeout``, ``error``,
    ``unavailable``, ``invalid_answer``); a failed call still records what it cost.
    """

    provider: str
    model: str
    routing_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int = 0
    outcome: str = "ok"
    score: float | None = None
    price_table_version: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ScreeningOutcome:
    """The result used, who produced it and why, and every call made on the way."""

    result: ScreeningResult
    provider: str
    model: str
    routing_reason: str
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def degraded(self) -> bool:
        """Whether the router fell back from its first choice (budget, circuit, errors)."""
        return any(flag.startswith("degraded:") for flag in self.result.flags)
