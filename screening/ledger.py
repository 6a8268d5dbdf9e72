"""The cost ledger (``ai_screening_log``): what an organization spent in a period (to seed
budgets), and a job's routing mix and cost as printable text (``pvara demo``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from core.db import DictConnection, connect
from core.settings import Settings

_SPENT_SQL = """
SELECT coalesce(sum(cost_usd), 0) AS spent
  FROM ai_screening_log
 WHERE organization_id = %(organization_id)s
   AND (%(provider)s::text IS NULL OR provider = %(provider)s)
   AND created_at >= %(since)s AND created_at < %(until)s
"""

_MIX_SQL = """
SELECT coalesce(ai_model_version, 'unscored') AS model,
       coalesce(ai_reasoning->>'routing_reason', '') AS reason,
       count(*) AS applications
  FROM applications
 WHERE job_id = %s AND ai_screened_at IS NOT NULL
 GROUP BY 1, 2
 ORDER BY 3 DESC, 1, 2
"""
_COST_SQL = """
SELECT provider || ':' || llm_model AS model,
       count(*) AS calls,
       count(*) FILTER (WHERE outcome <> 'ok') AS failed,
       coalesce(sum(cost_usd), 0) AS cost_usd
  FROM ai_screening_log
 WHERE job_id = %s
 GROUP BY 1
 ORDER BY 1
"""
_TOTAL_SQL = """
SELECT count(DISTINCT application_id) AS applications, coalesce(sum(cost_usd), 0) AS cost_usd
  FROM ai_screening_log
 WHERE job_id = %s
"""
_REASONS_SHOWN = 3


def spent_usd(
    conn: DictConnection,
    organization_id: uuid.UUID,
    provider: str | None,
    since: datetime,
    until: datetime,
) -> Decimal:
    """What ``organization_id`` spent on ``provider`` (``None``: on all) in ``[since, until)``."""
    params = {
        "organization_id": organization_id,
        "provider": provider,
        "since": since,
        "until": until,
    }
    row = conn.execute(_SPENT_SQL, params).fetchone()
    return Decimal(row["spent"]) if row else Decimal(0)


def routing_mix_and_costs(settings: Settings, job_id: uuid.UUID) -> str:
    """Which model scored how many applications of ``job_id`` and why, and what it cost."""
    with connect(settings, autocommit=True) as conn:
        mix = conn.execute(_MIX_SQL, (job_id,)).fetchall()
        costs = conn.execute(_COST_SQL, (job_id,)).fetchall()
        total = conn.execute(_TOTAL_SQL, (job_id,)).fetchone()
    lines = ["== Routing mix (who scored each application, and why) =="]
    by_model: dict[str, list[tuple[str, int]]] = {}
    for row in mix:
        by_model.setdefault(row["model"], []).append((row["reason"], int(row["applications"])))
    for model, reasons in by_model.items():
        lines.append(f"  {model:<40} {sum(n for _, n in reasons):>6} applications")
        for reason, count in reasons[:_REASONS_SHOWN]:
            lines.append(f"      {count:>6}  {reason}")
        if len(reasons) > _REASONS_SHOWN:
            rest = sum(n for _, n in reasons[_REASONS_SHOWN:])
            lines.append(f"      {rest:>6}  (other reasons)")
    lines.append("== Calls and cost (ledger) ==")
    for row in costs:
        lines.append(
            f"  {row['model']:<40} {row['calls']:>6} calls {row['failed']:>4} failed"
            f"  ${Decimal(row['cost_usd']):.6f}"
        )
    applications = int(total["applications"]) if total else 0
    spent = Decimal(total["cost_usd"]) if total else Decimal(0)
    per_app = spent / applications if applications else Decimal(0)
    lines.append(
        f"  total ${spent:.6f} for {applications} applications = ${per_app:.8f} per application"
    )
    return "\n".join(lines)
