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
from typing import Annotated, Any, Literal

import psycopg
from psycopg import AsyncConnection
from pydantic import BaseModel, PlainSerializer

from core.settings import Settings
from screening.prices import GpuPrice, PriceTable, UnknownPriceError, load_prices

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
_PER_APP = Decimal("0.0001")
_HOURS = Decimal("0.01")


def _fixed(value: Decimal) -> str:
    """A decimal in plain notation (``0.00000000``, never ``0E-8``)."""
    return format(value, "f")


#: An amount of money in JSON: a string in plain decimal notation, exact to the ledger's scale.
Usd = Annotated[Decimal, PlainSerializer(_fixed, return_type=str, when_used="json")]


def usd(amount: Decimal) -> str:
    """Money for people: ``$1,234.57`` (rounded half-even to the cent)."""
    cents = amount.quantize(_CENTS, ROUND_HALF_EVEN)
    return f"-${-cents:,.2f}" if cents < 0 else f"${cents:,.2f}"


def usd_per_application(amount: Decimal) -> str:
    """A cost per application: four decimals (``$0.0039``); ``<$0.0001`` when it rounds away."""
    if 0 < amount < Decimal("0.00005"):
        return "<$0.0001"
    return f"${amount.quantize(_PER_APP, ROUND_HALF_EVEN):,.4f}"


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
    cost_usd: Usd
    cost_per_application: Usd


class ProviderProjection(BaseModel):
    """One row of the monthly projection, laid out like the seed's cost table.

    ``share_of_applications`` is the share of applications with at least one call to the
    provider: the local screener sees every application, so the shares add up to more than
    100 %. API providers cost their observed cost per application times the applications
    they will see; a self-hosted provider costs the machines kept running (``units_billed``
    × hourly rate × 720 h), at least as many as the compute hours the volume needs.
    """

    provider: str
    self_hosted: bool
    share_of_applications: Decimal
    applications_per_month: int
    cost_per_application: Usd
    usd_per_month: Usd
    compute: Literal["GPU", "CPU"] | None = None
    hour_usd: Usd | None = None
    hours_observed: Decimal | None = None
    hours_per_month: Decimal | None = None
    units_billed: int | None = None


class Projection(BaseModel):
    """Cost per month at ``applications_per_day`` under the routing observed.

    API spend scales with the observed cost per application; Ollama costs the GPUs kept
    running (``ollama_gpus_configured``) or, if more, those the observed GPU time needs.
    """

    applications_per_day: int
    api_cost_per_application: Usd
    api_usd_per_month: Usd
    ollama_gpu_hour_usd: Usd
    ollama_gpu_hours_needed_per_month: Decimal
    ollama_gpus_configured: int
    ollama_gpus_needed: int
    ollama_usd_per_month: Usd
    total_usd_per_month: Usd
    providers: list[ProviderProjection] = []
    """The seed's table: per provider, share of applications, cost each, cost per month."""


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
    providers = rows if group_by == "provider" else conn.execute(_group_sql("provider"), params)
    models = rows if group_by == "model" else conn.execute(_group_sql("model"), params)
    return build_report(
        rows,
        total,
        providers=list(providers),
        models=list(models),
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
    providers = rows
    if group_by != "provider":
        providers = await (await conn.execute(_group_sql("provider"), params)).fetchall()
    models = rows
    if group_by != "model":
        models = await (await conn.execute(_group_sql("model"), params)).fetchall()
    return build_report(
        rows,
        total,
        providers=providers,
        models=models,
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
    providers: Sequence[Mapping[str, Any]] = (),
    models: Sequence[Mapping[str, Any]] = (),
) -> CostReport:
    """Assemble the report from the grouped rows and the total row of the SQL above (plus the
    rows by provider and by model, which the per-provider projection needs)."""
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
        ).model_copy(
            update={
                "providers": provider_projection(
                    providers,
                    models,
                    applications=applications,
                    applications_per_day=applications_per_day,
                    gpus=gpus,
                    prices=prices,
                )
            }
        ),
    )


def _hourly(
    prices: PriceTable, provider: str, model: str
) -> tuple[Literal["GPU", "CPU"], Decimal] | None:
    """``("GPU" | "CPU", USD per hour)`` when the model is priced by machine time."""
    try:
        price = prices.price(provider, model)
    except UnknownPriceError:
        return None
    for compute, field in (("GPU", "gpu_hour_usd"), ("CPU", "cpu_hour_usd")):
        rate = getattr(price, field, None)
        if rate:
            return compute, Decimal(rate)  # type: ignore[return-value]
    return None


