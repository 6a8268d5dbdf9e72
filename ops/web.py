"""The API plus operations: ``/ops`` (dashboard), ``/api/v1/ops/*`` (JSON) and ``/metrics``.

``api`` must not import ``ops``, so ``ops`` plugs into :func:`api.app.create_app`:
:class:`OpsPlugin` adds the routes, the HTTP latency middleware and its shutdown hook.
``pvara api`` serves :func:`create_ops_app`.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from litestar import Litestar, Request, Response, Router, delete, get, post, put
from litestar.config.app import AppConfig
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import JSONBody, PathParameter
from litestar.plugins import InitPluginProtocol
from litestar.static_files import create_static_files_router
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from api.app import create_app
from api.errors import ProblemError
from api.openapi import problems
from api.security import PUBLIC, SECURITY, Principal, SecurityState, provide_principal
from core import deadletters
from core.domain import Role
from core.queue import POOLS, create_broker
from core.settings import Settings, get_settings
from ops import pools as pool_state
from ops import tenancy
from ops.metrics import HttpMetricsMiddleware, Metrics, OpsSources
from tasks.middleware import BUCKET_S

STATIC_DIR = Path(__file__).resolve().parent / "static"
GROUP_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
PoolName = Literal["parse", "score", "shortlist", "notify", "maintenance"]
assert set(get_args(PoolName)) == set(POOLS), "PoolName must list core.queue.POOLS"


class ScaleRequest(BaseModel):
    """Desired processes per pool, e.g. ``{"desired": {"parse": 4, "score": 2}}``."""

    model_config = ConfigDict(extra="forbid")

    desired: dict[PoolName, Annotated[int, Field(ge=0, le=pool_state.MAX_PROCESSES)]] = Field(
        default_factory=dict
    )
    group: Annotated[str | None, Field(pattern=GROUP_PATTERN)] = None


def _is_platform(principal: Principal) -> bool:
    return principal.role == Role.OPERATOR


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


def _organization_overview(ops: OpsSources, organization_id: uuid.UUID) -> dict[str, Any]:
    """What an organization's admin or ops sees: its own dead letters and spend, no pools."""
    dead = tenancy.own_dead_letters(ops.pool(), deadletters.list_dead(ops.redis), organization_id)
    spend = tenancy.spend(ops.pool(), organization_id)
    return {
        "ts": time.time(),
        "scope": "organization",
        "organization_id": str(organization_id),
        "bucket_s": BUCKET_S,
        "pools": [],
        "series": {},
        "workers": [],
        "kafka": {"group": None, "topic": None, "partitions": [], "total": 0},
        "dead_letters": [d.as_dict() for d in dead[-100:]],
        "dead_total": len(dead),
        "failures": [],
        "llm": {
            "spend_today_usd": sum(float(r["cost_today"] or 0) for r in spend),
            "by_provider": [
                {
                    "provider": r["provider"],
                    "cost_usd": float(r["cost"] or 0),
                    "cost_today_usd": float(r["cost_today"] or 0),
                    "tokens": int((r["prompt"] or 0) + (r["completion"] or 0)),
                }
                for r in spend
            ],
            "budget_remaining_usd": {},
        },
    }


@get(
    "/overview",
    sync_to_thread=True,
    summary="Everything the dashboard shows, in one read (an organization: its own part)",
)
def overview(
    ops: NamedDependency[OpsSources], principal: NamedDependency[Principal]
) -> dict[str, Any]:
    if _is_platform(principal):
        return {**_overview(ops), "scope": "platform"}
    return _organization_overview(ops, principal.organization_id)


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
        changes = {str(pool): count for pool, count in data.desired.items()}
        desired = pool_state.scale(ops.redis, ops.settings, changes, data.group)
    except pool_state.ScaleError as exc:
        raise ProblemError(422, "invalid_scale", str(exc)) from exc
    return {"group": data.group or ops.settings.worker_group, "desired": desired}


_DEAD_404 = problems({404: "unknown_pool, not_found"})


