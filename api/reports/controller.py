"""``GET /api/v1/reports/llm-costs``: what screening cost, grouped, with a projection.

JSON by default, CSV with ``Accept: text/csv``. Finance and admin only; the numbers are the
caller's organization's (the query runs RLS-bound in an :class:`OrgSession` transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import FromQuery, QueryParameter

from api.security import DEPENDENCIES, SECURITY, OrgSession
from screening.reports import CostReport, GroupBy, cost_report_async, period, to_csv

CSV = "text/csv"
CSV_EXAMPLE = (
    "provider,applications,paid_applications,calls,failed_calls,prompt_tokens,"
    "completion_tokens,cached_tokens,cost_usd,cost_per_application\n"
    "local,4,0,4,0,4000,400,0,0.00,0.0000\n"
    "openai,2,2,2,1,2000,200,0,0.01,0.0060\n"
    "total,4,3,8,1,8000,800,0,0.02,0.0040\n"
)


@dataclass
class _JsonOrCsv(Operation):
    """The operation with a second 200 body: the same report as CSV (``Accept: text/csv``)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content[CSV] = OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.STRING,
                    description="One header line, a row per group and a final `total` row."
                    " `cost_usd` is in dollars to the cent, `cost_per_application` to four"
                    " decimals, both in plain decimal notation.",
                ),
                example=CSV_EXAMPLE,
            )


class ReportsController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]
    dependencies = DEPENDENCIES
    security = SECURITY

    @get(
        "/llm-costs",
        summary="LLM screening costs (JSON, or CSV with Accept: text/csv)",
        operation_class=_JsonOrCsv,
        responses={
            200: ResponseSpec(
                data_container=CostReport,
                description="The report: JSON by default, CSV with `Accept: text/csv`."
                " Amounts are strings in plain decimal notation (exact to 1e-8 USD).",
            )
        },
    )
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
