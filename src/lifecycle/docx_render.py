"""A DOCX template compiled once, rendered per paper: docxtpl's work without its repetition.

docxtpl (``DocxTemplate.render``) loads the template with python-docx, rewrites the body XML
into a Jinja template and compiles it, for every document; then python-docx serialises every
part again. Here docxtpl's own preparation runs once per template content (``compile_docx``,
cached by its SHA-256): the prepared Jinja templates of the body, the headers, the footers and
the footnotes. ``render_parts`` renders them and applies docxtpl's own post-processing
(``resolve_listing``, ``fix_tables``, the docPr ids); ``write_docx`` writes the paper: the
template's entries no render changes, compressed once at compile time, with the rendered ones
appended. tests/test_docx_render.py renders every kind both ways and compares the parts.

Templates that need docxtpl's picture, media or sub-document replacement are not supported
by the shipped kinds and are not handled here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jinja2
from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
from docx.opc.oxml import serialize_part_xml
from docx.opc.packuri import PackURI
from docx.opc.parts.coreprops import CorePropertiesPart
from docx.oxml.parser import parse_xml
from docxtpl import DocxTemplate

_FOOTNOTES = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
_CORE = "docProps/core.xml"
_DOCUMENT = "word/document.xml"
_HEADERS_FOOTERS = (RELATIONSHIP_TYPE.HEADER, RELATIONSHIP_TYPE.FOOTER)
_CACHE_SIZE = 32


@dataclass(frozen=True)
class Compiled:
    """One template content, prepared: its zip entries and the Jinja templates of its parts."""

    entries: tuple[tuple[zipfile.ZipInfo, bytes], ...]
    by_name: dict[str, bytes]
    # The entries no render changes (styles alone are ~0.8 MB of XML), compressed once: a
    # paper is this zip with the rendered entries appended.
    unchanged: bytes
    body: jinja2.Template
    parts: dict[str, tuple[jinja2.Template, str]]  # zip name -> (template, encoding)
    properties: dict[str, jinja2.Template]  # core properties docxtpl renders as templates
    # the prepared Jinja source of each part ("word/document.xml", a header's zip name,
    # "docProps/core.xml:title"): where an error occurs, the paragraph is shown from it
    sources: dict[str, str] = field(default_factory=dict)


class UnreadableTemplate(Exception):
    """The template is no Word file python-docx and docxtpl can read; ``str()`` is the German
    reason, ``detail`` the library's own words (for the log)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.detail = detail


@dataclass(frozen=True)
class Where:
    """Where in a template a Jinja error is: the part, the paragraph (the prepared source has
    one paragraph per line, as docxtpl writes it) and that paragraph's text."""

    part: str
    paragraph: int
    text: str

    def __str__(self) -> str:
        if self.part.startswith(_CORE):
            return f"Dokumenteigenschaft {self.part.partition(':')[2]}: „{self.text}“"
        name = self.part.rsplit("/", 1)[-1]
        kind = next((german for prefix, german in (("header", "Kopfzeile, "),
                     ("footer", "Fußzeile, "), ("footnotes", "Fußnoten, "))
                     if name.startswith(prefix)), "")  # fmt: skip
        return f"{kind}Absatz {self.paragraph}: „{self.text}“"


def where(exc: BaseException) -> Where | None:
    """The place ``compile_docx`` or ``render_parts`` found for a Jinja error, if any."""
    found = getattr(exc, "docx_where", None)
    return found if isinstance(found, Where) else None


def _mark(exc: BaseException, part: str, source: str, line: int | None) -> None:
    """Remember in ``exc`` which paragraph of ``part`` line ``line`` of its source is."""
    lines = source.split("\n")
    if line is None or not 1 <= line <= len(lines) or where(exc) is not None:
        return
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", lines[line - 1])).split())
    if len(text) > 80:  # the placeholder, with some text around it
        start = max(0, min(text.find("{"), len(text) - 76) - 20)
        text = ("…" if start else "") + text[start : start + 76] + "…"
    # the first line of a part is the XML before its first paragraph
    setattr(exc, "docx_where", Where(part, max(line - 1, 1), text))  # noqa: B010


