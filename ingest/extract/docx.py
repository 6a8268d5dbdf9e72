"""DOCX text read straight from the package's XML with lxml, hidden runs sorted out.

Only the parts that hold text are parsed: the main document, its styles, and the headers and
footers reachable through the package's relationships (python-docx, used before, parsed every
XML part of the package, a Word template's 800 KB of styles twice over, for text it then
did not read). Entity resolution, network access and lxml's ``huge_tree`` stay off.

Runs inside the sandbox's parser processes (:mod:`ingest.extract.isolation`), after
:func:`check_zip` has bounded what the archive may expand to.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import posixpath
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

from ingest.extract.model import ExtractionError, ExtractionLimits, Payload
from ingest.extract.text import finish, require_readable

# An lxml element; lxml ships no type information and the project installs no stubs for it.
_Element = Any

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_WP_ANCHOR = "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}anchor"
_VML = "{urn:schemas-microsoft-com:vml}"
_RELATIONSHIP = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_MAIN_CONTENT_TYPE = (
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
)
_RATIO_FLOOR = 1024 * 1024  # entries smaller than this cannot hurt, whatever their ratio
_HEADER_FOOTER = re.compile(r"word/(header|footer)\d*\.xml")
_ON = ("1", "true", "on")
_STYLES_CACHE_ENTRIES = 8
_STYLES_CACHE_MAX_BYTES = 1024 * 1024


@functools.cache
def _xpath(expression: str) -> Callable[..., list[_Element]]:
    """A compiled XPath over the ``w`` namespace (parser processes are single-threaded)."""
    from lxml import etree  # type: ignore[import-untyped]

    compiled: Callable[..., list[_Element]] = etree.XPath(
        expression, namespaces={"w": _W.strip("{}")}
    )
    return compiled


def check_zip(data: bytes, limits: ExtractionLimits) -> None:
    """Refuse a DOCX whose ZIP structure could exhaust memory before any part is read.

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


