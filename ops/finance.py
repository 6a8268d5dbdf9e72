"""``/finance``: the LLM cost report as a page for the finance role, in the dashboard's style.

The page is a static shell (``ops/static/finance.*``); every number comes from the guarded
``GET /api/v1/reports/llm-costs`` (finance and admin roles), so the page itself holds no data.
Open it with ``/finance#token=<access token>`` or paste a token into its form; ``?from=…&to=…
&per_day=…`` preset the period and the projection's volume.
"""

from __future__ import annotations

from litestar import Router, get
from litestar.config.app import AppConfig
from litestar.enums import MediaType
from litestar.plugins import InitPluginProtocol

from api.security import PUBLIC
from ops.web import STATIC_DIR


@get("/finance", opt=PUBLIC, include_in_schema=False, media_type=MediaType.HTML)
async def finance_page() -> str:
    return (STATIC_DIR / "finance.html").read_text()


class FinancePlugin(InitPluginProtocol):
    """Mounts ``/finance`` (its static files are served under ``/ops/static`` with the rest)."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(Router("/", route_handlers=[finance_page]))
        return app_config
