"""Build the shipped Word templates (templates/docx/*.docx) from code.

The templates are ordinary Word files with Jinja tags (docxtpl), so an administrator can open
them in Word or LibreOffice and restyle them (letterhead, fonts, spacing). They are produced
here, not edited by hand, so a change to the layout is a reviewed code change; the zip is
rewritten with fixed dates so the same code always gives the same bytes, and
tests/test_template_builder.py fails when a committed template is stale.

    python -m lifecycle.template_builder --out templates/docx   # rewrite templates/docx/
    python -m lifecycle.template_builder --check    # exit 1 if a shipped file is stale

Without ``--out`` the folder is the shipped set, ``lifecycle.templates`` (importlib.resources):
in an editable install that is the checkout's templates/docx; `make templates` names it.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.table import Table

from .templates import SHIPPED

FIXED_TIME = dt.datetime(2017, 1, 1, 0, 0, 0)
FONT = "Arial"  # fonts-liberation2 gives LibreOffice a metric twin, so line breaks match Word
LANGUAGE = "de-DE"  # Word and LibreOffice spell-check and hyphenate in German


# --- building blocks -----------------------------------------------------------------------


def _new_document() -> DocxDocument:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.left_margin, section.right_margin = Cm(2.5), Cm(2.0)
    section.top_margin, section.bottom_margin = Cm(2.0), Cm(2.0)
    styles = doc.styles
    normal = styles["Normal"]
    normal.font.name, normal.font.size = FONT, Pt(11)
    normal.paragraph_format.space_after = Pt(6)
    for name, size in (("Title", 16), ("Heading 1", 14), ("Heading 2", 12), ("Heading 3", 11)):
        style = styles[name]
        style.font.name, style.font.size, style.font.bold = FONT, Pt(size), True
        style.font.color.rgb = RGBColor(0, 0, 0)
        style.font.italic = False
        style.paragraph_format.space_before = Pt(12 if name != "Heading 3" else 6)
        style.paragraph_format.space_after = Pt(6)
        _drop_theme_fonts(style)
    # The default Title style has a border line and a theme font; reset to the house style.
    title = styles["Title"].element
    for border in title.findall(f".//{qn('w:pBdr')}"):
        border.getparent().remove(border)
    listing = styles["List Paragraph"]
    listing.font.name = FONT
    listing.paragraph_format.left_indent = Cm(0.75)
    listing.paragraph_format.first_line_indent = Cm(-0.75)
    _page_footer(doc)
    _german(doc)
    return doc


def _german(doc: DocxDocument) -> None:
    """German as the default language of every run, and of the theme fonts."""
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    for lang in defaults.iter(qn("w:lang")) if defaults is not None else ():
        lang.set(qn("w:val"), LANGUAGE)
        lang.set(qn("w:eastAsia"), LANGUAGE)
    theme = doc.settings.element.find(qn("w:themeFontLang"))
    if theme is not None:
        theme.set(qn("w:val"), LANGUAGE)


def _drop_theme_fonts(style) -> None:
    # A theme font attribute wins over the named font: without this, headings ignore Arial.
    fonts = style.element.rPr.rFonts if style.element.rPr is not None else None
    if fonts is None:
        return
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)


def _field(paragraph, instr: str) -> None:
    # python-docx has no field API; a simple field is enough for PAGE / NUMPAGES.
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instr)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _page_footer(doc: DocxDocument) -> None:
    footer = doc.sections[0].footer.paragraphs[0]
    footer.alignment = 2  # right
    footer.add_run("Seite ")
    _field(footer, "PAGE")
    footer.add_run(" von ")
    _field(footer, "NUMPAGES")


def _p(doc: DocxDocument, text: str = "", style: str | None = None, bold: bool = False):
    paragraph = doc.add_paragraph(style=style)
    if text:
        run = paragraph.add_run(text)
        if bold:  # False would be an explicit "not bold" that overrides the style
            run.bold = True
    return paragraph


def _label(doc: DocxDocument, text: str) -> None:
    _p(doc, text, bold=True).paragraph_format.space_before = Pt(10)


def _page_break(doc: DocxDocument) -> None:
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def _blocks(doc: DocxDocument, var: str) -> None:
    """A list of text blocks: sub-headings, numbered items and plain paragraphs.

    One paragraph per block kind, each with its own style, so restyling a template changes
    every block of that kind; `{%p %}` removes the control paragraphs from the output.
    """
    _p(doc, f"{{%p for block in {var} %}}")
    _p(doc, "{%p if block.heading %}")
    _p(doc, "{{ block.text }}", style="Heading 3")
    _p(doc, "{%p elif block.item %}")
    _p(doc, "{{ block.label }}\t{{r block.text|rich }}", style="List Paragraph")
    _p(doc, "{%p else %}")
    _p(doc, "{{r block.text|rich }}")
    _p(doc, "{%p endif %}")
    _p(doc, "{%p endfor %}")


def _sections(doc: DocxDocument, var: str, suffix: str = "") -> None:
    _p(doc, f"{{%p for section in {var} %}}")
    _p(doc, f"{{{{ section.title }}}}{suffix}", style="Heading 2")
    _blocks(doc, "section.blocks")
    _p(doc, "{%p endfor %}")


def _lines(doc: DocxDocument, var: str, item: str = "{{ line }}", style: str | None = None) -> None:
    _p(doc, f"{{%p for line in {var} %}}")
    _p(doc, item, style=style)
    _p(doc, "{%p endfor %}")


TABLE_TEXT = "Tabellentext"  # a paragraph style of its own, so an administrator can restyle it


def _table_text_style(doc: DocxDocument) -> str:
    """The paragraph style of dense tables: 10 pt, no space after (defined once)."""
    if TABLE_TEXT not in [s.name for s in doc.styles]:
        style = doc.styles.add_style(TABLE_TEXT, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = doc.styles["Normal"]
        style.font.name, style.font.size = FONT, Pt(10)
        style.paragraph_format.space_after = Pt(0)
    return TABLE_TEXT


def _grid(doc: DocxDocument, headers: list[str], loop: str, cells: list[str],
          widths: list[float], row_height: float | None = None,
          text_style: str | None = None) -> Table:  # fmt: skip
    """A table with a header row and one row per item (docxtpl `{%tr %}` rows).

    The widths are the template's; at rendering, a column too narrow for its longest word
    is widened (lifecycle.docx_layout).
    """
    table = doc.add_table(rows=4, cols=len(headers))
    table.style = doc.styles["Table Grid"]
    for i, header in enumerate(headers):
        cell = table.rows[0].cells[i]
        cell.paragraphs[0].add_run(header).bold = True
    table.rows[1].cells[0].paragraphs[0].add_run(f"{{%tr for {loop} %}}")
    for i, text in enumerate(cells):
        table.rows[2].cells[i].paragraphs[0].add_run(text)
    table.rows[3].cells[0].paragraphs[0].add_run("{%tr endfor %}")
    if row_height:  # room to sign by hand
        table.rows[2].height = Cm(row_height)
    if text_style:
        for cell in (c for row in table.rows for c in row.cells):
            cell.paragraphs[0].style = doc.styles[text_style]
    table.autofit = False
    # LibreOffice lays out by the grid columns, Word by the cell widths: set both.
    for col, width in zip(table._tbl.tblGrid.findall(qn("w:gridCol")), widths, strict=True):
        col.set(qn("w:w"), str(Cm(width).twips))
    for row in table.rows:
        for i, width in enumerate(widths):
            row.cells[i].width = Cm(width)
    _repeat_header(table)
    for row in (table.rows[0], table.rows[2]):  # a row is not cut at a page's foot
        row._tr.get_or_add_trPr().insert(0, OxmlElement("w:cantSplit"))  # first, by schema
    return table


def _repeat_header(table: Table) -> None:
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    tr_pr.append(header)


def _signature(doc: DocxDocument) -> None:
    """Name, function and Fachbereich under a letter: never the word of a process role."""
    _p(doc, "{{ absender.name }}").paragraph_format.space_before = Pt(18)
    _p(doc, "{%p if absender.funktion %}")
    _p(doc, "{{ absender.funktion }}")
    _p(doc, "{%p endif %}")
    _p(doc, "{%p if absender.fachbereich_zeile %}")
    _p(doc, "{{ absender.fachbereich_zeile }}")
    _p(doc, "{%p endif %}")


def _beratungsfolge(doc: DocxDocument, role: str) -> None:
    """The Beratungsfolge as seed 002 prints it: Gremium, date, role, öffentlich or not."""
    _label(doc, "Beratungsfolge:")
    _grid(doc, ["Gremium", "Sitzungsdatum", role, "öffentlich/nichtöffentlich"],
          "b in beratungsfolge",
          ["{{ b.gremium }}", "{{ b.datum|short_de }}", "{{ b.rolle }}", "{{ b.oeffentlichkeit }}"],
          [5.3, 3.5, 3.9, 3.8])  # fmt: skip


def _letterhead(doc: DocxDocument) -> None:
    head = doc.sections[0].header.paragraphs[0]
    head.add_run("{{ kommune.bezeichnung }}").bold = True


# --- the templates -------------------------------------------------------------------------


def vorlage() -> DocxDocument:
    """Beschlussvorlage (gate 1) and Sitzungsvorlage (gate 5), modelled on seed 002."""
    doc = _new_document()
    _letterhead(doc)
    _p(doc, "{{ vorlage.art }}", style="Title")
    _p(doc, "Vorlage Nr. {{ vorlage.reference }}")
    _label(doc, "Fachbereich")
    _p(doc, "{{ vorlage.fachbereich }}")
    _beratungsfolge(doc, "Vorberatung/Entscheidung")
    _label(doc, "Betreff:")
    _p(doc, "{{r vorlage.betreff|rich }}")
    _label(doc, "Beschlussvorschlag:")
    _p(doc, "{{r vorlage.beschlussvorschlag|rich }}")
    _label(doc, "Begründung:")
    _sections(doc, "begruendung", suffix=":")
    _label(doc, "Finanzielle Auswirkungen:")
    _lines(doc, "finanzen", "{{r line|rich }}")
    _p(doc, "{{ vorlage.ort_datum }}")
    _label(doc, "{{ ansprechpartner.bezeichnung }}:")
    _p(doc, "{{ ansprechpartner.name_umgekehrt }}")
    _p(doc, "{%p if beteiligte %}")
    _label(doc, "Weitere beteiligte Fachbereiche:")
    _lines(doc, "beteiligte")
    _p(doc, "{%p endif %}")
    # The signature block, as in seed 002: each signer's function above the name.
    _p(doc, "{%p for z in zeichnung %}")
    _p(doc, "{{ z.funktion }}").paragraph_format.space_before = Pt(18)
    _p(doc, "{{ z.name }}")
    _p(doc, "{%p endfor %}")
    _label(doc, "Anlagen:")
    _lines(doc, "anlagen")
    return doc


def workshop_einladung() -> DocxDocument:
    doc = _new_document()
    _letterhead(doc)
    _p(doc, "{{ absender.fachbereich_zeile }}")
    _p(doc, "{{ einladung.ort_datum }}")
    _p(doc, "Einladung zum {{ workshop.title }}", style="Title")
    _p(doc, "{{ konzept.fortschreibung_titel }}", style="Heading 2")
    _p(doc, "Sehr geehrte Damen und Herren,")
    _p(doc, "die {{ kommune.bezeichnung }} {% if konzept.erstmals %}erarbeitet erstmals ein "
            "{{ konzept.name }}{% else %}schreibt ihr {{ konzept.name }} fort{% endif %}. Der "
            "{{ workshop.title }} ist der Auftakt: Gemeinsam mit Vertreterinnen und Vertretern "
            "aus {{ workshop.eingeladen_text }} wollen wir die Handlungsfelder diskutieren und "
            "Arbeitsgruppen bilden.")  # fmt: skip
    _label(doc, "Termin:")
    _p(doc, "{{ workshop.datum|long_de }}, {{ workshop.datum|uhrzeit }}")
    _label(doc, "Ort:")
    _p(doc, "{{ workshop.ort }}")
    _label(doc, "Moderation:")
    _p(doc, "{{ workshop.moderation }}")
    _label(doc, "Handlungsfelder:")
    _lines(doc, "handlungsfelder", "{{ line.nummer }}.\t{{ line.title }}", style="List Paragraph")
    _p(doc, "Bitte melden Sie sich bis {{ einladung.antwort_bis|long_de }}, bei "
            "{{ absender.name }} an (E-Mail: {{ absender.email }}).")  # fmt: skip
    _p(doc, "Mit freundlichen Grüßen")
    _signature(doc)
    return doc


def workshop_programm() -> DocxDocument:
    doc = _new_document()
    _letterhead(doc)
    _p(doc, "Programm: {{ workshop.title }}", style="Title")
    _p(doc, "{{ workshop.datum|long_de }}, {{ workshop.ort }}")
    _grid(doc, ["Zeit", "Programmpunkt"], "punkt in programm",
          ["{{ punkt.zeit }}", "{{ punkt.titel }}"], [3.0, 13.5])  # fmt: skip
    _p(doc, "")
    _label(doc, "Thementische:")
    _lines(doc, "handlungsfelder", "{{ line.nummer }}.\t{{ line.title }}", style="List Paragraph")
    _p(doc, "Moderation: {{ workshop.moderation }}")
    return doc


def workshop_teilnehmerliste() -> DocxDocument:
    doc = _new_document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    _letterhead(doc)
    # The consent in the page header: every signer sees it above the rows on every page.
    consent = doc.sections[0].header.add_paragraph()
    consent.add_run("Mit meiner Unterschrift bin ich einverstanden, dass mein Name in der "
                    "Dokumentation des Workshops genannt wird.").font.size = Pt(9)  # fmt: skip
    _p(doc, "Teilnehmerliste: {{ workshop.title }}", style="Title")
    _p(doc, "{{ workshop.datum|long_de }}, {{ workshop.datum|uhrzeit }}, {{ workshop.ort }}")
    _grid(doc, ["Nr.", "Name, Vorname", "Institution / Organisation", "E-Mail", "Unterschrift"],
          "t in teilnehmer",
          ["{{ t.nummer }}", "{{ t.name }}", "{{ t.organisation }}", "", ""],
          [1.2, 6.0, 7.0, 5.5, 5.5], row_height=1.0)  # fmt: skip
    return doc


def ag_einladung() -> DocxDocument:
    doc = _new_document()
    _letterhead(doc)
    _p(doc, "{%p for ag in arbeitsgruppen %}")
    # sender and date above each letter, as the workshop's invitation has them
    _p(doc, "{%p if absender.fachbereich_zeile %}")
    _p(doc, "{{ absender.fachbereich_zeile }}")
    _p(doc, "{%p endif %}")
    _p(doc, "{%p if ag.ort_datum %}")
    _p(doc, "{{ ag.ort_datum }}")
    _p(doc, "{%p endif %}")
    _p(doc, "Einladung zur Arbeitsgruppe „{{ ag.title }}“", style="Title")
    _p(doc, "{{ konzept.fortschreibung_titel }}, Handlungsfeld: {{ ag.handlungsfeld }}")
    _p(doc, "Sehr geehrte Damen und Herren,")
    _p(doc, "im {{ workshop.title }} wurde die Arbeitsgruppe „{{ ag.title }}“ gebildet. Wir "
            "laden Sie herzlich {% if ag.sitzungen|length == 1 %}zur Sitzung{% elif "
            "ag.sitzungen %}zu den Sitzungen{% else %}zur Mitarbeit{% endif %} ein: Wir "
            "sammeln die bestehenden Angebote (Bestandsaufnahme), erarbeiten Empfehlungen und "
            "schlagen Schlüsselprojekte vor.")  # fmt: skip
    # no dates yet: say so, instead of an empty "Termine:"
    _p(doc, "{%p if ag.sitzungen %}")
    _label(doc, "{% if ag.sitzungen|length == 1 %}Termin:{% else %}Termine:{% endif %}")
    _lines(doc, "ag.sitzungen",
           "{{ line.nummer }}. Sitzung: {{ line.datum|long_de }}, {{ line.datum|uhrzeit }}"
           "{% if line.ort %}, {{ line.ort }}{% endif %}", style="List Paragraph")  # fmt: skip
    _p(doc, "{%p else %}")
    _p(doc, "Die Termine der Sitzungen geben wir Ihnen rechtzeitig bekannt.")
    _p(doc, "{%p endif %}")
    _p(doc, "{%p if ag.ort_offen %}")
    _p(doc, "Den Ort teilen wir Ihnen rechtzeitig vor der Sitzung mit.")
    _p(doc, "{%p endif %}")
    _label(doc, "Moderation:")
    _p(doc, "{{ ag.moderation }}")
    _p(doc, "Mit freundlichen Grüßen")
    _signature(doc)
    _p(doc, "{%p if not loop.last %}")
    _page_break(doc)
    _p(doc, "{%p endif %}")
    _p(doc, "{%p endfor %}")
    return doc


def ag_protokoll() -> DocxDocument:
    doc = _new_document()
    _letterhead(doc)
    _p(doc, "{%p for ag in arbeitsgruppen %}")
    _p(doc, "Protokoll der Arbeitsgruppe „{{ ag.title }}“", style="Title")
    _p(doc, "{{ konzept.fortschreibung_titel }}, Handlungsfeld: {{ ag.handlungsfeld }}")
    _p(doc, "Moderation: {{ ag.moderation }}")
    # The sessions: a heading over each one's notes; without notes, one line each; none
    # recorded, no "Sitzungen" heading at all.
    session = "{{ s.nummer }}. Sitzung am {{ s.datum|long_de }}, {{ s.datum|uhrzeit }}" \
        "{% if s.ort %}, {{ s.ort }}{% endif %}"  # fmt: skip
    _p(doc, "{%p if ag.sitzungen %}")
    _p(doc, "Sitzungen", style="Heading 2")
    _p(doc, "{%p for s in ag.sitzungen %}")
    _p(doc, "{%p if s.notizen %}")
    _p(doc, session, style="Heading 3")
    _lines(doc, "s.notizen")
    _p(doc, "{%p else %}")
    _p(doc, session)
    _p(doc, "{%p endif %}")
    _p(doc, "{%p endfor %}")
    _p(doc, "{%p endif %}")
    _p(doc, "{%p if not (ag.sitzungen or ag.bestandsaufnahme or ag.empfehlungen "
            "or ag.schluesselprojekte) %}")  # fmt: skip
    _p(doc, "Für diese Arbeitsgruppe sind noch keine Sitzungen und keine Ergebnisse "
            "verzeichnet.")  # fmt: skip
    _p(doc, "{%p endif %}")
    # A heading only where there is something under it: no empty "Empfehlungen".
    _p(doc, "{%p if ag.bestandsaufnahme %}")
    _p(doc, "Bestandsaufnahme", style="Heading 2")
    _lines(doc, "ag.bestandsaufnahme", "{{r line|rich }}")
    _p(doc, "{%p endif %}")
    _p(doc, "{%p if ag.empfehlungen %}")
    _p(doc, "Empfehlungen", style="Heading 2")
    _lines(doc, "ag.empfehlungen", "{{ line.nummer }}.\t{{r line.text|rich }}",
           style="List Paragraph")  # fmt: skip
    _p(doc, "{%p endif %}")
    _p(doc, "{%p if ag.schluesselprojekte %}")
    _p(doc, "Schlüsselprojekte", style="Heading 2")
    _p(doc, "{%p for projekt in ag.schluesselprojekte %}")
    _p(doc, "{{ projekt.title }}", style="Heading 3")
    _lines(doc, "projekt.beschreibung", "{{r line|rich }}")
    _p(doc, "{%p endfor %}")
    _p(doc, "{%p endif %}")
    _p(doc, "{%p if not loop.last %}")
    _page_break(doc)
    _p(doc, "{%p endif %}")
    _p(doc, "{%p endfor %}")
    return doc


def abschlussbericht() -> DocxDocument:
    doc = _new_document()
    _letterhead(doc)
    _p(doc, "Abschlussbericht", style="Title")
    _p(doc, "{{ konzept.fortschreibung_titel }}", style="Heading 1")
    _p(doc, "{{ kommune.bezeichnung }}, {{ bericht.stand }}")
    _p(doc, "Wissenschaftliche Begleitung: {{ prozess.partner_zeile }}")
    _sections(doc, "kapitel")
    return doc


def stage_bericht() -> DocxDocument:
    """Generic report of a stage, for document kinds a plan names but no template exists for."""
    doc = _new_document()
    _letterhead(doc)
    _p(doc, "{{ dokument.titel }}", style="Title")
    # the title names the phase already
    _p(doc, "{{ konzept.fortschreibung_titel }}", style="Heading 1")
    _p(doc, "{{ stage.zeitraum }}")
    _lines(doc, "stage.beschreibung")
    _p(doc, "Aufgaben", style="Heading 2")
    _grid(doc, ["Aufgabe", "Zuständig", "Fällig", "Erledigt"], "t in aufgaben",
          ["{{ t.title }}", "{{ t.zustaendig }}", "{{ t.faellig }}", "{{ t.erledigt }}"],
          [8.0, 4.0, 2.5, 2.5])  # fmt: skip
    _p(doc, "Abschluss der Phase", style="Heading 2")
    _p(doc, "{{ gate.title }}: {{ gate.condition }}")
    _lines(doc, "gate.entscheidungen")
    return doc


def sachstandsbericht() -> DocxDocument:
    """The yearly report on the Umsetzung to the committee (Beschlusskontrolle)."""
    doc = _new_document()
    _letterhead(doc)
    _p(doc, "Sachstandsbericht", style="Title")
    _p(doc, "{{ konzept.title }}: Umsetzung, Stand {{ bericht.stand }}", style="Heading 1")
    # The Vorlage it goes to the committee as, named as the Sitzungsvorlage names its own
    _p(doc, "{%p if vorlage.reference %}")
    _p(doc, "{%p if vorlage.art %}")
    _label(doc, "{{ vorlage.art }}")
    _p(doc, "{%p endif %}")
    _p(doc, "Vorlage Nr. {{ vorlage.reference }}")
    _beratungsfolge(doc, "Beratung")
    _label(doc, "Betreff:")
    _p(doc, "{{r vorlage.betreff|rich }}")
    _p(doc, "{%p endif %}")
    _p(doc, "Überblick", style="Heading 2")
    _p(doc, "{{ bericht.ueberblick }}")
    _p(doc, "{%p for hf in handlungsfelder %}")
    _p(doc, "{{ hf.ueberschrift }}", style="Heading 2")
    # 10 pt: five columns of names and compound words ("Integrationsförderung") in 16.3 cm
    dense = _table_text_style(doc)
    _grid(doc, ["Maßnahme", "Verantwortlich", "Status", "Fortschritt", "Zieltermin"],
          "m in hf.massnahmen",
          ["{{ m.titel }}", "{{ m.verantwortlich }}", "{{ m.status }}", "{{ m.fortschritt }}",
           "{{ m.zieltermin }}"], [4.6, 3.8, 2.7, 2.6, 2.6], text_style=dense)  # fmt: skip
    _p(doc, "{%p for line in hf.sachstaende %}")
    _p(doc, "{{r line|rich }}").paragraph_format.space_before = Pt(6)
    _p(doc, "{%p endfor %}")
    _p(doc, "{%p endfor %}")
    _p(doc, "{%p if aenderungen %}")
    _p(doc, "Was sich {{ bericht.seit }} geändert hat", style="Heading 2")
    _lines(doc, "aenderungen", style="List Paragraph")
    _p(doc, "{%p endif %}")
    _p(doc, "{%p if indikatoren %}")
    _p(doc, "Indikatoren", style="Heading 2")
    # the words of the web app's Maßnahmen page: a baseline is an Ausgangswert, not an Ausgang
    _grid(doc, ["Indikator", "Handlungsfeld", "Ausgangswert", "Zielwert", "Letzte Messung"],
          "i in indikatoren",
          ["{{ i.titel }}", "{{ i.handlungsfeld }}", "{{ i.ausgang }}", "{{ i.ziel }}",
           "{{ i.aktuell }}"], [4.5, 3.8, 2.8, 2.7, 2.7], text_style=dense)  # fmt: skip
    _p(doc, "{%p endif %}")
    _p(doc, "{{ vorlage.ort_datum }}").paragraph_format.space_before = Pt(12)
    _label(doc, "{{ ansprechpartner.bezeichnung }}:")
    _p(doc, "{{ ansprechpartner.name_umgekehrt }}")
    return doc


BUILDERS: dict[str, Callable[[], DocxDocument]] = {
    "beschlussvorlage": vorlage,
    "sitzungsvorlage": vorlage,
    "workshop_einladung": workshop_einladung,
    "workshop_programm": workshop_programm,
    "workshop_teilnehmerliste": workshop_teilnehmerliste,
    "ag_einladung": ag_einladung,
    "ag_protokoll": ag_protokoll,
    "abschlussbericht": abschlussbericht,
    "stage_bericht": stage_bericht,
    "sachstandsbericht": sachstandsbericht,
}


# --- reproducible bytes --------------------------------------------------------------------


# Word 2010's copy of the styles (python-docx's default template carries it, in en-US): Word
# 2013 and later and LibreOffice read styles.xml; the copy would only be a stale English one.
_STYLES_WITH_EFFECTS = "http://schemas.microsoft.com/office/2007/relationships/stylesWithEffects"
_APP_XML = (
    b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
    b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    b"<Application>lifecycle</Application><DocSecurity>0</DocSecurity>"
    b"<ScaleCrop>false</ScaleCrop><LinksUpToDate>false</LinksUpToDate>"
    b"<SharedDoc>false</SharedDoc><HyperlinksChanged>false</HyperlinksChanged></Properties>"
)


def _no_foreign_leftovers(doc: DocxDocument) -> None:
    """No English styles copy, and the application that wrote the file is this one, not
    "Microsoft Macintosh Word" of python-docx's default template (docProps/app.xml)."""
    for rid, rel in list(doc.part.rels.items()):
        if rel.reltype == _STYLES_WITH_EFFECTS:
            doc.part.drop_rel(rid)
    for part in doc.part.package.iter_parts():
        if str(part.partname) == "/docProps/app.xml":
            part._blob = _APP_XML  # a plain Part: python-docx has no API for these properties


