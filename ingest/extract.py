"""Résumé text extraction that survives hostile files.

PDF and DOCX parsing runs in a child process with a wall-clock limit, an address-space limit
(``RLIMIT_AS``) and a CPU-time backstop (``RLIMIT_CPU``, in case the caller dies first); a
child that overruns is killed and the caller gets an :class:`ExtractionError`. Plain text is
decoded in-process: that is linear in the input and needs no isolation.

Why a fresh child per parse from a ``forkserver``: the server is a small single-threaded
process that imports pypdf and python-docx once, then forks one child per parse (about 20 ms).
Forking the caller directly would be as cheap, but the callers (Dramatiq workers) are
multi-threaded, and forking a threaded process can copy a held lock into the child; the
child would also inherit the worker's whole address space, blurring the memory limit. A
persistent pool would save the fork, but a pool worker cannot be killed on timeout without
breaking the pool, and a parse could leave a worker poisoned (fragmented heap, global state)
for the next résumé; one child per parse has neither problem.

The main script of the calling process must be import-safe (``if __name__ == "__main__"``),
as for any forkserver or spawn use of multiprocessing: the server imports it once.

Whatever is invisible in the source (DOCX runs that are vanished, white or at most 2 pt; PDF
text drawn in white, transparent, under 2 pt or in render mode 3/7; Unicode tag characters)
is removed from :attr:`Extracted.text`, reported in :attr:`Extracted.hidden_text` and flagged
``hidden_text``: it is the usual way of talking to a screening model behind HR's back. White
text over a coloured area (a designed résumé's sidebar) is legible and stays; so does the
invisible OCR layer of a scanned PDF (flagged ``ocr_text_layer``). A document with nothing
visible to screen raises rather than return an empty string.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import multiprocessing
import re
import signal
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

# An lxml element; lxml ships no type information and the project installs no stubs for it.
_Element = Any

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


# --- sniffing -------------------------------------------------------------------------------

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
    if _decode_text(data) is None:
        raise ExtractionError("unsupported_type", "not a PDF, DOCX or plain-text file")
    return TEXT


def _decode_text(data: bytes) -> str | None:
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


# --- entry point ----------------------------------------------------------------------------


def extract_text(data: bytes, media_type: str, limits: ExtractionLimits | None = None) -> Extracted:
    """The visible text of a résumé, with hidden text stripped and reported.

    PDF and DOCX are parsed in a child process bounded by ``limits``.

    Raises:
        ExtractionError: with a ``code`` saying why (see :data:`ErrorCode`).
    """
    limits = limits or ExtractionLimits()
    media_type = media_type.split(";")[0].strip().lower()
    if len(data) > limits.max_bytes:
        raise ExtractionError("too_large", f"the file is larger than {limits.max_bytes} bytes")
    if media_type == TEXT:
        return _extract_plain(data, limits)
    if media_type == PDF:
        parse: Callable[[bytes, ExtractionLimits], _Payload] = _parse_pdf
    elif media_type == DOCX:
        parse = _parse_docx
    else:
        raise ExtractionError("unsupported_type", f"cannot extract text from {media_type!r}")
    text, pages, hidden, flags = _run_isolated(parse, (data, limits), limits)
    return Extracted(text, media_type, pages, hidden, flags)


def _extract_plain(data: bytes, limits: ExtractionLimits) -> Extracted:
    decoded = _decode_text(data)
    if decoded is None:
        raise ExtractionError("unsupported_type", "the file is not plain text")
    flags: list[str] = []
    text, hidden = _normalise(decoded, limits.max_text_chars, flags)
    if not text:
        raise ExtractionError("empty", "the text file is empty")
    return Extracted(text, TEXT, None, hidden, flags)


# --- text clean-up --------------------------------------------------------------------------

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


def _normalise(text: str, max_chars: int, flags: list[str]) -> tuple[str, list[str]]:
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


def _finish(
    visible: str, hidden: list[str], flags: list[str], limits: ExtractionLimits
) -> tuple[str, list[str]]:
    text, smuggled = _normalise(visible, limits.max_text_chars, flags)
    fragments = [_SPACES.sub(" ", h).strip() for h in hidden]
    # Tiny punctuation used as layout spacing says nothing to a reader, human or model.
    fragments = [f for f in fragments if any(ch.isalnum() for ch in f)] + smuggled
    if fragments and FLAG_HIDDEN_TEXT not in flags:
        flags.append(FLAG_HIDDEN_TEXT)
    return text, fragments


def _require_readable(text: str, hidden: list[str], code: ErrorCode, what: str) -> None:
    letters = sum(1 for ch in text if ch.isalpha())
    if letters >= 20:
        return
    if hidden:
        raise ExtractionError(
            code, f"the {what} has no visible text, only {sum(map(len, hidden))} hidden characters"
        )
    if code == "no_text_layer":
        raise ExtractionError(code, "the PDF has no text layer (a scan or images only)")
    raise ExtractionError(code, f"the {what} contains no text")


# --- isolation ------------------------------------------------------------------------------

#: What a parser returns across the process boundary: text, pages, hidden text, flags.
_Payload = tuple[str, "int | None", list[str], list[str]]


@functools.cache
def _context() -> multiprocessing.context.ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    assert isinstance(ctx, multiprocessing.context.ForkServerContext)
    # "__main__" makes the server import the caller's main script once (guarded code does not
    # run), instead of every child re-running it as multiprocessing otherwise does.
    ctx.set_forkserver_preload(["__main__", __name__, "pypdf", "docx"])
    return ctx


def _run_isolated(
    fn: Callable[..., _Payload], args: tuple[Any, ...], limits: ExtractionLimits
) -> _Payload:
    """``fn(*args)`` in a child process within ``limits``; its ExtractionError is re-raised."""
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_child_main,
        args=(sender, fn, args, limits.memory_limit_bytes, limits.time_limit_s),
        name="pvara-extract",
        daemon=True,
    )
    try:
        child.start()
        sender.close()
        if not receiver.poll(limits.time_limit_s):
            raise ExtractionError(
                "timeout", f"parsing took longer than {limits.time_limit_s:g} s and was stopped"
            )
        try:
            outcome = receiver.recv()
        except EOFError:
            child.join()
            if child.exitcode == -signal.SIGXCPU:
                raise ExtractionError("timeout", "parsing ran out of CPU time") from None
            raise ExtractionError(
                "parser_crashed", f"the parser died (exit code {child.exitcode})"
            ) from None
    finally:
        if child.is_alive():
            child.kill()
        if child.pid is not None:
            child.join()
            child.close()
        receiver.close()
        sender.close()
    if outcome[0] == "error":
        raise ExtractionError(outcome[1], outcome[2])
    result: _Payload = outcome[1]
    return result


def _child_main(
    conn: Connection,
    fn: Callable[..., _Payload],
    args: tuple[Any, ...],
    memory_limit: int,
    time_limit_s: float,
) -> None:
    import logging
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    cpu = math.ceil(time_limit_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Malformed files make pypdf log a warning per broken object; that is not news.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    outcome: tuple[Any, ...]
    try:
        outcome = ("ok", fn(*args))
    except ExtractionError as exc:
        outcome = ("error", exc.code, exc.message)
    except MemoryError:
        outcome = ("error", "memory_limit", "parsing needed more memory than allowed")
    try:
        conn.send(outcome)
    except MemoryError:
        conn.send(("error", "memory_limit", "parsing needed more memory than allowed"))
    except BrokenPipeError:
        return  # the worker that asked was killed: nobody to answer (and no stray traceback)
    conn.close()


# --- PDF ------------------------------------------------------------------------------------

# pypdf repairs a truncated file silently; a résumé cut short in transit must be re-sent.
_EOF_WINDOW = 4096
_PATH_POINTS = frozenset({b"m", b"l", b"c", b"v", b"y", b"re"})
_FILL = frozenset({b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*"})
_NO_FILL = frozenset({b"S", b"s", b"n"})
_TINY_PT = 2.0


@dataclass
class _Ink:
    """The part of the PDF graphics state that decides whether text can be seen."""

    fill_white: bool = False
    stroke_white: bool = False
    fill_space_known: bool = True
    stroke_space_known: bool = True
    transparent: bool = False
    render_mode: int = 0
    font_size: float = 12.0

    def hidden_reason(self, cm: list[float], tm: list[float]) -> str | None:
        if self.render_mode in (3, 7):
            return "invisible"
        if self.transparent:
            return "transparent"
        fills = self.render_mode in (0, 2, 4, 6)
        strokes = self.render_mode in (1, 2, 5, 6)
        if (not fills or self.fill_white) and (not strokes or self.stroke_white):
            return "white"
        # The rendered height of one text-space unit, through the text and page matrices.
        dy_x = tm[2] * cm[0] + tm[3] * cm[2]
        dy_y = tm[2] * cm[1] + tm[3] * cm[3]
        if abs(self.font_size) * math.hypot(dy_x, dy_y) < _TINY_PT:
            return "tiny"
        return None


def _is_white(operands: list[Any]) -> bool | None:
    """Whether colour operands (gray, RGB or CMYK by count) are near white; None if unknown."""
    try:
        values = [float(v) for v in operands]
    except (TypeError, ValueError):
        return None
    if len(values) in (1, 3):
        return all(v >= 0.95 for v in values)
    if len(values) == 4:
        return all(v <= 0.05 for v in values)
    return None


_Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass
class _PageResources:
    alphas: dict[str, float]  # fill opacity (/ca) per ExtGState name
    opaque_spaces: set[str]  # colour spaces whose components are not gray/RGB/CMYK
    xobjects: dict[str, list[tuple[float, float]]]  # corners in the XObject's own space


def _apply(cm: list[float], x: float, y: float) -> tuple[float, float]:
    return cm[0] * x + cm[2] * y + cm[4], cm[1] * x + cm[3] * y + cm[5]


def _bounds(points: list[tuple[float, float]]) -> _Box:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


# Colour spaces in which "1.0" does not mean white (a spot-colour tint, a palette index).
_TINTED_SPACES = frozenset({"/Separation", "/DeviceN", "/Indexed", "/Pattern", "/Lab"})


def _page_resources(page: Any) -> _PageResources:
    found = _PageResources({}, {"/Pattern"}, {})
    try:
        resources = page["/Resources"]
    except (KeyError, TypeError):
        return found
    try:
        for name, state in resources.get("/ExtGState", {}).items():
            ca = state.get_object().get("/ca")
            if ca is not None:
                found.alphas[str(name)] = float(ca)
    except (AttributeError, TypeError, ValueError):
        pass
    try:
        for name, space in resources.get("/ColorSpace", {}).items():
            space = space.get_object()
            family = space[0] if isinstance(space, list) else space
            if str(family) in _TINTED_SPACES:
                found.opaque_spaces.add(str(name))
    except (AttributeError, TypeError, ValueError, IndexError):
        pass
    try:
        for name, xobject in resources.get("/XObject", {}).items():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Image":
                found.xobjects[str(name)] = [(0, 0), (1, 1), (0, 1), (1, 0)]
            elif xobject.get("/Subtype") == "/Form" and "/BBox" in xobject:
                x0, y0, x1, y1 = (float(v) for v in xobject["/BBox"])
                matrix = [float(v) for v in xobject.get("/Matrix", [1, 0, 0, 1, 0, 0])]
                corners = [(x0, y0), (x1, y1), (x0, y1), (x1, y0)]
                found.xobjects[str(name)] = [_apply(matrix, x, y) for x, y in corners]
    except (AttributeError, TypeError, ValueError, IndexError):
        pass
    return found


class _PdfVisibility:
    """pypdf ``extract_text`` visitors that sort each piece of text into visible or hidden.

    pypdf hands text to ``visitor_text`` in chunks that may span several text-showing
    operators, so the visibility of each such operator since the last chunk is collected; a
    chunk mixing visible and hidden text counts as hidden (it is stripped and reported).

    White text is legible on a coloured sidebar or banner, which designed résumés use, so it
    only counts as hidden where it does not start over an area already painted in a colour
    (or covered by an image or form) on the page.
    """

    def __init__(self, resources: _PageResources) -> None:
        self.ink = _Ink()
        self._stack: list[_Ink] = []
        self._resources = resources
        self._pending: list[str | None] = []
        self._showing = False  # inside a Tj/TJ, whose text pypdf may flush midway
        self._showing_reason: str | None = None
        self.visible: list[str] = []
        self.hidden: list[str] = []
        self.reasons: set[str] = set()
        self.draws_xobject = False
        self._last_hidden = False
        self._path: list[tuple[float, float]] = []
        self._backdrops: list[_Box] = []

    def before(self, op: bytes, operands: list[Any], cm: list[float], tm: list[float]) -> None:
        ink = self.ink
        if op == b"q":
            self._stack.append(_Ink(**vars(ink)))
        elif op == b"Q":
            if self._stack:
                self.ink = self._stack.pop()
        elif op in (b"cs", b"CS"):
            # Choosing a colour space resets the colour to its initial value (black).
            known = bool(operands) and str(operands[0]) not in self._resources.opaque_spaces
            if op == b"cs":
                ink.fill_white, ink.fill_space_known = False, known
            else:
                ink.stroke_white, ink.stroke_space_known = False, known
        elif op in (b"rg", b"g", b"k") or (op in (b"sc", b"scn") and ink.fill_space_known):
            white = _is_white(operands)
            if white is not None:
                ink.fill_white = white
        elif op in (b"RG", b"G", b"K") or (op in (b"SC", b"SCN") and ink.stroke_space_known):
            white = _is_white(operands)
            if white is not None:
                ink.stroke_white = white
        elif op == b"Tr" and operands:
            with contextlib.suppress(TypeError, ValueError):
                ink.render_mode = int(operands[0])
        elif op == b"Tf" and len(operands) >= 2:
            with contextlib.suppress(TypeError, ValueError):
                ink.font_size = float(operands[1])
        elif op == b"gs" and operands:
            alpha = self._resources.alphas.get(str(operands[0]))
            if alpha is not None:
                ink.transparent = alpha <= 0.05
        elif op == b"Do":
            self.draws_xobject = True
            corners = self._resources.xobjects.get(str(operands[0])) if operands else None
            if corners:
                self._backdrops.append(_bounds([_apply(cm, x, y) for x, y in corners]))
        elif op in _PATH_POINTS:
            self._add_to_path(op, operands, cm)
        elif op in _FILL:
            if self._path and (ink.fill_space_known and not ink.fill_white):
                self._backdrops.append(_bounds(self._path))
            self._path = []
        elif op in _NO_FILL:
            self._path = []
        elif op in (b"Tj", b"TJ"):
            self._showing, self._showing_reason = True, self._reason(cm, tm)

    def _add_to_path(self, op: bytes, operands: list[Any], cm: list[float]) -> None:
        try:
            values = [float(v) for v in operands]
        except (TypeError, ValueError):
            return
        if op == b"re" and len(values) == 4:
            x, y, w, h = values
            values = [x, y, x + w, y + h, x, y + h, x + w, y]
        self._path.extend(
            _apply(cm, values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)
        )

    def _reason(self, cm: list[float], tm: list[float]) -> str | None:
        reason = self.ink.hidden_reason(cm, tm)
        if reason == "white":
            x, y = _apply(cm, tm[4], tm[5])
            for x0, y0, x1, y1 in self._backdrops:
                if x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1:
                    return None
        return reason

    def after(self, op: bytes, operands: list[Any], cm: list[float], tm: list[float]) -> None:
        if op in (b"Tj", b"TJ"):
            self._pending.append(self._showing_reason)
            self._showing = False
        elif op in (b"'", b'"'):
            # These move to the next line (flushing earlier text) before showing theirs.
            self._pending.append(self._reason(cm, tm))

    def text(self, text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if not text:
            return
        states = [*self._pending, self._showing_reason] if self._showing else self._pending
        reasons = {state for state in states if state is not None}
        self._pending = []
        if not text.strip():
            self.visible.append(text)
            if self._last_hidden:
                self.hidden[-1] += text
            return
        if not reasons:
            self.visible.append(text)
            self._last_hidden = False
            return
        self.reasons |= reasons
        if self._last_hidden:
            self.hidden[-1] += text
        else:
            self.hidden.append(text)
        self._last_hidden = True


def _parse_pdf(data: bytes, limits: ExtractionLimits) -> _Payload:
    """Runs in the child: the visible text of a PDF, page by page."""
    from pypdf import PdfReader

    if b"%%EOF" not in data[-_EOF_WINDOW:]:
        raise ExtractionError("corrupt_pdf", "the PDF is truncated (no end-of-file marker)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # an unsupported or broken security handler
                raise ExtractionError("encrypted_pdf", "the PDF is encrypted") from exc
            if not opened:
                raise ExtractionError("encrypted_pdf", "the PDF is protected by a password")
        pages = len(reader.pages)
        if pages > limits.max_pages:
            raise ExtractionError(
                "too_many_pages", f"the PDF has {pages} pages (at most {limits.max_pages})"
            )
        if pages == 0:
            raise ExtractionError("corrupt_pdf", "the PDF has no pages")
        visible: list[str] = []
        hidden: list[str] = []
        flags: list[str] = []
        chars = 0
        for page in reader.pages:
            seen = _PdfVisibility(_page_resources(page))
            page.extract_text(
                visitor_operand_before=seen.before,
                visitor_operand_after=seen.after,
                visitor_text=seen.text,
            )
            page_visible = "".join(seen.visible)
            if not page_visible.strip() and seen.reasons == {"invisible"} and seen.draws_xobject:
                # An OCR layer: invisible text laid over the scanned image is the page's text.
                page_visible = "".join(seen.hidden)
                if FLAG_OCR_LAYER not in flags:
                    flags.append(FLAG_OCR_LAYER)
            else:
                hidden.extend(seen.hidden)
            visible.append(page_visible)
            chars += len(page_visible)
            if chars > limits.max_text_chars:
                break
    except ExtractionError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # pypdf raises many types on malformed input
        raise ExtractionError("corrupt_pdf", f"the PDF could not be read ({exc!r:.200})") from exc
    text, fragments = _finish("\n\n".join(visible), hidden, flags, limits)
    _require_readable(text, fragments, "no_text_layer", "PDF")
    return text, pages, fragments, flags


# --- DOCX -----------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_WP_ANCHOR = "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}anchor"
_VML = "{urn:schemas-microsoft-com:vml}"
_RATIO_FLOOR = 1024 * 1024  # entries smaller than this cannot hurt, whatever their ratio
_HEADER_FOOTER = re.compile(r"/word/(header|footer)\d*\.xml")


def _check_zip(data: bytes, limits: ExtractionLimits) -> None:
    """Refuse a DOCX whose ZIP structure could exhaust memory before python-docx opens it.

    Declared sizes can be trusted as upper bounds: zipfile stops reading a member at its
    declared size and then fails the CRC.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ExtractionError("corrupt_docx", "the DOCX is not a readable ZIP archive") from exc
    if len(infos) > limits.max_docx_entries:
        raise ExtractionError(
            "zip_bomb", f"the DOCX has {len(infos)} parts (at most {limits.max_docx_entries})"
        )
    names: set[str] = set()
    total = compressed = 0
    for info in infos:
        if info.filename in names:
            raise ExtractionError("corrupt_docx", f"the DOCX repeats the part {info.filename!r}")
        names.add(info.filename)
        if info.flag_bits & 0x1:
            raise ExtractionError("corrupt_docx", "the DOCX has encrypted ZIP entries")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > limits.max_docx_ratio:
            raise ExtractionError(
                "zip_bomb", f"the part {info.filename!r} expands {ratio:.0f} times"
            )
        total += info.file_size
        compressed += info.compress_size
    if total > limits.max_docx_uncompressed_bytes:
        raise ExtractionError(
            "too_large",
            f"the DOCX expands to {total} bytes (at most {limits.max_docx_uncompressed_bytes})",
        )
    if total > _RATIO_FLOOR and total / max(compressed, 1) > limits.max_docx_ratio:
        raise ExtractionError("zip_bomb", "the DOCX expands too much overall")
    if "word/document.xml" not in names:
        raise ExtractionError("corrupt_docx", "the DOCX has no word/document.xml")