class _Package:
    """The parts of an OPC package (a DOCX) by name, and their relationships."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        from lxml import etree  # type: ignore[import-untyped]

        self._archive = archive
        self._names = set(archive.namelist())
        self._parser = etree.XMLParser(
            remove_blank_text=True,
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            collect_ids=False,
        )

    def has(self, name: str) -> bool:
        return name in self._names

    def xml(self, name: str) -> _Element:
        return self._parse(self._archive.read(name))

    def styles(self, name: str) -> _StyleSheet:
        """The styles part, parsed once per process for each distinct content.

        Résumés come from a handful of templates whose styles run to hundreds of KB (Word's,
        python-docx's: 350 KB, ~11 ms to parse), so a parser process keeps the last few trees,
        keyed by the SHA-256 of the bytes (never by the ZIP's CRC, which a file can forge).
        The sheets are only read. Large parts are not kept: they would inflate the process
        for every later file.
        """
        data = self._archive.read(name)
        if len(data) > _STYLES_CACHE_MAX_BYTES:
            return _StyleSheet(self._parse(data))
        key = hashlib.sha256(data).digest()
        with _styles_lock:
            cached = _styles_cache.get(key)
            if cached is not None:
                _styles_cache.move_to_end(key)
                return cached
        sheet = _StyleSheet(self._parse(data))
        with _styles_lock:
            _styles_cache[key] = sheet
            while len(_styles_cache) > _STYLES_CACHE_ENTRIES:
                _styles_cache.popitem(last=False)
        return sheet

    def _parse(self, data: bytes) -> _Element:
        from lxml import etree  # type: ignore[import-untyped]

        return etree.fromstring(data, self._parser)

    def relationships(self, source: str) -> list[tuple[str, str]]:
        """(type, target part) of ``source``'s internal relationships ("" = the package)."""
        folder, base = posixpath.split(source)
        rels = posixpath.join(folder, "_rels", f"{base}.rels")
        if not self.has(rels):
            return []
        found = []
        for rel in self.xml(rels).iter(_RELATIONSHIP):
            target = rel.get("Target") or ""
            if rel.get("TargetMode") == "External" or not target:
                continue
            name = target[1:] if target.startswith("/") else posixpath.join(folder, target)
            found.append((rel.get("Type") or "", posixpath.normpath(name)))
        return found

    def reachable(self) -> Iterator[str]:
        """Every part reachable through relationships, depth first, each once."""
        seen: set[str] = set()
        stack = [iter(self.relationships(""))]
        while stack:
            for _, name in stack[-1]:
                if name in seen or not self.has(name):
                    continue
                seen.add(name)
                yield name
                stack.append(iter(self.relationships(name)))
                break
            else:
                stack.pop()

    def content_type(self, name: str) -> str | None:
        if not self.has("[Content_Types].xml"):
            return None
        types = self.xml("[Content_Types].xml")
        for override in types.iter(f"{_CONTENT_TYPES}Override"):
            if (override.get("PartName") or "").lstrip("/") == name:
                declared: str | None = override.get("ContentType")
                return declared
        extension = name.rpartition(".")[2].lower()
        for default in types.iter(f"{_CONTENT_TYPES}Default"):
            if (default.get("Extension") or "").lower() == extension:
                by_extension: str | None = default.get("ContentType")
                return by_extension
        return None


def _related(package: _Package, source: str, kind: str) -> str | None:
    """The first part ``source`` relates to with a relationship type ending in ``/kind``."""
    for rel_type, name in package.relationships(source):
        if rel_type.endswith("/" + kind) and package.has(name):
            return name
    return None


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


class _StyleSheet:
    """A styles part: document defaults, the default paragraph style, styles by id.

    Styles are looked up when a run uses them (a template defines hundreds, a résumé uses a
    handful) and remembered: a sheet is shared by every document of its template.
    """

    def __init__(self, root: _Element) -> None:
        self._root = root
        self._styles: dict[str, tuple[_Element | None, str | None]] = {}
        self._lock = threading.Lock()
        self.doc_default: _Element | None = root.find(f"{_W}docDefaults/{_W}rPrDefault/{_W}rPr")
        self.default_para: str | None = None
        for style in _xpath("w:style[@w:type = 'paragraph'][@w:default]")(root):
            if (style.get(f"{_W}default") or "").lower() in _ON:
                self.default_para = style.get(f"{_W}styleId")

    def style(self, style_id: str) -> tuple[_Element | None, str | None]:
        """(run properties, based-on style id) of a style; (None, None) when undefined."""
        with self._lock:
            known = self._styles.get(style_id)
        if known is not None:
            return known
        found = _xpath("w:style[@w:styleId = $id]")(self._root, id=style_id)
        if not found:
            known = (None, None)
        else:
            style = found[-1]  # a repeated id: the last definition holds
            based = style.find(f"{_W}basedOn")
            known = (
                style.find(f"{_W}rPr"),
                (based.get(f"{_W}val") or None) if based is not None else None,
            )
        with self._lock:
            self._styles[style_id] = known
        return known


_styles_cache: collections.OrderedDict[bytes, _StyleSheet] = collections.OrderedDict()
_styles_lock = threading.Lock()


class _DocxStyles:
    """Resolves a run's vanish, colour and size through styles and document defaults."""

    def __init__(self, sheet: _StyleSheet | None, *, has_backdrop: bool = False) -> None:
        self.has_backdrop = has_backdrop
        self._sheet = sheet
        self._default_para = sheet.default_para if sheet is not None else None
        self._doc_default = sheet.doc_default if sheet is not None else None

    def _chain(self, style_id: str | None) -> Iterator[_Element]:
        seen: set[str] = set()
        while style_id and style_id not in seen and len(seen) < 50:
            seen.add(style_id)
            if self._sheet is None:
                return
            rpr, style_id = self._sheet.style(style_id)
            if rpr is not None:
                yield rpr

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


def parse_docx(data: bytes, limits: ExtractionLimits) -> Payload:
    """The visible text of a DOCX: headers, body, footers (run it in the sandbox)."""
    check_zip(data, limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            package = _Package(archive)
            main = _related(package, "", "officeDocument")
            if main is None:
                raise ExtractionError("corrupt_docx", "the DOCX names no main document")
            content_type = package.content_type(main)
            if content_type != _MAIN_CONTENT_TYPE:
                raise ExtractionError(
                    "corrupt_docx", f"the DOCX's main part is not a Word document ({content_type})"
                )
            document = package.xml(main)
            styles_part = _related(package, main, "styles")
            sheet = package.styles(styles_part) if styles_part else None
            styles = _DocxStyles(sheet, has_backdrop=_has_graphic_backdrop(document))
            heads: list[_Element] = []
            feet: list[_Element] = []
            for name in package.reachable():
                match = _HEADER_FOOTER.fullmatch(name)
                if match:
                    (heads if match[1] == "header" else feet).append(package.xml(name))
        body = document.find(f"{_W}body")
        roots = [*heads, *([body] if body is not None else []), *feet]
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
    except (ExtractionError, MemoryError):
        raise
    except Exception as exc:  # zipfile and lxml raise many types on malformed input
        raise ExtractionError("corrupt_docx", f"the DOCX could not be read ({exc!r:.200})") from exc
    flags: list[str] = []
    text, fragments = finish("".join(visible), hidden, flags, limits)
    require_readable(text, fragments, "empty", "DOCX")
    return text, None, fragments, flags
