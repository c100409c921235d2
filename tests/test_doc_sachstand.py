"""The head of the Sachstandsbericht: the Vorlage it goes to the committee as, named as the
Sitzungsvorlage names its own (Art, number, Beratungsfolge, Betreff).

Real SQLite through the services; the DOCX read back with python-docx.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import docx
import pytest
from conftest import EXAMPLES
from docx.table import Table
from sqlalchemy import event

from lifecycle import replay, services
from lifecycle.doc_context import build_context
from lifecycle.documents import generate
from lifecycle.scenario import load_scenario

UMSETZUNG = EXAMPLES / "waiblingen-umsetzung-2018.yaml"
BETREFF = "Umsetzung des Integrationskonzeptes: Sachstandsbericht 2018"


@pytest.fixture
def umsetzung(session, waiblingen):
    """Waiblingen 2017 adopted, then its Umsetzung 2018 run through to the committee."""
    replay.run(session, waiblingen)
    process = services.start(session, load_scenario(UMSETZUNG), actor="test")
    replay.run(session, process)
    return process


def head(path: Path) -> list[str]:
    """The paper's paragraphs and the Beratungsfolge's cells, in order, up to the Überblick."""
    texts: list[str] = []
    for block in docx.Document(str(path)).iter_inner_content():
        if isinstance(block, Table):
            texts += [cell.text for row in block.rows for cell in row.cells]
        else:
            texts.append(block.text)
    texts = [t for t in texts if t.strip()]
    return texts[: texts.index("Überblick")]


def test_the_sachstandsbericht_names_the_art_and_betreff_of_its_vorlage(session, umsetzung,
                                                                        tmp_path):  # fmt: skip
    path = generate(session, umsetzung, "sachstandsbericht", out_dir=tmp_path).path
    lines = head(path)
    assert lines[:4] == ["Sachstandsbericht",
                         "Integrationskonzept der Stadt Waiblingen: Umsetzung, Stand 13.11.2018",
                         "Informationsvorlage", "Vorlage Nr. BSV 19/2018"]  # fmt: skip
    assert lines[-2:] == ["Betreff:", BETREFF]
    assert "Kenntnisnahme" in lines[4:-2]  # the Beratungsfolge between number and Betreff


def test_the_sachstandsbericht_head_reads_the_vorlage_table_once(session, umsetzung):
    session.expunge_all()  # built in a session of its own, as the CLI builds it
    sent: list[str] = []
    listen = lambda *args: sent.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        context = build_context(session, session.merge(umsetzung, load=True),
                                "sachstandsbericht")  # fmt: skip
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    assert (context["vorlage"]["art"], context["vorlage"]["betreff"]) == (
        "Informationsvorlage", BETREFF)  # fmt: skip
    tables = Counter(re.search(r"\bFROM (\w+)", s).group(1) for s in sent)  # type: ignore[union-attr]
    assert tables["vorlage"] == 1 and tables["beratung"] == 1, sent


def test_a_sachstandsbericht_without_a_vorlage_has_no_empty_head(session, waiblingen,
                                                                 tmp_path):  # fmt: skip
    replay.run(session, waiblingen)
    text = UMSETZUNG.read_text(encoding="utf-8")
    before, rest = text.split("\nvorlagen:\n", 1)
    scenario = tmp_path / UMSETZUNG.name
    scenario.write_text(before + "\n" + rest[rest.index("\n# What happened") :], encoding="utf-8")
    process = services.start(session, load_scenario(scenario), actor="test")
    replay.run(session, process)
    lines = head(generate(session, process, "sachstandsbericht", out_dir=tmp_path / "o").path)
    assert lines == [
        "Sachstandsbericht",
        "Integrationskonzept der Stadt Waiblingen: Umsetzung, Stand 28.11.2018",
    ]


def blocks(path: Path) -> list[tuple[str, object]]:
    """(paragraph style or "table", paragraph text or the Table), in document order."""
    out: list[tuple[str, object]] = []
    for block in docx.Document(str(path)).iter_inner_content():
        if isinstance(block, Table):
            out.append(("table", block))
        else:
            out.append((block.style.name if block.style else "", block.text))
    return out


def field_tables(path: Path) -> list[tuple[str, Table]]:
    """Each Maßnahmen table with the heading above it."""
    found, heading = [], ""
    for style, item in blocks(path):
        if style.startswith("Heading"):
            heading = str(item)
        elif isinstance(item, Table) and item.rows[0].cells[0].text == "Maßnahme":
            found.append((heading, item))
    return found


def test_the_handlungsfelder_of_the_adopted_concept_are_headed_as_such(session, umsetzung,
                                                                       tmp_path):  # fmt: skip
    # the Umsetzung's own process names no Handlungsfelder: the adopted concept's count
    concept = {h["title"] for h in load_scenario(EXAMPLES / "waiblingen-2017.yaml").data
               ["handlungsfelder"]}  # fmt: skip
    path = generate(session, umsetzung, "sachstandsbericht", out_dir=tmp_path).path
    headings = [heading for heading, _ in field_tables(path)]
    own = [h for h in headings if not h.startswith("Handlungsfeld „")]
    assert {h.removeprefix("Handlungsfeld „").removesuffix("“") for h in headings
            if h not in own} == concept  # fmt: skip
    assert own and not set(own) & concept  # the scenario's own group stands as it is


def overview_and_counts(path: Path) -> tuple[str, Counter[str]]:
    texts = [item for _, item in blocks(path) if isinstance(item, str)]
    overview = texts[texts.index("Überblick") + 1]
    counts: Counter[str] = Counter()
    for _, table in field_tables(path):
        for row in table.rows[1:]:
            counts[row.cells[2].text.removesuffix(", überfällig")] += 1
    return overview, counts


def test_the_overview_agrees_each_count_with_its_verb(session, tmp_path):
    # Schwetzingen's evaluation 2018: one Maßnahme open, two under way, one done
    first = services.start(session, load_scenario(EXAMPLES / "schwetzingen-2017.yaml"),
                           actor="test")  # fmt: skip
    replay.run(session, first)
    process = services.start(session, load_scenario(EXAMPLES / "schwetzingen-evaluation-2018.yaml"),
                             actor="test")  # fmt: skip
    replay.run(session, process)
    overview, counts = overview_and_counts(
        generate(session, process, "sachstandsbericht", out_dir=tmp_path).path)
    assert 1 in counts.values() and any(n > 1 for n in counts.values())  # the case at hand
    assert overview.startswith(f"Von {sum(counts.values())} Maßnahmen ")
    for status, n in counts.items():
        verb = "ist" if n == 1 else "sind"
        assert re.search(rf"\b({verb} {n} {status}|{n} {verb} {status}|{n} {status})\b",
                         overview), (status, n, overview)  # fmt: skip
    assert not re.search(r"\bsind 1 |\b1 sind\b|\bist [2-9]|\b[2-9]\d* ist\b", overview), overview


def test_the_indicator_columns_are_named_as_on_the_web_page(session, umsetzung, tmp_path):
    # the Maßnahmen page of the web app and the paper to the committee use the same words
    page = (Path(__file__).parents[1] / "src/lifecycle/web/templates/massnahmen.html").read_text(
        encoding="utf-8")  # fmt: skip
    web = re.findall(r'<th scope="col">([^<]+)</th>', page[page.index(">Indikator<") - 20 :])[:4]
    path = generate(session, umsetzung, "sachstandsbericht", out_dir=tmp_path).path
    table = next(t for t in docx.Document(str(path)).tables
                 if t.rows[0].cells[0].text == "Indikator")  # fmt: skip
    paper = [c.text for c in table.rows[0].cells]
    assert web[0] == paper[0] == "Indikator"
    assert paper[2:] == web[1:], (paper, web)


def test_no_row_of_a_table_is_cut_at_the_foot_of_a_page(session, umsetzung, tmp_path):
    from docx.oxml.ns import qn

    path = generate(session, umsetzung, "sachstandsbericht", out_dir=tmp_path).path
    tables = docx.Document(str(path)).tables
    assert len(tables) > 5
    for table in tables:
        for row in table.rows:
            tr_pr = row._tr.trPr
            assert tr_pr is not None and tr_pr.find(qn("w:cantSplit")) is not None, \
                [c.text for c in row.cells]  # fmt: skip
