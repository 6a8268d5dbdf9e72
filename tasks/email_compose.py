"""What e-mails an event asks for, rendered from the text and HTML templates.

:func:`plan` reads what it needs from PostgreSQL (names, the job, the organization's sender,
the current shortlist) and returns :class:`Outgoing` e-mails; :mod:`tasks.email` sends them.
Templates live in ``tasks/email_templates`` (Jinja2; HTML autoescaped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.utils import formataddr
from typing import Any
from urllib.parse import quote

import psycopg
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from core.events import (
    APPLICATIONS_STATUS_CHANGED,
    INTERVIEWS_CANCELLED,
    INTERVIEWS_RESCHEDULED,
    INTERVIEWS_SCHEDULED,
    OFFERS_CREATED,
    SHORTLIST_UPDATED,
)
from core.notifications import FIRST_STATUS, status_notices
from core.settings import Settings
from tasks import ics
from tasks._recipients import candidate_email, deliverable, job_recipients, user_email

SUBMISSION_CONFIRMATION = "submission_confirmation"
STATUS_UPDATE = "status_update"
OFFER = "offer"
SHORTLIST_SUMMARY = "shortlist_summary"
INTERVIEW_INVITATION = "interview_invitation"
INTERVIEW_UPDATE = "interview_update"
INTERVIEW_CANCELLATION = "interview_cancellation"
KINDS = (
    SUBMISSION_CONFIRMATION,
    STATUS_UPDATE,
    OFFER,
    SHORTLIST_SUMMARY,
    INTERVIEW_INVITATION,
    INTERVIEW_UPDATE,
    INTERVIEW_CANCELLATION,
)

_STATUS_TEXT = {
    "parse_failed": (
        "We could not read your résumé",
        "we received your application, but could not read the résumé file you sent (it may be"
        " a scanned image or damaged). Our team will look at it by hand.",
    ),
    "rejected": (
        "An update on your application",
        "thank you for your interest. After careful review we will not be moving forward with"
        " your application for this position.",
    ),
    "withdrawn": (
        "Your application was withdrawn",
        "your application has been withdrawn as you asked. Thank you for your interest.",
    ),
    "hired": (
        "Welcome aboard",
        "you accepted our offer: welcome to the team! We will be in touch about your first day.",
    ),
}

_env = Environment(
    loader=PackageLoader("tasks", "email_templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Sender:
    """The organization's sender: ``organizations.email_from`` or ``PVARA_EMAIL_FROM``."""

    address: str
    name: str
    reply_to: str | None = None

    @property
    def header(self) -> str:
        return formataddr((self.name, self.address))


@dataclass(frozen=True)
class Outgoing:
    """One rendered e-mail to one recipient."""

    kind: str
    to: str
    subject: str
    text: str
    html: str
    sender: Sender
    organization_id: str | None = None
    job_id: str | None = None
    calendar: bytes | None = None
    calendar_method: str | None = None


def render(kind_template: str, **context: Any) -> tuple[str, str, str]:
    """Subject, text and HTML of a template family (``<name>.subject/.txt/.html.j2``)."""
    subject = _env.get_template(f"{kind_template}.subject.j2").render(**context)
    subject = re.sub(r"\s+", " ", subject).strip()  # one line: no header injection via a title
    context = {**context, "subject": subject}
    text = _env.get_template(f"{kind_template}.txt.j2").render(**context)
    html = _env.get_template(f"{kind_template}.html.j2").render(**context)
    return subject, text, html


_APPLICATION_SQL = """
SELECT a.id, a.job_id, a.organization_id, a.candidate_name, a.candidate_email, a.pii_erased_at,
       a.status, j.title AS job_title, o.name AS org_name, o.email_from, o.email_reply_to,
       (SELECT c.criteria FROM screening_criteria c WHERE c.job_id = a.job_id
         ORDER BY c.version DESC LIMIT 1) AS criteria
  FROM application_index i
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
  JOIN jobs j ON j.id = a.job_id
  JOIN organizations o ON o.id = a.organization_id
 WHERE i.id = %s
"""

_JOB_SQL = """
SELECT j.id, j.organization_id, j.title AS job_title, o.name AS org_name, o.email_from,
       o.email_reply_to,
       (SELECT c.criteria FROM screening_criteria c WHERE c.job_id = j.id
         ORDER BY c.version DESC LIMIT 1) AS criteria
  FROM jobs j JOIN organizations o ON o.id = j.organization_id
 WHERE j.id = %s
"""

_SHORTLIST_SQL = """
SELECT s.rank, s.ai_score, a.candidate_name, a.ai_recommendation, a.pii_erased_at
  FROM shortlist s
  JOIN application_index i ON i.id = s.application_id
  JOIN applications a ON a.id = i.id AND a.created_at = i.created_at
 WHERE s.job_id = %(job)s AND s.version = %(version)s
 ORDER BY s.rank
"""

