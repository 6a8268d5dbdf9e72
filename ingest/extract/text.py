"""Text clean-up shared by every format: whitespace, invisible characters, smuggled text."""

from __future__ import annotations

import re
import unicodedata

from ingest.extract.model import (
    FLAG_HIDDEN_TEXT,
    FLAG_TRUNCATED,
    TEXT,
    ErrorCode,
    Extracted,
    ExtractionError,
    ExtractionLimits,
)

# Zero-width and bidi-control characters (ZWNJ/ZWJ are kept: Urdu spelling needs them), soft
# hyphens and supplementary variation selectors: invisible, and used to smuggle text.
_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    "\U000e0100-\U000e01ef]"
)
# Unicode tag characters spell out ASCII invisibly ("ASCII smuggling").
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile("[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalise(text: str, max_chars: int, flags: list[str]) -> tuple[str, list[str]]:
    """Clean whitespace and invisible characters; returns the text and any smuggled text."""
    hidden = []
    for match in _TAGS.finditer(text):
        smuggled = "".join(chr(ord(ch) - 0xE0000) for ch in match[0]).strip()
        if smuggled:
            hidden.append(smuggled)
    text = _TAGS.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\v", "\n")
    text = _CONTROLS.sub("", _INVISIBLE.sub("", text))
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = _BLANK_LINES.sub("\n\n", text).strip()
    if len(text) > max_chars:
        text = text[:max_chars].rstrip()
        flags.append(FLAG_TRUNCATED)
    if hidden and FLAG_HIDDEN_TEXT not in flags:
        flags.append(FLAG_HIDDEN_TEXT)
    return text, hidden


def finish(
    visible: str, hidden: list[str], flags: list[str], limits: ExtractionLimits
) -> tuple[str, list[str]]:
    """A parser's visible text cleaned, and its hidden fragments worth reporting."""
    text, smuggled = normalise(visible, limits.max_text_chars, flags)
    fragments = [_SPACES.sub(" ", h).strip() for h in hidden]
    # Tiny punctuation used as layout spacing says nothing to a reader, human or model.
    fragments = [f for f in fragments if any(ch.isalnum() for ch in f)] + smuggled
    if fragments and FLAG_HIDDEN_TEXT not in flags:
        flags.append(FLAG_HIDDEN_TEXT)
    return text, fragments


def require_readable(text: str, hidden: list[str], code: ErrorCode, what: str) -> None:
    """Raise ``code`` unless ``text`` has something to screen (at least 20 letters)."""
    letters = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            if letters >= 20:
                return
    if hidden:
        raise ExtractionError(
            code, f"the {what} has no visible text, only {sum(map(len, hidden))} hidden characters"
        )
    if code == "no_text_layer":
        raise ExtractionError(code, "the PDF has no text layer (a scan or images only)")
    raise ExtractionError(code, f"the {what} contains no text")


def decode_text(data: bytes) -> str | None:
    """``data`` as text if it plausibly is text (UTF-8, UTF-16 with BOM, else cp1252)."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        elif b"\x00" in data:
            return None
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    # Binary data decodes as cp1252 too, but is full of control characters.
    controls = len(_CONTROLS.findall(text))
    return text if controls <= 2 + len(text) // 100 else None


def extract_plain(data: bytes, limits: ExtractionLimits) -> Extracted:
    """A plain-text résumé, decoded and cleaned in-process (linear in its size)."""
    decoded = decode_text(data)
    if decoded is None:
        raise ExtractionError("unsupported_type", "the file is not plain text")
    flags: list[str] = []
    text, hidden = normalise(decoded, limits.max_text_chars, flags)
    if not text:
        raise ExtractionError("empty", "the text file is empty")
    return Extracted(text, TEXT, None, hidden, flags)
