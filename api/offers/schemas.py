"""Shapes of the offer routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

OfferStatus = Literal["pending", "accepted", "declined", "expired", "withdrawn"]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)]


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    application_id: uuid.UUID
    salary_min: Money
    salary_max: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "PKR"
    expires_at: AwareDatetime

    @model_validator(mode="after")
    def _range(self) -> OfferIn:
        if self.salary_max < self.salary_min:
            raise ValueError("salary_max must be at least salary_min")
        return self


class OfferOut(BaseModel):
    id: uuid.UUID
    application_id: uuid.UUID
    job_id: uuid.UUID
    salary_min: float
    salary_max: float
    currency: str
    status: OfferStatus
    expires_at: datetime
    created_at: datetime
    decided_at: datetime | None
