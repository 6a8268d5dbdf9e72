"""The ``score`` pool: screen a parsed application, store the result, ask for a shortlist.

Per application, in the usual case: no read (parse hands over the text, the job and the
criteria version in force, :data:`tasks._handoff.SCORE_FIELDS`), the screening, and one
statement that moves the application to ``screened`` with its result, both events and the
ledger rows (:func:`core.status.change_status`). Criteria are parsed once per (job, version)
per process. Where the job's tier may call a paid model, the row is read first (one query,
the criteria version included): a résumé erased since parse must
never reach a provider.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import dramatiq
import psycopg
from psycopg.types.json import Jsonb

from core.domain import ERASED
from core.domain import ApplicationStatus as S
from core.events import APPLICATIONS_SCREENED
from core.logs import application_id_var
from core.queue import SCORE, SCORE_APPLICATION
from core.status import Event, Expr, change_status
from screening.engine import (
    CallRecord,
    ScreeningOutcome,
    ScreeningRequest,
    may_call_models,
    screen,
)
from tasks import _criteria, _handoff, _resources
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)

log = logging.getLogger(__name__)

ERASED_REASON = "resume_erased: the candidate's personal data was erased before screening"

# The application, its job, and the criteria version in force (the criteria themselves are
# read once per version and process, :mod:`tasks._criteria`).
_LOAD_SQL = """
SELECT a.*, j.title AS job_title, j.description AS job_description, j.tier AS job_tier,
       (SELECT max(c.version) FROM screening_criteria c WHERE c.job_id = a.job_id)
           AS criteria_version_now
  FROM application_index i
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
  JOIN jobs j ON j.id = a.job_id
 WHERE i.id = %s