def _on(element: _Element | None) -> bool | None:
    """The value of an OOXML on/off property element, None when absent."""
    if element is None:
        return None
    return element.get(f"{_W}val", "true").lower() not in ("false", "0", "off")


def _is_white_hex(value: str | None) -> bool:
    if not value or not re.fullmatch(r"[0-9A-Fa-f]{6}", value):
        return False
    return all(int(value[i : i + 2], 16) >= 0xF0 for i in (0, 2, 4))


def _dark_fill(shading: _Element | None) -> bool:
    if shading is None:
        return False
    fill = shading.get(f"{_W}fill") or "auto"
    return fill.lower() != "auto" and not _is_white_hex(fill)


def _shaded(run: _Element, first: Callable[[str], _Element | None]) -> bool:
    """Whether the run sits on a coloured shading or highlight (white text is legible there)."""
    highlight = first("highlight")
    if highlight is not None and highlight.get(f"{_W}val") not in (None, "none", "white"):
        return True
    if _dark_fill(first("shd")):
        return True
    ancestor = run.getparent()
    while ancestor is not None:
        if ancestor.tag == f"{_W}p" and _dark_fill(ancestor.find(f"{_W}pPr/{_W}shd")):
            return True
        if ancestor.tag == f"{_W}tc" and _dark_fill(ancestor.find(f"{_W}tcPr/{_W}shd")):
            return True
        if ancestor.tag == f"{_W}tbl" and _dark_fill(ancestor.find(f"{_W}tblPr/{_W}shd")):
            return True
        ancestor = ancestor.getparent()
    return False


