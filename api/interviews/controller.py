"""``/api/v1/interviews``."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from api.interviews import service
from api.interviews.schemas import FeedbackIn, InterviewIn, InterviewOut, RescheduleIn
from api.openapi import problems
from api.security import DEPENDENCIES, SECURITY, OrgSession


class InterviewsController(Controller):
    path = "/api/v1/interviews"
    tags = ["interviews"]
    dependencies = DEPENDENCIES
    security = SECURITY

    @post(
        "",
        summary="Schedule (409 naming the conflicting interview)",
        responses=problems(
            {
                404: "application_not_found",
                409: "application_not_interviewable, interview_conflict, illegal_transition",
                422: "interviewer_not_found",
            }
        ),
    )
    async def schedule(
        self, session: NamedDependency[OrgSession], data: JSONBody[InterviewIn]
    ) -> InterviewOut:
        return await service.schedule(session, data)

    @get("", summary="Interviews (an interviewer sees their own)")
    async def list_interviews(
        self,
        session: NamedDependency[OrgSession],
        application_id: FromQuery[uuid.UUID | None] = None,
        interviewer_id: FromQuery[uuid.UUID | None] = None,
        starts_from: FromQuery[datetime | None] = None,
        starts_to: FromQuery[datetime | None] = None,
    ) -> list[InterviewOut]:
        return await service.list_interviews(
            session,
            {
                "application_id": application_id,
                "interviewer_id": interviewer_id,
                "starts_from": starts_from,
                "starts_to": starts_to,
            },
        )

    @get(
        "/{interview_id:uuid}",
        summary="One interview",
        responses=problems({404: "interview_not_found"}),
    )
    async def read(
        self, session: NamedDependency[OrgSession], interview_id: FromPath[uuid.UUID]
    ) -> InterviewOut:
        return await service.read(session, interview_id)

    @patch(
        "/{interview_id:uuid}",
        summary="Reschedule (same conflict rules)",
        responses=problems(
            {
                404: "interview_not_found",
                409: "interview_not_scheduled, interview_conflict",
                422: "interviewer_not_found",
            }
        ),
    )
    async def reschedule(
        self,
        session: NamedDependency[OrgSession],
        interview_id: FromPath[uuid.UUID],
        data: JSONBody[RescheduleIn],
    ) -> InterviewOut:
        return await service.reschedule(session, interview_id, data)

    @post(
        "/{interview_id:uuid}/cancel",
        status_code=HTTP_200_OK,
        summary="Cancel a scheduled interview",
        responses=problems({404: "interview_not_found", 409: "interview_not_scheduled"}),
    )
    async def cancel(
        self, session: NamedDependency[OrgSession], interview_id: FromPath[uuid.UUID]
    ) -> InterviewOut:
        return await service.cancel(session, interview_id)

    @post(
        "/{interview_id:uuid}/feedback",
        status_code=HTTP_200_OK,
        summary="The interviewer's notes and score (completes the interview)",
        responses=problems({404: "interview_not_found", 409: "interview_not_scheduled"}),
    )
    async def feedback(
        self,
        session: NamedDependency[OrgSession],
        interview_id: FromPath[uuid.UUID],
        data: JSONBody[FeedbackIn],
    ) -> InterviewOut:
        return await service.feedback(session, interview_id, data)
