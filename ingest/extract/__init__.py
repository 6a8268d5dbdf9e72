"""Résumé text extraction that survives hostile files.

PDF and DOCX are parsed in the sandbox (:mod:`ingest.extract.isolation`): pre-started parser
processes, each file bounded by a wall-clock limit, an address-space limit and a CPU-time
backstop; a parser that overruns is killed and replaced, and the caller gets an
:class:`ExtractionError`. Plain text is decoded in-process: that is linear in the input and
needs no isolation. What a file is comes from its bytes (:mod:`ingest.extract.sniffing`).

Whatever is invisible in the source (DOCX runs that are vanished, white or at most 2 pt; PDF
text drawn in white, transparent, under 2 pt or in render mode 3/7; Unicode tag characters)
is removed from :attr:`Extracted.text`, reported in :attr:`Extracted.hidden_text` and flagged
``hidden_text``: it is the usual way of talking to a screening model behind HR's back. White
text over a coloured area (a designed résumé's sidebar) is legible and stays; so does the
invisible OCR layer of a scanned PDF (flagged ``ocr_text_layer``). A document with nothing
visible to screen raises rather than return an empty string.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.extract.model import (
    DOCX,
    FLAG_HIDDEN_TEXT,
    FLAG_OCR_LAYER,
    FLAG_TRUNCATED,
    PDF,
    TEXT,
    ErrorCode,
    Extracted,
    ExtractionError,
    ExtractionLimits,
    Payload,
)
from ingest.extract.sniffing import sniff_media_type
from ingest.extract.text import extract_plain

__all__ = [
    "DOCX",
    "FLAG_HIDDEN_TEXT",
    "FLAG_OCR_LAYER",
    "FLAG_TRUNCATED",
    "PDF",
    "TEXT",
    "ErrorCode",
    "Extracted",
    "ExtractionError",
    "ExtractionLimits",
    "extract_text",
    "parser_for",
    "sniff_media_type",
]


def parser_for(media_type: str) -> Callable[[bytes, ExtractionLimits], Payload]:
    """The parser of a PDF or DOCX (to run in the sandbox, or in-process for measurements).

    Raises:
        ExtractionError: ``unsupported_type`` for any other media type.
    """
    if media_type == PDF:
        from ingest.extract.pdf import parse_pdf

        return parse_pdf
    if media_type == DOCX:
        from ingest.extract.docx import parse_docx

        return parse_docx
    raise ExtractionError("unsupported_type", f"cannot extract text from {media_type!r}")


def extract_text(data: bytes, media_type: str, limits: ExtractionLimits | None = None) -> Extracted:
    """The visible text of a résumé, with hidden text stripped and reported.

    PDF and DOCX are parsed in the process's sandbox, bounded by ``limits``.

    Raises:
        ExtractionError: with a ``code`` saying why (see :data:`ErrorCode`).
    """
    from ingest.extract.isolation import run_isolated

    limits = limits or ExtractionLimits()
    media_type = media_type.split(";")[0].strip().lower()
    if len(data) > limits.max_bytes:
        raise ExtractionError("too_large", f"the file is larger than {limits.max_bytes} bytes")
    if media_type == TEXT:
        return extract_plain(data, limits)
    parse = parser_for(media_type)
    text, pages, hidden, flags = run_isolated(parse, (data, limits), limits)
    return Extracted(text, media_type, pages, hidden, flags)
