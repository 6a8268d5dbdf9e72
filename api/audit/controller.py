"""``GET /api/v1/audit``: who changed what, newest first, keyset-paginated (admin)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from pydantic import BaseModel

from api.errors import ProblemError
from api.openapi import problems
from api.security import DEPENDENCIES, SECURITY, OrgSession


class AuditEntry(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID | None
    action: str
    resource_type: str | None
    resource_id: str | None
    changes: dict[str, Any] | None
    ip_address: str | None
    request_id: str | None
    occurred_at: datetime


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    dependencies = DEPENDENCIES
    security = SECURITY

    @get(
        "",
        summary="Audit log of the organization (admin), newest first",
        responses=problems({400: "invalid_cursor, invalid_value"}),
    )
    async def list_entries(
        self,
        session: NamedDependency[OrgSession],
        user_id: FromQuery[uuid.UUID | None] = None,
        action: Annotated[str | None, QueryParameter(max_length=100)] = None,
        resource_type: Annotated[str | None, QueryParameter(max_length=50)] = None,
        resource_id: Annotated[str | None, QueryParameter(max_length=100)] = None,
        occurred_from: FromQuery[datetime | None] = None,
        occurred_to: FromQuery[datetime | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> AuditPage:
        params: dict[str, Any] = {
            "org": session.organization_id,
            "user_id": user_id,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "occurred_from": occurred_from,
            "occurred_to": occurred_to,
            "limit": limit + 1,
        }
        where = ["organization_id = %(org)s"]
        for name, condition in {
            "user_id": "user_id = %(user_id)s",
            "action": "action = %(action)s",
            "resource_type": "resource_type = %(resource_type)s",
            "resource_id": "resource_id = %(resource_id)s",
            "occurred_from": "occurred_at >= %(occurred_from)s",
            "occurred_to": "occurred_at < %(occurred_to)s",
        }.items():
            if params[name] is not None:
                where.append(condition)
        if cursor:
            params["ck"], params["ci"] = _decode(cursor)
            where.append("(occurred_at, id) < (%(ck)s, %(ci)s)")
        async with session.tx() as conn:
            cur = await conn.execute(
                "SELECT id, user_id, action, resource_type, resource_id, changes,"
                " host(ip_address) AS ip_address, request_id, occurred_at FROM audit_logs"
                f" WHERE {' AND '.join(where)} ORDER BY occurred_at DESC, id DESC"
                " LIMIT %(limit)s",
                params,
            )
            rows: list[Any] = await cur.fetchall()
        more = len(rows) > limit
        items = [AuditEntry.model_validate(r) for r in rows[:limit]]
        next_cursor = _encode(items[-1]) if more and items else None
        return AuditPage(items=items, next_cursor=next_cursor)


def _encode(entry: AuditEntry) -> str:
    raw = json.dumps([entry.occurred_at.isoformat(), str(entry.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        key, entry_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(key), uuid.UUID(entry_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ProblemError(400, "invalid_cursor", "The cursor is not valid here.") from exc
