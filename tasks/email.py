"""The ``notify`` pool's e-mail actor: the e-mails of one outbox event, sent over SMTP.

* **One e-mail per event and recipient**, however often the message is delivered: each e-mail
  is claimed in ``email_deliveries`` (key = HMAC of event id, kind and recipient) before the
  SMTP transaction and marked sent after it. A claim left by a worker that died mid-send is
  taken over only once it is older than the SMTP timeout allows; until then the message is
  retried later. The Message-ID is derived from the same key, so even that rare resend carries
  the first one's id, which mail systems deduplicate.
* **Retried with backoff** (``PVARA_NOTIFY_*_BACKOFF_MS``) on anything temporary (connection,
  4xx, TLS, authentication), **dead-lettered** after ``PVARA_EMAIL_MAX_RETRIES``; a recipient
  the server refuses for good (5xx) is recorded as ``refused`` and not retried.
* **Rate limited** to ``PVARA_EMAIL_RATE_PER_S`` per SMTP account across all workers (a Redis
  window limiter, Dramatiq's own); a message waits a moment for a slot, then retries.
* **Shortlist summaries** go out at most once per ``PVARA_EMAIL_SHORTLIST_INTERVAL_S`` per job:
  the first at once, the newest shortlist once the window ends.
* **PII**: addresses are logged masked (and the JSON logs mask again); none reach Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import dramatiq
from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from core.events import SHORTLIST_UPDATED
from core.pii import mask_email
from core.queue import NOTIFY, SEND_EVENT_EMAILS
from tasks import _resources
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)
from tasks.email_compose import Outgoing, plan
from tasks.smtp import SmtpTransport

log = logging.getLogger(__name__)

_settings = _resources.settings()
_transport = SmtpTransport(_settings)
_RATE_WAIT_S = 5.0


class EmailFailedError(Exception):
    """A temporary failure (server unreachable, 4xx, TLS, login); the event is retried."""


class EmailInFlightError(EmailFailedError):
    """Another attempt claimed this e-mail moments ago; retry once its outcome is known."""


class EmailRateLimitedError(EmailFailedError):
    """No sending slot within a few seconds; retried with backoff."""


_CLAIM_SQL = """
INSERT INTO email_deliveries AS d
       (dedupe_key, event_id, event_type, kind, organization_id, job_id, recipient_masked,
        message_id)
VALUES (%(key)s, %(event_id)s, %(event_type)s, %(kind)s, %(org)s, %(job)s, %(masked)s,
        %(message_id)s)
ON CONFLICT (dedupe_key) DO UPDATE
   SET attempts = d.attempts + 1, claimed_at = now(), error = NULL
 WHERE d.status = 'sending' AND d.claimed_at < now() - make_interval(secs => %(stale_s)s)
RETURNING d.status
"""
_STATUS_SQL = "SELECT status FROM email_deliveries WHERE dedupe_key = %s"
_DONE_SQL = """
UPDATE email_deliveries SET status = %(status)s, error = %(error)s,
       sent_at = CASE WHEN %(status)s = 'sent' THEN now() END
 WHERE dedupe_key = %(key)s