_LATEST_VERSION_SQL = """
SELECT version, reason FROM shortlist_versions WHERE job_id = %s ORDER BY version DESC LIMIT 1
"""

_SCREENED_SQL = """
SELECT count(*) AS n FROM applications
 WHERE job_id = %s AND status NOT IN ('received', 'screening', 'parse_failed')
"""


def sender_of(row: dict[str, Any], settings: Settings) -> Sender:
    address = deliverable(row.get("email_from")) or settings.email_from
    return Sender(
        address=address,
        name=str(row.get("org_name") or "PVARA"),
        reply_to=deliverable(row.get("email_reply_to")),
    )


def plan(
    conn: psycopg.Connection[Any], event: dict[str, Any], settings: Settings
) -> list[Outgoing]:
    """The e-mails ``event`` (as the relay publishes it) asks for; none if it asks for none."""
    kind = event.get("type")
    payload: dict[str, Any] = event.get("payload") or {}
    if kind == APPLICATIONS_STATUS_CHANGED:
        return _status_changed(conn, payload, settings)
    if kind == OFFERS_CREATED:
        return _offer(conn, payload, settings)
    if kind == SHORTLIST_UPDATED:
        return _shortlist(conn, payload, settings)
    if kind in (INTERVIEWS_SCHEDULED, INTERVIEWS_RESCHEDULED, INTERVIEWS_CANCELLED):
        return _interview(conn, str(kind), payload, settings)
    return []


def _application(conn: psycopg.Connection[Any], application_id: Any) -> dict[str, Any] | None:
    row: dict[str, Any] | None = conn.execute(_APPLICATION_SQL, (application_id,)).fetchone()
    return row


def _common(app: dict[str, Any], settings: Settings) -> dict[str, Any]:
    base = settings.effective_public_url.rstrip("/")
    return {
        "name": app["candidate_name"],
        "job_title": app["job_title"],
        "organization": app["org_name"],
        "reference": str(app["id"]),
        "status_url": f"{base}/api/v1/applications/{app['id']}",
    }


def _to_candidate(
    app: dict[str, Any], kind: str, template: str, settings: Settings, **context: Any
) -> list[Outgoing]:
    address = candidate_email(app)
    if address is None:
        return []
    subject, text, html = render(template, **_common(app, settings), **context)
    return [
        Outgoing(
            kind=kind,
            to=address,
            subject=subject,
            text=text,
            html=html,
            sender=sender_of(app, settings),
            organization_id=str(app["organization_id"]),
            job_id=str(app["job_id"]),
        )
    ]


def _status_changed(
    conn: psycopg.Connection[Any], payload: dict[str, Any], settings: Settings
) -> list[Outgoing]:
    app = _application(conn, payload.get("application_id"))
    if app is None:
        return []
    mails: list[Outgoing] = []
    if payload.get("from") == FIRST_STATUS:
        mails += _to_candidate(app, SUBMISSION_CONFIRMATION, SUBMISSION_CONFIRMATION, settings)
    to = str(payload.get("to"))
    if to in status_notices(settings.email_status_notices):
        headline, message = _STATUS_TEXT.get(
            to, ("An update on your application", f"your application is now {to}.")
        )
        mails += _to_candidate(
            app,
            STATUS_UPDATE,
            STATUS_UPDATE,
            settings,
            headline=headline,
            message=message,
            status_label=to.replace("_", " "),
        )
    return mails


def _money(amount: Any, currency: str) -> str:
    return f"{currency} {Decimal(str(amount)):,.0f}"


def _offer(
    conn: psycopg.Connection[Any], payload: dict[str, Any], settings: Settings
) -> list[Outgoing]:
    app = _application(conn, payload.get("application_id"))
    if app is None:
        return []
    sender = sender_of(app, settings)
    reply_to = sender.reply_to or next(iter(job_recipients(app["criteria"])), sender.address)
    ref = str(payload.get("offer_id", ""))[:8]
    currency = str(payload.get("currency") or "")
    expires = datetime.fromisoformat(str(payload["expires_at"]))
    mails = _to_candidate(
        app,
        OFFER,
        OFFER,
        settings,
        salary=(
            f"{_money(payload['salary_min'], currency)} – {_money(payload['salary_max'], currency)}"
        ),
        expires=f"{expires:%a %d %b %Y, %H:%M %Z}".strip(),
        offer_ref=ref,
        reply_to=reply_to,
        accept_href=f"mailto:{reply_to}?subject={quote(f'Accept offer {ref}')}",
        decline_href=f"mailto:{reply_to}?subject={quote(f'Decline offer {ref}')}",
    )
    # Replies go to HR (or the organization's reply-to), not to a no-reply sender.
    return [
        Outgoing(**{**m.__dict__, "sender": Sender(sender.address, sender.name, reply_to)})
        for m in mails
    ]


