"""``/api/v1/offers``."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from api.offers import service
from api.offers.schemas import OfferIn, OfferOut, OfferStatus
from api.openapi import problems
from api.security import DEPENDENCIES, SECURITY, OrgSession


class OffersController(Controller):
    path = "/api/v1/offers"
    tags = ["offers"]
    dependencies = DEPENDENCIES
    security = SECURITY

    @post(
        "",
        summary="Offer for an application in interview/offer (emits offers.created)",
        responses=problems(
            {
                404: "application_not_found",
                409: "application_not_in_interview, offer_pending, illegal_transition",
                422: "expiry_in_past",
            }
        ),
    )
    async def create(
        self, session: NamedDependency[OrgSession], data: JSONBody[OfferIn]
    ) -> OfferOut:
        return await service.create(session, data)

    @get("", summary="Offers (overdue ones are expired on read)")
    async def list_offers(
        self,
        session: NamedDependency[OrgSession],
        status: FromQuery[OfferStatus | None] = None,
        application_id: FromQuery[uuid.UUID | None] = None,
    ) -> list[OfferOut]:
        return await service.list_offers(
            session, {"status": status, "application_id": application_id}
        )

    @get(
        "/{offer_id:uuid}",
        summary="One offer",
        responses=problems({404: "offer_not_found"}),
    )
    async def read(
        self, session: NamedDependency[OrgSession], offer_id: FromPath[uuid.UUID]
    ) -> OfferOut:
        return await service.read(session, offer_id)

    @post(
        "/{offer_id:uuid}/accept",
        status_code=HTTP_200_OK,
        summary="Record acceptance (the application becomes hired)",
        responses=problems(
            {
                404: "offer_not_found",
                409: "offer_not_pending, illegal_transition, concurrent_update",
            }
        ),
    )
    async def accept(
        self, session: NamedDependency[OrgSession], offer_id: FromPath[uuid.UUID]
    ) -> OfferOut:
        return await service.decide(session, offer_id, "accepted")

    @post(
        "/{offer_id:uuid}/decline",
        status_code=HTTP_200_OK,
        summary="Record that the candidate declined",
        responses=problems({404: "offer_not_found", 409: "offer_not_pending"}),
    )
    async def decline(
        self, session: NamedDependency[OrgSession], offer_id: FromPath[uuid.UUID]
    ) -> OfferOut:
        return await service.decide(session, offer_id, "declined")

    @post(
        "/{offer_id:uuid}/expire",
        status_code=HTTP_200_OK,
        summary="Expire a pending offer now",
        responses=problems({404: "offer_not_found", 409: "offer_not_pending"}),
    )
    async def expire(
        self, session: NamedDependency[OrgSession], offer_id: FromPath[uuid.UUID]
    ) -> OfferOut:
        return await service.decide(session, offer_id, "expired")
