"""Shapes of the interview routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api.inputs import Input

InterviewType = Literal["phone", "in_person", "video"]


_In = Input


class _Slot(_In):
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_start(self) -> _Slot:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if (self.ends_at - self.starts_at).total_seconds() > 12 * 3600:
            raise ValueError("an interview lasts at most 12 hours")
        return self


class InterviewIn(_Slot):
    application_id: uuid.UUID
    interviewer_id: uuid.UUID
    interview_type: InterviewType = "video"


class RescheduleIn(_Slot):
    interviewer_id: uuid.UUID | None = Field(default=None, description="Unchanged when absent.")


class FeedbackIn(_In):
    notes: Annotated[str, Field(min_length=1, max_length=20_000)]
    score: Annotated[float, Field(ge=0, le=100)]


class InterviewOut(BaseModel):
    id: uuid.UUID
    application_id: uuid.UUID
    candidate_id: uuid.UUID | None
    interviewer_id: uuid.UUID
    interview_type: InterviewType
    starts_at: datetime
    ends_at: datetime
    status: Literal["scheduled", "completed", "cancelled"]
    notes: str | None
    score: float | None
    created_at: datetime
    updated_at: datetime | None