def _template_line(exc: BaseException) -> int | None:
    """The template line Jinja's rewritten traceback names (its frames are "<template>")."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _template(env: jinja2.Environment, source: str, part: str,
              sources: dict[str, str]) -> jinja2.Template:  # fmt: skip
    sources[part] = source
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        _mark(exc, part, source, exc.lineno)
        raise


def _render(compiled: Compiled, part: str, template: jinja2.Template,
            context: dict[str, Any]) -> str:  # fmt: skip
    try:
        return template.render(context)
    except Exception as exc:
        _mark(exc, part, compiled.sources.get(part, ""), _template_line(exc))
        raise


@dataclass(frozen=True)
class Rendered:
    """A paper's rendered parts, before they are written."""

    body: Any  # the w:body element
    parts: dict[str, bytes]
    properties: dict[str, str]


# A template's zip, checked before anything is decompressed (ZipInfo, from the central
# directory): the shipped ones hold 19 entries, the largest 0.4 MiB unpacked, compressed at
# most 32-fold. A "zip bomb" (1 MiB that unpacks to 1 GiB of zeros) is refused here.
MAX_ENTRIES = 1000
MAX_ENTRY_BYTES = 16 * 2**20  # one entry unpacked
MAX_TOTAL_BYTES = 32 * 2**20  # all entries unpacked together
MAX_RATIO = 100  # unpacked / packed, for entries above RATIO_FROM (small XML packs well)
RATIO_FROM = 2**20


