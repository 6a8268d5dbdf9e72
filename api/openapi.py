"""The problem+json error responses of the OpenAPI document.

:func:`problems` documents the errors particular to a handler (``responses=problems(...)``);
:class:`ProblemDocs` adds those every route shares, read off its layers: 400 when it takes
input, 401 and 403 unless it is public (roles: :mod:`api.policy`), 413 when it reads a body,
429 always.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any, get_args

from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

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
        default=None, description="Per-field errors of 422 `validation_failed`: field, message"
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
        codes[400] = (
            "malformed_json, json_too_deep, number_too_large, invalid_value: the body cannot be"
            " read or a value cannot be stored"
        )
        codes[422] = "validation_failed: a parameter or a field breaks its rules (see errors)"
    if not handler.opt.get("public"):
        codes[401] = "missing_token, invalid_token, token_expired, token_revoked"
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


# --- request and response schemas as pydantic validates them ----------------------------------

#: ``opt`` key of a handler that reads its body itself: ``{media type: pydantic model}``.
REQUEST_BODY_OPT = "request_body_models"


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names (through Optional, lists, Response[...])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _handler_models(app: Litestar) -> tuple[set[type[BaseModel]], set[type[BaseModel]]]:
    inputs: set[type[BaseModel]] = set()
    outputs: set[type[BaseModel]] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                inputs.update(_models_in(data.annotation))
            inputs.update(handler.opt.get(REQUEST_BODY_OPT, {}).values())
            outputs.update(_models_in(handler.parsed_fn_signature.return_type.annotation))
            outputs.update(
                m
                for spec in (handler.responses or {}).values()
                for m in _models_in(spec.data_container)
            )
    return inputs, outputs


def accurate_document(app: Litestar) -> dict[str, Any]:
    """The OpenAPI document with every pydantic model's schema as pydantic itself states it.

    Litestar's generator drops constraints it deems falsy (``ge=0``), patterns of annotated
    fields, ``additionalProperties: false`` of ``extra="forbid"`` and dict value schemas, so a
    client (or a fuzzer) reading its document would send what the validators refuse. Also adds
    the request bodies of handlers that parse their body themselves (:data:`REQUEST_BODY_OPT`).
    """
    document: dict[str, Any] = copy.deepcopy(app.openapi_schema.to_schema())
    inputs, outputs = _handler_models(app)
    ref = "#/components/schemas/{model}"
    keyed: list[tuple[type[BaseModel], Any]] = [(m, "validation") for m in inputs]
    keyed += [(m, "serialization") for m in outputs - inputs]
    _, generated = models_json_schema(keyed, ref_template=ref)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(generated.get("$defs", {}))
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            bodies: dict[str, type[BaseModel]] = handler.opt.get(REQUEST_BODY_OPT, {})
            for method in handler.http_methods if bodies else ():
                operation = document["paths"][route.path_format][method.lower()]
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        media: {"schema": {"$ref": ref.format(model=model.__name__)}}
                        for media, model in bodies.items()
                    },
                }
    return document


class AccurateJsonPlugin(JsonRenderPlugin):
    """``/schema/openapi.json``: :func:`accurate_document`, computed once per app."""

    def __init__(self) -> None:
        super().__init__()
        self._rendered: dict[int, bytes] = {}

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        key = id(request.app)
        if key not in self._rendered:
            self._rendered[key] = self.render_json(request, accurate_document(request.app))
        return self._rendered[key]