_BEHIND_TEXT = re.compile(r"z-index:\s*-")


def _has_graphic_backdrop(document: _Element) -> bool:
    """Whether anything is drawn behind the text: a page colour, a shape or picture set behind.

    Designed résumés put white text on such a sidebar or banner; where it lies relative to
    each run would take a layout engine, so the whole document gets the benefit of the doubt.
    """
    background = document.find(f"{_W}background")
    if background is not None and not _is_white_hex(background.get(f"{_W}color") or "FFFFFF"):
        return True
    for element in document.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == _WP_ANCHOR and element.get("behindDoc") in ("1", "true"):
            return True
        if element.tag.startswith(_VML) and _BEHIND_TEXT.search(element.get("style") or ""):
            return True
    return False


class _DocxStyles:
    """Resolves a run's vanish, colour and size through styles and document defaults."""

    def __init__(self, styles_root: _Element | None, *, has_backdrop: bool = False) -> None:
        self.has_backdrop = has_backdrop
        self._rpr: dict[str, _Element | None] = {}
        self._based_on: dict[str, str] = {}
        self._default_para: str | None = None
        self._doc_default: _Element | None = None
        if styles_root is None:
            return
        self._doc_default = styles_root.find(f"{_W}docDefaults/{_W}rPrDefault/{_W}rPr")
        for style in styles_root.iter(f"{_W}style"):
            style_id = style.get(f"{_W}styleId")
            if not style_id:
                continue
            self._rpr[style_id] = style.find(f"{_W}rPr")
            based = style.find(f"{_W}basedOn")
            if based is not None and based.get(f"{_W}val"):
                self._based_on[style_id] = based.get(f"{_W}val", "")
            if style.get(f"{_W}type") == "paragraph" and _on(style.find(f"{_W}default")):
                self._default_para = style_id

    def _chain(self, style_id: str | None) -> Iterator[_Element]:
        seen: set[str] = set()
        while style_id and style_id not in seen and len(seen) < 50:
            seen.add(style_id)
            rpr = self._rpr.get(style_id)
            if rpr is not None:
                yield rpr
            style_id = self._based_on.get(style_id)

    def hidden_reason(self, run: _Element, paragraph: _Element | None) -> str | None:
        chain: list[_Element] = []
        rpr = run.find(f"{_W}rPr")
        if rpr is not None:
            chain.append(rpr)
            rstyle = rpr.find(f"{_W}rStyle")
            if rstyle is not None:
                chain.extend(self._chain(rstyle.get(f"{_W}val")))
        pstyle = None
        if paragraph is not None:
            pstyle_el = paragraph.find(f"{_W}pPr/{_W}pStyle")
            pstyle = pstyle_el.get(f"{_W}val") if pstyle_el is not None else None
        chain.extend(self._chain(pstyle or self._default_para))
        if self._doc_default is not None:
            chain.append(self._doc_default)

        def first(tag: str) -> _Element | None:
            for props in chain:
                found = props.find(f"{_W}{tag}")
                if found is not None:
                    return found
            return None

        if _on(first("vanish")):
            return "vanish"
        color = first("color")
        if (
            color is not None
            and _is_white_hex(color.get(f"{_W}val"))
            and not self.has_backdrop
            and not _shaded(run, first)
        ):
            return "white"
        size = first("sz")
        try:
            if size is not None and int(size.get(f"{_W}val") or "24") <= 4:
                return "tiny"
        except ValueError:
            pass
        return None