def _shortlist(
    conn: psycopg.Connection[Any], payload: dict[str, Any], settings: Settings
) -> list[Outgoing]:
    job: dict[str, Any] | None = conn.execute(_JOB_SQL, (payload.get("job_id"),)).fetchone()
    if job is None:
        return []
    recipients = job_recipients(job["criteria"])
    latest = conn.execute(_LATEST_VERSION_SQL, (job["id"],)).fetchone()
    if not recipients or latest is None:
        return []
    rows = conn.execute(_SHORTLIST_SQL, {"job": job["id"], "version": latest["version"]})
    entries = [
        {
            "rank": r["rank"],
            "score": float(r["ai_score"]),
            "name": "[erased]" if r["pii_erased_at"] else r["candidate_name"],
            "recommendation": r["ai_recommendation"],
        }
        for r in rows
    ]
    total = conn.execute(_SCREENED_SQL, (job["id"],)).fetchone()
    base = settings.effective_public_url.rstrip("/")
    subject, text, html = render(
        SHORTLIST_SUMMARY,
        job_title=job["job_title"],
        organization=job["org_name"],
        version=latest["version"],
        reason=latest["reason"],
        entries=entries,
        total=total["n"] if total else 0,
        shortlist_url=f"{base}/api/v1/jobs/{job['id']}/shortlist",
        reference=f"{job['id']}#{latest['version']}",
    )
    sender = sender_of(job, settings)
    return [
        Outgoing(
            kind=SHORTLIST_SUMMARY,
            to=address,
            subject=subject,
            text=text,
            html=html,
            sender=sender,
            organization_id=str(job["organization_id"]),
            job_id=str(job["id"]),
        )
        for address in recipients
    ]


_INTERVIEW_KIND = {
    INTERVIEWS_SCHEDULED: INTERVIEW_INVITATION,
    INTERVIEWS_RESCHEDULED: INTERVIEW_UPDATE,
    INTERVIEWS_CANCELLED: INTERVIEW_CANCELLATION,
}
_INTERVIEW_TYPE = {"video": "video call", "phone": "phone call", "in_person": "in person"}


def _interview(
    conn: psycopg.Connection[Any], event_type: str, payload: dict[str, Any], settings: Settings
) -> list[Outgoing]:
    app = _application(conn, payload.get("application_id"))
    if app is None:
        return []
    starts = datetime.fromisoformat(str(payload["starts_at"]))
    ends = datetime.fromisoformat(str(payload["ends_at"]))
    cancelled = event_type == INTERVIEWS_CANCELLED
    sequence = int(payload.get("sequence") or 0)
    sender = sender_of(app, settings)
    candidate = candidate_email(app)
    interviewer = user_email(conn, str(payload.get("interviewer_id")))
    people = []
    if candidate:
        people.append((candidate, str(app["candidate_name"])))
    if interviewer:
        people.append((interviewer, interviewer.split("@")[0]))
    if not people:
        return []
    kind_label = _INTERVIEW_TYPE.get(str(payload.get("interview_type")), "interview")
    invitation = ics.Invitation(
        interview_id=str(payload["interview_id"]),
        sequence=sequence,
        starts_at=starts,
        ends_at=ends,
        summary=f"Interview: {app['job_title']} ({app['org_name']})",
        description=(
            f"Interview for {app['job_title']} with {app['candidate_name']} ({kind_label})."
        ),
        location=kind_label,
        organizer_email=sender.address,
        organizer_name=sender.name,
        attendees=tuple(ics.Attendee(email=a, name=n) for a, n in people),
        cancelled=cancelled,
    )
    body = ics.calendar(invitation)
    mails = []
    for address, name in people:
        subject, text, html = render(
            "interview",
            **_common(app, settings) | {"name": name},
            when=f"{starts.astimezone(starts.tzinfo):%a %d %b %Y, %H:%M}–{ends:%H:%M %Z}",
            duration=int((ends - starts).total_seconds() // 60),
            kind=kind_label,
            sequence=sequence,
            cancelled=cancelled,
        )
        mails.append(
            Outgoing(
                kind=_INTERVIEW_KIND[event_type],
                to=address,
                subject=subject,
                text=text,
                html=html,
                sender=sender,
                organization_id=str(app["organization_id"]),
                job_id=str(app["job_id"]),
                calendar=body,
                calendar_method=invitation.method,
            )
        )
    return mails