def provider_projection(
    providers: Sequence[Mapping[str, Any]],
    models: Sequence[Mapping[str, Any]],
    *,
    applications: int,
    applications_per_day: int,
    gpus: int,
    prices: PriceTable,
) -> list[ProviderProjection]:
    """The seed's cost table from the observed routing: see :class:`ProviderProjection`."""
    monthly_apps = Decimal(applications_per_day * DAYS_PER_MONTH)
    priced: dict[str, list[tuple[Decimal, Decimal]]] = {}  # provider → (cost, hourly rate)
    compute: dict[str, tuple[Literal["GPU", "CPU"], Decimal]] = {}
    for row in models:
        provider, _, model = str(row["key"]).partition(":")
        if (hourly := _hourly(prices, provider, model)) is not None:
            compute.setdefault(provider, hourly)
            priced.setdefault(provider, []).append((Decimal(row.get("cost_usd") or 0), hourly[1]))
    observed = {str(r["key"]): r for r in providers}
    if gpus and "ollama" not in observed:  # the GPUs kept running cost even when idle
        observed["ollama"] = {"key": "ollama", "applications": 0, "cost_usd": 0}
    out = []
    for provider, row in sorted(observed.items()):
        apps = int(row.get("applications") or 0)
        cost = Decimal(row.get("cost_usd") or 0)
        share = Decimal(apps) / applications if applications else Decimal(0)
        per_app = cost / apps if apps else Decimal(0)
        hourly = compute.get(provider) or _hourly(prices, provider, "*")
        entry = ProviderProjection(
            provider=provider,
            self_hosted=provider not in API_PROVIDERS,
            share_of_applications=share.quantize(_PER_APP, ROUND_HALF_EVEN),
            applications_per_month=int((share * monthly_apps).to_integral_value()),
            cost_per_application=per_app.quantize(_USD, ROUND_HALF_EVEN),
            usd_per_month=Decimal(0),
        )
        if hourly is None:
            month = cost / applications * monthly_apps if applications else Decimal(0)
            out.append(entry.model_copy(update={"usd_per_month": month.quantize(_CENTS)}))
            continue
        kind, rate = hourly
        calls = priced.get(provider, [])
        used = sum((c / r for c, r in calls), Decimal(0))
        if used:
            rate = cost / used  # the rate the calls were priced at
        per_month = sum(
            (c * monthly_apps / applications / r for c, r in calls if applications), Decimal(0)
        )
        needed = math.ceil(per_month / HOURS_PER_MONTH)
        units = max(gpus if provider == "ollama" and kind == "GPU" else 0, needed)
        month = units * rate * HOURS_PER_MONTH
        out.append(
            entry.model_copy(
                update={
                    "compute": kind,
                    "hour_usd": rate.quantize(_CENTS, ROUND_HALF_EVEN),
                    "hours_observed": used.quantize(Decimal("0.0001"), ROUND_HALF_EVEN),
                    "hours_per_month": per_month.quantize(_HOURS, ROUND_HALF_EVEN),
                    "units_billed": units,
                    "usd_per_month": month.quantize(_CENTS, ROUND_HALF_EVEN),
                }
            )
        )
    return out


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


#: The CSV's money columns: amounts in dollars and cents, per application to four decimals.
_CSV_MONEY = {"cost_usd": _CENTS, "cost_per_application": _PER_APP}


def to_csv(report: CostReport) -> str:
    """The groups and a final ``total`` row as CSV (one header line). Money is in plain
    decimal notation for spreadsheets: ``cost_usd`` to the cent, ``cost_per_application`` to
    four decimals (the header names the currency)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([report.group_by if c == "key" else c for c in CSV_COLUMNS])
    for row in [*report.rows, report.total]:
        writer.writerow([_csv_cell(c, getattr(row, c)) for c in CSV_COLUMNS])
    return out.getvalue()


def _csv_cell(column: str, value: Any) -> Any:
    places = _CSV_MONEY.get(column)
    return _fixed(Decimal(value).quantize(places, ROUND_HALF_EVEN)) if places else value


def _row(key: str, r: Mapping[str, Any]) -> CostRow:
    applications = int(r.get("applications") or 0)
    cost = Decimal(r.get("cost_usd") or 0).quantize(_USD, ROUND_HALF_EVEN)
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
