"""``pvara costs report``: the finance report of the LLM ledger as a terminal table."""

from __future__ import annotations

import argparse
import json

from core.db import connect
from core.settings import Settings
from screening.reports import CostReport, cost_report, period, to_csv

_COLUMNS = (
    ("applications", 12),
    ("paid_applications", 17),
    ("calls", 8),
    ("failed_calls", 12),
    ("prompt_tokens", 14),
    ("completion_tokens", 17),
    ("cached_tokens", 13),
    ("cost_usd", 16),
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
        cells = "".join(f" {getattr(row, n)!s:>{w}}" for n, w in _COLUMNS)
        lines.append(f"{row.key:<{key_width}}{cells}")
    p = report.projection
    lines += [
        "",
        f"applications reaching a priced model: {report.paid_share * 100:.2f}%",
        f"projection at {p.applications_per_day:,} applications/day under the current routing:",
        f"  API models   ${p.api_cost_per_application}/application"
        f" x {p.applications_per_day:,} x 30 = ${p.api_usd_per_month:,}/month",
        f"  Ollama       {max(p.ollama_gpus_configured, p.ollama_gpus_needed)} GPU(s)"
        f" x ${p.ollama_gpu_hour_usd}/h x 720 h = ${p.ollama_usd_per_month:,}/month"
        f" (GPU time needed: {p.ollama_gpu_hours_needed_per_month:,} h)",
        f"  total        ${p.total_usd_per_month:,}/month",
    ]
    return "\n".join(lines)
