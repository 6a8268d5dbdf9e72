"""``pvara demo --llm ollama``: the demo with a real model in the cascade, next to local only.

The local Ollama server is started (built once), the demo's workers route the *uncertain
band* of the job (a local score within ``PVARA_LLM_UNCERTAIN_BAND`` of its threshold) to
the bundled model, and the same résumés go to a twin job that stays local. At the end both
runs are printed side by side from the ledger: who scored what, the model's real token
counts and latencies, its self-hosted CPU time, and the cost per application.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from psycopg.types.json import Jsonb

from core.db import connect
from core.settings import Settings
from ops.services import ServiceError
from ops.services.ollama import LOCAL_MODEL, OllamaService
from screening.criteria import EXAMPLE_CRITERIA
from screening.prices import PriceTable, load_prices
from screening.providers import Usage

PROVIDERS = ("ollama",)
DEFAULT_COUNT = 8
"""A small sample: a CPU-served model takes 10-60 s an answer on two cores."""
LLM_TIMEOUT_S = 240.0
"""Below the score actor's 300 s limit; queued behind the other calls, an answer can wait."""
LLM_STEP = f"ollama:{LOCAL_MODEL}"


@dataclass(frozen=True)
class LlmDemo:
    """The started server and what the demo's processes need to route to it."""

    address: str
    model: str
    env: dict[str, str]


def start(settings: Settings, provider: str) -> LlmDemo:
    """Start (or find) the server and say how the workers reach it.

    Raises:
        ServiceError: the server could not be built or started.
    """
    if provider not in PROVIDERS:
        raise ServiceError(f"--llm {provider}: only {', '.join(PROVIDERS)} can run here")
    service = OllamaService(settings)
    if not service.external and not service.answers():
        print("  starting the local Ollama server (the first time builds it: minutes) …")
    status = service.up()
    if not status.answering:
        raise ServiceError(f"ollama: {status.address} does not answer")
    routes = {
        **settings.llm_routes,
        "basic": {"escalate": "never", "chain": []},
        "standard": {"escalate": "uncertain", "chain": [LLM_STEP]},
    }
    env = {
        "PVARA_OLLAMA_HOST": status.address,
        "PVARA_LLM_ROUTES": json.dumps(routes),
        "PVARA_LLM_TIMEOUT_S": str(LLM_TIMEOUT_S),
        # The band alone decides: the local screener's low confidence would send everything.
        "PVARA_LLM_MIN_CONFIDENCE": "0",
    }
    version = status.detail.get("version", "?")
    print(
        f"  the uncertain band goes to {LLM_STEP} (Ollama {version} at {status.address});"
        " a local-only twin job gets the same résumés"
    )
    return LlmDemo(status.address, LOCAL_MODEL, env)


def model_progress(settings: Settings, job_id: uuid.UUID) -> Callable[[], str]:
    """A progress note for the demo's wait loop: the model's answers so far."""

    started = time.monotonic()

    def note() -> str:
        with connect(settings, autocommit=True) as conn:
            row = conn.execute(_PROGRESS_SQL, (job_id,)).fetchone()
        working = f"working {time.monotonic() - started:.0f}s"
        if not row or not row["calls"]:
            return f"model: no answer yet, {working}"
        return (
            f"model: {row['calls']} answered ({row['failed']} failed), "
            f"last took {row['last_ms'] / 1000:.1f}s, {working}"
        )

    return note


def compare(settings: Settings, local_job: uuid.UUID, routed_job: uuid.UUID) -> str:
    """The comparison of the two jobs' screening, as printable text."""
    prices = load_prices(settings)
    local, routed = figures(settings, local_job, prices), figures(settings, routed_job, prices)
    return render_comparison(local, routed, LOCAL_MODEL)


