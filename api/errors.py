"""RFC 9457 problem+json errors with a stable machine-readable ``code``."""

from __future__ import annotations

from typing import Any

import psycopg
import redis
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from core.outages import describe, is_outage, refused_by_database

PROBLEM_JSON = "application/problem+json"
_BASE = "https://pvara.dev/problems/"


class ProblemError(Exception):
    """An error answered as problem+json: ``status``, stable ``code``, human ``detail``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or code.replace("_", " ").capitalize()
        self.headers = headers or {}
        self.extra = extra or {}


def problem_response(
    request: Request[Any, Any, Any], error: ProblemError
) -> Response[dict[str, Any]]:
    body = {
        "type": _BASE + error.code,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "instance": request.url.path,
        **error.extra,
    }
    return Response(body, status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers)


def _problem_handler(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Any]:
    return problem_response(request, exc)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


def validation_failed(errors: list[dict[str, Any]]) -> ProblemError:
    """422 ``validation_failed``: well-formed input that breaks the rules, naming each field."""
    return ProblemError(
        422, "validation_failed", "Some fields are missing or invalid.", extra={"errors": errors}
    )


def _field_errors(extra: Any) -> list[dict[str, Any]]:
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            entry = {"field": str(item.get("key") or "body"), "message": str(item.get("message"))}
            if item.get("source"):
                entry["source"] = str(item["source"])
            errors.append(entry)
    return errors


def _http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return problem_response(request, validation_failed(_field_errors(exc.extra)))
    if status == 400 and "json" in request.headers.get("content-type", ""):
        return problem_response(
            request,
            ProblemError(400, "malformed_json", f"The body is not valid JSON: {exc.detail}"),
        )
    code = _HTTP_CODES.get(status, "http_error" if status < 500 else "server_error")
    return problem_response(
        request, ProblemError(status, code, str(exc.detail), headers=exc.headers or None)
    )


def _data_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL refused a value (SQLSTATE class 22, or a NUL character): the caller's input."""
    request.logger.warning("value refused by PostgreSQL: %s", exc)
    return problem_response(
        request,
        ProblemError(
            400,
            "invalid_value",
            "A value cannot be stored (e.g. it contains a NUL character or is out of range).",
        ),
    )


#: What a client is told to wait before retrying while a dependency is down.
OUTAGE_RETRY_AFTER_S = 5


def _outage(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL or Redis unreachable (restarting): 503 with ``Retry-After``, not a 500."""
    if refused_by_database(exc):
        return _data_error(request, exc)
    if not is_outage(exc):
        return _unhandled(request, exc)
    request.logger.warning("dependency unavailable: %s", describe(exc))
    return problem_response(
        request,
        ProblemError(
            503,
            "service_unavailable",
            "A service this request needs is unavailable for a moment; nothing was changed."
            " Retry shortly.",
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)},
        ),
    )


def _unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    request.logger.exception("unhandled error")
    return problem_response(
        request,
        ProblemError(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Internal server error."),
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ProblemError: _problem_handler,
    HTTPException: _http_handler,
    psycopg.DataError: _data_error,
    psycopg.OperationalError: _outage,
    psycopg.InterfaceError: _outage,
    redis.ConnectionError: _outage,
    redis.TimeoutError: _outage,
    Exception: _unhandled,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "ProblemError", "problem_response"]
