"""``/api/v1/applications`` (HR), candidate withdrawal and ``/api/v1/candidates/erasure``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from api import ratelimit
from api.candidates import service
from api.candidates.schemas import (
    ApplicationDetail,
    ApplicationPage,
    ErasureIn,
    ErasureOut,
    Sort,
    StatusChangeIn,
    StatusChangeOut,
    WithdrawIn,
)
from api.openapi import problems
from api.security import (
    DEPENDENCIES,
    PUBLIC,
    SECURITY,
    OrgSession,
    SecurityState,
    inet_or_none,
    request_ip,
)
from api.state import ApiState
from core.domain import ApplicationStatus
from core.logs import request_id_var


class HrApplicationsController(Controller):
    path = "/api/v1/applications"
    tags = ["applications (HR)"]
    dependencies = DEPENDENCIES

    @get(
        "",
        security=SECURITY,
        summary="Applications: filters, full-text search, keyset pages",
        responses=problems({400: "invalid_cursor, invalid_value"}),
    )
    async def list_applications(
        self,
        session: NamedDependency[OrgSession],
        job_id: FromQuery[uuid.UUID | None] = None,
        status: Annotated[
            list[ApplicationStatus] | None, QueryParameter(description="One or more statuses")
        ] = None,
        # schema_extra: Litestar leaves a bound of 0 out of the document.
        min_score: Annotated[
            float | None, QueryParameter(ge=0, le=100, schema_extra={"minimum": 0})
        ] = None,
        max_score: Annotated[
            float | None, QueryParameter(ge=0, le=100, schema_extra={"minimum": 0})
        ] = None,
        submitted_from: FromQuery[datetime | None] = None,
        submitted_to: FromQuery[datetime | None] = None,
        shortlisted: FromQuery[bool | None] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=200,
                description="Words in the candidate's name or résumé (PostgreSQL text search)",
            ),
        ] = None,
        sort: FromQuery[Sort] = "-created_at",
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, QueryParameter(max_length=300)] = None,
    ) -> ApplicationPage:
        filters = {
            "job_id": job_id,
            "statuses": [str(s) for s in status or []],
            "min_score": min_score,
            "max_score": max_score,
            "submitted_from": submitted_from,
            "submitted_to": submitted_to,
            "shortlisted": shortlisted,
            "q": q,
        }
        return await service.list_applications(
            session, filters=filters, sort=sort, limit=limit, cursor=cursor
        )

    @get(
        "/{application_id:uuid}/details",
        security=SECURITY,
        summary="Everything about one application (personal data included)",
        responses=problems({404: "application_not_found"}),
    )
    async def details(
        self, session: NamedDependency[OrgSession], application_id: FromPath[uuid.UUID]
    ) -> ApplicationDetail:
        return await service.read_application(session, application_id)

    @put(
        "/{application_id:uuid}/status",
        security=SECURITY,
        summary="Change the status through the state machine (409 when illegal)",
        responses=problems(
            {404: "application_not_found", 409: "illegal_transition, concurrent_update"}
        ),
    )
    async def set_status(
        self,
        session: NamedDependency[OrgSession],
        application_id: FromPath[uuid.UUID],
        data: JSONBody[StatusChangeIn],
    ) -> StatusChangeOut:
        return await service.set_status(session, application_id, data.status, data.reason)

    @post(
        "/{application_id:uuid}/withdraw",
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        summary="The candidate withdraws (proof: CNIC and e-mail; rate limited)",
        description="Answers 404 when the application does not exist or the proof does "
        "not match, so it cannot be used to probe for applications.",
        responses=problems(
            {404: "application_not_found", 409: "illegal_transition, concurrent_update"}
        ),
    )
    async def withdraw(
        self,
        request: Request[Any, Any, Any],
        state_: NamedDependency[ApiState],
        security: NamedDependency[SecurityState],
        application_id: FromPath[uuid.UUID],
        data: JSONBody[WithdrawIn],
    ) -> StatusChangeOut:
        ip = request_ip(request)
        limit = security.settings.rate_limit_sensitive_per_min
        await ratelimit.hit(state_.redis, "withdraw", ip, limit, "withdrawal attempts")
        await ratelimit.hit(
            state_.redis,
            "withdraw-app",
            str(application_id),
            limit,
            "withdrawal attempts for this application",
        )
        return await service.withdraw(
            state_,
            application_id,
            data.candidate_cnic,
            data.candidate_email,
            inet_or_none(ip),
            request_id_var.get(),
        )


class CandidatesController(Controller):
    path = "/api/v1/candidates"
    tags = ["candidates"]
    dependencies = DEPENDENCIES
    security = SECURITY

    @post(
        "/erasure",
        status_code=HTTP_200_OK,
        summary="Erase a candidate's personal data on request (admin)",
        responses=problems({404: "candidate_not_found"}),
    )
    async def erase(
        self, session: NamedDependency[OrgSession], data: JSONBody[ErasureIn]
    ) -> ErasureOut:
        return await service.erase_candidate(session, data.candidate_cnic)
