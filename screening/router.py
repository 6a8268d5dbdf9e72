"""The cost-aware router: local screener first, a paid model only where it pays off.

Per application: the local screener always runs. The job's tier (``PVARA_LLM_ROUTES``) says
whether to go further - ``never``, ``always``, or ``uncertain`` (the local score is within
``PVARA_LLM_UNCERTAIN_BAND`` of the job's ``min_score_threshold``, or its confidence is below
``PVARA_LLM_MIN_CONFIDENCE``) - and which ``provider:model`` chain to try; the job's preferred
model (``llm_config``) goes first when the chain has it. Along the chain a step is skipped
when its provider is not configured, its circuit is open, or the budget has no room for its
estimate - after which only cheaper steps are tried; a failed call falls through to the next
step. When no step
answers, the local result stands, flagged ``degraded: …`` unless no provider was configured at
all (a local-only deployment is not degraded). Every outcome says why in ``routing_reason``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, field_validator

from core.settings import Settings
from screening.breaker import CircuitBreaker
from screening.budget import Budget, BudgetExhausted, Reservation
from screening.criteria import LlmConfig
from screening.local import LocalScreener
from screening.outcome import (
    LOCAL_MODEL,
    LOCAL_PROVIDER,
    CallRecord,
    ScreeningOutcome,
    ScreeningRequest,
)
from screening.prices import PriceTable, UnknownPriceError
from screening.prompt import Prompt, build_prompt
from screening.providers import (
    InvalidAnswer,
    Provider,
    ProviderFailure,
    ProviderName,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    Usage,
)
from screening.result import LlmAnswer, ScreeningResult

Escalate = Literal["never", "uncertain", "always"]

MODEL_CONFIDENCE = 0.8
"""Recorded as the confidence of a model's answer: the models report none of their own."""


@dataclass(frozen=True)
class Step:
    """One ``provider:model`` of a tier's chain."""

    provider: ProviderName
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"


