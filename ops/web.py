"""The API plus operations: ``/ops`` (dashboard), ``/api/v1/ops/*`` (JSON) and ``/metrics``.

``api`` must not import ``ops``, so ``ops`` plugs into :func:`api.app.create_app`:
:class:`OpsPlugin` adds the routes, the HTTP latency middleware and its shutdown hook.
``pvara api`` serves :func:`create_ops_app`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, Router, delete, get, post, put
from litestar.config.app import AppConfig
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody
from litestar.plugins import InitPluginProtocol
from litestar.static_files import create_static_files_router
from litestar.types import Guard
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.app import create_app
from api.errors import ProblemError
from api.openapi import problems
from api.security import PUBLIC, SECURITY, SecurityState, allow
from core import deadletters
from core.domain import Role
from core.queue import POOLS, create_broker
from core.settings import Settings, get_settings
from ops import pools as pool_state
from ops.metrics import HttpMetricsMiddleware, Metrics, OpsSources
from tasks.middleware import BUCKET_S

STATIC_DIR = Path(__file__).resolve().parent / "static"
OPS_ROLES = (Role.OPS, Role.ADMIN)


@dataclass
class ScaleRequest:
    """Desired processes per pool, e.g. ``{"desired": {"parse": 4, "score": 2}}``."""

    desired: dict[str, int] = field(default_factory=dict)
    group: str | None = None


def _overview(ops: OpsSources) -> dict[str, Any]:
    settings = ops.settings
    rows = pool_state.pool_status(ops.redis, settings)
    lag = ops.lag.get()
    try:
        llm: list[dict[str, Any]] = ops.llm.get()
    except Exception:
        llm = []
    dead = deadletters.list_dead(ops.redis)
    return {
        "ts": time.time(),
        "group": settings.worker_group,
        "bucket_s": BUCKET_S,
        "pools": [r.as_dict() for r in rows],
        "series": pool_state.series(ops.redis, buckets=60),
        "workers": [w.as_dict() for w in pool_state.workers(ops.redis, settings)],
        "kafka": {
            "group": ops.kafka.group,
            "topic": ops.kafka.topic,
            "partitions": [{"partition": p, "lag": n} for p, n in sorted(lag.items())],
            "total": sum(lag.values()),
        },
        "dead_letters": [d.as_dict() for d in dead[-100:]],
        "dead_total": len(dead),
        "failures": pool_state.recent_failures(ops.redis, 25),
        "llm": {
            "spend_today_usd": sum(float(r["cost_today"] or 0) for r in llm),
            "by_provider": [
                {
                    "provider": r["provider"],
                    "cost_usd": float(r["cost"] or 0),
                    "cost_today_usd": float(r["cost_today"] or 0),
                    "tokens": int((r["prompt"] or 0) + (r["completion"] or 0)),
                }
                for r in llm
            ],
            "budget_remaining_usd": ops.budgets(),
        },
    }


@get("/overview", sync_to_thread=True, summary="Everything the dashboard shows, in one read")
def overview(ops: NamedDependency[OpsSources]) -> dict[str, Any]:
    return _overview(ops)


@get("/pools", sync_to_thread=True, summary="Each pool: depth, in flight, dead, desired, actual")
def list_pools(ops: NamedDependency[OpsSources]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in pool_state.pool_status(ops.redis, ops.settings)]


@put(
    "/pools",
    sync_to_thread=True,
    summary="Set desired processes per pool",
    responses=problems({422: "invalid_scale"}),
)
def scale_pools(ops: NamedDependency[OpsSources], data: JSONBody[ScaleRequest]) -> dict[str, Any]:
    try:
        desired = pool_state.scale(ops.redis, ops.settings, data.desired, data.group)
    except pool_state.ScaleError as exc:
        raise ProblemError(422, "invalid_scale", str(exc)) from exc
    return {"group": data.group or ops.settings.worker_group, "desired": desired}


_DEAD_404 = problems({404: "unknown_pool, not_found"})


def _check_queue(queue: str) -> None:
    if queue not in POOLS:
        raise ProblemError(404, "unknown_pool", f"No pool {queue!r}.")


@get(
    "/deadletters/{queue:str}/{message_id:str}",
    sync_to_thread=True,
    summary="One dead message, whole",
    responses=_DEAD_404,
)
def inspect_dead(
    ops: NamedDependency[OpsSources], queue: FromPath[str], message_id: FromPath[str]
) -> dict[str, Any]:
    _check_queue(queue)
    raw = ops.redis.hget(f"dramatiq:{queue}.XQ.msgs", message_id)
    if raw is None:
        raise ProblemError(404, "not_found", "No such dead message.")
    body: dict[str, Any] = json.loads(raw)
    return body


@post(
    "/deadletters/{queue:str}/{message_id:str}/replay",
    sync_to_thread=True,
    status_code=200,
    summary="Enqueue a dead message again with fresh retries",
    responses=_DEAD_404,
)
def replay_dead(
    ops: NamedDependency[OpsSources], queue: FromPath[str], message_id: FromPath[str]
) -> dict[str, Any]:
    _check_queue(queue)
    if not deadletters.replay(ops.redis, create_broker(ops.settings), queue, message_id):
        raise ProblemError(404, "not_found", "No such dead message.")
    return {"replayed": message_id, "queue": queue}


@delete(
    "/deadletters/{queue:str}/{message_id:str}",
    sync_to_thread=True,
    status_code=200,
    summary="Drop a dead message for good",
    responses=_DEAD_404,
)
def delete_dead(
    ops: NamedDependency[OpsSources], queue: FromPath[str], message_id: FromPath[str]
) -> dict[str, Any]:
    _check_queue(queue)
    if not deadletters.delete(ops.redis, queue, message_id):
        raise ProblemError(404, "not_found", "No such dead message.")
    return {"deleted": message_id, "queue": queue}


@get("/ops", opt=PUBLIC, include_in_schema=False, media_type=MediaType.HTML)
async def dashboard_page() -> str:
    """The page shell only; every number comes from the guarded JSON endpoints."""
    return (STATIC_DIR / "dashboard.html").read_text()


@get("/metrics", opt=PUBLIC, sync_to_thread=True, include_in_schema=False)
def metrics(
    request: Request[Any, Any, Any],
    ops_metrics: NamedDependency[Metrics],
    ops: NamedDependency[OpsSources],
) -> Response[bytes]:
    """Prometheus text format. With ``ops_token`` set, scrapers must send it as a bearer."""
    token = ops.settings.ops_token.get_secret_value()
    if token and request.headers.get("authorization", "") != f"Bearer {token}":
        raise ProblemError(401, "missing_token", "Send `Authorization: Bearer <ops token>`.")
    return Response(generate_latest(ops_metrics.registry), media_type=CONTENT_TYPE_LATEST)


class OpsPlugin(InitPluginProtocol):
    """Mounts the dashboard, the ops API and ``/metrics`` on an app built by ``create_app``."""

    def __init__(self, settings: Settings, guard: Guard | None = None) -> None:
        self.sources = OpsSources(settings)
        self.metrics = Metrics(self.sources)
        self.guard: Guard = guard or allow(*OPS_ROLES)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        deps = {
            "ops": Provide(lambda: self.sources, sync_to_thread=False),
            "ops_metrics": Provide(lambda: self.metrics, sync_to_thread=False),
        }
        api = Router(
            "/api/v1/ops",
            route_handlers=[
                overview,
                list_pools,
                scale_pools,
                inspect_dead,
                replay_dead,
                delete_dead,
            ],
            guards=[self.guard],
            security=SECURITY,
            dependencies=deps,
            tags=["ops"],
        )
        public = Router("/", route_handlers=[dashboard_page, metrics], dependencies=deps)
        static = create_static_files_router(
            "/ops/static", directories=[STATIC_DIR], opt=PUBLIC, include_in_schema=False
        )
        app_config.route_handlers.extend([api, public, static])
        app_config.middleware.insert(0, HttpMetricsMiddleware(self.metrics.http))
        app_config.on_shutdown.append(self.sources.close)
        return app_config


def issue_ops_token(settings: Settings) -> str:
    """A short-lived access token with the ``ops`` role (demo screenshots, smoke tests)."""
    token, _ = SecurityState.create(settings).keys.issue(
        user_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        role=Role.OPS.value,
        family_id=uuid.uuid4(),
    )
    return token


def create_ops_app(settings: Settings | None = None, guard: Guard | None = None) -> Litestar:
    """The API with the operations routes (what ``pvara api`` serves)."""
    from ops.finance import FinancePlugin

    settings = settings or get_settings()
    return create_app(settings, plugins=[OpsPlugin(settings, guard), FinancePlugin()])
