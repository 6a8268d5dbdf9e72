"""E-mail through a real SMTP server (aiosmtpd, STARTTLS with a certificate we trust, AUTH):
what arrived is read back and checked, invitations included (RFC 5545 via icalendar)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import psycopg
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from icalendar import Calendar
from litestar.testing import TestClient
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from api.app import create_app
from core import deadletters
from core.domain import Role
from core.logs import JsonFormatter
from core.settings import Settings
from ops.services.smtp_catcher import Received, SmtpCatcher
from tests.api.hr import Org, cnic, create_org, insert_application, slot
from tests.pipeline import running_bridge, running_worker, wait_for

LOGIN = ("pvara-mailer", "smtp-test-password")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: the CA file the client is told to trust."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture(scope="module")
def smtp(certificate: tuple[str, str]) -> Iterator[SmtpCatcher]:
    with SmtpCatcher(tls="starttls", certificate=certificate, login=LOGIN) as server:
        yield server


def _mail_settings(base: Settings, server: SmtpCatcher, cert: str, **extra: Any) -> Settings:
    return base.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_tls": server.tls,
            "smtp_username": LOGIN[0],
            "smtp_password": SecretStr(LOGIN[1]),
            "smtp_ca_file": Path(cert),
            "email_shortlist_interval_s": 0.0,
            **extra,
        }
    )


@pytest.fixture(scope="module")
def mail_settings(
    services_up: Settings, smtp: SmtpCatcher, certificate: tuple[str, str]
) -> Settings:
    return _mail_settings(services_up, smtp, certificate[0])


def use(settings: Settings) -> Any:
    """Point the e-mail actor at ``settings`` (its SMTP server) for a ``with`` block."""
    import tasks.email as email_actor
    from tasks.smtp import SmtpTransport

    patch = pytest.MonkeyPatch()
    patch.setattr(email_actor, "_settings", settings)
    patch.setattr(email_actor, "_transport", SmtpTransport(settings))
    return patch


@pytest.fixture(scope="module")
def mailer(mail_settings: Settings, broker: dramatiq.Broker) -> Iterator[Settings]:
    """The worker (threads in this process) sending through the test server."""
    patch = use(mail_settings)
    try:
        with running_worker(broker):
            yield mail_settings
    finally:
        patch.undo()


@pytest.fixture
def org(services_up: Settings, db: psycopg.Connection[Any]) -> Org:
    org = create_org(services_up, db, roles=[Role.ADMIN, Role.HR, Role.INTERVIEWER])
    db.execute(
        "UPDATE organizations SET name = 'Acme Recruiting', email_from = %s WHERE id = %s",
        (f"jobs@{org.slug}.example.com", org.id),
    )
    return org


def _address() -> str:
    return f"cand.{uuid.uuid4().hex[:10]}@example.com"


def _event(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        "payload": payload,
    }


def _status_event(app_id: uuid.UUID, job_id: uuid.UUID, old: str, new: str) -> dict[str, Any]:
    return _event(
        "applications.status_changed",
        {"application_id": str(app_id), "job_id": str(job_id), "from": old, "to": new},
    )


def _parts(received: Received) -> dict[str, str]:
    """content type → decoded body of every leaf part."""
    found = {}
    for part in received.message.walk():
        if not part.is_multipart():
            found[part.get_content_type()] = part.get_content()
    return found


def _one(smtp: SmtpCatcher, to: str, kind: str, timeout_s: float = 30) -> Received:
    return wait_for(lambda: smtp.received(to=to, kind=kind), timeout_s, f"{kind} to {to}")[0]


# --- candidate e-mails ------------------------------------------------------------------------


def test_the_submission_is_confirmed_through_the_relay_and_the_notify_pool(
    mailer: Settings, smtp: SmtpCatcher, broker: dramatiq.Broker, org: Org
) -> None:
    address = _address()
    with running_bridge(mailer, broker), TestClient(app=create_app(mailer)) as client:
        response = client.post(
            f"/api/v1/jobs/{org.job_id}/applications",
            json={
                "candidate_cnic": cnic(),
                "candidate_name": "Ayesha Khan",
                "candidate_email": address,
                "resume_text": "Python developer since 2015 with PostgreSQL and Docker.",
            },
        )
        assert response.status_code == 202, response.text
        received = _one(smtp, address, "submission_confirmation", 120)

    message = received.message
    app_id = response.json()["application_id"]
    assert message["From"] == f"Acme Recruiting <jobs@{org.slug}.example.com>"
    assert received.mail_from == f"jobs@{org.slug}.example.com"
    assert "We received your application" in message["Subject"]
    parts = _parts(received)
    assert "Dear Ayesha Khan" in parts["text/plain"] and app_id in parts["text/plain"]
    assert "<strong>Backend Engineer</strong>" in parts["text/html"]
    assert message["Message-ID"].endswith(f"@{org.slug}.example.com>")


def test_a_redelivered_event_sends_its_email_once(
    mailer: Settings, smtp: SmtpCatcher, org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import send_event_emails

    address = _address()
    app_id = insert_application(db, org, status="rejected", email=address)
    event = _status_event(app_id, org.job_id, "screened", "rejected")

    send_event_emails(event)
    send_event_emails(event)  # the same message delivered again, run to its end
    send_event_emails.send(event)
    status = wait_for(
        lambda: db.execute(
            "SELECT status, attempts FROM email_deliveries WHERE event_id = %s", (event["id"],)
        ).fetchone(),
        10,
        "the delivery row",
    )

    assert len(smtp.received(to=address)) == 1
    assert status["status"] == "sent"
    received = smtp.received(to=address)[0]
    assert received.kind == "status_update"
    assert "will not be moving forward" in _parts(received)["text/plain"]


def test_pipeline_statuses_email_nobody_and_erased_candidates_get_nothing(
    mailer: Settings, smtp: SmtpCatcher, org: Org, db: psycopg.Connection[Any]
) -> None:
    from core.notifications import status_notices, wants_email
    from tasks.email import send_event_emails

    notices = status_notices(mailer.email_status_notices)
    assert not wants_email(
        "applications.status_changed", {"from": "screening", "to": "screened"}, notices
    )
    assert wants_email("applications.status_changed", {"from": "received", "to": "x"}, notices)
    address = _address()
    app_id = insert_application(db, org, status="withdrawn", email=address)
    db.execute(
        "UPDATE applications SET candidate_email = '[erased]', pii_erased_at = now() WHERE id = %s",
        (app_id,),
    )

    send_event_emails(_status_event(app_id, org.job_id, "screened", "withdrawn"))

    assert smtp.received(to=address) == []


def test_the_offer_tells_how_to_accept_or_decline_and_replies_reach_hr(
    mailer: Settings, smtp: SmtpCatcher, org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import send_event_emails

    address = _address()
    app_id = insert_application(db, org, status="offer", email=address)
    db.execute(
        "UPDATE organizations SET email_reply_to = %s WHERE id = %s",
        (f"hr@{org.slug}.example.com", org.id),
    )
    offer_id = uuid.uuid4()
    send_event_emails(
        _event(
            "offers.created",
            {
                "offer_id": str(offer_id),
                "application_id": str(app_id),
                "job_id": str(org.job_id),
                "salary_min": 250000,
                "salary_max": 320000,
                "currency": "PKR",
                "expires_at": "2031-05-01T17:00:00+00:00",
            },
        )
    )

    received = _one(smtp, address, "offer")
    assert received.message["Reply-To"] == f"hr@{org.slug}.example.com"
    text, html = _parts(received)["text/plain"], _parts(received)["text/html"]
    assert "PKR 250,000 – PKR 320,000" in text
    assert "ACCEPT" in text and "DECLINE" in text and "Thu 01 May 2031, 17:00 UTC" in text
    ref = str(offer_id)[:8]
    assert f"mailto:hr@{org.slug}.example.com?subject=Accept%20offer%20{ref}" in html
    assert f"subject=Decline%20offer%20{ref}" in html


def test_html_escapes_what_people_typed(
    mailer: Settings, smtp: SmtpCatcher, org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import send_event_emails

    address = _address()
    app_id = insert_application(
        db, org, status="rejected", email=address, name="<script>alert(1)</script>"
    )
    db.execute(
        "UPDATE jobs SET title = %s WHERE id = %s",
        ("Engineer\r\nBcc: victim@example.com", org.job_id),
    )
    send_event_emails(_status_event(app_id, org.job_id, "screened", "rejected"))

    received = _one(smtp, address, "status_update")
    assert "<script>" not in _parts(received)["text/html"]
    assert "&lt;script&gt;" in _parts(received)["text/html"]
    assert received.rcpt_tos == (address,)  # no header smuggled in through the title
    assert "\n" not in received.message["Subject"]


# --- HR: the shortlist summary ----------------------------------------------------------------


def _shortlist(db: psycopg.Connection[Any], org: Org, recipients: list[str], **notify: Any) -> int:
    criteria = {
        "notifications": {"email_recipients": recipients, "notify_on_complete": True, **notify}
    }
    db.execute(
        "INSERT INTO screening_criteria (organization_id, job_id, version, criteria)"
        " VALUES (%s, %s, (SELECT coalesce(max(version), 0) + 1 FROM screening_criteria"
        " WHERE job_id = %s), %s)",
        (org.id, org.job_id, org.job_id, Jsonb(criteria)),
    )
    ids = [insert_application(db, org, status="shortlisted", name=f"Cand {n}") for n in range(3)]
    version = db.execute(
        "SELECT coalesce(max(version), 0) + 1 AS v FROM shortlist_versions WHERE job_id = %s",
        (org.job_id,),
    ).fetchone()["v"]
    db.execute(
        "INSERT INTO shortlist_versions (job_id, version, organization_id, entries, reason)"
        " VALUES (%s, %s, %s, 3, 'scores')",
        (org.job_id, version, org.id),
    )
    for rank, app_id in enumerate(ids, 1):
        db.execute(
            "INSERT INTO shortlist (organization_id, job_id, version, application_id, rank,"
            " ai_score) VALUES (%s, %s, %s, %s, %s, %s)",
            (org.id, org.job_id, version, app_id, rank, 90 - rank),
        )
    return int(version)


def test_the_shortlist_summary_goes_to_the_jobs_recipients(
    mailer: Settings, smtp: SmtpCatcher, org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import send_event_emails

    hr = [f"hr1.{org.slug}@example.com", f"hr2.{org.slug}@example.com"]
    version = _shortlist(db, org, hr)
    send_event_emails(_event("shortlist.updated", {"job_id": str(org.job_id), "version": version}))

    for address in hr:
        received = _one(smtp, address, "shortlist_summary")
        assert f"(version {version})" in received.message["Subject"]
        text = _parts(received)["text/plain"]
        assert text.index("Cand 0") < text.index("Cand 1") < text.index("Cand 2")
        assert "89.00" in text


def test_no_summary_when_notify_on_complete_is_off(
    mailer: Settings, smtp: SmtpCatcher, org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import send_event_emails

    hr = f"quiet.{org.slug}@example.com"
    version = _shortlist(db, org, [hr], notify_on_complete=False)
    send_event_emails(_event("shortlist.updated", {"job_id": str(org.job_id), "version": version}))

    assert smtp.received(to=hr) == []


def test_a_burst_of_shortlist_updates_sends_one_summary_now_and_the_newest_later(
    mail_settings: Settings,
    smtp: SmtpCatcher,
    org: Org,
    db: psycopg.Connection[Any],
    broker: dramatiq.Broker,
) -> None:
    throttled = mail_settings.model_copy(update={"email_shortlist_interval_s": 2.0})
    patch = use(throttled)
    try:
        from tasks.email import send_event_emails

        hr = f"burst.{org.slug}@example.com"
        with running_worker(broker):
            for _ in range(4):
                version = _shortlist(db, org, [hr])
                send_event_emails.send(
                    _event("shortlist.updated", {"job_id": str(org.job_id), "version": version})
                )
            first = _one(smtp, hr, "shortlist_summary")
            wait_for(lambda: len(smtp.received(to=hr)) >= 2, 30, "the trailing summary")
            last = smtp.received(to=hr)[-1]
    finally:
        patch.undo()

    assert len(smtp.received(to=hr)) == 2
    assert f"(version {version})" in last.message["Subject"]  # the newest shortlist
    assert last.at - first.at >= 1.0


# --- interviews: iCalendar invitations --------------------------------------------------------


def _calendar(received: Received) -> Any:
    parts = [p for p in received.message.walk() if p.get_content_type() == "text/calendar"]
    attached = [p for p in received.message.iter_attachments() if p.get_filename()]
    assert parts and attached, "inline text/calendar and an .ics file"
    assert attached[0].get_content_type() == "application/ics"
    assert attached[0].get_content() == parts[0].get_content().encode()
    method = parts[0].get_param("method")
    cal = Calendar.from_ical(parts[0].get_content())
    assert cal["METHOD"] == method
    (event,) = cal.walk("VEVENT")
    return cal, event


def test_an_interview_is_invited_rescheduled_and_cancelled_as_one_calendar_event(
    mailer: Settings,
    smtp: SmtpCatcher,
    broker: dramatiq.Broker,
    org: Org,
    db: psycopg.Connection[Any],
) -> None:
    address = _address()
    app_id = insert_application(db, org, status="shortlisted", email=address)
    interviewer = org.emails[Role.INTERVIEWER]
    first, second = slot(3), slot(5)
    with running_bridge(mailer, broker), TestClient(app=create_app(mailer)) as client:
        created = client.post(
            "/api/v1/interviews",
            headers=org.hr,
            json={
                "application_id": str(app_id),
                "interviewer_id": str(org.users[Role.INTERVIEWER]),
                **first,
            },
        )
        assert created.status_code == 201, created.text
        interview_id = created.json()["id"]
        invite = _one(smtp, address, "interview_invitation", 120)
        moved = client.patch(f"/api/v1/interviews/{interview_id}", headers=org.hr, json=second)
        assert moved.status_code == 200, moved.text
        update = _one(smtp, address, "interview_update", 120)
        cancelled = client.post(f"/api/v1/interviews/{interview_id}/cancel", headers=org.hr)
        assert cancelled.status_code == 200, cancelled.text
        cancel = _one(smtp, address, "interview_cancellation", 120)
        for kind in ("interview_invitation", "interview_update", "interview_cancellation"):
            _one(smtp, interviewer, kind, 120)

    calendars = [_calendar(m) for m in (invite, update, cancel)]
    uids = {str(event["UID"]) for _, event in calendars}
    assert uids == {f"interview-{interview_id}@pvara"}
    assert [str(cal["METHOD"]) for cal, _ in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    assert [int(event["SEQUENCE"]) for _, event in calendars] == [0, 1, 2]
    assert str(calendars[2][1]["STATUS"]) == "CANCELLED"
    starts = [event.decoded("DTSTART") for _, event in calendars]
    assert starts[0] == dt.datetime.fromisoformat(first["starts_at"])
    assert starts[1] == dt.datetime.fromisoformat(second["starts_at"])
    attendees = {str(a).removeprefix("mailto:") for a in calendars[0][1]["ATTENDEE"]}
    assert attendees == {address, interviewer}
    assert str(calendars[0][1]["ORGANIZER"]) == f"mailto:jobs@{org.slug}.example.com"
    assert invite.message["Subject"].startswith("Interview for")
    assert update.message["Subject"].startswith("Updated:")
    assert cancel.message["Subject"].startswith("Cancelled:")


# --- failures: retries, refusals, dead letters, TLS -------------------------------------------


def test_a_deferring_server_is_retried_until_it_accepts(
    mailer: Settings, smtp: SmtpCatcher, org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import send_event_emails

    address = _address()
    app_id = insert_application(db, org, status="hired", email=address)
    event = _status_event(app_id, org.job_id, "offer", "hired")
    with smtp.lock:
        smtp.defer = 2
    send_event_emails.send_with_options(args=(event,), min_backoff=50, max_backoff=200)

    received = _one(smtp, address, "status_update")
    row = db.execute(
        "SELECT status, attempts FROM email_deliveries WHERE event_id = %s", (event["id"],)
    ).fetchone()
    assert "Welcome aboard" in received.message["Subject"]
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert len(smtp.received(to=address)) == 1


def test_a_recipient_refused_for_good_is_recorded_and_not_retried(
    mailer: Settings, smtp: SmtpCatcher, org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import send_event_emails

    address = _address()
    smtp.refuse.add(address)
    app_id = insert_application(db, org, status="rejected", email=address)
    event = _status_event(app_id, org.job_id, "screened", "rejected")

    send_event_emails(event)  # returns: nothing to retry
    send_event_emails(event)

    row = db.execute(
        "SELECT status, attempts, error FROM email_deliveries WHERE event_id = %s", (event["id"],)
    ).fetchone()
    assert (row["status"], row["attempts"]) == ("refused", 1)
    assert row["error"].startswith("550")
    assert smtp.received(to=address) == []


def test_an_unreachable_server_dead_letters_the_event_without_its_addresses(
    services_up: Settings,
    broker: dramatiq.Broker,
    certificate: tuple[str, str],
    org: Org,
    db: psycopg.Connection[Any],
    redis_client: redis.Redis,
) -> None:
    from tasks.email import send_event_emails

    down = SmtpCatcher()
    down.port = 1  # nothing listens there
    patch = use(_mail_settings(services_up, down, certificate[0], smtp_timeout_s=2.0))
    address = _address()
    app_id = insert_application(db, org, status="rejected", email=address)
    event = _status_event(app_id, org.job_id, "screened", "rejected")
    letter = None
    try:
        with running_worker(broker):
            send_event_emails.send_with_options(
                args=(event,), max_retries=1, min_backoff=50, max_backoff=100
            )
            letter = wait_for(
                lambda: next(
                    (
                        d
                        for d in deadletters.list_dead(redis_client, ("notify",))
                        if d.actor == "send_event_emails" and d.args[0]["id"] == event["id"]
                    ),
                    None,
                ),
                30,
                "the dead-lettered e-mail event",
            )
    finally:
        patch.undo()
        if letter is not None:
            deadletters.delete(redis_client, letter.queue, letter.message_id)

    assert letter.actor == "send_event_emails"
    assert "EmailFailedError" in letter.error
    assert address not in json.dumps(letter.args)  # ids only: the queue holds no addresses


def test_starttls_is_required_when_configured(
    services_up: Settings, certificate: tuple[str, str], org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import EmailFailedError, send_event_emails

    address = _address()
    app_id = insert_application(db, org, status="rejected", email=address)
    with SmtpCatcher(tls="none") as plain:
        settings = _mail_settings(services_up, plain, certificate[0], smtp_username="")
        patch = use(settings.model_copy(update={"smtp_tls": "starttls"}))
        try:
            with pytest.raises(EmailFailedError, match="STARTTLS"):
                send_event_emails(_status_event(app_id, org.job_id, "screened", "rejected"))
        finally:
            patch.undo()
        assert plain.received() == []


def test_implicit_tls_delivers(
    services_up: Settings, certificate: tuple[str, str], org: Org, db: psycopg.Connection[Any]
) -> None:
    from tasks.email import send_event_emails

    address = _address()
    app_id = insert_application(db, org, status="rejected", email=address)
    with SmtpCatcher(tls="tls", certificate=certificate, login=LOGIN) as tls:
        patch = use(_mail_settings(services_up, tls, certificate[0]))
        try:
            send_event_emails(_status_event(app_id, org.job_id, "screened", "rejected"))
        finally:
            patch.undo()
        assert [m.kind for m in tls.received(to=address)] == ["status_update"]


def test_sending_is_rate_limited_per_smtp_account(
    mail_settings: Settings,
    smtp: SmtpCatcher,
    org: Org,
    db: psycopg.Connection[Any],
    broker: dramatiq.Broker,
) -> None:
    from tasks.email import send_event_emails

    addresses = [_address() for _ in range(10)]
    events = [
        _status_event(
            insert_application(db, org, status="rejected", email=a),
            org.job_id,
            "screened",
            "rejected",
        )
        for a in addresses
    ]
    patch = use(mail_settings.model_copy(update={"email_rate_per_s": 2}))
    try:
        with running_worker(broker, threads=4):
            for event in events:
                # A send that finds no slot for a few seconds is retried: quickly, here.
                send_event_emails.send_with_options(args=(event,), min_backoff=100, max_backoff=500)
            wait_for(lambda: all(smtp.received(to=a) for a in addresses), 90, "all ten e-mails")
    finally:
        patch.undo()

    times = sorted(smtp.received(to=a)[0].at for a in addresses)
    # Ten sends at two per one-second window need five windows: more than four seconds.
    assert times[-1] - times[0] > 3.0


def test_addresses_are_masked_in_the_logs(
    mailer: Settings,
    smtp: SmtpCatcher,
    org: Org,
    db: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tasks.email import send_event_emails

    address = _address()
    app_id = insert_application(db, org, status="rejected", email=address)
    with caplog.at_level(logging.INFO, logger="tasks.email"):
        send_event_emails(_status_event(app_id, org.job_id, "screened", "rejected"))

    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "tasks.email"]
    assert any('"msg": "e-mail sent"' in line for line in lines)
    assert all(address not in line for line in lines)
    assert any(f"{address[0]}***@example.com" in line for line in lines)
