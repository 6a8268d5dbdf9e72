"""``/api/v1/auth/*`` and ``/api/v1/users``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from api import ratelimit
from api.auth import service
from api.auth.schemas import LoginIn, LogoutIn, MeOut, RefreshIn, TokenPair, UserIn, UserOut
from api.openapi import problems
from api.security import (
    DEPENDENCIES,
    PUBLIC,
    SECURITY,
    OrgSession,
    Principal,
    SecurityState,
    request_ip,
)
from api.state import ApiState


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    dependencies = DEPENDENCIES

    @post(
        "/login",
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        summary="Exchange e-mail and password for an access and a refresh token",
        responses=problems(
            {
                401: "invalid_credentials, organization_required",
                429: "rate_limited (this address), login_throttled (this account); see Retry-After",
            }
        ),
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        state_: NamedDependency[ApiState],
        security: NamedDependency[SecurityState],
        data: JSONBody[LoginIn],
    ) -> TokenPair:
        await ratelimit.hit(
            state_.redis,
            "login",
            request_ip(request),
            security.settings.rate_limit_sensitive_per_min,
            "login attempts",
        )
        return await service.login(state_, security, data.email, data.password, data.organization)

    @post(
        "/refresh",
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        summary="Rotate a refresh token (single use; reuse revokes the family)",
        responses=problems(
            {401: "invalid_refresh_token, refresh_token_expired, refresh_token_reused"}
        ),
    )
    async def refresh(
        self,
        state_: NamedDependency[ApiState],
        security: NamedDependency[SecurityState],
        data: JSONBody[RefreshIn],
    ) -> TokenPair:
        return await service.refresh(state_, security, data.refresh_token)

    @post(
        "/logout",
        security=SECURITY,
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke this access token and its refresh-token family",
    )
    async def logout(
        self,
        session: NamedDependency[OrgSession],
        security: NamedDependency[SecurityState],
        data: JSONBody[LogoutIn | None] = None,
    ) -> None:
        await service.logout(session, security)

    @get("/me", security=SECURITY, summary="Who the access token belongs to")
    async def me(self, principal: NamedDependency[Principal]) -> MeOut:
        return MeOut(
            user_id=principal.user_id,
            organization_id=principal.organization_id,
            role=principal.role,
        )


class UsersController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    dependencies = DEPENDENCIES
    security = SECURITY

    @post(
        "",
        summary="Create a user in the caller's organization (admin)",
        responses=problems({409: "email_taken"}),
    )
    async def create(self, session: NamedDependency[OrgSession], data: JSONBody[UserIn]) -> UserOut:
        return await service.create_user(session, data)

    @get("", summary="Users of the caller's organization (admin)")
    async def list_users(self, session: NamedDependency[OrgSession]) -> list[UserOut]:
        return await service.list_users(session)
