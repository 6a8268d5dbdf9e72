"""``GET /api/v1/reports/llm-costs``: what screening cost, grouped, with a projection.

JSON by default, CSV with ``Accept: text/csv``. Finance and admin only; the numbers are the
caller's organization's (the query runs RLS-bound in an :class:`OrgSession` transaction).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from api.security import DEPENDENCIES, SECURITY, OrgSession
from screening.reports import CostReport, GroupBy, cost_report_async, period, to_csv

CSV = "text/csv"


class ReportsController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]
    dependencies = DEPENDENCIES
    security = SECURITY

    @get("/llm-costs", summary="LLM screening costs (JSON, or CSV with Accept: text/csv)")
    async def llm_costs(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[OrgSession],
        start: Annotated[
            date | None,
            QueryParameter(name="from", description="First day (UTC); default 30 days ago"),
        ] = None,
        end: Annotated[
            date | None,
            QueryParameter(name="to", description="Last day (UTC), included; default today"),
        ] = None,
        group_by: FromQuery[GroupBy] = "provider",
        per_day: Annotated[
            int,
            QueryParameter(ge=1, le=100_000_000, description="Applications/day for the projection"),
        ] = 1_000_000,
    ) -> Response[Any]:
        start_at, end_at = period(start, end)
        async with session.tx() as conn:
            report: CostReport = await cost_report_async(
                conn,
                start=start_at,
                end=end_at,
                group_by=group_by,
                organization_id=session.organization_id,
                applications_per_day=per_day,
                settings=session.api.settings,
            )
        if CSV in request.headers.get("accept", ""):
            return Response(to_csv(report), media_type=f"{CSV}; charset=utf-8")
        return Response(report.model_dump(mode="json"))
