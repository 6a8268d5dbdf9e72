"""Masking of personal data (CNIC numbers, e-mail addresses) before it reaches a log."""

from __future__ import annotations

import re

# Pakistani CNIC: 5-7-1 digits, with or without dashes.
_CNIC = re.compile(r"\b\d{5}-?\d{7}-?\d\b")
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")


def mask_cnic(cnic: str) -> str:
    """``35202-1234567-1`` → ``*****-*******-1``: only the last digit stays."""
    digits = re.sub(r"\D", "", cnic)
    return "*****-*******-" + digits[-1:] if digits else "****"


def mask_email(email: str) -> str:
    """``ayesha@example.com`` → ``a***@example.com``."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", email)


def mask_text(text: str) -> str:
    """Mask every CNIC and e-mail address found in free text."""
    return mask_email(_CNIC.sub(lambda m: mask_cnic(m.group(0)), text))
