"""Every authenticated controller, and the middleware that guards them (for ``api.app``)."""

from __future__ import annotations

from typing import Any

from api.audit.controller import AuditController
from api.auth.controller import AuthController, UsersController
from api.candidates.controller import CandidatesController, HrApplicationsController
from api.interviews.controller import InterviewsController
from api.jobs.controller import JobsController, TasksController
from api.offers.controller import OffersController
from api.ratelimit import IpRateLimitMiddleware
from api.security import AuthMiddleware

CONTROLLERS: list[Any] = [
    AuthController,
    UsersController,
    JobsController,
    TasksController,
    HrApplicationsController,
    CandidatesController,
    InterviewsController,
    OffersController,
    AuditController,
]

#: Outermost first: count the IP, then authenticate (and count the user).
MIDDLEWARE: list[Any] = [IpRateLimitMiddleware(), AuthMiddleware()]