def _fixed_core_properties(doc: DocxDocument) -> None:
    props = doc.core_properties
    props.author = props.last_modified_by = "lifecycle"
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    props.title = ""


def stable_zip(data: bytes) -> bytes:
    """Rewrite a .docx zip with fixed entry dates and attributes: same content, same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def build(name: str) -> bytes:
    doc = BUILDERS[name]()
    _fixed_core_properties(doc)
    _no_foreign_leftovers(doc)
    raw = io.BytesIO()
    doc.save(raw)
    return stable_zip(raw.getvalue())


def build_all(folder: Path = SHIPPED) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in BUILDERS:
        path = folder / f"{name}.docx"
        path.write_bytes(build(name))
        written.append(path)
    return written


def stale(folder: Path = SHIPPED) -> list[str]:
    """Names of templates whose committed bytes differ from what the code builds."""
    found = []
    for name in BUILDERS:
        path = folder / f"{name}.docx"
        if not path.exists() or path.read_bytes() != build(name):
            found.append(name)
    return found


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    folder = SHIPPED
    if "--out" in args:
        at = args.index("--out")
        if at + 1 >= len(args):
            print("--out needs a folder, e.g. --out templates/docx")
            return 2
        folder = Path(args[at + 1])
        del args[at : at + 2]
    if "--check" in args:
        names = stale(folder)
        if names:
            print(f"stale templates: {', '.join(names)}; run: make templates")
            return 1
        print("templates up to date")
        return 0
    for path in build_all(folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
