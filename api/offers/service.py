"""Offers. One pending offer per application; it expires lazily when read after its expiry
(:data:`core.offers.EXPIRE_SQL`, the same rule the scheduler's sweep applies)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from api.candidates.service import change_status, load
from api.errors import ProblemError
from api.offers.schemas import OfferIn, OfferOut
from api.security import OrgSession
from core.domain import ApplicationStatus
from core.events import OFFERS_CREATED
from core.offers import EXPIRE_SQL
from core.outbox import add_event_async

_COLUMNS = (
    "id, application_id, job_id, salary_min, salary_max, currency, status, expires_at,"
    " created_at, decided_at"
)


def _not_found(offer_id: uuid.UUID) -> ProblemError:
    return ProblemError(404, "offer_not_found", f"No offer {offer_id}.")


async def _expire_overdue(conn: AsyncConnection[Any], session: OrgSession) -> None:
    await conn.execute(EXPIRE_SQL + " AND organization_id = %s", (session.organization_id,))


async def _offer(
    conn: AsyncConnection[Any], session: OrgSession, offer_id: uuid.UUID, *, lock: bool = False
) -> dict[str, Any]:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM offers WHERE id = %s AND organization_id = %s"
        + (" FOR UPDATE" if lock else ""),
        (offer_id, session.organization_id),
    )
    row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
    if row is None:
        raise _not_found(offer_id)
    return row


async def create(session: OrgSession, data: OfferIn) -> OfferOut:
    """Offer for an application in ``interview`` (moved to ``offer``) or ``offer``."""
    if data.expires_at <= datetime.now(UTC):
        raise ProblemError(422, "expiry_in_past", "expires_at must be in the future.")
    async with session.tx() as conn:
        app = await load(conn, data.application_id, session.organization_id, lock=True)
        if app is None:
            raise ProblemError(
                404, "application_not_found", f"No application {data.application_id}."
            )
        if app["status"] not in (ApplicationStatus.INTERVIEW, ApplicationStatus.OFFER):
            raise ProblemError(
                409,
                "application_not_in_interview",
                f"Offers need an application in interview or offer, not {app['status']}.",
            )
        await _expire_overdue(conn, session)
        cur = await conn.execute(
            "SELECT id FROM offers WHERE application_id = %s AND organization_id = %s"
            " AND status = 'pending'",
            (app["id"], session.organization_id),
        )
        if (pending := await cur.fetchone()) is not None:
            raise ProblemError(
                409,
                "offer_pending",
                "This application has a pending offer.",
                extra={"offer_id": str(pending["id"])},
            )  # type: ignore[index]
        cur = await conn.execute(
            "INSERT INTO offers (organization_id, application_id, job_id, salary_min,"
            f" salary_max, currency, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (
                session.organization_id,
                app["id"],
                app["job_id"],
                data.salary_min,
                data.salary_max,
                data.currency,
                data.expires_at,
            ),
        )
        offer = OfferOut.model_validate(await cur.fetchone())
        if app["status"] == ApplicationStatus.INTERVIEW:
            await change_status(conn, app, ApplicationStatus.OFFER, "offer made")
        await add_event_async(
            conn,
            OFFERS_CREATED,
            {
                "offer_id": str(offer.id),
                "application_id": str(offer.application_id),
                "job_id": str(offer.job_id),
                "salary_min": offer.salary_min,
                "salary_max": offer.salary_max,
                "currency": offer.currency,
                "expires_at": offer.expires_at.isoformat(),
            },
            key=str(offer.job_id),
            job_id=offer.job_id,
        )
        await session.audit(
            conn, "offer.create", "offer", offer.id, after=offer.model_dump(mode="json")
        )
    return offer


async def decide(session: OrgSession, offer_id: uuid.UUID, decision: str) -> OfferOut:
    """``accepted`` (the application becomes ``hired``), ``declined`` or ``expired``."""
    async with session.tx() as conn:
        await _expire_overdue(conn, session)
        before = await _offer(conn, session, offer_id, lock=True)
        if before["status"] != "pending":
            raise ProblemError(
                409,
                "offer_not_pending",
                f"The offer is {before['status']}.",
                extra={"offer_status": before["status"]},
            )
        cur = await conn.execute(
            "UPDATE offers SET status = %s, decided_at = now()"
            f" WHERE id = %s AND organization_id = %s RETURNING {_COLUMNS}",
            (decision, offer_id, session.organization_id),
        )
        offer = OfferOut.model_validate(await cur.fetchone())
        if decision == "accepted":
            app = await load(conn, offer.application_id, session.organization_id, lock=True)
            if app is None:
                raise _not_found(offer_id)
            await change_status(conn, app, ApplicationStatus.HIRED, "offer accepted")
        await session.audit(
            conn,
            f"offer.{decision.removesuffix('ed')}",
            "offer",
            offer_id,
            before={"status": "pending"},
            after={"status": decision},
        )
    return offer


async def read(session: OrgSession, offer_id: uuid.UUID) -> OfferOut:
    async with session.tx() as conn:
        await _expire_overdue(conn, session)
        return OfferOut.model_validate(await _offer(conn, session, offer_id))


async def list_offers(session: OrgSession, filters: dict[str, Any]) -> list[OfferOut]:
    where = ["organization_id = %(org)s"]
    params = {**filters, "org": session.organization_id}
    if filters.get("status"):
        where.append("status = %(status)s")
    if filters.get("application_id"):
        where.append("application_id = %(application_id)s")
    async with session.tx() as conn:
        await _expire_overdue(conn, session)
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM offers WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT 500",
            params,
        )
        return [OfferOut.model_validate(r) for r in await cur.fetchall()]
