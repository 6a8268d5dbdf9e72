"""Fixed-window rate limits in Redis: per client IP (every route), per user (in the auth
middleware) and a strict one for login and candidate withdrawal. Over the limit → 429 with
``Retry-After`` (seconds until the window ends). Redis unreachable → 503 ``service_unavailable``
with ``Retry-After``."""

from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from litestar import Litestar
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.exceptions import RedisError

from api.errors import OUTAGE_RETRY_AFTER_S, ProblemError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_WINDOW_S = 60

log = logging.getLogger(__name__)


def window_key(kind: str, who: str) -> tuple[str, int]:
    """The counter key of ``who`` for the current minute, and the seconds left in it."""
    now = int(time.time())
    window = now // _WINDOW_S
    return f"pvara:rl:{kind}:{who}:{window}", _WINDOW_S - now % _WINDOW_S


def user_limit_key(user_id: uuid.UUID) -> tuple[str, int]:
    return window_key("user", str(user_id))


#: A route whose ``opt`` sets this counts its per-IP limit itself (with its own limits, in one
#: Redis round trip: :func:`hit_all`), so the middleware does not count it again.
IP_LIMIT_IN_HANDLER = "ip_limit_in_handler"
IP_WHAT = "requests from this address"


@dataclass(frozen=True)
class Limit:
    """``per_min`` requests of ``kind`` per minute for ``who`` (0 = unlimited)."""

    kind: str
    who: str
    per_min: int
    what: str


async def hit(redis: aioredis.Redis, kind: str, who: str, limit: int, what: str) -> None:
    """Count one request of ``who``; raise 429 ``rate_limited`` once over ``limit``/minute."""
    await hit_all(redis, [Limit(kind, who, limit, what)])


async def hit_all(redis: aioredis.Redis, limits: Sequence[Limit]) -> None:
    """Count one request against each of ``limits`` in one Redis round trip.

    Raises:
        ProblemError: 429 ``rate_limited`` for the first limit exceeded; 503
            ``service_unavailable`` while Redis cannot count (refuse for a moment rather than
            fail, or serve unlimited).
    """
    active = [limit for limit in limits if limit.per_min > 0]
    if not active:
        return
    windows = [window_key(limit.kind, limit.who) for limit in active]
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for key, left in windows:
                pipe.incr(key)
                pipe.expire(key, left + 1, nx=True)
            results = await pipe.execute()
    except RedisError as exc:
        _log_unavailable(exc)
        raise ProblemError(
            503,
            "service_unavailable",
            "Request limits cannot be checked for a moment; retry shortly.",
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)},
        ) from exc
    for i, (limit, (_, left)) in enumerate(zip(active, windows, strict=True)):
        if int(results[2 * i]) > limit.per_min:
            raise ProblemError(
                429,
                "rate_limited",
                f"More than {limit.per_min} {limit.what} per minute; retry later.",
                headers={"Retry-After": str(left)},
            )


_last_logged = [0.0]


def _log_unavailable(exc: RedisError) -> None:
    """Log the outage once every few seconds, not once per refused request."""
    now = time.monotonic()
    if now - _last_logged[0] >= 5.0:
        _last_logged[0] = now
        log.warning("request limits cannot be checked: Redis unavailable: %s", exc)


class TrustedProxies:
    """The proxies whose forwarded headers are believed (``PVARA_TRUSTED_PROXIES``): addresses
    or CIDR networks (a name that is no address, like the test client's, matches itself)."""

    def __init__(self, networks: Sequence[IPNetwork] = (), names: Iterable[str] = ()) -> None:
        self.networks = tuple(networks)
        self.names = frozenset(names)

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        networks: list[IPNetwork] = []
        names: list[str] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                names.append(item)
        return cls(networks, names)

    @classmethod
    def none(cls) -> TrustedProxies:
        return cls()

    def contains(self, address: str) -> bool:
        if address in self.names:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks or self.names)


def client_ip(scope: Scope, trusted: TrustedProxies) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy; then the nearest
    address in X-Forwarded-For that is not one (each proxy appends who it heard from, so the
    hops left of the first untrusted one are whatever the client claimed)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not trusted.contains(peer):
        return peer
    hops: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            hops.extend(h.strip() for h in value.decode("latin-1").split(",") if h.strip())
    for hop in reversed(hops):
        if not trusted.contains(hop):
            return hop[:64]
    return hops[0][:64] if hops else peer


class IpRateLimitMiddleware(ASGIMiddleware):
    """Every HTTP request counts against its client IP (``rate_limit_ip_per_min``)."""

    scopes = ("http",)  # type: ignore[assignment]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = Litestar.from_scope(scope)
        security: Any = app.state.security
        limit = security.settings.rate_limit_ip_per_min
        handler = scope.get("route_handler")
        counted_by_handler = handler is not None and handler.opt.get(IP_LIMIT_IN_HANDLER)
        if limit and not counted_by_handler:
            ip = client_ip(scope, security.trusted_proxies)
            await hit(app.state.api.redis, "ip", ip, limit, IP_WHAT)
        await next_app(scope, receive, send)
