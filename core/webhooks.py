"""Webhook signatures (Stripe style): HMAC-SHA256 over ``"<timestamp>.<raw body>"``.

Header: ``X-PVARA-Signature: t=<unix seconds>,v1=<hex digest>``. A receiver recomputes the
digest with the shared secret and refuses timestamps outside its tolerance (replay).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-PVARA-Signature"
EVENT_HEADER = "X-PVARA-Event"
DELIVERY_HEADER = "X-PVARA-Delivery"


class SignatureError(ValueError):
    """The signature is missing, malformed, wrong or too old."""


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify(
    secret: bytes, body: bytes, header: str, *, tolerance_s: int = 300, now: int | None = None
) -> int:
    """Check a signature header; returns its timestamp or raises :class:`SignatureError`."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        ts = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError) as exc:
        raise SignatureError("malformed signature header") from exc
    current = int(time.time()) if now is None else now
    if abs(current - ts) > tolerance_s:
        raise SignatureError("timestamp outside tolerance (possible replay)")
    expected = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise SignatureError("signature mismatch")
    return ts
