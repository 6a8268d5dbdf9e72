"""PDF text through pypdf, with what is drawn invisibly sorted out as hidden text.

Runs inside the sandbox's parser processes (:mod:`ingest.extract.isolation`).
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Any

from ingest.extract.model import FLAG_OCR_LAYER, ExtractionError, ExtractionLimits, Payload
from ingest.extract.text import finish, require_readable

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


def parse_pdf(data: bytes, limits: ExtractionLimits) -> Payload:
    """The visible text of a PDF, page by page (run it in the sandbox)."""
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
    text, fragments = finish("\n\n".join(visible), hidden, flags, limits)
    require_readable(text, fragments, "no_text_layer", "PDF")
    return text, pages, fragments, flags


# --- DOCX -----------------------------------------------------------------------------------
