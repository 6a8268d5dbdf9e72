"""Request and response shapes of the auth and user routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.inputs import Email, Input
from core.domain import Role

_In = Input


Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]

#: The roles an organization's admin can give; ``operator`` only the CLI can (platform).
OrganizationRole = Literal["admin", "hr", "interviewer", "ops", "finance"]


class LoginIn(_In):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    organization: Annotated[
        Slug | None,
        Field(description="The organization's slug; needed only when the address has several."),
    ] = None


class RefreshIn(_In):
    refresh_token: Annotated[str, Field(min_length=10, max_length=200)]


class LogoutIn(_In):
    refresh_token: Annotated[str | None, Field(max_length=200)] = None


class TokenPair(BaseModel):
    """An access token (JWT, 15 minutes) and a refresh token (opaque, 7 days, single use)."""

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (the scheme, not a secret)
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class UserIn(_In):
    email: Email
    password: Annotated[str, Field(min_length=12, max_length=1024)]
    role: OrganizationRole


class UserOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    role: Role
    is_active: bool
    created_at: datetime


class MeOut(BaseModel):
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
