"""The compiled renderer writes what docxtpl writes.

``documents.render`` prepares a template once (lifecycle.docx_render) instead of letting
docxtpl load, rewrite and compile it for every paper. Each document kind of the replayed
Waiblingen process — and the stage report, and a template with header, footer, a table
loop and drawings — is rendered both ways: through ``documents.render`` and through
docxtpl's ``DocxTemplate.render`` + python-docx's save, as documents.render did before.
The files must hold the same parts with the same XML.
"""

from __future__ import annotations

import copy
import io
import re
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from docxtpl import DocxTemplate
from lxml import etree

from lifecycle import documents, docx_layout, docx_render, replay
from lifecycle.doc_context import KINDS, build_context
from lifecycle.documents import find_template, jinja_env


def reference(template: Path, context: dict, out: Path) -> None:
    """docxtpl's own way, as documents.render rendered until the compiled renderer (with the
    same column widths from the content, docx_layout, that documents.render applies)."""
    tpl = DocxTemplate(str(template))
    tpl.render(context, jinja_env=jinja_env(), autoescape=True)
    with zipfile.ZipFile(template) as z:
        sizes = docx_layout.text_sizes(z.read(docx_layout.STYLES))
    docx_layout.fit_columns(tpl.docx.element.body, sizes)
    docx_render.set_properties(tpl.docx.core_properties, context.get("eigenschaften") or {})
    tpl.save(str(out))


