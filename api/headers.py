"""Security headers on every response, and the CORS policy.

Every response (errors, 404s and the static files included) gets a Content-Security-Policy,
``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``
and a restrictive ``Permissions-Policy``; API responses that set no caching of their own get
``Cache-Control: no-store`` (they carry personal data). ``Strict-Transport-Security`` is sent
when the request came over TLS: directly, or through a trusted proxy that says so in
``X-Forwarded-Proto``. The server name is never sent (uvicorn runs with ``server_header=False``).

CORS: browsers may call the API from the origins in ``PVARA_CORS_ORIGINS`` only (none by
default). No cookie authenticates anything here (bearer tokens only), so there is no cookie a
cross-site request could ride on: CSRF needs no token.
"""

from __future__ import annotations

from typing import Any

from litestar.config.cors import CORSConfig
from litestar.types import Message, Scope

from api.ratelimit import TrustedProxies
from core.settings import Settings

#: JSON and everything else: nothing may be loaded, framed or submitted.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The dashboard and the API docs: their own scripts, styles and images, nothing inline.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none';"
    " form-action 'self'"
)
_PAGES = ("/ops", "/schema")

_STATIC: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


def is_tls(scope: Scope, trusted: TrustedProxies) -> bool:
    """Whether the request arrived over TLS (here, or at a trusted proxy in front)."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    client = scope.get("client")
    if not client or not trusted.contains(str(client[0])):
        return False
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-proto":
            return value.decode("latin-1").split(",")[0].strip().lower() == "https"
    return False


class SecurityHeaders:
    """A ``before_send`` hook adding the headers to each response start."""

    def __init__(self, settings: Settings) -> None:
        self.hsts = (
            f"max-age={settings.hsts_max_age_s}; includeSubDomains".encode()
            if settings.hsts_max_age_s
            else None
        )

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
        present = {name.lower() for name, _ in headers}
        path: str = scope.get("path", "")
        page = path.startswith(_PAGES)
        add = list(_STATIC)
        add.append((b"content-security-policy", (PAGE_CSP if page else API_CSP).encode()))
        if path.startswith("/api/") and b"cache-control" not in present:
            add.append((b"cache-control", b"no-store"))
        if self.hsts and is_tls(scope, _trusted(scope)):
            add.append((b"strict-transport-security", self.hsts))
        headers.extend((name, value) for name, value in add if name not in present)
        message["headers"] = headers


def _trusted(scope: Scope) -> TrustedProxies:
    app: Any = scope.get("litestar_app")
    security = getattr(getattr(app, "state", None), "security", None)
    return security.trusted_proxies if security is not None else TrustedProxies.none()


def cors_config(settings: Settings) -> CORSConfig | None:
    """The CORS policy: only the configured origins, no credentials; None = no CORS at all."""
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Status-Token"],
        expose_headers=["Location", "Retry-After", "X-Request-ID", "ETag"],
        allow_credentials=False,
        max_age=600,
    )
