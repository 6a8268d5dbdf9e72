"""Passwords (argon2id), token issue, refresh rotation with reuse detection, logout, users.

Login and refresh run before the organization is known, so they read ``users`` and
``refresh_tokens`` as the owner role; everything else goes through :class:`OrgSession`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import AsyncConnection

from api.auth.schemas import TokenPair, UserIn, UserOut
from api.auth.throttle import LoginThrottle
from api.errors import ProblemError
from api.security import OrgSession, Principal, SecurityState, revoke_access, revoke_family
from api.state import ApiState
from core.db import connect
from core.domain import Role
from core.settings import Settings

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")

# E-mail addresses are unique per organization only: the same address may sign in to several.
_USERS_BY_EMAIL_SQL = """
SELECT u.id, u.organization_id, u.role, u.password_hash, u.is_active
  FROM users u JOIN organizations o ON o.id = u.organization_id
 WHERE lower(u.email) = lower(%(email)s) AND (%(slug)s::text IS NULL OR o.slug = %(slug)s)
 ORDER BY u.created_at
 LIMIT 20
"""

_USER_SQL = "SELECT id, organization_id, role, is_active FROM users WHERE id = %s"

_REFRESH_SQL = """
SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens
 WHERE token_hash = %s FOR UPDATE
"""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_hex(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _bad_credentials() -> ProblemError:
    return ProblemError(401, "invalid_credentials", "E-mail or password is wrong.")


async def login(
    api: ApiState,
    security: SecurityState,
    email: str,
    password: str,
    organization: str | None = None,
) -> TokenPair:
    """Check the password (the same work whether or not the user exists) and issue tokens.

    The account's throttle (:mod:`api.auth.throttle`) is asked first; a failure feeds it. An
    address with accounts in several organizations needs ``organization`` (its slug) once the
    password matched more than one of them.
    """
    throttle = LoginThrottle(api.redis, security.settings, api.pii, email)
    await throttle.admit()
    async with api.db.connection() as conn:
        cur = await conn.execute(_USERS_BY_EMAIL_SQL, {"email": email, "slug": organization})
        users: list[dict[str, Any]] = await cur.fetchall()  # type: ignore[assignment]
    stored = [user["password_hash"] for user in users] or [_dummy_hash()]
    verdicts = [await asyncio.to_thread(_verify, h, password) for h in stored]
    matched = [u for u, ok in zip(users, verdicts, strict=False) if ok and u["is_active"]]
    if not matched:
        await throttle.failed()
        raise _bad_credentials()
    await throttle.succeeded()
    if len(matched) > 1:
        raise ProblemError(
            401,
            "organization_required",
            "This e-mail signs in to several organizations: send `organization` (its slug).",
        )
    user = matched[0]
    async with api.db.connection() as conn, conn.transaction():
        if _HASHER.check_needs_rehash(user["password_hash"]):
            await conn.execute(
                "UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                (await asyncio.to_thread(hash_password, password), user["id"]),
            )
        return await _issue(conn, security, user, uuid.uuid4())


async def refresh(api: ApiState, security: SecurityState, token: str) -> TokenPair:
    """Rotate a refresh token. A token used twice revokes its whole family (401)."""
    settings = security.settings
    reused_family: uuid.UUID | None = None
    async with api.db.connection() as conn, conn.transaction():
        cur = await conn.execute(_REFRESH_SQL, (_token_hash(token),))
        row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
        if row is None or row["revoked_at"] is not None:
            raise ProblemError(401, "invalid_refresh_token", "The refresh token is not valid.")
        if row["used_at"] is not None:
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now()"
                " WHERE family_id = %s AND revoked_at IS NULL",
                (row["family_id"],),
            )
            reused_family = row["family_id"]
        elif row["expires_at"] <= datetime.now(UTC):
            raise ProblemError(401, "refresh_token_expired", "The refresh token has expired.")
        else:
            cur = await conn.execute(_USER_SQL, (row["user_id"],))
            user: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
            if user is None or not user["is_active"]:
                raise ProblemError(401, "invalid_refresh_token", "The user is disabled.")
            await conn.execute(
                "UPDATE refresh_tokens SET used_at = now() WHERE id = %s", (row["id"],)
            )
            return await _issue(conn, security, user, row["family_id"])
    assert reused_family is not None
    await revoke_family(api, reused_family, settings.access_token_ttl_s)
    raise ProblemError(
        401,
        "refresh_token_reused",
        "This refresh token was already used: every session of its family is revoked.",
    )


async def _issue(
    conn: AsyncConnection[Any],
    security: SecurityState,
    user: dict[str, Any],
    family_id: uuid.UUID,
) -> TokenPair:
    access, _ = security.keys.issue(
        user_id=user["id"],
        organization_id=user["organization_id"],
        role=user["role"],
        family_id=family_id,
    )
    refresh_token = secrets.token_urlsafe(32)
    ttl = security.settings.refresh_token_ttl_s
    await conn.execute(
        "INSERT INTO refresh_tokens (family_id, user_id, organization_id, token_hash, expires_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (
            family_id,
            user["id"],
            user["organization_id"],
            _token_hash(refresh_token),
            datetime.now(UTC) + timedelta(seconds=ttl),
        ),
    )
    return TokenPair(
        access_token=access,
        expires_in=security.keys.ttl_s,
        refresh_token=refresh_token,
        refresh_expires_in=ttl,
    )


async def logout(session: OrgSession, security: SecurityState) -> None:
    """Revoke the caller's access token and its whole refresh family."""
    principal: Principal = session.principal
    async with session.tx() as conn:
        await conn.execute(
            "UPDATE refresh_tokens SET revoked_at = now()"
            " WHERE family_id = %s AND revoked_at IS NULL",
            (principal.family_id,),
        )
        await session.audit(conn, "auth.logout", "user", principal.user_id)
    await revoke_access(session.api, principal, security.settings.access_token_ttl_s)