def check_archive(source: bytes) -> None:
    """Refuse a zip whose entries would unpack too large, by their headers, before reading
    any of them; UnreadableTemplate with a German reason otherwise."""
    try:
        with zipfile.ZipFile(io.BytesIO(source)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise UnreadableTemplate("keine ZIP-Datei (eine DOCX ist eine)", str(exc)) from None
    if len(infos) > MAX_ENTRIES:
        raise UnreadableTemplate(f"{len(infos)} Einträge (höchstens {MAX_ENTRIES})")
    total = 0
    for info in infos:
        size, packed = info.file_size, info.compress_size
        if size > MAX_ENTRY_BYTES:
            raise UnreadableTemplate(f"der Eintrag {info.filename} wäre entpackt {_mib(size)} "
                                     f"groß (höchstens {_mib(MAX_ENTRY_BYTES)})")  # fmt: skip
        if size > RATIO_FROM and size > MAX_RATIO * max(packed, 1):
            raise UnreadableTemplate(
                f"der Eintrag {info.filename} ist ungewöhnlich stark gepackt "
                f"({size // max(packed, 1)}-fach, höchstens {MAX_RATIO}-fach)"
            )
        total += size
    if total > MAX_TOTAL_BYTES:
        raise UnreadableTemplate(f"die Einträge wären entpackt zusammen {_mib(total)} groß "
                                 f"(höchstens {_mib(MAX_TOTAL_BYTES)})")  # fmt: skip


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB".replace(".", ",")


def _read_entries(source: bytes) -> tuple[tuple[zipfile.ZipInfo, bytes], ...]:
    """Every entry's bytes, reading no more of each than its header promised (and the check
    allowed): a header that understates the size cannot make the reading grow."""
    entries = []
    with zipfile.ZipFile(io.BytesIO(source)) as z:
        for info in z.infolist():
            try:
                with z.open(info) as entry:
                    data = entry.read(min(info.file_size, MAX_ENTRY_BYTES) + 1)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:  # CRC, truncated
                raise UnreadableTemplate(f"der Eintrag {info.filename} ist beschädigt",
                                         str(exc)) from None  # fmt: skip
            if len(data) != info.file_size:
                raise UnreadableTemplate(f"der Eintrag {info.filename} passt nicht zu seiner "
                                         "Größe im Verzeichnis (beschädigt)")  # fmt: skip
            entries.append((info, data))
    return tuple(entries)


_cache: OrderedDict[tuple[str, int], Compiled] = OrderedDict()
_lock = threading.Lock()


def compile_docx(
    source: bytes, env: jinja2.Environment, check: Callable[[Any], None] = lambda doc: None
) -> Compiled:
    """``source`` (a template's bytes) prepared for ``env``; cached per content and env.

    ``check`` sees the loaded python-docx Document before any Jinja is compiled; a template
    that fails it (or fails to compile) is not cached.
    """
    key = (hashlib.sha256(source).hexdigest(), id(env))
    with _lock:
        if (hit := _cache.get(key)) is not None:
            _cache.move_to_end(key)
            return hit
    compiled = _compile(source, env, check)
    with _lock:
        _cache[key] = compiled
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def _compile(source: bytes, env: jinja2.Environment, check: Callable[[Any], None]) -> Compiled:
    from docx.opc.exceptions import PackageNotFoundError
    from lxml import etree

    check_archive(source)  # before python-docx or anything else decompresses an entry
    try:
        tpl = DocxTemplate(io.BytesIO(source))
        tpl.init_docx()
        xml = tpl.get_xml()  # a document.xml that is not well-formed fails here
        entries = _read_entries(source)
    except UnreadableTemplate:
        raise
    except PackageNotFoundError as exc:
        raise UnreadableTemplate("kein Word-Dokument", str(exc)) from None
    except KeyError as exc:  # "There is no item named 'word/document.xml' in the archive"
        named = re.search(r"named '([^']+)'", str(exc))
        missing = f"der Teil {named[1]} fehlt" if named else "ein Teil der Word-Datei fehlt"
        raise UnreadableTemplate(missing, str(exc)) from None
    except etree.LxmlError as exc:
        raise UnreadableTemplate(_xml_problem(source), str(exc)) from None
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        reason = ("kein Word-Dokument, sondern eine andere Office-Datei"
                  if "content type" in str(exc) else "nicht lesbar (beschädigt)")  # fmt: skip
        raise UnreadableTemplate(reason, str(exc)) from None
    by_name = {info.filename: data for info, data in entries}
    if _CORE not in by_name or _DOCUMENT not in by_name:
        raise UnreadableTemplate(f"{_CORE} oder {_DOCUMENT} fehlt")
    check(tpl.docx)
    sources: dict[str, str] = {}
    body = _template(env, _paragraph_lines(tpl.patch_xml(xml)), _DOCUMENT, sources)
    parts: dict[str, tuple[jinja2.Template, str]] = {}
    for rel in tpl.docx.part.rels.values():
        if rel.reltype in _HEADERS_FOOTERS and not rel.is_external and rel.target_part.blob:
            xml = tpl.get_part_xml(rel.target_part)
            encoding = tpl.get_headers_footers_encoding(xml)
            name = _zip_name(rel.target_part.partname)
            parts[name] = (
                _template(env, _paragraph_lines(tpl.patch_xml(xml)), name, sources),
                encoding,
            )
    for part in tpl.docx.part.package.parts:
        if part.content_type == _FOOTNOTES:
            blob = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
            name = _zip_name(part.partname)
            parts[name] = (
                _template(env, _paragraph_lines(tpl.patch_xml(blob)), name, sources),
                "utf-8",
            )
    core = tpl.docx.core_properties
    properties = {
        name: _template(env, getattr(core, name) or "", f"{_CORE}:{name}", sources)
        for name in ("author", "comments", "identifier", "language", "subject", "title")
    }
    rendered = {_DOCUMENT, _CORE, *parts}
    return Compiled(entries, by_name, _zipped(e for e in entries if e[0].filename not in rendered),
                    body, parts, properties, sources)  # fmt: skip


def _xml_problem(source: bytes) -> str:
    """Which part of the template is not XML python-docx reads, and where (error path only:
    each XML part parsed again with python-docx's parser)."""
    from docx.oxml.parser import oxml_parser
    from lxml import etree

    for info, data in _read_entries(source):
        if not info.filename.endswith((".xml", ".rels")):
            continue
        try:
            etree.fromstring(data, oxml_parser)
        except etree.XMLSyntaxError as exc:
            if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
                return (f"{info.filename} enthält eine DOCTYPE-Deklaration mit Entitäten, "
                        "wie Word sie nie schreibt")  # fmt: skip
            line, column = exc.position if exc.position else (exc.lineno, 0)
            return f"{info.filename} ist kein gültiges XML (Zeile {line}, Spalte {column})"
    return "ein Teil der Word-Datei ist kein gültiges XML"


def _zipped(entries: Iterable[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            z.writestr(_fresh(info), data)
    return out.getvalue()


def _zip_name(partname: str) -> str:
    return str(partname).lstrip("/")


def _paragraph_lines(xml: str) -> str:
    # docxtpl's render_xml_part: one paragraph per line, so that Jinja's errors name a line
    return re.sub(r"<w:p([ >])", r"\n<w:p\1", xml)


def _finish(xml: str) -> str:
    """docxtpl's steps after Jinja: lines joined again, escaped braces, tabs and breaks."""
    xml = re.sub(r"\n<w:p([ >])", r"<w:p\1", xml)
    xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
    return str(DocxTemplate.resolve_listing(None, xml))


class _DocPrIds:
    """docxtpl numbers the drawings' ids from 1001 in each render (fix_docpr_ids)."""

    def __init__(self) -> None:
        self.docx_ids_index = 1000


def render_parts(compiled: Compiled, context: dict[str, Any]) -> Rendered:
    """Jinja over every prepared part, with docxtpl's post-processing (Jinja errors here)."""
    # docxtpl methods that use no instance state, called as functions
    body = _render(compiled, _DOCUMENT, compiled.body, context)
    tree = DocxTemplate.fix_tables(None, _finish(body))
    DocxTemplate.fix_docpr_ids(_DocPrIds(), tree)
    parts = {
        name: _finish(_render(compiled, name, template, context)).encode(encoding)
        for name, (template, encoding) in compiled.parts.items()
    }
    properties = {name: _render(compiled, f"{_CORE}:{name}", t, context)
                  for name, t in compiled.properties.items()}  # fmt: skip
    return Rendered(tree, parts, properties)


def write_docx(compiled: Compiled, rendered: Rendered, paper: dict[str, Any]) -> bytes:
    """The DOCX file's bytes: the template's zip with the rendered parts in place.

    ``paper`` holds the paper's own title, author and date (see ``set_properties``). Text
    that XML cannot carry (control characters) raises ValueError here.
    """
    document = parse_xml(compiled.by_name[_DOCUMENT])
    document.replace(document.body, rendered.body)
    replaced = dict(rendered.parts)
    replaced[_DOCUMENT] = serialize_part_xml(document)
    replaced[_CORE] = _core_xml(compiled.by_name[_CORE], rendered.properties, paper)
    out = io.BytesIO(compiled.unchanged)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z:
        for info, _ in compiled.entries:
            if info.filename in replaced:
                z.writestr(_fresh(info), replaced[info.filename])
    return out.getvalue()


def _fresh(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = info.external_attr
    return entry


def _core_xml(blob: bytes, rendered: dict[str, str], paper: dict[str, Any]) -> bytes:
    part = CorePropertiesPart.load(
        PackURI("/" + _CORE), CONTENT_TYPE.OPC_CORE_PROPERTIES, blob, None  # type: ignore[arg-type]
    )
    core = part.core_properties
    for name, value in rendered.items():
        setattr(core, name, value)
    set_properties(core, paper)
    return bytes(part.blob)


def set_properties(core: Any, paper: dict[str, Any]) -> None:
    """Title, author and date of the paper itself, not of the generator."""
    core.title = str(paper.get("titel") or "")
    core.author = core.last_modified_by = str(paper.get("autor") or "")
    core.language = "de-DE"
    core.comments = ""
    day = paper.get("datum")
    if isinstance(day, dt.date):
        moment = dt.datetime.combine(day, dt.time(12, 0))
        core.created = core.modified = moment


__all__ = [
    "Compiled",
    "Rendered",
    "UnreadableTemplate",
    "Where",
    "check_archive",
    "compile_docx",
    "render_parts",
    "set_properties",
    "where",
    "write_docx",
]
