"""``POST /api/v1/jobs/{job_id}/applications`` and ``GET /api/v1/applications/{id}``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import FromPath, HeaderParameter, PathParameter

from api import ratelimit
from api.applications import service
from api.applications.identity import STATUS_TOKEN_HEADER
from api.applications.schemas import (
    ApplicationForm,
    ApplicationJson,
    ApplicationStatusOut,
    SubmissionAccepted,
)
from api.errors import ProblemError
from api.openapi import REQUEST_BODY_OPT, problems
from api.ratelimit import IP_LIMIT_IN_HANDLER, IP_WHAT, Limit
from api.security import request_ip, security_state
from api.state import ApiState
from core.logs import request_id_var

_FORM_FIELDS = ("candidate_cnic", "candidate_name", "candidate_email", "phone", "resume_text")


class ApplicationsController(Controller):
    path = "/api/v1"
    tags = ["applications"]

    @post(
        "/jobs/{job_id:uuid}/applications",
        summary="Submit an application (JSON or multipart with a résumé file)",
        description=(
            "Accepts `application/json` with the fields of ApplicationIn, or "
            "`multipart/form-data` with the same fields and a `resume` file (PDF, DOCX, text). "
            "Answers 202 once Kafka acknowledged the application (acks=all), or 200 with the "
            "current status when the same candidate already applied to this job."
        ),
        status_code=202,
        opt={
            REQUEST_BODY_OPT: {
                "application/json": ApplicationJson,
                "multipart/form-data": ApplicationForm,
            },
            # The per-IP count rides in one Redis round trip with the submission limit.
            IP_LIMIT_IN_HANDLER: True,
        },
        responses=problems(
            {
                400: "malformed_json: the body is not a JSON object; malformed_form;"
                " json_too_deep, number_too_large; invalid_value: a field holds what cannot be"
                " stored (NUL, a lone surrogate, too long)",
                404: "job_not_found",
                409: "job_closed",
                413: "file_too_large, payload_too_large",
                415: "unsupported_media_type: of the body or of the résumé",
                422: "validation_failed, resume_missing, resume_empty",
                503: "queue_unavailable, service_unavailable: nothing was accepted;"
                " see Retry-After",
            }
        ),
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        state_: NamedDependency[ApiState],
        job_id: FromPath[uuid.UUID],
    ) -> Response[SubmissionAccepted]:
        ip = request_ip(request)
        ip_per_min = security_state(request.app).settings.rate_limit_ip_per_min
        await ratelimit.hit_all(
            state_.redis,
            [
                Limit("ip", ip, ip_per_min, IP_WHAT),
                Limit(
                    "submit",
                    ip,
                    state_.settings.rate_limit_submit_per_min,
                    "submissions from this address",
                ),
            ],
        )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        resume: service.ResumeFile | None = None
        if content_type == "application/json":
            fields = service.parse_json_body(await request.body())
        elif content_type == "multipart/form-data":
            try:
                form = await request.form()
            except (UnicodeDecodeError, ValueError) as exc:
                raise ProblemError(
                    400, "malformed_form", "A form field is not valid UTF-8 text."
                ) from exc
            fields = {k: form.get(k) for k in _FORM_FIELDS if form.get(k) not in (None, "")}
            upload = form.get("resume")
            if isinstance(upload, UploadFile):
                resume = service.ResumeFile(
                    await upload.read(), upload.filename, upload.content_type
                )
            elif upload is not None:
                raise ProblemError(422, "validation_failed", "`resume` must be a file.")
        else:
            raise ProblemError(
                415,
                "unsupported_media_type",
                "Send application/json or multipart/form-data.",
            )
        data = service.parse_fields(fields)
        result = await service.submit(state_, job_id, data, resume, request_id_var.get())
        body = SubmissionAccepted(
            application_id=result.application_id,
            status=result.status,
            status_url=f"{state_.settings.effective_public_url}/api/v1/applications/"
            f"{result.application_id}",
            status_token=result.status_token,
        )
        return Response(
            body,
            status_code=202 if result.created else 200,
            headers={"Location": body.status_url},
        )

    @get(
        "/applications/{application_id:uuid}",
        summary="Status of an application (needs its status token; no personal data)",
        description="Answers 404 when the application does not exist or the token is not its"
        " own, so neither an id nor a CNIC reveals anything.",
        responses=problems({404: "application_not_found"}),
    )
    async def status(
        self,
        state_: NamedDependency[ApiState],
        application_id: Annotated[
            uuid.UUID,
            PathParameter(
                description="The id returned at submission",
                examples=[Example(value="0b8f5a2e-3c1d-5e6f-8a9b-0c1d2e3f4a5b")],
            ),
        ],
        status_token: Annotated[
            str,
            HeaderParameter(
                name=STATUS_TOKEN_HEADER,
                min_length=1,
                max_length=100,
                description="The status_token of the 202 answer",
            ),
        ],
    ) -> ApplicationStatusOut:
        found = await service.read_status(state_, application_id, status_token)
        if found is None:
            raise ProblemError(404, "application_not_found", f"No application {application_id}.")
        return found