"""
_RELEASE_SQL = (
    "UPDATE email_deliveries SET claimed_at = '-infinity', error = %s WHERE dedupe_key = %s"
)


_limiters: dict[tuple[str, int], WindowRateLimiter] = {}


def _limiter() -> WindowRateLimiter:
    """The window limiter of the SMTP account (shared by every worker through Redis)."""
    key = (_transport.account, _settings.email_rate_per_s)
    if key not in _limiters:
        backend = RedisBackend(client=_resources.redis_client())  # type: ignore[no-untyped-call]
        _limiters[key] = WindowRateLimiter(  # type: ignore[no-untyped-call]
            backend, f"pvara:email:rate:{key[0]}", limit=key[1], window=1
        )
    return _limiters[key]


@dramatiq.actor(
    actor_name=SEND_EVENT_EMAILS,
    queue_name=NOTIFY,
    max_retries=_settings.email_max_retries,
    min_backoff=_settings.notify_min_backoff_ms,
    max_backoff=_settings.notify_max_backoff_ms,
    time_limit=int(_settings.smtp_timeout_s * 1000) * 4 + 60_000,
    max_age=3 * 24 * 3_600_000,  # an e-mail three days late is dead-lettered
)
def send_event_emails(event: dict[str, Any]) -> None:
    """Send the e-mails ``event`` asks for (see the module docstring)."""
    if not _settings.smtp_host:
        return
    if event.get("type") == SHORTLIST_UPDATED and not _shortlist_window_open(event):
        return
    with _resources.db().connection() as conn:
        outgoing = plan(conn, event, _settings)
    failures = []
    for mail in outgoing:
        try:
            deliver(event, mail)
        except EmailFailedError as exc:
            failures.append(exc)  # the others still go; a retry sends only what is missing
    if failures:
        raise failures[0]


def dedupe_key(event_id: str, kind: str, recipient: str) -> str:
    """The HMAC naming one e-mail of one event to one recipient (no address stored)."""
    secret = _settings.id_secret.get_secret_value().encode()
    text = f"{event_id}|{kind}|{recipient.strip().lower()}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


def deliver(event: dict[str, Any], mail: Outgoing) -> bool:
    """Send ``mail`` unless it was sent (or refused) before; True if it was sent now."""
    key = dedupe_key(str(event["id"]), mail.kind, mail.to)
    domain = mail.sender.address.rpartition("@")[2] or "pvara.local"
    message_id = f"<{key[:40]}@{domain}>"
    masked = mask_email(mail.to)
    if not _claim(event, mail, key, message_id, masked):
        return False
    try:
        _wait_for_slot()
    except EmailRateLimitedError as exc:
        return _retry(key, str(exc))  # releases the claim: the retry may take it at once
    try:
        _transport.send(_message(event, mail, message_id))
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        return _refused_or_retry(key, masked, mail, code, reply)
    except smtplib.SMTPResponseException as exc:
        if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPAuthenticationError):
            return _retry(key, f"{exc.smtp_code} {_text(exc.smtp_error)}")
        return _refused_or_retry(key, masked, mail, exc.smtp_code, exc.smtp_error)
    except (smtplib.SMTPException, OSError) as exc:
        return _retry(key, f"{type(exc).__name__}: {exc}")
    _finish(key, "sent", None)
    log.info(
        "e-mail sent",
        extra={"kind": mail.kind, "to": masked, "event": event.get("type"), "job_id": mail.job_id},
    )
    return True


def _claim(event: dict[str, Any], mail: Outgoing, key: str, message_id: str, masked: str) -> bool:
    params = {
        "key": key,
        "event_id": str(event["id"]),
        "event_type": str(event.get("type")),
        "kind": mail.kind,
        "org": mail.organization_id,
        "job": mail.job_id,
        "masked": masked,
        "message_id": message_id,
        "stale_s": _settings.smtp_timeout_s * 4 + 60,
    }
    with _resources.db().connection() as conn, conn.transaction():
        if conn.execute(_CLAIM_SQL, params).fetchone() is not None:
            return True
        row = conn.execute(_STATUS_SQL, (key,)).fetchone()
    if row is not None and row["status"] == "sending":
        raise EmailInFlightError(f"{mail.kind} to {masked} is being sent by another attempt")
    return False  # sent or refused before: redelivered event


def _finish(key: str, status: str, error: str | None) -> None:
    with _resources.db().connection() as conn, conn.transaction():
        conn.execute(_DONE_SQL, {"key": key, "status": status, "error": error})


def _retry(key: str, error: str) -> bool:
    # The attempt ended without a send: the next one may claim it at once.
    with _resources.db().connection() as conn, conn.transaction():
        conn.execute(_RELEASE_SQL, (error[:500], key))
    raise EmailFailedError(error)


def _refused_or_retry(key: str, masked: str, mail: Outgoing, code: int, reply: bytes | str) -> bool:
    error = f"{code} {_text(reply)}"
    if code >= 500:
        _finish(key, "refused", error[:500])
        log.warning("e-mail refused by the server", extra={"kind": mail.kind, "to": masked})
        return False
    return _retry(key, error)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _wait_for_slot() -> None:
    """Take one of the account's sends for this second, waiting briefly for the next."""
    limiter = _limiter()
    deadline = time.monotonic() + _RATE_WAIT_S
    while True:
        with limiter.acquire(raise_on_failure=False) as acquired:
            if acquired:
                return
        if time.monotonic() > deadline:
            raise EmailRateLimitedError(f"more than {_settings.email_rate_per_s} e-mails/s")
        time.sleep(0.02)  # throttling, not synchronisation: the window moves every second


def _message(event: dict[str, Any], mail: Outgoing, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = mail.sender.header
    message["To"] = mail.to
    if mail.sender.reply_to:
        message["Reply-To"] = mail.sender.reply_to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-PVARA-Kind"] = mail.kind
    message["X-PVARA-Event"] = str(event["id"])
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    if mail.calendar is not None:
        method = mail.calendar_method or "REQUEST"
        # Inline (calendar clients act on it) and as a file (everyone else can open it).
        message.add_alternative(
            mail.calendar.decode(), subtype="calendar", params={"method": method}
        )
        message.add_attachment(
            mail.calendar,
            maintype="application",
            subtype="ics",
            filename="invite.ics" if method == "REQUEST" else "cancel.ics",
        )
    return message


# --- shortlist summaries: at most one per job per interval --------------------------------------

_WINDOW_KEY = "pvara:email:shortlist:window:{}"
_TRAILING_KEY = "pvara:email:shortlist:trailing:{}"


def _shortlist_window_open(event: dict[str, Any]) -> bool:
    """True when this event may send the job's summary now; else make sure one message sends
    the newest shortlist when the window closes."""
    interval_ms = int(_settings.email_shortlist_interval_s * 1000)
    job_id = str((event.get("payload") or {}).get("job_id"))
    if interval_ms <= 0:
        return True
    redis = _resources.redis_client()
    if redis.set(_WINDOW_KEY.format(job_id), str(event["id"]), nx=True, px=interval_ms):
        return True
    left_ms = max(int(redis.pttl(_WINDOW_KEY.format(job_id))), 1)
    if redis.set(_TRAILING_KEY.format(job_id), "1", nx=True, px=left_ms):
        trailing = {
            "id": str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"pvara:shortlist-window:{job_id}:{event['id']}")
            ),
            "type": SHORTLIST_UPDATED,
            "occurred_at": datetime.now(UTC).isoformat(),
            "payload": {"job_id": job_id, "window": "trailing"},
        }
        send_event_emails.send_with_options(args=(trailing,), delay=left_ms + 50)
    return False
