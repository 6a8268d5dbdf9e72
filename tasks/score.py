"""The ``score`` pool: screen a parsed application, store the result, ask for a shortlist."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import dramatiq
from psycopg.types.json import Jsonb

from core.domain import ERASED
from core.domain import ApplicationStatus as S
from core.events import APPLICATIONS_SCREENED
from core.logs import application_id_var
from core.outbox import add_event
from core.queue import SCORE, SCORE_APPLICATION
from screening.criteria import Criteria
from screening.engine import CallRecord, ScreeningRequest, screen
from tasks import _applications, _resources
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)
from tasks.shortlist import request_rebuild

log = logging.getLogger(__name__)

_CRITERIA_SQL = """
SELECT version, criteria FROM screening_criteria
 WHERE job_id = %s ORDER BY version DESC LIMIT 1
"""

ERASED_REASON = "resume_erased: the candidate's personal data was erased before screening"

_ERASED_SQL = """
SELECT pii_erased_at IS NOT NULL AS erased FROM applications
 WHERE id = %s AND created_at = %s
   FOR UPDATE
"""

_LOG_SQL = """
INSERT INTO ai_screening_log (
    organization_id, application_id, job_id, provider, llm_model, tier, routing_reason,
    prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, cost_usd,
    decision_time_ms, outcome, error, final_score, criteria_version, price_table_version)
VALUES (%(organization_id)s, %(application_id)s, %(job_id)s, %(provider)s, %(model)s, %(tier)s,
        %(routing_reason)s, %(prompt_tokens)s, %(completion_tokens)s, %(cached_tokens)s,
        %(cache_write_tokens)s, %(cost_usd)s, %(latency_ms)s, %(outcome)s, %(error)s, %(score)s,
        %(criteria_version)s, %(price_table_version)s)
"""


@dramatiq.actor(
    actor_name=SCORE_APPLICATION,
    queue_name=SCORE,
    max_retries=_resources.settings().score_max_retries,
    min_backoff=2_000,
    max_backoff=300_000,
    time_limit=300_000,
    max_age=7 * 24 * 3_600_000,
)
def score_application(application_id: str) -> None:
    """Screen one application. Idempotent: only an application in ``screening`` is scored; one
    whose personal data was erased meanwhile ends ``withdrawn`` unscreened."""
    token = application_id_var.set(application_id)
    try:
        _score(application_id)
    finally:
        application_id_var.reset(token)


def _score(application_id: str) -> None:
    with _resources.db().connection() as conn:
        app = _applications.load(conn, application_id)
        if app is None:
            return
        if app["status"] != S.SCREENING:
            if app["status"] == S.SCREENED:
                request_rebuild(app["job_id"])  # the earlier run may have died before this
            return
        if app["pii_erased_at"] is not None:
            # Nothing left to screen (and no reason to pay a model for it).
            with conn.transaction():
                _applications.move(conn, app, S.WITHDRAWN, expect=S.SCREENING, reason=ERASED_REASON)
            return
        criteria_row = conn.execute(_CRITERIA_SQL, (app["job_id"],)).fetchone()

    criteria = Criteria.model_validate(criteria_row["criteria"]) if criteria_row else Criteria()
    version = criteria_row["version"] if criteria_row else None
    outcome = screen(
        ScreeningRequest(
            application_id=app["id"],
            organization_id=app["organization_id"],
            job_id=app["job_id"],
            job_title=app["job_title"],
            job_description=app["job_description"],
            tier=app["job_tier"],
            criteria=criteria,
            criteria_version=version,
            resume_text=app["resume_text"] or "",
        )
    )
    result = outcome.result
    flags = list(dict.fromkeys([*app["resume_flags"], *result.flags]))
    with _resources.db().connection() as conn, conn.transaction():
        # Erasure takes the same row lock: checked under it, the answer cannot go stale.
        erased = conn.execute(_ERASED_SQL, (app["id"], app["created_at"])).fetchone()
        details: dict[str, Any] = {
            "reasoning": result.reasoning,
            "evidence": [e.model_dump() for e in result.evidence],
            "routing_reason": outcome.routing_reason,
            "provider": outcome.provider,
        }
        if erased is not None and erased["erased"]:
            # The score stays, as erasure keeps scores; the résumé's quotes do not.
            del details["evidence"]
            details["reasoning"] = ERASED
        moved = _applications.move(
            conn,
            app,
            S.SCREENED,
            expect=S.SCREENING,
            ai_score=round(result.score, 2),
            ai_reasoning=Jsonb(details),
            ai_recommendation=result.recommendation,
            ai_confidence=round(result.confidence, 3),
            ai_screened_at=datetime.now(UTC),
            ai_skills_matched=Jsonb(result.matched_skills),
            ai_skills_missing=Jsonb(result.missing_skills),
            ai_model_version=f"{outcome.provider}:{outcome.model}",
            criteria_version=version,
            resume_flags=Jsonb(flags),
            needs_review=bool(flags) or app["needs_review"],
        )
        if not moved:
            return
        for call in outcome.calls:
            conn.execute(_LOG_SQL, _log_params(app, call, version))
        add_event(
            conn,
            APPLICATIONS_SCREENED,
            {
                "application_id": str(app["id"]),
                "job_id": str(app["job_id"]),
                "score": result.score,
                "recommendation": result.recommendation,
                "model": f"{outcome.provider}:{outcome.model}",
                "criteria_version": version,
            },
            key=str(app["job_id"]),
            job_id=app["job_id"],
        )
    request_rebuild(app["job_id"])


def _log_params(app: dict[str, Any], call: CallRecord, version: int | None) -> dict[str, Any]:
    return {
        "organization_id": app["organization_id"],
        "application_id": app["id"],
        "job_id": app["job_id"],
        "provider": call.provider,
        "model": call.model,
        "tier": app["job_tier"],
        "routing_reason": call.routing_reason,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "cached_tokens": call.cached_tokens,
        "cache_write_tokens": call.cache_write_tokens,
        "cost_usd": call.cost_usd,
        "latency_ms": call.latency_ms,
        "outcome": call.outcome,
        "error": call.error,
        "score": call.score,
        "criteria_version": version,
        "price_table_version": call.price_table_version,
    }