def create_local_twin(settings: Settings, organization_id: uuid.UUID) -> uuid.UUID:
    """A second job like the demo's, whose tier never leaves the local screener."""
    job_id = uuid.uuid4()
    with connect(settings, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (id, organization_id, title, department, description, location,"
            " tier) VALUES (%s, %s, %s, 'Engineering', %s, 'Remote', 'basic')",
            (
                job_id,
                organization_id,
                "Backend Engineer (Python), local only",
                "Build and run Python services on PostgreSQL; containers and Kubernetes a plus.",
            ),
        )
        conn.execute(
            "INSERT INTO screening_criteria (organization_id, job_id, version, criteria,"
            " top_n_candidates, min_score_threshold) VALUES (%s, %s, 1, %s, 10, 70)",
            (organization_id, job_id, Jsonb(EXAMPLE_CRITERIA)),
        )
    return job_id


@dataclass(frozen=True)
class RunFigures:
    """One job's screening as the ledger recorded it."""

    applications: int
    by_scorer: dict[str, int]
    degraded: int
    calls: int
    failed_calls: int
    prompt_tokens: int
    completion_tokens: int
    latencies_ms: list[int]
    cost_usd: Decimal
    vcpu_hours: Decimal
    submit_to_scored_ms: list[float]

    @property
    def cost_per_application(self) -> Decimal:
        return self.cost_usd / self.applications if self.applications else Decimal(0)


def figures(settings: Settings, job_id: uuid.UUID, prices: PriceTable | None = None) -> RunFigures:
    """The routing mix, model calls, latencies and cost of ``job_id``."""
    prices = prices or load_prices(settings)
    with connect(settings, autocommit=True) as conn:
        apps = conn.execute(_APPS_SQL, (job_id,)).fetchall()
        calls = conn.execute(_CALLS_SQL, (job_id,)).fetchall()
    by_scorer: dict[str, int] = {}
    for app in apps:
        by_scorer[app["scorer"]] = by_scorer.get(app["scorer"], 0) + 1
    paid = [c for c in calls if c["provider"] != "local"]
    hours = Decimal(0)
    for call in paid:
        used = prices.self_hosted_time(
            call["provider"],
            call["llm_model"],
            Usage(call["prompt_tokens"], call["completion_tokens"]),
            call["decision_time_ms"] or 0,
        )
        hours += used.unit_hours if used is not None and used.device == "cpu" else 0
    return RunFigures(
        applications=len(apps),
        by_scorer=by_scorer,
        degraded=sum(1 for a in apps if a["degraded"]),
        calls=len(paid),
        failed_calls=sum(1 for c in paid if c["outcome"] != "ok"),
        prompt_tokens=sum(c["prompt_tokens"] for c in paid),
        completion_tokens=sum(c["completion_tokens"] for c in paid),
        latencies_ms=sorted(c["decision_time_ms"] or 0 for c in paid),
        cost_usd=sum((Decimal(c["cost_usd"]) for c in calls), Decimal(0)),
        vcpu_hours=hours,
        submit_to_scored_ms=sorted(float(a["ms"]) for a in apps if a["ms"] is not None),
    )


def render_comparison(local: RunFigures, llm: RunFigures, model: str) -> str:
    """Both runs side by side."""

    def pct(values: Sequence[float], q: float) -> float:
        if not values:
            return 0.0
        return float(values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))])

    def scorers(run: RunFigures) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(run.by_scorer.items())) or "-"

    def latency(run: RunFigures) -> str:
        if not run.latencies_ms:
            return "-"
        ms = run.latencies_ms
        return f"p50 {pct(ms, 50) / 1000:.1f}s  max {ms[-1] / 1000:.1f}s"

    def tokens(run: RunFigures) -> str:
        return f"{run.prompt_tokens} / {run.completion_tokens}" if run.calls else "-"

    rows: list[tuple[str, str, str]] = [
        ("applications", str(local.applications), str(llm.applications)),
        ("scored by", scorers(local), scorers(llm)),
        ("fell back (degraded)", str(local.degraded), str(llm.degraded)),
        (
            "model calls (failed)",
            f"{local.calls} ({local.failed_calls})",
            f"{llm.calls} ({llm.failed_calls})",
        ),
        ("prompt / completion tokens", tokens(local), tokens(llm)),
        ("model latency", latency(local), latency(llm)),
        ("self-hosted CPU time", f"{local.vcpu_hours:.5f} vCPU-h", f"{llm.vcpu_hours:.5f} vCPU-h"),
        ("cost", f"${local.cost_usd:.8f}", f"${llm.cost_usd:.8f}"),
        (
            "cost per application",
            f"${local.cost_per_application:.8f}",
            f"${llm.cost_per_application:.8f}",
        ),
        (
            "submit→scored p50 / max",
            _seconds_pair(local.submit_to_scored_ms, pct),
            _seconds_pair(llm.submit_to_scored_ms, pct),
        ),
    ]
    width = max(len(r[1]) for r in rows) + 2
    lines = [
        f"== The LLM tier: local only vs. the uncertain band to ollama:{model} (same résumés) ==",
        f"  {'':<28}{'local only':<{width}}with the model",
    ]
    lines += [f"  {name:<28}{left:<{width}}{right}" for name, left, right in rows]
    return "\n".join(lines)


def _seconds_pair(values: list[float], pct: Callable[[Sequence[float], float], float]) -> str:
    if not values:
        return "-"
    return f"{pct(values, 50) / 1000:.1f}s / {values[-1] / 1000:.1f}s"


_PROGRESS_SQL = """
SELECT count(*) AS calls,
       count(*) FILTER (WHERE outcome <> 'ok') AS failed,
       (array_agg(decision_time_ms ORDER BY created_at DESC))[1] AS last_ms
  FROM ai_screening_log
 WHERE job_id = %s AND provider <> 'local'
"""
_APPS_SQL = """
SELECT coalesce(ai_model_version, 'unscored') AS scorer,
       coalesce(resume_flags::text LIKE '%%"degraded:%%', false) AS degraded,
       extract(epoch FROM ai_screened_at - submitted_at) * 1000 AS ms
  FROM applications
 WHERE job_id = %s
"""
_CALLS_SQL = """
SELECT provider, llm_model, prompt_tokens, completion_tokens, decision_time_ms, cost_usd, outcome
  FROM ai_screening_log
 WHERE job_id = %s
"""
