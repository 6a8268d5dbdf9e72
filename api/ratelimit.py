"""Fixed-window rate limits in Redis: per client IP (every route), per user (in the auth
middleware) and a strict one for login and candidate withdrawal. Over the limit → 429 with
``Retry-After`` (seconds until the window ends). Redis unreachable → 503 ``service_unavailable``
with ``Retry-After``."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from litestar import Litestar
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.exceptions import RedisError

from api.errors import OUTAGE_RETRY_AFTER_S, ProblemError

_WINDOW_S = 60

log = logging.getLogger(__name__)


def window_key(kind: str, who: str) -> tuple[str, int]:
    """The counter key of ``who`` for the current minute, and the seconds left in it."""
    now = int(time.time())
    window = now // _WINDOW_S
    return f"pvara:rl:{kind}:{who}:{window}", _WINDOW_S - now % _WINDOW_S


def user_limit_key(user_id: uuid.UUID) -> tuple[str, int]:
    return window_key("user", str(user_id))


async def hit(redis: aioredis.Redis, kind: str, who: str, limit: int, what: str) -> None:
    """Count one request of ``who``; raise 429 ``rate_limited`` once over ``limit``/minute."""
    if limit <= 0:
        return
    key, left = window_key(kind, who)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, left + 1, nx=True)
            count, _ = await pipe.execute()
    except RedisError as exc:
        # Limits cannot be counted: refuse for a moment rather than fail or serve unlimited.
        _log_unavailable(exc)
        raise ProblemError(
            503,
            "service_unavailable",
            "Request limits cannot be checked for a moment; retry shortly.",
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)},
        ) from exc
    if int(count) > limit:
        raise ProblemError(
            429,
            "rate_limited",
            f"More than {limit} {what} per minute; retry later.",
            headers={"Retry-After": str(left)},
        )


_last_logged = [0.0]


def _log_unavailable(exc: RedisError) -> None:
    """Log the outage once every few seconds, not once per refused request."""
    now = time.monotonic()
    if now - _last_logged[0] >= 5.0:
        _last_logged[0] = now
        log.warning("request limits cannot be checked: Redis unavailable: %s", exc)


def client_ip(scope: Scope, trusted: frozenset[str]) -> str:
    """The caller's address: the peer, or X-Forwarded-For's last hop behind a trusted proxy."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if peer in trusted:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                hops = [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
                if hops:
                    return hops[-1][:64]
    return peer


class IpRateLimitMiddleware(ASGIMiddleware):
    """Every HTTP request counts against its client IP (``rate_limit_ip_per_min``)."""

    scopes = ("http",)  # type: ignore[assignment]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = Litestar.from_scope(scope)
        security: Any = app.state.security
        limit = security.settings.rate_limit_ip_per_min
        if limit:
            ip = client_ip(scope, security.trusted_proxies)
            await hit(app.state.api.redis, "ip", ip, limit, "requests from this address")
        await next_app(scope, receive, send)
