"""What every request body model shares, and the formats several of them check.

Validation must accept exactly what the published schema allows (the fuzz test holds the API
to it): no whitespace is stripped *before* validation (a blank that a schema's ``minLength``
allows would turn into an empty string the validator refuses); surrounding blanks are trimmed
after it, when something is left. Patterns use explicit ASCII classes, which JSON Schema's,
Rust's and Python's regular expressions read alike (their ``\\s`` and ``\\d`` do not agree).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.ids import normalize_cnic

#: A printable ASCII character other than space and ``@``.
_ADDRESS_CHAR = "[!-?A-~]"

Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        pattern=f"^{_ADDRESS_CHAR}{{1,64}}@{_ADDRESS_CHAR}+$",
        description="An e-mail address (ASCII; compared case-insensitively)",
    ),
]

Cnic = Annotated[
    str,
    Field(
        max_length=15,
        pattern=r"^[0-9]{5}-?[0-9]{7}-?[0-9]$",
        description="CNIC: 13 digits, as 12345-1234567-1 or 1234512345671",
    ),
]


class Input(BaseModel):
    """A request body: unknown fields are refused, blanks around text trimmed after checks."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _trim(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or value
        return value


def normalized_cnic(value: str) -> str:
    """The stored form of a CNIC that matched :data:`Cnic` (``12345-1234567-1``)."""
    return normalize_cnic(value)
