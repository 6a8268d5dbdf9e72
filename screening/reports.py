"""Finance reports over the cost ledger (``ai_screening_log``) and the monthly projection.

One SQL text serves the API (async, RLS-bound connection) and the CLI (sync, owner): the
report is built from its rows by :func:`build_report`, so both give the same numbers.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection
from pydantic import BaseModel

from core.settings import Settings
from screening.prices import GpuPrice, PriceTable, load_prices

GroupBy = Literal["provider", "model", "job", "organization", "day", "tier"]
GROUP_BY: tuple[GroupBy, ...] = ("provider", "model", "job", "organization", "day", "tier")
API_PROVIDERS = ("openai", "anthropic")
HOURS_PER_MONTH = 720
DAYS_PER_MONTH = 30

_KEYS: dict[GroupBy, str] = {
    "provider": "provider",
    "model": "provider || ':' || llm_model",
    "job": "job_id::text",
    "organization": "organization_id::text",
    "day": "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "tier": "coalesce(tier, 'unknown')",
}
_MEASURES = """
    count(*) AS calls,
    count(*) FILTER (WHERE outcome <> 'ok') AS failed_calls,
    count(DISTINCT application_id) AS applications,
    count(DISTINCT application_id) FILTER (WHERE provider <> 'local') AS paid_applications,
    coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
    coalesce(sum(completion_tokens), 0) AS completion_tokens,
    coalesce(sum(cached_tokens), 0) AS cached_tokens,
    coalesce(sum(cost_usd), 0) AS cost_usd,
    coalesce(sum(cost_usd) FILTER (WHERE provider IN ('openai', 'anthropic')), 0) AS api_usd,
    coalesce(sum(cost_usd) FILTER (WHERE provider = 'ollama'), 0) AS ollama_usd
"""
_WHERE = """
  FROM ai_screening_log
 WHERE created_at >= %(start)s AND created_at < %(end)s
   AND (%(organization_id)s::uuid IS NULL OR organization_id = %(organization_id)s::uuid)
"""
_TOTAL_SQL = f"SELECT {_MEASURES} {_WHERE}"
_USD = Decimal("0.00000001")
_CENTS = Decimal("0.01")


def _group_sql(group_by: GroupBy) -> str:
    return f"SELECT {_KEYS[group_by]} AS key, {_MEASURES} {_WHERE} GROUP BY 1 ORDER BY 1"


class CostRow(BaseModel):
    """Spending of one group (or of everything, as the total)."""

    key: str
    calls: int
    failed_calls: int
    applications: int
    paid_applications: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: Decimal
    cost_per_application: Decimal


class Projection(BaseModel):
    """Cost per month at ``applications_per_day`` under the routing observed.

    API spend scales with the observed cost per application; Ollama costs the GPUs kept
    running (``ollama_gpus_configured``) or, if more, those the observed GPU time needs.
    """

    applications_per_day: int
    api_cost_per_application: Decimal
    api_usd_per_month: Decimal
    ollama_gpu_hour_usd: Decimal
    ollama_gpu_hours_needed_per_month: Decimal
    ollama_gpus_configured: int
    ollama_gpus_needed: int
    ollama_usd_per_month: Decimal
    total_usd_per_month: Decimal


class CostReport(BaseModel):
    """The finance report: groups, total, share reaching a model, projection."""

    start: datetime
    end: datetime
    group_by: GroupBy
    organization_id: uuid.UUID | None
    rows: list[CostRow]
    total: CostRow
    paid_share: Decimal
    """Share of applications with at least one call to a priced model (Ollama included)."""
    projection: Projection


def period(start: date | datetime | None, end: date | datetime | None) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC; a date-only ``end`` includes that whole day.

    Defaults: the 30 days up to and including today.
    """
    today = datetime.now(UTC).date()
    end_at = _instant(end if end is not None else today, end_of_day=True)
    start_at = _instant(start if start is not None else today - timedelta(days=29))
    return start_at, end_at


def _instant(value: date | datetime, *, end_of_day: bool = False) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time(), UTC)


def _params(start: datetime, end: datetime, organization_id: uuid.UUID | None) -> dict[str, Any]:
    return {"start": start, "end": end, "organization_id": organization_id}


def cost_report(
    conn: psycopg.Connection[Any],
    *,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    organization_id: uuid.UUID | None,
    applications_per_day: int,
    settings: Settings,
    prices: PriceTable | None = None,
) -> CostReport:
    """The report from a sync connection with dict rows (CLI)."""
    params = _params(start, end, organization_id)
    rows = conn.execute(_group_sql(group_by), params).fetchall()
    total = conn.execute(_TOTAL_SQL, params).fetchone()
    return build_report(
        rows,
        total,
        start=start,
        end=end,
        group_by=group_by,
        organization_id=organization_id,
        applications_per_day=applications_per_day,
        gpus=settings.ollama_gpus,
        prices=prices or load_prices(settings),
    )


