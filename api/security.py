"""Who is calling and what they may touch: signing keys, the bearer-token middleware, and the
organization-scoped database session every HR route works through (which roles may call which
route is :mod:`api.policy`).

Every route needs a valid access token unless its handler (or a layer above it) sets
``opt={"public": True}``. Inside a route, :class:`OrgSession` opens transactions that run as
the non-superuser role ``pvara_app`` with ``pvara.organization_id`` set, so PostgreSQL's
row-level security refuses other organizations' rows even if a query forgets its filter.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from litestar import Litestar, Request
from litestar.di import NamedDependency, Provide
from litestar.middleware import ASGIMiddleware
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.types import ASGIApp, Receive, Scope, Send
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from api.errors import ProblemError
from api.ratelimit import TrustedProxies, client_ip, user_limit_key
from api.state import ApiState
from core.domain import Role
from core.logs import request_id_var
from core.queue import create_broker
from core.settings import Settings

APP_ROLE = "pvara_app"
AUDIENCE = "pvara-api"
PUBLIC = {"public": True}
BEARER = "BearerToken"
SECURITY: list[SecurityRequirement] = [{BEARER: []}]
OPENAPI_COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="Access token from POST /api/v1/auth/login (15 minutes).",
        )
    }
)

_REVOKED_JTI = "pvara:auth:revoked:{}"
_REVOKED_FAMILY = "pvara:auth:revoked-family:{}"


# --- signing keys --------------------------------------------------------------------------


class KeyRing:
    """The access-token signing key, its ``kid`` and the one algorithm accepted on decode."""

    def __init__(
        self,
        private_key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey,
        kid: str,
        algorithm: str,
        issuer: str,
        ttl_s: int,
    ) -> None:
        self.private_key = private_key
        self.kid = kid
        self.algorithm = algorithm
        self.issuer = issuer
        self.ttl_s = ttl_s

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The configured key, or the dev key under ``<home>/keys`` (generated once)."""
        pem = settings.jwt_private_key.get_secret_value().encode()
        if not pem:
            pem = _dev_key(settings.home / "keys" / "jwt-ed25519.pem")
        key = serialization.load_pem_private_key(pem, password=None)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            algorithm = "EdDSA"
        elif isinstance(key, rsa.RSAPrivateKey):
            algorithm = "RS256"
        else:
            raise ValueError("PVARA_JWT_PRIVATE_KEY must be an Ed25519 or RSA private key")
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = settings.jwt_key_id or hashlib.sha256(public).hexdigest()[:16]
        return cls(key, kid, algorithm, settings.jwt_issuer, settings.access_token_ttl_s)

    def issue(
        self, *, user_id: uuid.UUID, organization_id: uuid.UUID, role: str, family_id: uuid.UUID
    ) -> tuple[str, dict[str, Any]]:
        """A signed access token and its claims."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "org": str(organization_id),
            "role": role,
            "fam": str(family_id),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + self.ttl_s,
        }
        token = jwt.encode(
            claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid}
        )
        return token, claims

    def decode(self, token: str) -> dict[str, Any]:
        """Verified claims. Raises ProblemError 401 (``token_expired`` / ``invalid_token``)."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.kid:
                raise jwt.InvalidTokenError("unknown kid")
            claims: dict[str, Any] = jwt.decode(
                token,
                self.private_key.public_key(),
                algorithms=[self.algorithm],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "org", "role", "jti", "fam"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("token_expired", "The access token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthorized("invalid_token", "The access token is not valid.") from exc
        return claims


def _dev_key(path: Path) -> bytes:
    """Read the dev signing key, creating it atomically the first time."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return pem


def _unauthorized(code: str, detail: str) -> ProblemError:
    return ProblemError(401, code, detail, headers={"WWW-Authenticate": "Bearer"})


# --- the caller ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """An authenticated user, from a verified access token."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    jti: str
    family_id: uuid.UUID
    expires_at: int


class SecurityState:
    """Auth resources built once in the lifespan (``app.state.security``)."""

    def __init__(self, settings: Settings, keys: KeyRing, trusted_proxies: TrustedProxies) -> None:
        self.settings = settings
        self.keys = keys
        self.trusted_proxies = trusted_proxies
        self._broker: Any = None

    @classmethod
    def create(cls, settings: Settings) -> SecurityState:
        trusted = TrustedProxies.parse(settings.trusted_proxies)
        return cls(settings, KeyRing.from_settings(settings), trusted)

    @property
    def broker(self) -> Any:
        """The Dramatiq broker HR routes enqueue into (by actor name), made on first use."""
        if self._broker is None:
            self._broker = create_broker(self.settings)
        return self._broker


def security_state(app: Litestar) -> SecurityState:
    state: SecurityState = app.state.security
    return state


def inet_or_none(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


async def revoke_access(api: ApiState, principal: Principal, ttl_s: int) -> None:
    """Refuse this access token and every token of its refresh family from now on."""
    remaining = max(1, principal.expires_at - int(time.time()))
    async with api.redis.pipeline(transaction=False) as pipe:
        pipe.set(_REVOKED_JTI.format(principal.jti), "1", ex=remaining)
        pipe.set(_REVOKED_FAMILY.format(principal.family_id), "1", ex=ttl_s)
        await pipe.execute()


async def revoke_family(api: ApiState, family_id: uuid.UUID, ttl_s: int) -> None:
    await api.redis.set(_REVOKED_FAMILY.format(family_id), "1", ex=ttl_s)


class AuthMiddleware(ASGIMiddleware):
    """Bearer-token authentication (default deny), revocation and the per-user rate limit."""

    scopes = ("http",)  # type: ignore[assignment]
    exclude_opt_key = "public"

    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:  # type: ignore[override]
        return scope["path"].startswith(("/schema", "/health"))

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = Litestar.from_scope(scope)
        security = security_state(app)
        api: ApiState = app.state.api
        token = _bearer(scope)
        if token is None:
            raise _unauthorized("missing_token", "Send `Authorization: Bearer <access token>`.")
        claims = security.keys.decode(token)
        try:
            principal = Principal(
                user_id=uuid.UUID(claims["sub"]),
                organization_id=uuid.UUID(claims["org"]),
                role=Role(claims["role"]),
                jti=str(claims["jti"]),
                family_id=uuid.UUID(claims["fam"]),
                expires_at=int(claims["exp"]),
            )
        except (ValueError, TypeError) as exc:
            raise _unauthorized("invalid_token", "The access token is not valid.") from exc
        limit = security.settings.rate_limit_user_per_min
        window_left = 0
        async with api.redis.pipeline(transaction=False) as pipe:
            pipe.exists(
                _REVOKED_JTI.format(principal.jti), _REVOKED_FAMILY.format(principal.family_id)
            )
            if limit:
                key, window_left = user_limit_key(principal.user_id)
                pipe.incr(key)
                pipe.expire(key, window_left + 1, nx=True)
            results = await pipe.execute()
        if results[0]:
            raise _unauthorized("token_revoked", "The access token was revoked.")
        if limit and int(results[1]) > limit:
            raise ProblemError(
                429,
                "rate_limited",
                f"More than {limit} requests per minute for this user.",
                headers={"Retry-After": str(window_left)},
            )
        scope["user"] = principal
        scope["auth"] = claims
        await next_app(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


# --- the organization-scoped session -------------------------------------------------------


@dataclass(frozen=True)
class OrgSession:
    """Transactions confined to the caller's organization, and the audit trail of writes."""

    api: ApiState
    principal: Principal
    ip: str | None
    request_id: str | None

    @property
    def organization_id(self) -> uuid.UUID:
        return self.principal.organization_id

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A transaction as ``pvara_app`` with ``pvara.organization_id`` set (RLS applies)."""
        async with self.api.db.connection() as conn, conn.transaction():
            await scope_transaction(conn, self.principal.organization_id)
            yield conn

    async def audit(
        self,
        conn: AsyncConnection[Any],
        action: str,
        resource_type: str,
        resource_id: uuid.UUID | str | None,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Record a write in ``audit_logs`` (in the write's own transaction)."""
        changes = {"before": before, "after": after}
        await conn.execute(
            "INSERT INTO audit_logs (organization_id, user_id, action, resource_type,"
            " resource_id, changes, ip_address, request_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                self.principal.organization_id,
                self.principal.user_id,
                action,
                resource_type,
                str(resource_id) if resource_id is not None else None,
                Jsonb(json.loads(json.dumps(changes, default=str))),
                self.ip,
                self.request_id,
            ),
        )


async def scope_transaction(conn: AsyncConnection[Any], organization_id: uuid.UUID) -> None:
    """Confine the current transaction to ``organization_id`` as the RLS-bound app role."""
    await conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
    await conn.execute(
        "SELECT set_config('pvara.organization_id', %s, true)", (str(organization_id),)
    )


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        raise _unauthorized("missing_token", "This route needs an access token.")
    return user


def provide_session(
    request: Request[Any, Any, Any], state_: NamedDependency[ApiState]
) -> OrgSession:
    security = security_state(request.app)
    return OrgSession(
        api=state_,
        principal=provide_principal(request),
        ip=inet_or_none(client_ip(request.scope, security.trusted_proxies)),
        request_id=request_id_var.get(),
    )


def provide_security(request: Request[Any, Any, Any]) -> SecurityState:
    return security_state(request.app)


def request_ip(request: Request[Any, Any, Any]) -> str:
    """The caller's address as the rate limits see it."""
    return client_ip(request.scope, security_state(request.app).trusted_proxies)


#: Dependencies of every HR controller: ``principal``, ``session`` and ``security``.
DEPENDENCIES = {
    "principal": Provide(provide_principal, sync_to_thread=False),
    "session": Provide(provide_session, sync_to_thread=False),
    "security": Provide(provide_security, sync_to_thread=False),
}
