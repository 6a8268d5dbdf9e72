"""Fixed-window rate limits in Redis: per client IP (every route), per user (in the auth
middleware) and a strict one for login and candidate withdrawal. Over the limit → 429 with
``Retry-After`` (seconds until the window ends)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from litestar import Litestar
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio.client import Pipeline

from api.errors import ProblemError

_WINDOW_S = 60


def window_key(kind: str, who: str) -> tuple[str, int]:
    """The counter key of ``who`` for the current minute, and the seconds left in it."""
    now = int(time.time())
    window = now // _WINDOW_S
    return f"pvara:rl:{kind}:{who}:{window}", _WINDOW_S - now % _WINDOW_S


def user_limit_key(user_id: uuid.UUID) -> tuple[str, int]:
    return window_key("user", str(user_id))


#: A route whose ``opt`` sets this counts its per-IP limit itself, with :class:`DeferredHit`.
IP_LIMIT_IN_HANDLER = "ip_limit_in_handler"
_IP_WHAT = "requests from this address"


async def hit(
    redis: aioredis.Redis,
    kind: str,
    who: str,
    limit: int,
    what: str,
    *,
    also: Callable[[Pipeline], object] | None = None,
) -> list[Any]:
    """Count one request of ``who``; raise 429 ``rate_limited`` once over ``limit``/minute.

    ``also`` queues the caller's own commands into the same pipeline (one round trip in all);
    their results are returned.
    """
    if limit <= 0 and also is None:
        return []
    key, left = window_key(kind, who)
    async with redis.pipeline(transaction=False) as pipe:
        if limit > 0:
            pipe.incr(key)
            pipe.expire(key, left + 1, nx=True)
        if also is not None:
            also(pipe)
        results: list[Any] = await pipe.execute()
    if limit <= 0:
        return results
    count, _, *extra = results
    if int(count) > limit:
        raise ProblemError(
            429,
            "rate_limited",
            f"More than {limit} {what} per minute; retry later.",
            headers={"Retry-After": str(left)},
        )
    return extra


class DeferredHit:
    """The per-IP count of a route that makes it in one pipeline with its own first Redis
    reads (the submission: its resubmission marker). A request that ends before (bad input,
    an unknown job) is counted on the way out by :meth:`settle`, so each request counts once.
    """

    def __init__(self, redis: aioredis.Redis, who: str, limit: int) -> None:
        self.redis, self.who, self.limit = redis, who, limit
        self.counted = False

    async def count(self, also: Callable[[Pipeline], object]) -> list[Any]:
        """Count the request and run ``also``'s commands in the same round trip."""
        self.counted = True
        return await hit(self.redis, "ip", self.who, self.limit, _IP_WHAT, also=also)

    async def settle(self) -> None:
        """Count the request if :meth:`count` was not reached."""
        if not self.counted:
            self.counted = True
            await hit(self.redis, "ip", self.who, self.limit, _IP_WHAT)


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
        handler = scope.get("route_handler")
        deferred = handler is not None and handler.opt.get(IP_LIMIT_IN_HANDLER)
        if limit and not deferred:
            ip = client_ip(scope, security.trusted_proxies)
            await hit(app.state.api.redis, "ip", ip, limit, _IP_WHAT)
        await next_app(scope, receive, send)
