"""What every request body model shares, and the formats several of them check.

Validation must accept exactly what the published schema allows (the fuzz test holds the API
to it): no whitespace is stripped *before* validation (a blank that a schema's ``minLength``
allows would turn into an empty string the validator refuses); surrounding blanks are trimmed
after it, when something is left. Patterns use explicit ASCII classes, which JSON Schema's,
Rust's and Python's regular expressions read alike (their ``\\s`` and ``\\d`` do not agree).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.errors import ProblemError
from core.ids import normalize_cnic

# PostgreSQL text cannot hold NUL, and UTF-8 has no lone surrogates (JSON's "\ud800" escapes
# decode to them): a value holding one would fail every consumer that stores it.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

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


def _unstorable_fields(value: Any, path: str) -> list[str]:
    """The paths of the strings (at any depth) that PostgreSQL could not store."""
    if isinstance(value, str):
        return [path] if _UNSTORABLE.search(value) else []
    if isinstance(value, Mapping):
        return [f for k, v in value.items() for f in _unstorable_fields(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [f for i, v in enumerate(value) for f in _unstorable_fields(v, f"{path}[{i}]")]
    return []


def refuse_unstorable(fields: Mapping[str, Any], max_chars: Mapping[str, int]) -> None:
    """400 ``invalid_value`` naming every field that PostgreSQL could not store: a NUL
    character or a lone surrogate anywhere in it, or (for the fields in ``max_chars``) more
    characters than the column holds. Values are never echoed (they may be personal data)."""
    errors: list[dict[str, str]] = []
    for name, value in fields.items():
        if _unstorable_fields(value, name):
            errors.append({"field": name, "message": "contains a NUL or a lone surrogate"})
        elif isinstance(value, str) and name in max_chars and len(value) > max_chars[name]:
            errors.append({"field": name, "message": f"longer than {max_chars[name]} characters"})
    if errors:
        raise ProblemError(
            400,
            "invalid_value",
            "Some values cannot be stored (a NUL character, a lone surrogate, or too long).",
            extra={"errors": errors},
        )


class Input(BaseModel):
    """A request body: unknown fields are refused, blanks around text trimmed after checks,
    and a value PostgreSQL cannot store is a 400 ``invalid_value`` (never a poison record)."""

    model_config = ConfigDict(extra="forbid")

    #: Fields whose length is a storage limit: over it is ``invalid_value``, not a 422.
    storage_limits: ClassVar[Mapping[str, int]] = {}

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # A ProblemError is not a ValueError: pydantic lets it through, the caller gets a 400.
        if isinstance(data, Mapping):
            refuse_unstorable(data, cls.storage_limits)
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _trim(cls, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Enum):  # a str enum stays itself
            return value.strip() or value
        return value


def normalized_cnic(value: str) -> str:
    """The stored form of a CNIC that matched :data:`Cnic` (``12345-1234567-1``)."""
    return normalize_cnic(value)