"""

# The ledger rows of the calls made, written only if the application moved (CTE ``moved``).
_LOG_SQL = (
    "INSERT INTO ai_screening_log (organization_id, application_id, job_id, provider,"
    " llm_model, tier, routing_reason, prompt_tokens, completion_tokens, cached_tokens,"
    " cache_write_tokens, cost_usd, decision_time_ms, outcome, error, final_score,"
    " criteria_version, price_table_version)"
    " SELECT m.organization_id, m.id, m.job_id, r.provider, r.model, %(l_tier)s::text,"
    " r.routing_reason, r.prompt_tokens, r.completion_tokens, r.cached_tokens,"
    " r.cache_write_tokens, r.cost_usd, r.latency_ms, r.outcome, r.error, r.score,"
    " %(l_version)s::int, r.price_table_version"
    " FROM moved m CROSS JOIN jsonb_to_recordset(%(l_calls)s) AS r(provider text, model text,"
    " routing_reason text, prompt_tokens int, completion_tokens int, cached_tokens int,"
    " cache_write_tokens int, cost_usd numeric, latency_ms int, outcome text, error text,"
    " score numeric, price_table_version text)"
)

# A résumé erased while it was being screened keeps its score, not its quotes.
_REASONING = Expr(
    "CASE WHEN a.pii_erased_at IS NULL THEN %(s_reasoning)s::jsonb"
    " ELSE %(s_reasoning_erased)s::jsonb END"
)


@dramatiq.actor(
    actor_name=SCORE_APPLICATION,
    queue_name=SCORE,
    max_retries=_resources.settings().score_max_retries,
    min_backoff=2_000,
    max_backoff=300_000,
    time_limit=300_000,
    max_age=7 * 24 * 3_600_000,
)
def score_application(application_id: str, handoff: dict[str, Any] | None = None) -> None:
    """Screen one application. Idempotent: only an application in ``screening`` is scored; one
    whose personal data was erased meanwhile ends ``withdrawn`` unscreened.

    ``handoff`` is what parse knew (:data:`tasks._handoff.SCORE_FIELDS`); without it, or when
    the job's tier may call a paid model, the row is read first.
    """
    token = application_id_var.set(application_id)
    try:
        _score(application_id, handoff)
    finally:
        application_id_var.reset(token)


def _score(application_id: str, handoff: dict[str, Any] | None = None) -> None:
    app = _from_handoff(handoff) if handoff else None
    trusted = app is not None
    if app is None:
        app = _load(application_id)
        if app is None:
            return
    criteria = _criteria.of_version(_resources.db, app["job_id"], app["criteria_version"])
    outcome = screen(
        ScreeningRequest(
            application_id=app["id"],
            organization_id=app["organization_id"],
            job_id=app["job_id"],
            job_title=app["job_title"],
            job_description=app["job_description"],
            tier=app["job_tier"],
            criteria=criteria,
            criteria_version=app["criteria_version"],
            resume_text=app["resume_text"] or "",
        )
    )
    with _resources.db().connection() as conn:
        moved = store_result(conn, app, outcome, unless_erased=trusted)
    if moved:
        _handoff.to_shortlist(app["job_id"])
    else:
        # Another delivery won, or (handed over) the candidate was erased since parse.
        _load(application_id)


def _load(application_id: str) -> dict[str, Any] | None:
    """The row to score, or None when there is nothing (more) to screen; ends an erased
    application as ``withdrawn`` and re-asks for the shortlist of a screened one."""
    with _resources.db().connection() as conn:
        app: dict[str, Any] | None = conn.execute(_LOAD_SQL, (application_id,)).fetchone()
        if app is None:
            return None
        if app["status"] != S.SCREENING:
            if app["status"] == S.SCREENED:
                _handoff.to_shortlist(app["job_id"])  # the earlier run may have died first
            return None
        if app["pii_erased_at"] is not None:
            # Nothing left to screen (and no reason to pay a model for it).
            change_status(conn, app, S.WITHDRAWN, expect=S.SCREENING, reason=ERASED_REASON)
            return None
    app["criteria_version"] = app.pop("criteria_version_now")
    return app


def store_result(
    conn: psycopg.Connection[Any],
    app: dict[str, Any],
    outcome: ScreeningOutcome,
    *,
    unless_erased: bool,
) -> bool:
    """Move ``app`` to ``screened`` with its result, both events and the ledger rows, in one
    statement; False if it did not move (no longer ``screening``; with ``unless_erased``,
    also when the candidate was erased)."""
    result = outcome.result
    flags = list(dict.fromkeys([*(app["resume_flags"] or []), *result.flags]))
    details: dict[str, Any] = {
        "reasoning": result.reasoning,
        "evidence": [e.model_dump() for e in result.evidence],
        "routing_reason": outcome.routing_reason,
        "provider": outcome.provider,
    }
    model = f"{outcome.provider}:{outcome.model}"
    version = app["criteria_version"]
    calls = outcome.calls
    moved = change_status(
        conn,
        app,
        S.SCREENED,
        expect=S.SCREENING,
        unless_erased=unless_erased,
        columns={
            "ai_score": round(result.score, 2),
            "ai_reasoning": _REASONING,
            "ai_recommendation": result.recommendation,
            "ai_confidence": round(result.confidence, 3),
            "ai_screened_at": datetime.now(UTC),
            "ai_skills_matched": Jsonb(result.matched_skills),
            "ai_skills_missing": Jsonb(result.missing_skills),
            "ai_model_version": model,
            "criteria_version": version,
            "resume_flags": Jsonb(flags),
            "needs_review": bool(flags) or bool(app["needs_review"]),
        },
        events=[
            Event(
                APPLICATIONS_SCREENED,
                {
                    "application_id": str(app["id"]),
                    "job_id": str(app["job_id"]),
                    "score": result.score,
                    "recommendation": result.recommendation,
                    "model": model,
                    "criteria_version": version,
                },
            )
        ],
        then=[_LOG_SQL] if calls else [],
        params={
            "s_reasoning": Jsonb(details),
            "s_reasoning_erased": Jsonb(
                {k: v for k, v in details.items() if k != "evidence"} | {"reasoning": ERASED}
            ),
            "l_tier": app["job_tier"],
            "l_version": version,
            "l_calls": Jsonb([_call_row(c) for c in calls]),
        },
    )
    return moved is not None


def _call_row(call: CallRecord) -> dict[str, Any]:
    return {
        "provider": call.provider,
        "model": call.model,
        "routing_reason": call.routing_reason,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "cached_tokens": call.cached_tokens,
        "cache_write_tokens": call.cache_write_tokens,
        "cost_usd": str(call.cost_usd),
        "latency_ms": call.latency_ms,
        "outcome": call.outcome,
        "error": call.error,
        "score": call.score,
        "price_table_version": call.price_table_version,
    }


def _from_handoff(handoff: dict[str, Any]) -> dict[str, Any] | None:
    """The handed-over application, if the local screener alone may score it (a tier that
    may pay a model reads the row: the candidate may have been erased since parse)."""
    if may_call_models(str(handoff.get("job_tier"))):
        return None
    app = {name: handoff.get(name) for name in _handoff.SCORE_FIELDS}
    try:
        app["id"] = uuid.UUID(str(app["id"]))
        app["organization_id"] = uuid.UUID(str(app["organization_id"]))
        app["job_id"] = uuid.UUID(str(app["job_id"]))
        app["created_at"] = datetime.fromisoformat(str(app["created_at"]))
    except ValueError:
        return None
    return app
