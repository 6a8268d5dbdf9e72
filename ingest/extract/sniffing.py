"""What a résumé is, judged by its bytes (the name and declared type are hints only)."""

from __future__ import annotations

import io
import zipfile

from ingest.extract.model import DOCX, PDF, TEXT, ExtractionError
from ingest.extract.text import decode_text

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CLAIMS = {
    ".pdf": PDF,
    ".docx": DOCX,
    "application/pdf": PDF,
    DOCX: DOCX,
}


def sniff_media_type(data: bytes, filename: str | None = None, declared: str | None = None) -> str:
    """The media type of a résumé judged by its bytes; the name and declared type are hints only.

    Returns ``application/pdf``, the DOCX type or ``text/plain``.

    Raises:
        ExtractionError: ``unsupported_type`` for anything else, including a file named or
            declared as PDF/DOCX whose bytes are not one.
    """
    # The PDF header may follow up to 1 KiB of junk (as readers tolerate).
    if b"%PDF-" in data[:1024]:
        return PDF
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise ExtractionError("unsupported_type", "a damaged ZIP archive") from exc
        if "word/document.xml" in names:
            return DOCX
        raise ExtractionError("unsupported_type", "a ZIP archive, but not a Word document")
    if data.startswith(_OLE2):
        raise ExtractionError(
            "unsupported_type", "a legacy Word (.doc) or other OLE file: send PDF or DOCX"
        )
    claims = {_CLAIMS.get((declared or "").split(";")[0].strip().lower())}
    if filename and "." in filename:
        claims.add(_CLAIMS.get(filename[filename.rfind(".") :].lower()))
    for claim in (PDF, DOCX):
        if claim in claims:
            label = "PDF" if claim == PDF else "DOCX"
            raise ExtractionError("unsupported_type", f"named or declared {label}, but it is not")
    if decode_text(data) is None:
        raise ExtractionError("unsupported_type", "not a PDF, DOCX or plain-text file")
    return TEXT
