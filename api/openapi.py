"""The problem+json error responses of the OpenAPI document.

:func:`problems` documents the errors particular to a handler (``responses=problems(...)``);
:class:`ProblemDocs` adds those every route shares, read off its layers: 400 when it takes
input, 401 unless it is public, 403 when guarded, 413 when it reads a body, 429 always.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from pydantic import BaseModel, ConfigDict, Field

from api.errors import PROBLEM_JSON

_NOT_INPUT = frozenset({"request", "socket", "scope", "state"})


class Problem(BaseModel):
    """An RFC 9457 problem; some codes add members (e.g. ``from``/``to``, ``offer_id``)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="URI of the problem type (ends with `code`)")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code")
    instance: str = Field(description="Path of the request")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Per-field errors (400 `invalid_request`, 422 validation)"
    )


def problem(status: int, codes: str) -> ResponseSpec:
    """A problem+json response of ``status``, described by the ``codes`` it may carry."""
    return ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_JSON,
        description=f"{HTTPStatus(status).phrase} ({codes})",
        generate_examples=False,
    )


def problems(codes: Mapping[int, str]) -> dict[int, ResponseSpec]:
    """``responses=`` of a handler: status → the stable ``code`` values it answers with."""
    return {status: problem(status, text) for status, text in codes.items()}


def common_problems(handler: HTTPRouteHandler) -> dict[int, ResponseSpec]:
    """The errors ``handler`` shares with every route of its kind."""
    dependencies = handler.resolve_dependencies()
    inputs = [
        name
        for name in handler.parsed_fn_signature.parameters
        if name not in dependencies and name not in _NOT_INPUT
    ]
    codes: dict[int, str] = {}
    if inputs:
        codes[400] = "invalid_request, invalid_value: a parameter or the body is not valid"
    if not handler.opt.get("public"):
        codes[401] = "missing_token, invalid_token, token_expired, token_revoked"
    if handler.resolve_guards():
        codes[403] = "role_not_allowed"
    if "data" in inputs:
        codes[413] = "payload_too_large: the body exceeds the server's limit"
    codes[429] = "rate_limited: see the Retry-After header"
    codes[503] = "service_unavailable: a service it needs is restarting; see Retry-After"
    return problems(codes)


class ProblemDocs(ReceiveRoutePlugin):
    """Adds :func:`common_problems` to each documented HTTP route (handler's own win)."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if handler.include_in_schema:
                handler.responses = {**common_problems(handler), **(handler.responses or {})}