def _dead_message(
    ops: OpsSources, principal: Principal, queue: str, message_id: str
) -> dict[str, Any]:
    """The dead message, if the caller may see it: an operator any, an organization its own;
    another organization's is "not found", exactly like a message that does not exist."""
    if queue not in POOLS:
        raise ProblemError(404, "unknown_pool", f"No pool {queue!r}.")
    raw = ops.redis.hget(f"dramatiq:{queue}.XQ.msgs", message_id)
    if raw is None:
        raise ProblemError(404, "not_found", "No such dead message.")
    body: dict[str, Any] = json.loads(raw)
    if not _is_platform(principal):
        letter = deadletters.DeadLetter(
            queue, message_id, body.get("actor_name", ""), list(body.get("args", [])), 0, 0, ""
        )
        if tenancy.owners(ops.pool(), [letter]).get(message_id) != principal.organization_id:
            raise ProblemError(404, "not_found", "No such dead message.")
    return body


@get(
    "/deadletters/{queue:str}/{message_id:str}",
    sync_to_thread=True,
    summary="One dead message, whole",
    responses=_DEAD_404,
)
def inspect_dead(
    ops: NamedDependency[OpsSources],
    principal: NamedDependency[Principal],
    queue: Annotated[str, PathParameter(max_length=32)],
    message_id: Annotated[str, PathParameter(max_length=64)],
) -> dict[str, Any]:
    return _dead_message(ops, principal, queue, message_id)


@post(
    "/deadletters/{queue:str}/{message_id:str}/replay",
    sync_to_thread=True,
    status_code=200,
    summary="Enqueue a dead message again with fresh retries",
    responses=_DEAD_404,
)
def replay_dead(
    ops: NamedDependency[OpsSources],
    principal: NamedDependency[Principal],
    queue: Annotated[str, PathParameter(max_length=32)],
    message_id: Annotated[str, PathParameter(max_length=64)],
) -> dict[str, Any]:
    _dead_message(ops, principal, queue, message_id)
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
    ops: NamedDependency[OpsSources],
    principal: NamedDependency[Principal],
    queue: Annotated[str, PathParameter(max_length=32)],
    message_id: Annotated[str, PathParameter(max_length=64)],
) -> dict[str, Any]:
    _dead_message(ops, principal, queue, message_id)
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
    """Prometheus text format, for the platform: the bearer must be ``PVARA_OPS_TOKEN`` or the
    access token of a platform operator."""
    _require_platform(request, ops.settings)
    return Response(generate_latest(ops_metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _require_platform(request: Request[Any, Any, Any], settings: Settings) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise ProblemError(
            401,
            "missing_token",
            "Send `Authorization: Bearer <ops token or operator access token>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    static = settings.ops_token.get_secret_value()
    if static and hmac.compare_digest(presented.encode(), static.encode()):
        return
    claims = request.app.state.security.keys.decode(presented)  # 401 when not ours
    if claims.get("role") != Role.OPERATOR:
        raise ProblemError(403, "role_not_allowed", "Metrics are for platform operators.")


class OpsPlugin(InitPluginProtocol):
    """Mounts the dashboard, the ops API and ``/metrics`` on an app built by ``create_app``."""

    def __init__(self, settings: Settings) -> None:
        self.sources = OpsSources(settings)
        self.metrics = Metrics(self.sources)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        deps = {
            "ops": Provide(lambda: self.sources, sync_to_thread=False),
            "ops_metrics": Provide(lambda: self.metrics, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
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
    """A short-lived access token of a platform operator (demo screenshots, smoke tests)."""
    token, _ = SecurityState.create(settings).keys.issue(
        user_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        role=Role.OPERATOR.value,
        family_id=uuid.uuid4(),
    )
    return token


def create_ops_app(settings: Settings | None = None) -> Litestar:
    """The API with the operations routes (what ``pvara api`` serves)."""
    settings = settings or get_settings()
    return create_app(settings, plugins=[OpsPlugin(settings)])


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How every launcher runs the API under uvicorn: no ``server`` header, and forwarded
    headers only from ``PVARA_TRUSTED_PROXIES`` (the app reads them itself: uvicorn's proxy
    middleware would otherwise rewrite the client address from any loopback peer's header)."""
    return {
        "proxy_headers": False,
        "server_header": False,
        "forwarded_allow_ips": settings.trusted_proxies or "",
        "log_config": None,  # keep the JSON logging the process configured
        "access_log": False,
    }
