"""The Litestar application factory."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging.config import BaseLoggingConfig
from litestar.middleware import ASGIMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins import PluginProtocol
from litestar.types import ASGIApp, GetLogger, Receive, Scope, Send

from api import policy
from api.applications.routes import ApplicationsController
from api.docs import LocalSwaggerPlugin, assets_router
from api.errors import EXCEPTION_HANDLERS
from api.headers import SecurityHeaders, cors_config
from api.health import live, ready
from api.json_limits import JsonLimitsMiddleware
from api.openapi import AccurateJsonPlugin, ProblemDocs
from api.reports.controller import ReportsController
from api.routes import CONTROLLERS, MIDDLEWARE
from api.security import OPENAPI_COMPONENTS, PUBLIC, SecurityState
from api.state import ApiState
from core.liveness import liveness
from core.logs import JsonFormatter, configure_logging, request_id_var
from core.settings import Settings, get_settings
from ingest.producer import Producer

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
log = logging.getLogger(__name__)


class RequestIdMiddleware(ASGIMiddleware):
    """Tags logs with the caller's ``X-Request-ID`` (or a new one) and echoes it back. An id
    that is not 1-64 letters, digits or ``._:-`` is replaced: it ends up in logs and the audit
    log, which must not take whatever a client sends."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                request_id = candidate if _REQUEST_ID.match(candidate) else None
                break
        token = request_id_var.set(request_id or uuid.uuid4().hex)

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", (request_id_var.get() or "").encode()))
                message["headers"] = headers
            await send(message)

        try:
            await next_app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class JsonLogging(BaseLoggingConfig):
    """Litestar's loggers through PVARA's JSON, PII-masking handler on the root logger.

    Without a logging config of its own, Litestar installs its default one, whose handler
    writes plain text and replaces the JSON lines every other process writes. Exceptions are
    logged by our own handlers (``api.errors``), once.
    """

    def __init__(self, level: str) -> None:
        self.level = level
        self.log_exceptions = "never"
        self.traceback_line_limit = -1
        self.exception_logging_handler = None
        self.disable_stack_trace: set[int | type[Exception]] = set()

    def configure(self) -> GetLogger:
        if not any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers):
            configure_logging(self.level)
        return logging.getLogger

    @staticmethod
    def set_level(logger: Any, level: int) -> None:
        logger.setLevel(level)


async def _keep_alive(settings: Settings, state: ApiState) -> None:
    """Refresh the API's liveness file while the event loop turns and the producer delivers
    (or Kafka is simply down): a wedged producer the doctor could not heal, or a blocked
    loop, lets it go stale."""
    alive = liveness(settings, "api")
    remove = alive.add_check(lambda: _stuck_producer(settings, state))
    try:
        while True:
            alive.progress("event-loop")
            await asyncio.sleep(1.0)
    finally:
        remove()


def _stuck_producer(settings: Settings, state: ApiState) -> str | None:
    stuck = state.producer.stuck_for()
    if stuck > settings.liveness_timeout_s:
        return f"the Kafka producer has not delivered for {stuck:.0f} s while Kafka answers"
    return None


def _state(request: Request[Any, Any, Any]) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def create_app(
    settings: Settings | None = None,
    *,
    producer: Producer | None = None,
    plugins: Sequence[PluginProtocol] = (),
) -> Litestar:
    """Build the API. ``producer`` replaces the Kafka producer (benchmarks, tests);
    ``plugins`` add routes and middleware from outside ``api`` (``ops.web`` mounts /ops, /metrics).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.security = SecurityState.create(settings)
        app.state.api = await ApiState.open(settings, producer)
        keep_alive = asyncio.create_task(_keep_alive(settings, app.state.api))
        log.info(
            "api started", extra={"pid": os.getpid(), "public_url": settings.effective_public_url}
        )
        try:
            yield
        finally:
            keep_alive.cancel()
            await app.state.api.close()

    app = Litestar(
        route_handlers=[
            Router("/", route_handlers=[ApplicationsController], opt=PUBLIC),
            live,
            ready,
            *CONTROLLERS,
            ReportsController,
            assets_router(),
        ],
        dependencies={"state_": Provide(_state, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[RequestIdMiddleware(), json_limits(settings), *MIDDLEWARE],
        guards=[policy.enforce],
        before_send=[SecurityHeaders(settings)],
        cors_config=cors_config(settings),
        lifespan=[lifespan],
        state=State(),
        request_max_body_size=settings.max_upload_bytes + 256 * 1024,
        openapi_config=OpenAPIConfig(
            title="PVARA",
            version="1.0.0",
            path="/schema",
            components=OPENAPI_COMPONENTS,
            render_plugins=[LocalSwaggerPlugin(), AccurateJsonPlugin()],
        ),
        plugins=[ProblemDocs(), *plugins],
        logging_config=JsonLogging(settings.log_level),
        debug=False,
    )
    policy.check_complete(app)
    return app


def json_limits(settings: Settings) -> JsonLimitsMiddleware:
    """JSON bodies: nesting, number size and (at most the multipart limit) length checked."""
    return JsonLimitsMiddleware(
        max_depth=settings.json_max_depth,
        max_number_chars=settings.json_max_number_chars,
        max_body=settings.json_max_bytes,
    )