class TierRoute(BaseModel):
    """When a tier leaves the local screener, and the chain of models it then tries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    escalate: Escalate = "uncertain"
    chain: tuple[str, ...] = ()

    @field_validator("chain")
    @classmethod
    def _steps_name_known_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            provider, _, model = item.partition(":")
            if provider not in get_args(ProviderName) or not model:
                raise ValueError(f"chain step must be provider:model, not {item!r}")
        return value

    @property
    def steps(self) -> list[Step]:
        return [
            Step(cast(ProviderName, p), m) for p, _, m in (s.partition(":") for s in self.chain)
        ]


def parse_routes(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, TierRoute]:
    """``PVARA_LLM_ROUTES`` validated (raises pydantic's ``ValidationError``)."""
    return {tier: TierRoute.model_validate(route) for tier, route in raw.items()}


@dataclass(frozen=True)
class _Skip:
    cause: str
    detail: str
    over_budget: Decimal | None = None  # the estimate the budget had no room for


def _preferred_first(steps: list[Step], config: LlmConfig) -> tuple[list[Step], str]:
    """The tier's chain with the job's preferred model (``llm_config``) moved to the front.

    The tier's chain is what the job may spend on: a preferred provider:model in it goes
    first; a preferred provider moves its first step of the chain to the front; a preference
    outside the chain is ignored, and the returned note says which happened.
    """
    if config.provider == LOCAL_PROVIDER:
        return steps, ""
    wanted = f"{config.provider}:{config.model}"
    chosen = next((s for s in steps if s.label == wanted), None)
    if chosen is None:
        chosen = next((s for s in steps if s.provider == config.provider), None)
    if chosen is None:
        return steps, f"job prefers {wanted}, not in the tier's chain"
    note = f"job prefers {wanted}" + ("" if chosen.label == wanted else f", using {chosen.label}")
    return [chosen, *(s for s in steps if s != chosen)], note


_FAILURES: dict[type[ProviderFailure], str] = {
    ProviderRateLimited: "rate_limited",
    ProviderTimeout: "timeout",
    ProviderUnavailable: "unavailable",
    InvalidAnswer: "invalid_answer",
}


class Router:
    """Scores applications along the cascade; one instance per process, thread-safe.

    Args:
        settings: routes, band, confidence, prompt size.
        providers: the adapters by name (``screening.providers.all_providers``).
        prices: the price table costs and estimates come from.
        budget: reservations against the organization's limits.
        breaker: the shared per-provider circuits.
        local: the local screener.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        providers: Mapping[ProviderName, Provider],
        prices: PriceTable,
        budget: Budget,
        breaker: CircuitBreaker,
        local: LocalScreener | None = None,
    ) -> None:
        self._settings = settings
        self._routes = parse_routes(settings.llm_routes)
        self._providers = providers
        self._prices = prices
        self._budget = budget
        self._breaker = breaker
        self._local = local or LocalScreener()

    def may_call_models(self, tier: str) -> bool:
        """Whether an application of ``tier`` may be sent to a model: its route escalates and
        a provider of its chain is configured (else the local screener alone decides)."""
        route = self._routes.get(tier)
        if route is None or route.escalate == "never":
            return False
        return any(self._providers[step.provider].available for step in route.steps)

    def screen(self, request: ScreeningRequest) -> ScreeningOutcome:
        """Score one application (see the module docstring for the rules)."""
        started = time.perf_counter()
        local = self._local.screen(
            request.resume_text,
            request.criteria,
            request.job_description,
            job_title=request.job_title,
        )
        route = self._routes.get(request.tier)
        escalate, why = self._escalation(request, local, route)
        calls = [
            CallRecord(
                LOCAL_PROVIDER,
                LOCAL_MODEL,
                f"cascade: local screener first; {why}",
                latency_ms=_ms_since(started),
                score=local.score,
            )
        ]
        if not escalate or route is None:
            return ScreeningOutcome(local, LOCAL_PROVIDER, LOCAL_MODEL, why, calls)
        steps, preference = _preferred_first(route.steps, request.criteria.llm_config)
        if preference:
            why = f"{why}; {preference}"
        configured = [s for s in steps if self._providers[s.provider].available]
        if not configured:
            reason = f"{why}; no provider of its chain is configured; local"
            return ScreeningOutcome(local, LOCAL_PROVIDER, LOCAL_MODEL, reason, calls)
        unconfigured = [f"{s.label} not configured" for s in steps if s not in configured]
        return self._cascade(request, local, why, configured, calls, unconfigured)

    # ------------------------------------------------------------------------------------

    def _escalation(
        self, request: ScreeningRequest, local: ScreeningResult, route: TierRoute | None
    ) -> tuple[bool, str]:
        tier = request.tier
        if route is None:
            return False, f"tier {tier}: no route configured, local only"
        if route.escalate == "never" or not route.chain:
            return False, f"tier {tier}: local only"
        if route.escalate == "always":
            return True, f"tier {tier} requires a paid model"
        threshold = request.criteria.filtering.min_score_threshold
        band = self._settings.llm_uncertain_band
        if abs(local.score - threshold) <= band:
            return True, (
                f"tier {tier}: local score {local.score:.1f} within ±{band:g} "
                f"of threshold {threshold:g}"
            )
        if local.confidence < self._settings.llm_min_confidence:
            return True, (
                f"tier {tier}: local confidence {local.confidence:.2f} "
                f"< {self._settings.llm_min_confidence:g}"
            )
        return False, (
            f"tier {tier}: local result confident "
            f"(score {local.score:.1f}, confidence {local.confidence:.2f})"
        )

    def _cascade(
        self,
        request: ScreeningRequest,
        local: ScreeningResult,
        why: str,
        steps: list[Step],
        calls: list[CallRecord],
        notes: list[str],
    ) -> ScreeningOutcome:
        config = request.criteria.llm_config
        prompt = build_prompt(
            request.criteria,
            job_title=request.job_title,
            job_description=request.job_description,
            resume_text=request.resume_text,
            max_resume_chars=self._settings.prompt_resume_max_chars,
        )
        causes: list[str] = []
        # Once a step is over budget, only cheaper steps are tried: a budget degrades, never
        # escalates to a pricier model.
        over_budget: tuple[Step, Decimal] | None = None
        for step in steps:
            reason = why if not notes else f"{why}; fallback after {'; '.join(notes)}"
            reservation = self._reserve(request, step, prompt, config.max_tokens, over_budget)
            if isinstance(reservation, _Skip):
                notes.append(f"{step.label} {reservation.detail}")
                causes.append(reservation.cause)
                if reservation.over_budget is not None:
                    over_budget = (step, reservation.over_budget)
                continue
            record, answer = self._call(step, prompt, reservation, config, reason)
            calls.append(record)
            if answer is None:
                notes.append(f"{step.label} failed ({record.outcome})")
                causes.append(f"{step.provider} {record.outcome}")
                continue
            flags = list(local.flags)
            if causes:
                flags.append(f"degraded: {', '.join(dict.fromkeys(causes))}, used {step.label}")
            result = _from_answer(answer, flags)
            return ScreeningOutcome(
                result, step.provider, step.model, f"{reason} → {step.label}", calls
            )
        flag = f"degraded: {', '.join(dict.fromkeys(causes))}, used local"
        result = local.model_copy(update={"flags": [*local.flags, flag]})
        reason = f"{why}; {'; '.join(notes)} → local (degraded)"
        return ScreeningOutcome(result, LOCAL_PROVIDER, LOCAL_MODEL, reason, calls)

    def _reserve(
        self,
        request: ScreeningRequest,
        step: Step,
        prompt: Prompt,
        max_tokens: int,
        over_budget: tuple[Step, Decimal] | None,
    ) -> Reservation | _Skip:
        """A reservation for the step's call, or why the step is skipped."""
        chars = len(prompt.system) + len(prompt.user)
        try:
            estimate = self._prices.estimate_usd(
                step.provider, step.model, chars, max_tokens, attempts=2
            )
        except UnknownPriceError:
            return _Skip("no price", "has no price")
        if over_budget is not None and estimate >= over_budget[1]:
            return _Skip(
                "budget exhausted",
                f"not cheaper than over-budget {over_budget[0].label} "
                f"(est. ${estimate} ≥ ${over_budget[1]})",
            )
        try:
            reservation = self._budget.reserve(request.organization_id, step.provider, estimate)
        except BudgetExhausted as exc:
            return _Skip("budget exhausted", f"{exc} (est. ${estimate})", over_budget=estimate)
        # The breaker last: in half-open state ``allow`` claims the one trial call, which a
        # step then skipped for its budget would hold, unused, for a whole cool-down.
        try:
            allowed = self._breaker.allow(step.provider)
        except BaseException:
            self._budget.release(reservation)
            raise
        if not allowed:
            self._budget.release(reservation)
            return _Skip("circuit open", "circuit open")
        return reservation

    def _call(
        self, step: Step, prompt: Prompt, reservation: Reservation, config: LlmConfig, reason: str
    ) -> tuple[CallRecord, LlmAnswer | None]:
        provider = self._providers[step.provider]
        started = time.perf_counter()
        try:
            call = provider.screen(
                prompt,
                model=step.model,
                max_tokens=config.max_tokens,
                temperature=config.temperature,
            )
        except ProviderFailure as exc:
            latency = _ms_since(started)
            cost = self._cost(step, exc.usage, latency)
            self._budget.settle(reservation, cost)
            if not isinstance(exc, InvalidAnswer):  # a bad answer is no outage
                retry_after = exc.retry_after_s if isinstance(exc, ProviderRateLimited) else None
                self._breaker.failure(step.provider, retry_after_s=retry_after)
            outcome = _FAILURES.get(type(exc), "error")
            return self._record(
                step, reason, exc.usage, cost, latency, outcome, None, str(exc)[:500]
            ), None
        except BaseException:
            self._budget.release(reservation)
            raise
        cost = self._cost(step, call.usage, call.latency_ms)
        self._budget.settle(reservation, cost)
        self._breaker.success(step.provider)
        record = self._record(
            step, reason, call.usage, cost, call.latency_ms, "ok", call.answer.score, None
        )
        return record, call.answer

    def _record(
        self,
        step: Step,
        reason: str,
        usage: Usage,
        cost: Decimal,
        latency_ms: int,
        outcome: str,
        score: float | None,
        error: str | None,
    ) -> CallRecord:
        return CallRecord(
            provider=step.provider,
            model=step.model,
            routing_reason=reason,
            prompt_tokens=usage.input_tokens,
            completion_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_usd=cost,
            latency_ms=latency_ms,
            outcome=outcome,
            score=score,
            price_table_version=self._prices.version,
            error=error,
        )

    def _cost(self, step: Step, usage: Usage, latency_ms: int) -> Decimal:
        return self._prices.cost_usd(step.provider, step.model, usage, latency_ms)


def _from_answer(answer: LlmAnswer, flags: list[str]) -> ScreeningResult:
    return ScreeningResult(**answer.model_dump(), confidence=MODEL_CONFIDENCE, flags=flags[:20])


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
