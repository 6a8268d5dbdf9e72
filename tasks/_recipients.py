"""Who an e-mail goes to. The candidate's address, encrypted at rest, is read (decrypted) in
ONE place, :func:`candidate_email`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import psycopg

from core.domain import ERASED
from core.pii_crypto import decrypt

# Deliberately plain: a syntactically odd address is refused by the SMTP server anyway, this
# only keeps placeholders ("[erased]") and header injection (CR/LF) out of the envelope.
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")


def deliverable(address: str | None) -> str | None:
    """``address`` stripped if it can go into an envelope, else None."""
    if not address:
        return None
    address = address.strip()
    return address if _ADDRESS.fullmatch(address) else None


def candidate_email(application: Mapping[str, Any]) -> str | None:
    """The candidate's address from an ``applications`` row; None once erased."""
    if application.get("pii_erased_at") is not None:
        return None
    raw = decrypt(application.get("candidate_email"), application["organization_id"])
    return None if raw == ERASED else deliverable(raw)


def user_email(conn: psycopg.Connection[Any], user_id: str) -> str | None:
    """An active user's address (an interviewer)."""
    row = conn.execute("SELECT email FROM users WHERE id = %s AND is_active", (user_id,)).fetchone()
    return deliverable(row["email"]) if row else None


def job_recipients(criteria: Mapping[str, Any] | None) -> list[str]:
    """``notifications.email_recipients`` of a job's criteria (when ``notify_on_complete``)."""
    notifications = (criteria or {}).get("notifications") or {}
    if not notifications.get("notify_on_complete", True):
        return []
    found = (deliverable(a) for a in notifications.get("email_recipients") or [])
    return sorted({a for a in found if a})
