"""``pvara costs report``: the finance report of the LLM ledger as a terminal table."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal

from core.db import connect
from core.settings import Settings
from screening.reports import (
    CostReport,
    CostRow,
    cost_report,
    period,
    to_csv,
    usd,
    usd_per_application,
)

_COLUMNS = (
    ("applications", 12),
    ("paid_applications", 17),
    ("calls", 8),
    ("failed_calls", 12),
    ("prompt_tokens", 14),
    ("completion_tokens", 17),
    ("cached_tokens", 13),
    ("cost_usd", 12),
    ("cost_per_application", 20),
)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the report in the chosen format."""
    start, end = period(args.start, args.end)
    with connect(settings, autocommit=True) as conn:
        report = cost_report(
            conn,
            start=start,
            end=end,
            group_by=args.group_by,
            organization_id=args.organization,
            applications_per_day=args.per_day,
            settings=settings,
        )
    if args.format == "json":
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    elif args.format == "csv":
        print(to_csv(report), end="")
    else:
        print(render_table(report))
    return 0


def render_table(report: CostReport) -> str:
    """The groups, the total, the paid share and the projection, aligned for a terminal."""
    key_width = max([len(report.group_by), 5, *(len(r.key) for r in report.rows)])
    header = f"{report.group_by:<{key_width}}" + "".join(f" {n:>{w}}" for n, w in _COLUMNS)
    rule = "-" * len(header)
    lines = [
        f"LLM costs {report.start:%Y-%m-%d} .. {report.end:%Y-%m-%d} (end excluded), "
        f"by {report.group_by}",
        header,
        rule,
    ]
    for row in [*report.rows, report.total]:
        if row is report.total:
            lines.append(rule)
        cells = "".join(f" {_cell(row, n):>{w}}" for n, w in _COLUMNS)
        lines.append(f"{row.key:<{key_width}}{cells}")
    lines += ["", f"applications reaching a priced model: {report.paid_share * 100:.2f}%", ""]
    lines += render_projection(report)
    return "\n".join(lines)


def _cell(row: CostRow, name: str) -> str:
    value = getattr(row, name)
    if name == "cost_usd":
        return usd(value)
    if name == "cost_per_application":
        return usd_per_application(value)
    return f"{value:,}"


def render_projection(report: CostReport) -> list[str]:
    """The monthly projection laid out like the seed's cost table, one line per provider."""
    p = report.projection
    monthly = p.applications_per_day * 30
    lines = [
        f"Monthly projection at {p.applications_per_day:,} applications/day"
        f" ({monthly:,}/month) under the routing observed:",
        f"  {'provider':<10} {'share of apps':>13} {'cost/app':>10} {'apps/month':>14}"
        f" {'monthly cost':>16}  self-hosted time",
    ]
    for row in p.providers:
        time_used = ""
        if row.compute is not None and row.units_billed is not None:
            time_used = (
                f"{row.units_billed} {row.compute}(s) x {usd(row.hour_usd or Decimal(0))}/h x 720 h"
                f" (needs {row.hours_per_month:,} {row.compute} h/month;"
                f" {row.hours_observed} h used in the period)"
            )
        elif row.self_hosted:
            time_used = "in-process (worker CPU, not priced)"
        lines.append(
            f"  {row.provider:<10} {row.share_of_applications * 100:>12.2f}%"
            f" {usd_per_application(row.cost_per_application):>10}"
            f" {row.applications_per_month:>14,} {usd(row.usd_per_month):>16}  {time_used}"
        )
    lines.append(f"  {'total':<10} {'':>13} {'':>10} {'':>14} {usd(p.total_usd_per_month):>16}")
    return lines
