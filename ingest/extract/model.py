"""What extraction takes and gives: media types, limits, the result and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"

ErrorCode = Literal[
    "unsupported_type",
    "too_large",
    "corrupt_pdf",
    "encrypted_pdf",
    "too_many_pages",
    "no_text_layer",
    "corrupt_docx",
    "zip_bomb",
    "empty",
    "timeout",
    "memory_limit",
    "parser_crashed",
]

#: Flags that may appear in :attr:`Extracted.flags`.
FLAG_HIDDEN_TEXT = "hidden_text"
FLAG_TRUNCATED = "truncated"
FLAG_OCR_LAYER = "ocr_text_layer"

#: What a parser returns across the process boundary: text, pages, hidden text, flags.
Payload = tuple[str, "int | None", list[str], list[str]]


class ExtractionError(Exception):
    """A résumé that cannot be turned into text; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


@dataclass(frozen=True)
class ExtractionLimits:
    """Bounds on what one résumé may cost to parse."""

    max_bytes: int = 10 * 1024 * 1024
    max_pages: int = 50
    time_limit_s: float = 10.0
    memory_limit_bytes: int = 512 * 1024 * 1024
    max_docx_uncompressed_bytes: int = 50 * 1024 * 1024
    max_docx_ratio: float = 100.0
    max_docx_entries: int = 2000
    max_text_chars: int = 200_000


@dataclass
class Extracted:
    """The visible text of a résumé, plus what was hidden in it."""

    text: str
    media_type: str
    pages: int | None
    hidden_text: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
