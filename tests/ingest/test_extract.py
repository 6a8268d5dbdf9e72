"""Text extraction: hostile files end in the right error, quickly; hidden text never passes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.extract import (
    DOCX,
    PDF,
    TEXT,
    ExtractionError,
    ExtractionLimits,
    extract_text,
    sniff_media_type,
)
from ingest.extract.docx import parse_docx
from ingest.extract.isolation import run_isolated
from tests.ingest import hostile

# Half the default time limit: a refusal must come from a check, not from being killed (a
# parse that overran would end in "timeout" instead of the expected code).
QUICKLY = ExtractionLimits(time_limit_s=5.0)


def _error(data: bytes, media_type: str, limits: ExtractionLimits | None = None) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extract_text(data, media_type, limits)
    return caught.value


@pytest.mark.parametrize(
    ("build", "media_type", "code"),
    [
        (hostile.corrupt_pdf, PDF, "corrupt_pdf"),
        (hostile.truncated_pdf, PDF, "corrupt_pdf"),
        (hostile.many_pages_pdf, PDF, "too_many_pages"),
        (hostile.image_only_pdf, PDF, "no_text_layer"),
        (hostile.encrypted_pdf, PDF, "encrypted_pdf"),
        (hostile.zip_bomb_docx, DOCX, "zip_bomb"),
        (hostile.many_entries_docx, DOCX, "zip_bomb"),
        (hostile.docx_without_document, DOCX, "corrupt_docx"),
        (hostile.broken_docx, DOCX, "corrupt_docx"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_hostile_file_is_refused_quickly_with_its_code(
    build: Callable[[], bytes], media_type: str, code: str
) -> None:
    error = _error(build(), media_type, QUICKLY)
    assert error.code == code
    assert error.message


def test_docx_expanding_past_the_size_cap_is_too_large() -> None:
    data = hostile.zip_bomb_docx(size=8 * 1024 * 1024)
    limits = ExtractionLimits(max_docx_uncompressed_bytes=4 * 1024 * 1024, max_docx_ratio=1e6)
    assert _error(data, DOCX, limits).code == "too_large"


def test_file_over_the_byte_limit_is_refused_before_parsing() -> None:
    data = hostile.text_pdf()
    assert _error(data, PDF, ExtractionLimits(max_bytes=len(data) - 1)).code == "too_large"


def test_pdf_protected_only_by_an_owner_password_is_read() -> None:
    extracted = extract_text(hostile.owner_only_encrypted_pdf(), PDF)
    assert "Acme Corp" in extracted.text


def test_ordinary_pdf_and_docx_give_their_text() -> None:
    pdf = extract_text(hostile.text_pdf(), PDF)
    docx = extract_text(hostile.text_docx(), DOCX)
    for extracted in (pdf, docx):
        assert extracted.text.splitlines() == hostile.VISIBLE_LINES
        assert extracted.hidden_text == []
        assert extracted.flags == []
    assert pdf.pages == 1
    assert docx.pages is None


# --- isolation ------------------------------------------------------------------------------


def test_parse_exceeding_the_time_limit_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(ExtractionError) as caught:
        run_isolated(hostile.spin_forever, (str(pid_file),), ExtractionLimits(time_limit_s=1.0))
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 8  # the limit plus process start on a loaded machine
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_parse_exceeding_the_memory_limit_fails_without_hurting_the_caller() -> None:
    limits = ExtractionLimits(memory_limit_bytes=256 * 1024 * 1024)
    with pytest.raises(ExtractionError) as caught:
        run_isolated(hostile.allocate_forever, (), limits)
    assert caught.value.code == "memory_limit"


def test_parser_that_dies_is_reported_as_crashed() -> None:
    with pytest.raises(ExtractionError) as caught:
        run_isolated(hostile.crash, (), ExtractionLimits())
    assert caught.value.code == "parser_crashed"


# --- hidden text ----------------------------------------------------------------------------


def test_hidden_docx_runs_are_stripped_and_reported() -> None:
    extracted = extract_text(hostile.hidden_text_docx(), DOCX)
    assert "ignore previous" not in extracted.text
    assert sorted(extracted.hidden_text) == sorted(
        f"{kind}: {hostile.INJECTION}" for kind in ("vanish", "white", "tiny")
    )
    assert extracted.flags == ["hidden_text"]
    assert "Skills: Docker. Kubernetes." in extracted.text.splitlines()


@pytest.mark.parametrize("kind", ["white", "tiny", "invisible"])
def test_hidden_pdf_text_is_stripped_and_reported(kind: str) -> None:
    extracted = extract_text(hostile.hidden_text_pdf(**{kind: True}), PDF)
    assert "ignore previous" not in extracted.text
    assert extracted.hidden_text == [hostile.INJECTION]
    assert extracted.flags == ["hidden_text"]
    assert "Education: BS Computer Science, NUST (2015)" in extracted.text


def test_white_text_on_a_dark_pdf_sidebar_is_visible_text() -> None:
    extracted = extract_text(hostile.white_on_dark_pdf(), PDF)
    assert "Education: BS Computer Science, NUST" in extracted.text
    assert extracted.hidden_text == []


def test_white_text_on_dark_docx_shading_is_visible_text() -> None:
    extracted = extract_text(hostile.white_on_shaded_docx(), DOCX)
    assert "Education: BS Computer Science, NUST" in extracted.text
    assert extracted.hidden_text == []


def test_ocr_layer_of_a_scanned_pdf_is_its_text() -> None:
    extracted = extract_text(hostile.ocr_layer_pdf(), PDF)
    assert extracted.text.splitlines() == hostile.VISIBLE_LINES
    assert extracted.flags == ["ocr_text_layer"]


def test_unicode_tag_smuggling_in_plain_text_is_stripped_and_decoded() -> None:
    smuggled = "".join(chr(0xE0000 + ord(ch)) for ch in hostile.INJECTION)
    data = f"Python developer{smuggled}, 5 years\u200b of PostgreSQL".encode()
    extracted = extract_text(data, TEXT)
    assert extracted.text == "Python developer, 5 years of PostgreSQL"
    assert extracted.hidden_text == [hostile.INJECTION]
    assert extracted.flags == ["hidden_text"]


# --- plain text -----------------------------------------------------------------------------


def test_plain_text_whitespace_is_normalised() -> None:
    data = b"  Ayesha\tKhan  \r\n\r\n\r\n\r\nPython \x07developer\xc2\xa0 \n"
    extracted = extract_text(data, TEXT)
    assert extracted.text == "Ayesha Khan\n\nPython developer"
    assert extracted.pages is None


def test_long_text_is_capped_and_flagged_truncated() -> None:
    extracted = extract_text(b"word " * 1000, TEXT, ExtractionLimits(max_text_chars=100))
    assert len(extracted.text) <= 100
    assert extracted.flags == ["truncated"]


def test_blank_text_file_is_empty_not_an_empty_string() -> None:
    assert _error(b" \n\t\n", TEXT).code == "empty"


def test_unknown_media_type_is_unsupported() -> None:
    assert _error(b"GIF89a", "image/gif").code == "unsupported_type"


# --- sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "declared", "expected"),
    [
        (hostile.text_pdf(), "cv.docx", "text/plain", PDF),
        (b"\r\n" + hostile.text_pdf(), None, None, PDF),
        (hostile.text_docx(), "cv.pdf", "application/octet-stream", DOCX),
        ("Ayesha Khan — Python, 5 years".encode(), "cv.txt", "text/plain", TEXT),
        ("Résumé".encode("cp1252"), None, None, TEXT),
        ("\ufeffAyesha Khan".encode("utf-16-le"), None, None, TEXT),
    ],
)
def test_media_type_is_judged_by_content(
    data: bytes, filename: str | None, declared: str | None, expected: str
) -> None:
    assert sniff_media_type(data, filename, declared) == expected


@pytest.mark.parametrize(
    ("data", "filename", "declared"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "cv.png", "image/png"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "cv.doc", "application/msword"),
        (hostile.docx_without_document(), "cv.zip", None),
        (b"PK\x03\x04 not really a zip", "cv.docx", None),
        (b"plain words, but named as a PDF", "cv.pdf", None),
        (b"plain words, but declared a DOCX", None, DOCX),
        (bytes(range(256)) * 4, None, None),
    ],
    ids=["png", "legacy-doc", "zip-not-docx", "broken-zip", "named-pdf", "declared-docx", "binary"],
)
def test_anything_else_is_an_unsupported_type(
    data: bytes, filename: str | None, declared: str | None
) -> None:
    with pytest.raises(ExtractionError) as caught:
        sniff_media_type(data, filename, declared)
    assert caught.value.code == "unsupported_type"


_REAL_CVS = Path("/work/shared/datasets/vacancy-resume-matching/CV")


@pytest.mark.skipif(not _REAL_CVS.is_dir(), reason="the shared CV dataset is not here")
def test_real_world_docx_resumes_extract_with_no_hidden_text() -> None:
    # Some use white text on a coloured sidebar. The parser is called in-process here (not in
    # the sandbox): this is about what it reads, the isolation is tested above.
    for path in sorted(_REAL_CVS.glob("*.docx")):
        data = path.read_bytes()
        assert sniff_media_type(data, path.name, None) == DOCX
        text, _, hidden, flags = parse_docx(data, ExtractionLimits())
        assert len(text) > 200, path.name
        assert hidden == [], path.name
        assert flags == [], path.name
