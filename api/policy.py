"""Who may call what: the one table of every API operation and the roles allowed on it.

Least privilege: HR work (jobs, criteria, applications, shortlists, rebuilds) is ``admin`` and
``hr``; interviewers see and complete interviews; finance reads offers and costs; an
organization's ``ops`` and ``admin`` see their own organization's dead letters and spend; only
platform ``operator`` users touch pools and everyone's dead letters, and they see no
organization's data. :func:`enforce` is the guard of every route (installed on the app), and
:func:`check_complete` refuses to build an app with an ``/api`` operation the table does not
name, so a new route is denied until someone decides who may call it. The table in
``docs/security.md`` is generated from this and the OpenAPI document
(``python -m ops.roles_table``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from api.errors import ProblemError
from core.domain import Role

#: Anyone, without a token (rate limited; what they learn is limited by the route itself).
PUBLIC: Final = "public"

A, H, IV, OP, F, OPR = (
    Role.ADMIN,
    Role.HR,
    Role.INTERVIEWER,
    Role.OPS,
    Role.FINANCE,
    Role.OPERATOR,
)
_ANY = frozenset(Role)
_HR = frozenset({A, H})

Allowed = frozenset[Role] | str

POLICY: Mapping[str, Allowed] = {
    # candidates and the public
    "POST /api/v1/jobs/{job_id}/applications": PUBLIC,
    "GET /api/v1/applications/{application_id}": PUBLIC,  # with its status token
    "POST /api/v1/applications/{application_id}/withdraw": PUBLIC,  # with CNIC and e-mail
    "GET /api/v1/jobs": PUBLIC,
    # sessions
    "POST /api/v1/auth/login": PUBLIC,
    "POST /api/v1/auth/refresh": PUBLIC,
    "POST /api/v1/auth/logout": _ANY,
    "GET /api/v1/auth/me": _ANY,
    # the organization's administration
    "GET /api/v1/users": frozenset({A}),
    "POST /api/v1/users": frozenset({A}),
    "GET /api/v1/audit": frozenset({A}),
    "POST /api/v1/candidates/erasure": frozenset({A}),
    # HR: jobs, criteria, shortlists, applications (personal data)
    "POST /api/v1/jobs": _HR,
    "GET /api/v1/jobs/{job_id}": _HR,
    "PATCH /api/v1/jobs/{job_id}": _HR,
    "POST /api/v1/jobs/{job_id}/close": _HR,
    "GET /api/v1/jobs/{job_id}/criteria": _HR,
    "PUT /api/v1/jobs/{job_id}/criteria": _HR,
    "GET /api/v1/jobs/{job_id}/shortlist": _HR,
    "POST /api/v1/jobs/{job_id}/shortlist/rebuild": _HR,
    "GET /api/v1/tasks/{task_id}": _HR,
    "GET /api/v1/applications": _HR,
    "GET /api/v1/applications/{application_id}/details": _HR,
    "PUT /api/v1/applications/{application_id}/status": _HR,
    # interviews
    "POST /api/v1/interviews": _HR,
    "GET /api/v1/interviews": frozenset({A, H, IV}),
    "GET /api/v1/interviews/{interview_id}": frozenset({A, H, IV}),
    "PATCH /api/v1/interviews/{interview_id}": _HR,
    "POST /api/v1/interviews/{interview_id}/cancel": _HR,
    "POST /api/v1/interviews/{interview_id}/feedback": frozenset({A, H, IV}),
    # offers
    "POST /api/v1/offers": _HR,
    "GET /api/v1/offers": frozenset({A, H, F}),
    "GET /api/v1/offers/{offer_id}": frozenset({A, H, F}),
    "POST /api/v1/offers/{offer_id}/accept": _HR,
    "POST /api/v1/offers/{offer_id}/decline": _HR,
    "POST /api/v1/offers/{offer_id}/expire": _HR,
    # finance
    "GET /api/v1/reports/llm-costs": frozenset({A, F}),
    # operations: an organization's own view, or the platform's
    "GET /api/v1/ops/overview": frozenset({A, OP, OPR}),
    "GET /api/v1/ops/deadletters/{queue}/{message_id}": frozenset({A, OP, OPR}),
    "POST /api/v1/ops/deadletters/{queue}/{message_id}/replay": frozenset({A, OP, OPR}),
    "DELETE /api/v1/ops/deadletters/{queue}/{message_id}": frozenset({A, OP, OPR}),
    "GET /api/v1/ops/pools": frozenset({OPR}),
    "PUT /api/v1/ops/pools": frozenset({OPR}),
}

_NOT_OPERATIONS = frozenset({"OPTIONS", "HEAD"})


def operation(method: str, path_template: str) -> str:
    return f"{method.upper()} {path_template}"


def allowed(method: str, path_template: str) -> Allowed | None:
    """The roles allowed on an operation (or :data:`PUBLIC`); None when the table lacks it."""
    return POLICY.get(operation(method, path_template))


def enforce(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The guard of every route: the caller's role must be in the operation's entry.

    Routes outside ``/api`` (health, schema, dashboard page, metrics) guard themselves.
    """
    template: str = connection.scope.get("path_template", "")
    method = str(connection.scope.get("method", "GET"))
    if not template.startswith("/api/") or method in _NOT_OPERATIONS:
        return
    rule = allowed(method, template)
    if rule == PUBLIC:
        return
    user = connection.scope.get("user")
    role = getattr(user, "role", None)
    if rule is None or role is None or role not in rule:
        names = ", ".join(sorted(rule)) if isinstance(rule, frozenset) else "nobody"
        raise ProblemError(
            403, "role_not_allowed", f"Role {role} may not do this; allowed: {names}."
        )


def app_operations(app: Litestar) -> set[str]:
    """Every ``/api`` operation the app serves, as ``METHOD /path/{param}``."""
    return {
        operation(method, route.path_format)
        for route in app.routes
        if route.path.startswith("/api/")
        for method in getattr(route, "methods", set()) - _NOT_OPERATIONS
    }


def check_complete(app: Litestar) -> None:
    """Refuse an app serving an operation the table does not decide (or public disagreeing).

    Raises:
        RuntimeError: naming the operations.
    """
    served = app_operations(app)
    missing = sorted(served - POLICY.keys())
    if missing:
        raise RuntimeError(f"operations without an access policy (api/policy.py): {missing}")
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", set()) - _NOT_OPERATIONS:
                key = operation(method, route.path_format)
                if key in POLICY and (POLICY[key] == PUBLIC) != bool(handler.opt.get("public")):
                    raise RuntimeError(f"{key}: public in the policy and in its handler differ")


# --- the table in docs/security.md -------------------------------------------------------------


def render_table(openapi: Mapping[str, Any], roles: Iterable[Role] = Role) -> str:
    """The role × operation table (markdown) of every operation in the OpenAPI document."""
    columns = list(roles)
    header = "| operation | " + " | ".join(str(r) for r in columns) + " | no token |"
    lines = [header, "|---|" + "---|" * (len(columns) + 1)]
    for path, item in sorted(openapi.get("paths", {}).items()):
        for method in sorted(m for m in item if m.upper() not in _NOT_OPERATIONS):
            rule = allowed(method, path)
            if rule is None and not path.startswith("/api/"):
                continue
            cells = [
                "✓" if rule == PUBLIC or (isinstance(rule, frozenset) and r in rule) else ""
                for r in columns
            ]
            cells.append("✓" if rule == PUBLIC else "")
            lines.append(f"| `{method.upper()} {path}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