def one_pixel_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def canonical(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n")


def content_types(data: bytes) -> set[tuple[str, tuple]]:
    return {(el.tag, tuple(sorted(el.attrib.items()))) for el in etree.fromstring(data)}


def assert_same_files(ours: Path, theirs: Path) -> None:
    with zipfile.ZipFile(ours) as a, zipfile.ZipFile(theirs) as b:
        assert a.testzip() is None
        # the rendered entries are appended to the unchanged ones: each name once, and the
        # content types first, where tools that sniff the format look
        assert len(a.namelist()) == len(set(a.namelist()))
        assert a.namelist()[0] == "[Content_Types].xml"
        names = set(a.namelist())
        assert names == set(b.namelist())
        for name in sorted(names):
            mine, other = a.read(name), b.read(name)
            if name == "[Content_Types].xml":
                assert content_types(mine) == content_types(other), name
            elif name.endswith((".xml", ".rels")):
                assert canonical(mine) == canonical(other), name
            else:
                assert mine == other, name
        assert a.read("word/document.xml") == b.read("word/document.xml")


@pytest.fixture
def replayed(session, waiblingen):
    replay.run(session, waiblingen)
    return waiblingen


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_as_docxtpl_renders_it(session, replayed, tmp_path, kind):
    template = find_template(KINDS[kind])
    context = build_context(session, replayed, kind)
    documents.render(template, context, tmp_path / "ours.docx")
    reference(template, copy.deepcopy(context), tmp_path / "theirs.docx")
    assert_same_files(tmp_path / "ours.docx", tmp_path / "theirs.docx")


def test_header_footer_loop_and_drawings(session, replayed, tmp_path):
    """Parts the shipped templates use little: headers, footers, a row loop, docPr ids."""
    import docx
    from docx.shared import Cm

    source = find_template(KINDS["sitzungsvorlage"])
    doc = docx.Document(str(source))
    section = doc.sections[0]
    section.header.paragraphs[0].text = "Kopf: {{ kommune.name }} · {{ konzept.title }}"
    section.footer.paragraphs[0].text = "Fuß: {{ kommune.bezeichnung }}\tSeite"
    table = doc.add_table(rows=3, cols=2)
    table.rows[0].cells[0].text = "{%tr for h in zeilen_test %}"
    table.rows[1].cells[0].text = "{{ h.titel }}"
    table.rows[1].cells[1].text = "{{ loop.index }}"
    table.rows[2].cells[0].text = "{%tr endfor %}"
    png = tmp_path / "pixel.png"
    png.write_bytes(one_pixel_png())
    doc.add_picture(str(png), width=Cm(1))
    doc.add_picture(str(png), width=Cm(1))
    template = tmp_path / "sitzungsvorlage.docx"
    doc.save(str(template))
    context = build_context(session, replayed, "sitzungsvorlage")
    context["zeilen_test"] = [{"titel": "Bildung\nund Sprache"}, {"titel": "Arbeit\tWohnen"}]
    documents.render(template, context, tmp_path / "ours.docx")
    reference(template, copy.deepcopy(context), tmp_path / "theirs.docx")
    assert_same_files(tmp_path / "ours.docx", tmp_path / "theirs.docx")
    with zipfile.ZipFile(tmp_path / "ours.docx") as z:
        header = z.read("word/header1.xml").decode()
        body = z.read("word/document.xml").decode()
    assert "Kopf: Waiblingen" in header
    assert "Bildung</w:t><w:br/>" in body and "Arbeit</w:t></w:r><w:r><w:tab/>" in body
    assert 'id="1001"' in body and 'id="1002"' in body  # docxtpl's renumbered drawings


def test_a_changed_template_is_compiled_again(session, replayed, tmp_path):
    """The cache is keyed by the template's content, not its name or path."""
    import docx

    template = tmp_path / "sitzungsvorlage.docx"
    doc = docx.Document(str(find_template(KINDS["sitzungsvorlage"])))
    doc.add_paragraph("Erste Fassung")
    doc.save(str(template))
    context = build_context(session, replayed, "sitzungsvorlage")
    documents.render(template, context, tmp_path / "a.docx")
    doc.paragraphs[-1].text = "Zweite Fassung"
    doc.save(str(template))
    documents.render(template, context, tmp_path / "b.docx")
    texts = [zipfile.ZipFile(tmp_path / n).read("word/document.xml").decode()
             for n in ("a.docx", "b.docx")]  # fmt: skip
    assert "Erste Fassung" in texts[0] and "Zweite Fassung" not in texts[0]
    assert "Zweite Fassung" in texts[1] and "Erste Fassung" not in texts[1]


# --- templates that would unpack too large ("zip bombs") ----------------------------------------

MiB = 2**20


def with_entry(name: str, zeros: int, level: int = 9) -> bytes:
    """The shipped Beschlussvorlage plus an entry of ``zeros`` zero bytes, packed at ``level``
    (zeros pack about a thousandfold: 64 MiB are 64 KiB)."""
    source = find_template(KINDS["beschlussvorlage"])
    out = io.BytesIO()
    with zipfile.ZipFile(source) as base, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED,
                                                          compresslevel=level) as z:  # fmt: skip
        for info in base.infolist():
            z.writestr(info.filename, base.read(info))
        with z.open(name, "w", force_zip64=zeros > 2**31) as entry:
            for _ in range(zeros // MiB):
                entry.write(bytes(MiB))
            entry.write(bytes(zeros % MiB))
    return out.getvalue()


def understated(data: bytes, name: str, claimed: int) -> bytes:
    """``data`` whose zip headers (central directory and local) give ``name`` the unpacked
    size ``claimed``: a header that lies."""
    raw, encoded = bytearray(data), name.encode()
    at = 0
    while (at := raw.find(b"PK\x01\x02", at + 1)) != -1:
        length = int.from_bytes(raw[at + 28 : at + 30], "little")
        if raw[at + 46 : at + 46 + length] == encoded:
            raw[at + 24 : at + 28] = claimed.to_bytes(4, "little")
            local = int.from_bytes(raw[at + 42 : at + 46], "little")
            raw[local + 22 : local + 26] = claimed.to_bytes(4, "little")
            return bytes(raw)
    raise AssertionError(f"{name} not in the zip")


def zip_bombs() -> list:
    """(template, the German reason it is refused for), one pytest.param per kind of bomb."""
    return [
        pytest.param(with_entry("word/media/nullen.bin", 64 * MiB),
                     "der Eintrag word/media/nullen.bin wäre entpackt 64,0 MiB groß "
                     "(höchstens 16,0 MiB)", id="an entry past the size limit"),
        pytest.param(with_entry("word/document2.xml", 40 * MiB), "wäre entpackt 40,0 MiB groß",
                     id="an xml part past the size limit"),
        pytest.param(with_entry("word/media/nullen.bin", 4 * MiB),
                     "der Eintrag word/media/nullen.bin ist ungewöhnlich stark gepackt",
                     id="packed a thousandfold"),
        pytest.param(understated(with_entry("word/media/nullen.bin", 40 * MiB, level=1),
                                 "word/media/nullen.bin", 1000),
                     "der Eintrag word/media/nullen.bin ist beschädigt",
                     id="a header that understates the size"),
    ]  # fmt: skip


@pytest.mark.parametrize("data, reason", zip_bombs())
def test_a_template_that_would_unpack_too_large_is_refused_before_unpacking(data, reason):
    tracemalloc.start()
    try:
        with pytest.raises(docx_render.UnreadableTemplate) as refused:
            docx_render.compile_docx(data, jinja_env())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason in str(refused.value)
    assert peak < 12 * MiB, f"{peak / MiB:.0f} MiB read"


@pytest.mark.parametrize("limit", ["MAX_TOTAL_BYTES", "MAX_ENTRIES"])
def test_the_whole_archive_is_bounded_too(monkeypatch, limit):
    """A limit just below what the shipped template has: refused, naming both figures."""
    source = find_template(KINDS["beschlussvorlage"]).read_bytes()
    with zipfile.ZipFile(io.BytesIO(source)) as z:
        entries = z.infolist()
    total = sum(i.file_size for i in entries)
    if limit == "MAX_TOTAL_BYTES":
        monkeypatch.setattr(docx_render, limit, total - 1)
        size = f"{total / MiB:.1f}".replace(".", ",")
        reason = f"die Einträge wären entpackt zusammen {size} MiB groß"
    else:
        monkeypatch.setattr(docx_render, limit, len(entries) - 1)
        reason = f"{len(entries)} Einträge (höchstens {len(entries) - 1})"
    with pytest.raises(docx_render.UnreadableTemplate, match=re.escape(reason)):
        docx_render.check_archive(source)


def test_the_shipped_templates_are_within_the_limits():
    for kind in KINDS.values():
        docx_render.check_archive(find_template(kind).read_bytes())


def test_column_widths_follow_the_longest_words():
    """docx_layout.fitted: the total stays; a column too narrow takes from those with room;
    where not every word can fit, as many columns as can fit and the rest share the remainder."""
    from lifecycle.docx_layout import fitted

    assert fitted([3000, 2000, 1000], [1000, 1000, 900]) == [3000, 2000, 1000]
    assert fitted([3000, 2000, 1000], [1000, 1000, 1600]) == [2600, 1800, 1600]
    out = fitted([2000, 2000, 2000], [5000, 1000, 3500])
    assert sum(out) == 6000 and out[1] == 1000 and out[0] == out[2] == 2500