# --- users ---------------------------------------------------------------------------------

_USER_COLUMNS = "id, organization_id, email, role, is_active, created_at"


async def create_user(session: OrgSession, data: UserIn) -> UserOut:
    """A new user in the caller's organization (409 ``email_taken``)."""
    password_hash = await asyncio.to_thread(hash_password, data.password)
    try:
        async with session.tx() as conn:
            cur = await conn.execute(
                "INSERT INTO users (organization_id, email, password_hash, role)"
                f" VALUES (%s, %s, %s, %s) RETURNING {_USER_COLUMNS}",
                (session.organization_id, data.email.lower(), password_hash, data.role),
            )
            row: Any = await cur.fetchone()
            user = UserOut.model_validate(row)
            await session.audit(
                conn, "user.create", "user", user.id, after={"email": user.email, "role": user.role}
            )
    except psycopg.errors.UniqueViolation as exc:
        raise ProblemError(409, "email_taken", "A user with this e-mail exists.") from exc
    return user


async def list_users(session: OrgSession) -> list[UserOut]:
    async with session.tx() as conn:
        cur = await conn.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE organization_id = %s ORDER BY created_at",
            (session.organization_id,),
        )
        return [UserOut.model_validate(r) for r in await cur.fetchall()]


def create_organization_with_admin(
    settings: Settings,
    *,
    name: str,
    slug: str,
    email: str,
    password: str,
    role: Role = Role.ADMIN,
) -> tuple[uuid.UUID, uuid.UUID]:
    """Bootstrap: the organization ``slug`` (created if new) and a user in it (``pvara users
    create``); with ``role=operator`` the platform organization (created once, named ``slug``
    then) and a platform operator in it. Returns (organization id, user id).

    Raises:
        ValueError: bad slug, short password, or the e-mail is taken.
    """
    if not _SLUG.match(slug):
        raise ValueError("slug: lowercase letters, digits and dashes, 2-63 characters")
    if len(password) < 12:
        raise ValueError("password: at least 12 characters")
    platform = role == Role.OPERATOR
    password_hash = hash_password(password)
    try:
        return _create_in_organization(
            conn_settings=settings,
            name=name,
            slug=slug,
            email=email,
            password_hash=password_hash,
            role=role,
            platform=platform,
        )
    except psycopg.errors.UniqueViolation as exc:  # the slug belongs to another organization
        raise ValueError(f"the slug {slug} is taken by another organization") from exc


def _create_in_organization(
    *,
    conn_settings: Settings,
    name: str,
    slug: str,
    email: str,
    password_hash: str,
    role: Role,
    platform: bool,
) -> tuple[uuid.UUID, uuid.UUID]:
    with connect(conn_settings) as conn, conn.transaction():
        if platform:  # the one platform organization, whatever its slug
            row = conn.execute(
                "INSERT INTO organizations (name, slug, is_platform) VALUES (%s, %s, true)"
                " ON CONFLICT (is_platform) WHERE is_platform DO UPDATE SET is_platform = true"
                " RETURNING id",
                (name or slug, slug),
            ).fetchone()
        else:
            row = conn.execute(
                "INSERT INTO organizations (name, slug) VALUES (%s, %s)"
                " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id",
                (name or slug, slug),
            ).fetchone()
        assert row is not None
        org_id: uuid.UUID = row["id"]
        try:
            user = conn.execute(
                "INSERT INTO users (organization_id, email, password_hash, role)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (org_id, email.lower(), password_hash, str(role)),
            ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise ValueError(f"a user with e-mail {email} exists in {slug}") from exc
        except psycopg.errors.CheckViolation as exc:
            raise ValueError(f"{slug} is the platform organization: operators only") from exc
        assert user is not None
        conn.execute(
            "INSERT INTO audit_logs (organization_id, user_id, action, resource_type,"
            " resource_id, changes) VALUES (%s, NULL, 'user.create', 'user', %s,"
            " jsonb_build_object('after', jsonb_build_object('email', %s::text, 'role', %s::text),"
            " 'via', 'cli'))",
            (org_id, str(user["id"]), email.lower(), str(role)),
        )
    return org_id, user["id"]
