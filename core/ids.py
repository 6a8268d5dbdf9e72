"""Deterministic identifiers."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid


def normalize_cnic(cnic: str) -> str:
    """``3520212345671`` or ``35202-1234567-1`` → ``35202-1234567-1``."""
    digits = re.sub(r"\D", "", cnic)
    return f"{digits[:5]}-{digits[5:12]}-{digits[12:]}" if len(digits) == 13 else cnic.strip()


def application_id(
    secret: bytes,
    organization_id: uuid.UUID,
    job_id: uuid.UUID,
    cnic: str,
    salt: bytes = b"",
) -> uuid.UUID:
    """The one id an application has: the same (organization, job, CNIC, salt) gives the same id.

    Keyed with a secret so an id cannot be derived from a known CNIC by outsiders. ``salt`` is
    the candidate's (table ``candidate_keys``, one per organization and CNIC): erasure deletes
    it, so afterwards nobody, holding the secret or not, can get from the CNIC to the old id,
    and a new application of that CNIC gets a new one. Candidates who applied before salts
    existed keep the empty salt, so their ids did not change.
    """
    digits = re.sub(r"\D", "", cnic)
    message = f"{organization_id}:{job_id}:{digits}".encode()
    if salt:
        message += b":" + salt.hex().encode()
    digest = hmac.new(secret, message, hashlib.sha256)
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version-5 style (name-based)
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return uuid.UUID(bytes=bytes(raw))