def _docx_segments(root: _Element, styles: _DocxStyles) -> Iterator[tuple[str, str | None]]:
    """(text, hidden reason) pieces of ``root`` in document order; paragraphs end in newlines."""
    # An explicit stack: text boxes nest paragraphs inside runs inside paragraphs.
    stack: list[tuple[_Element | str, _Element | None]] = [(root, None)]
    while stack:
        element, paragraph = stack.pop()
        if isinstance(element, str):
            yield element, None
            continue
        tag = element.tag
        if tag == _MC_FALLBACK:
            continue  # the same content as the mc:Choice beside it
        if tag == f"{_W}p":
            stack.append(("\n", None))
            paragraph = element
        elif tag == f"{_W}r":
            text = _run_text(element)
            if text:
                yield text, styles.hidden_reason(element, paragraph)
        stack.extend((child, paragraph) for child in reversed(element))


def _run_text(run: _Element) -> str:
    parts = []
    for child in run:
        tag = child.tag
        if tag == f"{_W}t":
            parts.append(child.text or "")
        elif tag in (f"{_W}tab", f"{_W}ptab"):
            parts.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
        elif tag == f"{_W}noBreakHyphen":
            parts.append("-")
    return "".join(parts)


def _parse_docx(data: bytes, limits: ExtractionLimits) -> _Payload:
    """Runs in the child: the visible text of a DOCX (headers, body, footers)."""
    _check_zip(data, limits)
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
        try:
            styles_root = document.styles.element
        except (KeyError, ValueError):
            styles_root = None
        styles = _DocxStyles(styles_root, has_backdrop=_has_graphic_backdrop(document.element))
        heads: list[_Element] = []
        feet: list[_Element] = []
        for part in document.part.package.iter_parts():
            match = _HEADER_FOOTER.fullmatch(str(part.partname))
            if match and hasattr(part, "element"):
                (heads if match[1] == "header" else feet).append(part.element)
        roots = [*heads, document.element.body, *feet]
        visible: list[str] = []
        hidden: list[str] = []
        last_hidden = False
        for root in roots:
            for text, reason in _docx_segments(root, styles):
                if not text.strip():
                    # Whitespace keeps the visible layout and joins hidden fragments alike.
                    visible.append(text)
                    if last_hidden:
                        hidden[-1] += text
                elif reason is None:
                    visible.append(text)
                    last_hidden = False
                elif last_hidden:
                    hidden[-1] += text
                else:
                    hidden.append(text)
                    last_hidden = True
    except MemoryError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types on malformed input
        raise ExtractionError("corrupt_docx", f"the DOCX could not be read ({exc!r:.200})") from exc
    flags: list[str] = []
    text, fragments = _finish("".join(visible), hidden, flags, limits)
    _require_readable(text, fragments, "empty", "DOCX")
    return text, None, fragments, flags
