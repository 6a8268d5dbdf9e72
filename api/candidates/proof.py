"""The candidate's proof of who they are (CNIC and e-mail), checked by blind index only."""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from core.pii_crypto import PiiCipher


def blind_cnic(pii: PiiCipher, organization_id: uuid.UUID, cnic: str) -> str:
    """The blind index erasure and resubmission find a CNIC's rows by."""
    return pii.blind_index(organization_id, "cnic", cnic)


def candidate_proven(pii: PiiCipher, application: dict[str, Any], cnic: str, email: str) -> bool:
    """Whether CNIC and e-mail are those of ``application`` (a row of ``applications``); an
    erased application proves nothing. Both comparisons always run (constant time)."""
    org = application["organization_id"]
    stored_cnic = application.get("candidate_cnic_index") or ""
    stored_email = application.get("candidate_email_index") or ""
    same_cnic = hmac.compare_digest(stored_cnic, pii.blind_index(org, "cnic", cnic))
    same_email = hmac.compare_digest(stored_email, pii.blind_index(org, "email", email))
    return application["pii_erased_at"] is None and bool(stored_cnic) and same_cnic & same_email
