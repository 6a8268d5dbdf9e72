"""``/api/v1/jobs`` (HR and the public listing), criteria, shortlist, rebuilds, ``/tasks``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, cast

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_304_NOT_MODIFIED

from api.jobs import service
from api.jobs.schemas import (
    CriteriaIn,
    CriteriaOut,
    JobIn,
    JobOut,
    JobPatch,
    PublicJobPage,
    ShortlistOut,
    TaskAccepted,
    TaskOut,
)
from api.openapi import problems
from api.security import DEPENDENCIES, PUBLIC, SECURITY, OrgSession, SecurityState
from api.state import ApiState
from core.domain import JobTier


class JobsController(Controller):
    path = "/api/v1/jobs"
    tags = ["jobs"]
    dependencies = DEPENDENCIES

    @get(
        "",
        opt=PUBLIC,
        security=[],
        summary="Open jobs (public, cached; ETag/If-None-Match)",
        responses={304: ResponseSpec(None, description="Not modified (ETag matched)")},
    )
    async def public_listing(
        self,
        request: Request[Any, Any, Any],
        state_: NamedDependency[ApiState],
        organization: Annotated[
            str | None, QueryParameter(max_length=63, description="Organization slug")
        ] = None,
        department: Annotated[str | None, QueryParameter(max_length=100)] = None,
        location: Annotated[str | None, QueryParameter(max_length=100)] = None,
        tier: FromQuery[JobTier | None] = None,
        q: Annotated[
            str | None, QueryParameter(max_length=100, description="Words in title or description")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        offset: Annotated[int, QueryParameter(ge=0, le=10_000, schema_extra={"minimum": 0})] = 0,
    ) -> Response[PublicJobPage]:
        filters = {
            "organization": organization,
            "department": department,
            "location": location,
            "tier": str(tier) if tier else None,
            "q": q,
            "limit": limit,
            "offset": offset,
        }
        body, etag = await service.public_jobs(state_, filters)
        headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return cast(
                Response[PublicJobPage],
                Response(None, status_code=HTTP_304_NOT_MODIFIED, headers=headers),
            )
        return Response(PublicJobPage.model_validate_json(body), headers=headers)

    @post("", security=SECURITY, summary="Create a job (admin, hr)")
    async def create(self, session: NamedDependency[OrgSession], data: JSONBody[JobIn]) -> JobOut:
        return await service.create_job(session, data)

    @get(
        "/{job_id:uuid}",
        security=SECURITY,
        summary="A job of the caller's organization",
        responses=problems({404: "job_not_found"}),
    )
    async def read(
        self, session: NamedDependency[OrgSession], job_id: FromPath[uuid.UUID]
    ) -> JobOut:
        return await service.read_job(session, job_id)

    @patch(
        "/{job_id:uuid}",
        security=SECURITY,
        summary="Change a job (admin, hr)",
        responses=problems({404: "job_not_found", 409: "job_closed"}),
    )
    async def update(
        self,
        session: NamedDependency[OrgSession],
        job_id: FromPath[uuid.UUID],
        data: JSONBody[JobPatch],
    ) -> JobOut:
        return await service.update_job(session, job_id, data)

    @post(
        "/{job_id:uuid}/close",
        security=SECURITY,
        status_code=HTTP_200_OK,
        summary="Close a job: no more applications (admin, hr)",
        responses=problems({404: "job_not_found"}),
    )
    async def close(
        self, session: NamedDependency[OrgSession], job_id: FromPath[uuid.UUID]
    ) -> JobOut:
        return await service.close_job(session, job_id)

    @put(
        "/{job_id:uuid}/criteria",
        security=SECURITY,
        summary="New version of the screening criteria, tier and webhook (admin, hr)",
        description="`criteria` follows the published schema of screening.criteria.Criteria.",
        responses=problems({404: "job_not_found"}),
    )
    async def put_criteria(
        self,
        session: NamedDependency[OrgSession],
        job_id: FromPath[uuid.UUID],
        data: JSONBody[CriteriaIn],
    ) -> CriteriaOut:
        return await service.put_criteria(session, job_id, data)

    @get(
        "/{job_id:uuid}/criteria",
        security=SECURITY,
        summary="Current criteria version",
        responses=problems({404: "job_not_found, criteria_not_set"}),
    )
    async def get_criteria(
        self, session: NamedDependency[OrgSession], job_id: FromPath[uuid.UUID]
    ) -> CriteriaOut:
        return await service.read_criteria(session, job_id)

    @get(
        "/{job_id:uuid}/shortlist",
        security=SECURITY,
        summary="Current shortlist: rank, score, reasoning, skills, contact",
        responses=problems({404: "job_not_found"}),
    )
    async def shortlist(
        self, session: NamedDependency[OrgSession], job_id: FromPath[uuid.UUID]
    ) -> ShortlistOut:
        return await service.read_shortlist(session, job_id)

    @post(
        "/{job_id:uuid}/shortlist/rebuild",
        security=SECURITY,
        status_code=HTTP_202_ACCEPTED,
        summary="Re-score stale applications, then rebuild the shortlist (a task)",
        responses=problems({404: "job_not_found"}),
    )
    async def rebuild(
        self,
        session: NamedDependency[OrgSession],
        security: NamedDependency[SecurityState],
        job_id: FromPath[uuid.UUID],
    ) -> TaskAccepted:
        return await service.request_rebuild(session, security, job_id)


class TasksController(Controller):
    path = "/api/v1/tasks"
    tags = ["tasks"]
    dependencies = DEPENDENCIES
    security = SECURITY

    @get(
        "/{task_id:str}",
        summary="State of a task (queued, running, succeeded, failed)",
        responses=problems({404: "task_not_found"}),
    )
    async def read(
        self,
        session: NamedDependency[OrgSession],
        task_id: Annotated[str, PathParameter(max_length=64, pattern=r"^[0-9a-f]{32}$")],
    ) -> TaskOut:
        return await service.read_task(session, task_id)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates
