"""Table columns as wide as their longest word: no "Integrationsförderu|ng" in a PDF.

The templates give their tables fixed column widths (Word and LibreOffice lay them out alike,
and an administrator can restyle them). A fixed width cannot know the paper's words: a
Status column of 2.7 cm splits "zurückgestellt" mid-word in LibreOffice, which has no German
hyphenation unless a dictionary is installed. After rendering, each fixed-layout table gets
the widths its content needs: a column whose longest word does not fit is widened to fit it,
taken from the columns with room to spare; the table keeps its total width. Where the words
cannot all fit, the widths follow what each column needs.

Words are measured with Arial's metrics (Liberation Sans, its metric twin, is what LibreOffice
uses here), at the run's size or the template's default; a text breaks after a space, a
hyphen or a slash, as both word processors break it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from docx.oxml.ns import qn
from lxml import etree

# Advance widths in 1/1000 em of Liberation Sans (= Arial), regular and bold, for CHARS.
CHARS = (" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
         "abcdefghijklmnopqrstuvwxyz{|}~ÄÖÜäöüßéèáàç€„“‚‘’”–—…§°²³·×")  # fmt: skip
_REGULAR = (
    "278,278,355,556,556,889,667,191,333,333,389,584,278,333,278,278,556,556,556,556,556,556,"
    "556,556,556,556,278,278,584,584,584,556,1015,667,667,722,722,667,611,778,722,278,500,667,"
    "556,833,722,778,667,778,722,667,611,722,667,944,667,667,611,278,278,278,469,556,333,556,"
    "556,500,556,556,278,556,556,222,222,500,222,833,556,556,556,556,333,500,278,556,500,722,"
    "500,500,500,334,260,334,584,667,778,722,556,556,556,611,556,556,556,556,500,556,333,333,"
    "222,222,222,333,556,1000,1000,556,400,333,333,333,584"
)
_BOLD = (
    "278,333,474,556,556,889,722,238,333,333,389,584,278,333,278,278,556,556,556,556,556,556,"
    "556,556,556,556,333,333,584,584,584,611,975,722,722,722,722,667,611,778,722,278,556,722,"
    "611,833,722,778,667,778,722,667,611,722,667,944,667,667,611,333,278,333,584,556,333,556,"
    "611,556,611,556,333,611,611,278,278,556,278,889,611,611,611,611,389,556,333,611,556,778,"
    "556,556,500,389,280,389,584,722,778,722,556,611,611,611,556,556,556,556,556,556,500,500,"
    "278,278,278,500,556,1000,1000,556,400,333,333,333,584"
)
WIDTHS = {
    False: dict(zip(CHARS, map(int, _REGULAR.split(",")), strict=True)),
    True: dict(zip(CHARS, map(int, _BOLD.split(",")), strict=True)),
}
UNKNOWN = 1000  # a character without metrics here (CJK, emoji): one em, to be safe
CELL_MARGIN = 108  # twips each side: Word's default, and the "Table Grid" style's
SLACK = 40  # twips: rounding, kerning and the renderers' own measures
MAX_SHARE = 0.5  # no single word takes more than half the table
_BREAK = re.compile(r"\s+|(?<=[-/–])")


STYLES = "word/styles.xml"


@dataclass(frozen=True)
class Sizes:
    """Text sizes in half points (w:sz): the body text's, and each paragraph style's."""

    default: int
    by_style: dict[str, int]


def word_width(word: str, bold: bool, half_points: int) -> int:
    """The width of ``word`` in twips (1/20 pt) at ``half_points`` (w:sz)."""
    table = WIDTHS[bold]
    em = sum(table.get(ch, UNKNOWN) for ch in word)
    return round(em * half_points / 2 * 20 / 1000)


def _is_on(element: Any) -> bool:
    return element is not None and element.get(qn("w:val"), "true") not in ("0", "false", "off")


def _longest_word(cell: Any, sizes: Sizes) -> int:
    """The widest unbreakable piece of text in a table cell, in twips."""
    widest = 0
    for paragraph in cell.iter(qn("w:p")):
        style = paragraph.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")
        paragraph_size = sizes.by_style.get(style.get(qn("w:val")) if style is not None else "",
                                            sizes.default)  # fmt: skip
        pieces: list[tuple[str, bool, int]] = []  # (text, bold, size) per run
        for run in paragraph.iter(qn("w:r")):
            props = run.find(qn("w:rPr"))
            bold = _is_on(props.find(qn("w:b"))) if props is not None else False
            size_el = props.find(qn("w:sz")) if props is not None else None
            size = int(size_el.get(qn("w:val"))) if size_el is not None else paragraph_size
            text = "".join(t.text or "" for t in run.iter(qn("w:t")))
            if run.find(qn("w:tab")) is not None or run.find(qn("w:br")) is not None:
                text = f" {text} "
            pieces.append((text, bold, size))
        # a word may run across runs (part bold): measure it piece by piece
        current = 0
        for text, bold, size in pieces:
            parts = _BREAK.split(text)
            for n, part in enumerate(parts):
                if n > 0:
                    current = 0
                current += word_width(part, bold, size)
                widest = max(widest, current)
    return widest


def _margins(table: Any) -> int:
    margins = table.find(f"{qn('w:tblPr')}/{qn('w:tblCellMar')}")
    total = 0
    for side, other in (("w:left", "w:start"), ("w:right", "w:end")):
        found = margins.find(qn(side)) if margins is not None else None
        found = found if found is not None or margins is None else margins.find(qn(other))
        value = found.get(qn("w:w")) if found is not None else None
        total += int(value) if value and value.isdigit() else CELL_MARGIN
    return total


def fitted(widths: list[int], need: list[int]) -> list[int]:
    """Column widths with the same total, each at least what it needs where they all can."""
    total = sum(widths)
    need = [min(n, int(total * MAX_SHARE)) for n in need]
    if all(n <= w for n, w in zip(need, widths, strict=True)):
        return widths
    if sum(need) > total:  # not every word can fit: as many columns as can, the rest share
        cap, left, remaining = 0, len(need), total
        for n in sorted(need):
            if n * left > remaining:
                cap = remaining // left
                break
            remaining, left = remaining - n, left - 1
        out = [min(n, cap) for n in need]
    else:
        grown = [max(w, n) for w, n in zip(widths, need, strict=True)]
        excess = sum(grown) - total
        room = [g - n for g, n in zip(grown, need, strict=True)]
        out = [g - excess * r // sum(room) for g, r in zip(grown, room, strict=True)]
    out[out.index(max(out))] += total - sum(out)  # rounding goes to the widest column
    return out


def _columns(table: Any) -> tuple[list[Any], list[int], list[list[Any]]] | None:
    """A fixed-layout table's grid columns, their widths and its rows of cells; None for a
    table this module leaves as the template has it (spans, autofit, no widths)."""
    layout = table.find(f"{qn('w:tblPr')}/{qn('w:tblLayout')}")
    grid = table.find(qn("w:tblGrid"))
    if layout is None or layout.get(qn("w:type")) != "fixed" or grid is None:
        return None
    cols = grid.findall(qn("w:gridCol"))
    widths = [int(w) if (w := c.get(qn("w:w"), "")).isdigit() else 0 for c in cols]
    rows = [row.findall(qn("w:tc")) for row in table.findall(qn("w:tr"))]
    merged = any(tc.find(f"{qn('w:tcPr')}/{qn('w:gridSpan')}") is not None
                 for row in rows for tc in row)  # fmt: skip
    if not widths or min(widths) <= 0 or merged or any(len(r) != len(cols) for r in rows):
        return None
    return cols, widths, rows


def _set_widths(cols: list[Any], rows: list[list[Any]], widths: list[int]) -> None:
    for col, width in zip(cols, widths, strict=True):
        col.set(qn("w:w"), str(width))
    for row in rows:
        for tc, width in zip(row, widths, strict=True):
            props = tc.find(qn("w:tcPr"))
            if props is None:
                props = etree.Element(qn("w:tcPr"))
                tc.insert(0, props)
            tcw = props.find(qn("w:tcW"))
            if tcw is None:
                tcw = etree.Element(qn("w:tcW"))
                props.insert(0, tcw)
            tcw.set(qn("w:w"), str(width))
            tcw.set(qn("w:type"), "dxa")


def fit_columns(body: Any, sizes: Sizes) -> None:
    """Widen the columns of every fixed-layout table in ``body`` to their longest word.

    Tables of one kind (the same template widths and header row, e.g. one per Handlungsfeld)
    get the same widths, so that their columns line up down the paper.
    """
    tables = []
    need_of: dict[tuple[Any, ...], list[int]] = {}
    for table in body.iter(qn("w:tbl")):
        found = _columns(table)
        if found is None:
            continue
        cols, widths, rows = found
        extra = _margins(table) + SLACK
        need = [max((_longest_word(row[i], sizes) for row in rows), default=0) + extra
                for i in range(len(cols))]  # fmt: skip
        head = tuple("".join(t.text or "" for t in tc.iter(qn("w:t"))) for tc in rows[0])
        key = (tuple(widths), head)
        need_of[key] = [max(a, b) for a, b in zip(need_of.get(key, need), need, strict=True)]
        tables.append((key, cols, widths, rows))
    for key, cols, widths, rows in tables:
        new = fitted(widths, need_of[key])
        if new != widths:
            _set_widths(cols, rows, new)


WORD_DEFAULT = 20  # Word's 10 pt


@functools.lru_cache(maxsize=32)
def text_sizes(styles: bytes) -> Sizes:
    """The sizes a template's styles.xml gives: the default paragraph style's (else the
    document defaults', else Word's 10 pt) and every paragraph style's, through basedOn."""
    if not styles:
        return Sizes(WORD_DEFAULT, {})
    root = etree.fromstring(styles)
    default = WORD_DEFAULT
    found = root.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:sz')}")
    if found is not None and (found.get(qn("w:val")) or "").isdigit():
        default = int(found.get(qn("w:val")))
    own: dict[str, int] = {}
    parent: dict[str, str] = {}
    normal = ""
    for style in root.iter(qn("w:style")):
        if style.get(qn("w:type")) != "paragraph":
            continue
        sid = style.get(qn("w:styleId")) or ""
        if style.get(qn("w:default")) in ("1", "true"):
            normal = sid
        size = style.find(f"{qn('w:rPr')}/{qn('w:sz')}")
        if size is not None and (size.get(qn("w:val")) or "").isdigit():
            own[sid] = int(size.get(qn("w:val")))
        based = style.find(qn("w:basedOn"))
        if based is not None:
            parent[sid] = based.get(qn("w:val")) or ""

    def size_of(sid: str, depth: int = 0) -> int:
        if sid in own:
            return own[sid]
        if sid in parent and depth < 20:
            return size_of(parent[sid], depth + 1)
        return default

    body = size_of(normal) if normal else default
    return Sizes(body, {sid: size_of(sid) for sid in set(own) | set(parent)} | {"": body})