async def cost_report_async(
    conn: AsyncConnection[Any],
    *,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    organization_id: uuid.UUID | None,
    applications_per_day: int,
    settings: Settings,
    prices: PriceTable | None = None,
) -> CostReport:
    """The report from an async connection with dict rows (API)."""
    params = _params(start, end, organization_id)
    rows = await (await conn.execute(_group_sql(group_by), params)).fetchall()
    total = await (await conn.execute(_TOTAL_SQL, params)).fetchone()
    return build_report(
        rows,
        total,
        start=start,
        end=end,
        group_by=group_by,
        organization_id=organization_id,
        applications_per_day=applications_per_day,
        gpus=settings.ollama_gpus,
        prices=prices or load_prices(settings),
    )


def build_report(
    rows: Sequence[Mapping[str, Any]],
    total: Mapping[str, Any] | None,
    *,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    organization_id: uuid.UUID | None,
    applications_per_day: int,
    gpus: int,
    prices: PriceTable,
) -> CostReport:
    """Assemble the report from the grouped rows and the total row of the SQL above."""
    total = total or {}
    total_row = _row("total", total)
    applications = total_row.applications
    paid_share = Decimal(total_row.paid_applications) / applications if applications else Decimal(0)
    return CostReport(
        start=start,
        end=end,
        group_by=group_by,
        organization_id=organization_id,
        rows=[_row(str(r["key"]), r) for r in rows],
        total=total_row,
        paid_share=paid_share.quantize(Decimal("0.0001"), ROUND_HALF_EVEN),
        projection=project(
            applications=applications,
            api_usd=Decimal(total.get("api_usd") or 0),
            ollama_usd=Decimal(total.get("ollama_usd") or 0),
            applications_per_day=applications_per_day,
            gpus=gpus,
            gpu_hour_usd=_gpu_hour_usd(prices),
        ),
    )


def project(
    *,
    applications: int,
    api_usd: Decimal,
    ollama_usd: Decimal,
    applications_per_day: int,
    gpus: int,
    gpu_hour_usd: Decimal,
) -> Projection:
    """The monthly projection from observed spend over ``applications`` applications."""
    monthly_apps = Decimal(applications_per_day * DAYS_PER_MONTH)
    api_per_app = api_usd / applications if applications else Decimal(0)
    ollama_per_app = ollama_usd / applications if applications else Decimal(0)
    hours_needed = ollama_per_app * monthly_apps / gpu_hour_usd if gpu_hour_usd else Decimal(0)
    needed = math.ceil(hours_needed / HOURS_PER_MONTH)
    ollama_month = max(gpus, needed) * gpu_hour_usd * HOURS_PER_MONTH
    api_month = api_per_app * monthly_apps
    return Projection(
        applications_per_day=applications_per_day,
        api_cost_per_application=api_per_app.quantize(_USD, ROUND_HALF_EVEN),
        api_usd_per_month=api_month.quantize(_CENTS, ROUND_HALF_EVEN),
        ollama_gpu_hour_usd=gpu_hour_usd,
        ollama_gpu_hours_needed_per_month=hours_needed.quantize(_CENTS, ROUND_HALF_EVEN),
        ollama_gpus_configured=gpus,
        ollama_gpus_needed=needed,
        ollama_usd_per_month=ollama_month.quantize(_CENTS, ROUND_HALF_EVEN),
        total_usd_per_month=(api_month + ollama_month).quantize(_CENTS, ROUND_HALF_EVEN),
    )


CSV_COLUMNS = (
    "key",
    "applications",
    "paid_applications",
    "calls",
    "failed_calls",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "cost_per_application",
)


def to_csv(report: CostReport) -> str:
    """The groups and a final ``total`` row as CSV (one header line)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([report.group_by if c == "key" else c for c in CSV_COLUMNS])
    for row in [*report.rows, report.total]:
        writer.writerow([getattr(row, c) for c in CSV_COLUMNS])
    return out.getvalue()


def _row(key: str, r: Mapping[str, Any]) -> CostRow:
    applications = int(r.get("applications") or 0)
    cost = Decimal(r.get("cost_usd") or 0)
    per_app = cost / applications if applications else Decimal(0)
    return CostRow(
        key=key,
        calls=int(r.get("calls") or 0),
        failed_calls=int(r.get("failed_calls") or 0),
        applications=applications,
        paid_applications=int(r.get("paid_applications") or 0),
        prompt_tokens=int(r.get("prompt_tokens") or 0),
        completion_tokens=int(r.get("completion_tokens") or 0),
        cached_tokens=int(r.get("cached_tokens") or 0),
        cost_usd=cost,
        cost_per_application=per_app.quantize(_USD, ROUND_HALF_EVEN),
    )


def _gpu_hour_usd(prices: PriceTable) -> Decimal:
    price = prices.price("ollama", "*")
    return price.gpu_hour_usd if isinstance(price, GpuPrice) else Decimal(0)
