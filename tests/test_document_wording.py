"""What a clerk would correct by hand in the generated papers: number grammar, a first-time
concept called a Fortschreibung, clumsy title lines, abbreviations and plan fragments.

Every test renders the real DOCX and reads it back (docx2python), from the example scenarios
or a variant of one written to the test's folder.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import docx
from conftest import EXAMPLES
from docx2python import docx2python
from sqlmodel import select

from lifecycle import replay, services
from lifecycle.documents import generate
from lifecycle.models import Beratung
from lifecycle.scenario import load_scenario

VOELKLINGEN = EXAMPLES / "voelklingen-2017.yaml"
AG_LINE = "moderator: schaeffer}\n"
KLIMA = Path(__file__).parent / "scenarios/musterstadt-klima.yaml"


def flat(value: str) -> str:
    return " ".join(value.replace("\u00a0", " ").split())


def start(session, source: Path, tmp_path: Path, edit=None, *, run: bool = True):
    """The scenario started (and its verlauf replayed), after ``edit`` of its text."""
    text = source.read_text(encoding="utf-8")
    if edit is not None:
        text = edit(text)
        assert text != source.read_text(encoding="utf-8"), "the edit changed nothing"
    path = tmp_path / source.name
    path.write_text(text, encoding="utf-8")
    process = services.start(session, load_scenario(path), actor="test")
    if run:
        replay.run(session, process)
    return process


def read(session, process, kind: str, tmp_path: Path) -> str:
    path = generate(session, process, kind, out_dir=tmp_path / "out").path
    with docx2python(str(path)) as result:
        return flat(result.text)


def verlauf_of(text: str) -> str:
    return text[text.index("Verlauf des ") : text.index("Wie geht es weiter")]


# --- 1. number grammar in the Verlauf --------------------------------------------------------


def test_one_working_group_without_sessions_is_named_and_claims_nothing(session, tmp_path):
    process = start(session, VOELKLINGEN, tmp_path)
    verlauf = verlauf_of(read(session, process, "sitzungsvorlage", tmp_path))
    assert "Hier wurde die Arbeitsgruppe „Steuerungs- und Arbeitsgruppe“ gebildet." in verlauf
    assert "Den zweiten Schritt bildete die Arbeit der Arbeitsgruppe „Steuerungs- und " \
           "Arbeitsgruppe“." in verlauf  # fmt: skip
    for wrong in ("eine Arbeitsgruppen", "null", "Dabei wurden", "Moderiert wurden",
                  "Arbeitsgruppensitzung"):  # fmt: skip
        assert wrong not in verlauf, wrong


def test_one_working_group_with_one_session(session, tmp_path):
    def one_session(text: str) -> str:
        text = text.replace(AG_LINE, 'moderator: schaeffer, sitzungen: ["2017-12-05 17:00"],\n'
                            '     bestandsaufnahme: "Die Angebote wurden gesammelt."}\n')
        return text.replace("  moderation: Erik Schäffer (iSPO)\n",
                            "  moderation: Erik Schäffer (iSPO)\n  ag_moderation: das iSPO\n")

    process = start(session, VOELKLINGEN, tmp_path, one_session)
    verlauf = verlauf_of(read(session, process, "sitzungsvorlage", tmp_path))
    assert "Moderiert wurde diese Arbeitsgruppe durch das iSPO." in verlauf
    assert "Den zweiten Schritt bildete eine moderierte Arbeitsgruppensitzung am 05.12.2017 " \
           "der Arbeitsgruppe „Steuerungs- und Arbeitsgruppe“. Dabei wurden die bestehenden " \
           "Angebote vorgestellt und diskutiert." in verlauf  # fmt: skip
    assert "Empfehlungen erarbeitet" not in verlauf and "Schlüsselprojekte" not in verlauf


def test_no_working_group_no_sentence_about_groups(session, tmp_path):
    def no_groups(text: str) -> str:
        head, rest = text.split("arbeitsgruppen:\n", 1)
        return head + rest.split("\n\n", 1)[1]

    process = start(session, VOELKLINGEN, tmp_path, no_groups)
    verlauf = verlauf_of(read(session, process, "sitzungsvorlage", tmp_path))
    assert "gebildet" not in verlauf and "Moderiert" not in verlauf
    assert "Der zweite Schritt war die Phase „Arbeitsgruppen“." in verlauf


def test_many_working_groups_and_sessions_read_as_seed_002(session, waiblingen, tmp_path):
    replay.run(session, waiblingen)
    verlauf = verlauf_of(read(session, waiblingen, "sitzungsvorlage", tmp_path))
    assert "Hier wurden sechs Arbeitsgruppen zu den verschiedenen Themenschwerpunkten " \
           "gebildet. Moderiert wurden diese Arbeitsgruppen durch" in verlauf  # fmt: skip
    assert "Den zweiten Schritt bildeten acht moderierte Arbeitsgruppensitzungen zwischen dem " \
           "19.09.2017 und dem 24.10.2017 zu den einzelnen Handlungsfeldern. Dabei wurden die " \
           "bestehenden Angebote vorgestellt und diskutiert, Empfehlungen erarbeitet und " \
           "Vorschläge für Schlüsselprojekte gemacht." in verlauf  # fmt: skip


# --- 2. a first concept is an Erarbeitung, not a Fortschreibung ------------------------------

SCHWETZINGEN = EXAMPLES / "schwetzingen-2017.yaml"


def test_a_first_concept_is_called_an_erarbeitung_in_every_document(session, tmp_path):
    process = start(session, SCHWETZINGEN, tmp_path)
    einladung = read(session, process, "workshop_einladung", tmp_path)
    assert "die Stadt Schwetzingen erarbeitet erstmals ein Integrationskonzept." in einladung
    assert "Anlass und Ziele der Erarbeitung" in read(session, process, "workshop_programm",
                                                      tmp_path)  # fmt: skip
    beschluss = read(session, process, "beschlussvorlage", tmp_path)
    assert "Erarbeitung: " in beschluss and "Die Erarbeitung gliedert sich in folgende " \
        "Schritte:" in beschluss  # fmt: skip
    vorlage = read(session, process, "sitzungsvorlage", tmp_path)
    assert "Erarbeitung: In den Sitzungen des VwA vom 05.07.2017 (Sitzungsvorlage GR 45/2017) " \
           "und des Gemeinderates vom 20.07.2017 wurde der Erarbeitung eines kommunalen " \
           "Integrationskonzeptes zugestimmt." in vorlage  # fmt: skip
    assert "Verlauf des Erarbeitungsprozesses:" in vorlage
    bericht = read(session, process, "abschlussbericht", tmp_path)
    assert "Verlauf des Erarbeitungsprozesses" in bericht
    for text in (einladung, beschluss, vorlage, bericht):
        for wrong in ("schreibt ihr", "Fortschreibung:", "Fortschreibungsprozess",
                      "Die Fortschreibung gliedert", "Fortschreibung des Integrationskonzepts"):
            assert wrong not in text, wrong


def test_a_fortschreibung_keeps_its_word(session, waiblingen, tmp_path):
    """Waiblingen has its 2009/2010 concept: the seed's words stay."""
    replay.run(session, waiblingen)
    assert "die Stadt Waiblingen schreibt ihr Integrationskonzept fort." in read(
        session, waiblingen, "workshop_einladung", tmp_path)  # fmt: skip
    beschluss = read(session, waiblingen, "beschlussvorlage", tmp_path)
    assert "Fortschreibung: " in beschluss and "Die Fortschreibung gliedert" in beschluss
    assert "Erarbeitung:" not in beschluss


def test_a_concept_with_an_earlier_process_is_no_first_concept(session, tmp_path):
    """The evaluation of 2018 follows Schwetzingen's first concept: not "erstmals" itself."""
    from lifecycle.doc_context import Facts

    first = start(session, SCHWETZINGEN, tmp_path)
    later = start(session, EXAMPLES / "schwetzingen-evaluation-2018.yaml", tmp_path, run=False)
    assert Facts(session, first).erstmals() and not Facts(session, later).erstmals()
    assert Facts(session, first).vorhaben() == "Erarbeitung"


# --- 3. the title line: one phrase, not "Fortschreibung …: Integrationskonzept der Stadt …" --


def paragraphs(session, process, kind: str, tmp_path: Path, **kw) -> list[str]:
    path = generate(session, process, kind, out_dir=tmp_path / "out", **kw).path
    return [p.text for p in docx.Document(str(path)).paragraphs if p.text.strip()]


def test_the_title_line_is_one_phrase(session, waiblingen, tmp_path):
    replay.run(session, waiblingen)
    title = "Fortschreibung des Integrationskonzepts der Stadt Waiblingen"
    assert title in paragraphs(session, waiblingen, "workshop_einladung", tmp_path)
    assert title in paragraphs(session, waiblingen, "abschlussbericht", tmp_path)
    assert title in paragraphs(session, waiblingen, "stage_bericht", tmp_path,
                               stage="auftaktworkshop")  # fmt: skip
    assert f"{title}, Handlungsfeld: Zugang zu Sprache und Bildung" in paragraphs(
        session, waiblingen, "ag_protokoll", tmp_path)  # fmt: skip
    for kind in ("workshop_einladung", "ag_einladung", "ag_protokoll", "abschlussbericht"):
        path = generate(session, waiblingen, kind, out_dir=tmp_path / "out").path
        with docx2python(str(path)) as result:
            assert ": Integrationskonzept der Stadt" not in result.text, kind


def test_the_title_line_of_a_first_concept_and_of_other_plans(session, tmp_path):
    from lifecycle.doc_context import Facts

    process = start(session, SCHWETZINGEN, tmp_path)
    assert "Erarbeitung des Integrationskonzepts der Stadt Schwetzingen" in paragraphs(
        session, process, "abschlussbericht", tmp_path)  # fmt: skip
    evaluation = start(session, EXAMPLES / "schwetzingen-evaluation-2018.yaml", tmp_path,
                       run=False)  # fmt: skip
    assert Facts(session, evaluation).titel() == \
        "Umsetzung des Integrationskonzepts der Stadt Schwetzingen (jährliche Evaluation)"
    klima = services.start(session, load_scenario(KLIMA), actor="test")
    assert Facts(session, klima).titel() == \
        "Erstellung des Klimaschutzkonzepts der Stadt Musterstadt"


# --- 4. council papers: full names in running text, sentences instead of plan notes --------


def test_the_planned_steps_and_dates_read_as_a_clerk_writes(session, waiblingen, tmp_path):
    replay.run(session, waiblingen)
    text = read(session, waiblingen, "beschlussvorlage", tmp_path)
    ablauf = text[text.index("Geplanter Ablauf:") : text.index("Finanzielle Auswirkungen:")]
    assert "Entscheidung im Gemeinderat am 14.12.2017" in ablauf
    assert "Vorberatung im Ausschuss für Bildung, Soziales und Verwaltung am 06.12.2017" in ablauf
    assert " im GR " not in ablauf and " im BSV " not in ablauf
    assert "2. Auftaktworkshop: Zum Auftaktworkshop werden rund 60 Akteure aus Verwaltung, " \
           "Jobcenter, Wohlfahrtsverbänden, Kirchen, Vereinen, Schulen und " \
           "Migrantenvertretungen eingeladen. An Thementischen je Handlungsfeld werden die " \
           "Arbeitsgruppen gebildet." in ablauf  # fmt: skip
    assert ";" not in ablauf[: ablauf.index("Geplante Termine:")]
    assert "Thementische je Handlungsfeld" not in ablauf


def test_a_plan_note_is_not_printed_as_a_sentence(session, waiblingen, tmp_path):
    """A plan of one's own may keep notes as descriptions: the paper names the step only."""
    plan = dict(waiblingen.plan)
    plan["stages"] = [dict(s) for s in plan["stages"]]
    plan["stages"][2]["description"] = "Bestandsaufnahme; Empfehlungen; Schlüsselprojekte."
    plan["stages"][3]["description"] = "Auswertung"
    waiblingen.plan = plan
    session.add(waiblingen)
    session.commit()
    text = read(session, waiblingen, "beschlussvorlage", tmp_path)
    assert "3. Arbeitsgruppen 4. Auswertung 5. Vorlage an den Gemeinderat: Der Fachausschuss " \
           "berät die Sitzungsvorlage vor" in text  # fmt: skip
    assert "Bestandsaufnahme; Empfehlungen" not in text


def test_a_first_concept_has_no_fortschreibung_left_in_its_papers(session, tmp_path):
    process = start(session, SCHWETZINGEN, tmp_path)
    for kind in ("beschlussvorlage", "sitzungsvorlage", "workshop_einladung",
                 "workshop_programm", "ag_einladung", "ag_protokoll", "abschlussbericht"):
        text = read(session, process, kind, tmp_path)
        assert "ortschreib" not in text and "schreibt ihr" not in text, kind
    for stage in ("ratsbeschluss", "vorlage"):
        path = generate(session, process, "stage_bericht", stage=stage,
                        out_dir=tmp_path / "out").path  # fmt: skip
        with docx2python(str(path)) as result:
            assert "ortschreib" not in result.text, stage


# --- 5. the Grundsatzbeschluss of a process without a Vorlage of its own -------------------


def fortschreibung_of(text: str) -> str:
    return text[text.index("Fortschreibung:") : text.index("Verlauf des ")]


def test_without_a_grundsatz_vorlage_the_verlauf_names_no_phase(session, tmp_path):
    """Völklingen decided to start without a Vorlage of its own: the council's resolution is
    no step of the Verlauf (seed 002 begins it with the workshop), and no phase is named."""
    process = start(session, VOELKLINGEN, tmp_path)
    verlauf = verlauf_of(read(session, process, "sitzungsvorlage", tmp_path))
    assert "Phase" not in verlauf and "Ratsbeschluss" not in verlauf
    assert verlauf.startswith("Verlauf des Fortschreibungsprozesses: Den ersten Schritt bildete "
                              "der Auftaktworkshop zur Fortschreibung des Integrationskonzepts "
                              "am 08.11.2017")  # fmt: skip
    assert "Den zweiten Schritt bildete die Arbeit der Arbeitsgruppe" in verlauf


HPTA = 'start: "2017-08-31 17:00", place: "Neues Rathaus Völklingen", oeffentlich: false}'


def hpta_in_public(text: str) -> str:
    """Völklingen's Hauptausschuss of 31.08.2017 in a public Sitzung."""
    return text.replace(HPTA, HPTA.replace("false", "true"))


def test_without_a_grundsatz_vorlage_a_public_resolution_is_cited_with_its_date(session, tmp_path):
    """The resolution the gate recorded, named by the Sitzung the plan says decides it."""
    process = start(session, VOELKLINGEN, tmp_path, hpta_in_public)
    text = read(session, process, "sitzungsvorlage", tmp_path)
    assert fortschreibung_of(text).startswith(
        "Fortschreibung: In der Sitzung des HptA vom 31.08.2017 wurde der Fortschreibung des "
        "Integrationskonzepts der Stadt Völklingen zugestimmt. Für die externe")  # fmt: skip
    assert "Phase" not in verlauf_of(text)


def test_without_a_grundsatz_vorlage_a_resolution_not_yet_taken_is_not_claimed(session, tmp_path):
    process = start(session, VOELKLINGEN, tmp_path, hpta_in_public, run=False)
    text = read(session, process, "sitzungsvorlage", tmp_path)
    assert "zugestimmt" not in text and "31.08.2017" not in text
    assert "Phase" not in verlauf_of(text)


# --- 6. the place-and-date line of a Vorlage the scenario gives no date ---------------------


def test_an_undated_vorlage_is_dated_by_its_vorlagenschluss(session, tmp_path):
    """Völklingen's Vorlage has no ``dated``: the paper is dated the day it must be at the
    council office for its first Sitzung (AKJS, 12.06.2018: ten working days before, the
    Saarland's Fronleichnam on 31.05.2018 not counted), on every run the same."""
    process = start(session, VOELKLINGEN, tmp_path)
    path = generate(session, process, "sitzungsvorlage", out_dir=tmp_path / "out").path
    lines = [p.text for p in docx.Document(str(path)).paragraphs]
    assert "Völklingen, 28.05.2018" in lines and "Völklingen" not in lines
    assert docx.Document(str(path)).core_properties.created.date() == dt.date(2018, 5, 28)
    again = generate(session, process, "sitzungsvorlage", out_dir=tmp_path / "out")
    assert not again.created and again.version == 1


def test_an_undated_vorlage_without_beratungen_is_dated_the_day_it_is_written(session, tmp_path):
    """A scenario always gives a Beratung (schema: minItems 1); should the rows be gone, the
    paper still carries a date: the day it is written."""
    process = start(session, VOELKLINGEN, tmp_path)
    for beratung in session.exec(select(Beratung)).all():
        session.delete(beratung)
    session.commit()
    before = dt.date.today()
    path = generate(session, process, "sitzungsvorlage", out_dir=tmp_path / "out").path
    after = dt.date.today()
    lines = [p.text for p in docx.Document(str(path)).paragraphs]
    assert {f"Völklingen, {day:%d.%m.%Y}" for day in (before, after)} & set(lines), lines


# --- 7. working-group papers: no empty headings, an invitation without dates ---------------


def _level(paragraph) -> int | None:
    """1 for Title, 2 for Heading 1 …; None for body text."""
    name = paragraph.style.name
    if name == "Title":
        return 1
    return int(name.split()[-1]) + 1 if name.startswith("Heading") else None


def empty_headings(path: Path) -> list[str]:
    """Headings with nothing under them before the next heading of the same or a higher
    level (or the end of the paper)."""
    found = []
    paras = [p for p in docx.Document(str(path)).paragraphs if p.text.strip()]
    for n, p in enumerate(paras):
        level = _level(p)
        if level is None or level == 1:
            continue
        after = _level(paras[n + 1]) if n + 1 < len(paras) else 0
        if after is not None and after <= level:
            found.append(p.text)
    return found


def test_minutes_have_no_empty_headings(session, waiblingen, tmp_path):
    from sqlmodel import select

    from lifecycle.models import AgSitzung

    replay.run(session, waiblingen)
    path = generate(session, waiblingen, "ag_protokoll", out_dir=tmp_path / "a").path
    assert empty_headings(path) == []
    lines = paragraphs(session, waiblingen, "ag_protokoll", tmp_path / "a")
    assert "1. Sitzung am Dienstag, 19. September 2017, 17:00 Uhr" in lines
    # a session with notes: its heading, the notes under it
    first = session.exec(select(AgSitzung).order_by(AgSitzung.start)).first()
    first.notes = "Vorstellung der Angebote.\n\nVerabredung der nächsten Schritte."
    session.add(first)
    session.commit()
    path = generate(session, waiblingen, "ag_protokoll", out_dir=tmp_path / "b").path
    assert empty_headings(path) == []
    paras = [p for p in docx.Document(str(path)).paragraphs if p.text.strip()]
    at = next(n for n, p in enumerate(paras) if p.text.startswith("1. Sitzung am Dienstag, 19."))
    assert paras[at].style.name == "Heading 3"
    assert [p.text for p in paras[at + 1 : at + 3]] == ["Vorstellung der Angebote.",
                                                       "Verabredung der nächsten Schritte."]


def test_a_working_group_without_dates(session, tmp_path):
    process = start(session, VOELKLINGEN, tmp_path)
    einladung = read(session, process, "ag_einladung", tmp_path)
    assert "Wir laden Sie herzlich zur Mitarbeit ein:" in einladung
    assert "Die Termine der Sitzungen geben wir Ihnen rechtzeitig bekannt." in einladung
    assert "Termine:" not in einladung and "zu den Sitzungen" not in einladung
    path = generate(session, process, "ag_protokoll", out_dir=tmp_path / "out").path
    assert empty_headings(path) == []
    lines = paragraphs(session, process, "ag_protokoll", tmp_path)
    assert "Sitzungen" not in lines
    assert "Für diese Arbeitsgruppe sind noch keine Sitzungen und keine Ergebnisse " \
           "verzeichnet." in lines  # fmt: skip


def test_a_report_names_a_working_group_without_results_under_a_heading_of_its_own(
        session, tmp_path):  # fmt: skip
    process = start(session, VOELKLINGEN, tmp_path)  # its one group has recorded nothing yet
    path = generate(session, process, "abschlussbericht", out_dir=tmp_path / "out").path
    assert empty_headings(path) == []
    paras = [p for p in docx.Document(str(path)).paragraphs if p.text.strip()]
    at = next(n for n, p in enumerate(paras) if p.text.startswith("Arbeitsgruppe „"))
    assert paras[at + 1].text == "Für diese Arbeitsgruppe sind keine Ergebnisse verzeichnet."


def test_invited_organisations_read_as_one_sentence(session, tmp_path):
    # Völklingen names its invited organisations, no dative phrase for them
    process = start(session, VOELKLINGEN, tmp_path)
    names = load_scenario(VOELKLINGEN).data["workshop"]["invited_organisations"]
    assert len(names) > 1
    for kind in ("workshop_einladung", "sitzungsvorlage"):
        path = generate(session, process, kind, out_dir=tmp_path / kind).path
        said = next(p.text for p in docx.Document(str(path)).paragraphs
                    if "mit Vertreterinnen und Vertretern" in p.text)  # fmt: skip
        clause = said.split("mit Vertreterinnen und Vertretern", 1)[1].split(".", 1)[0]
        assert ":" not in clause, (kind, said)  # no list after a colon inside the sentence
        assert f"{', '.join(names[:-1])} und {names[-1]}" in clause, (kind, said)


def test_every_working_group_letter_has_sender_place_and_date(session, waiblingen, tmp_path):
    from lifecycle.models import Task

    replay.run(session, waiblingen)
    path = generate(session, waiblingen, "ag_einladung", out_dir=tmp_path).path
    paras = [p for p in docx.Document(str(path)).paragraphs if p.text.strip()]
    titles = [n for n, p in enumerate(paras) if p.style.name == "Title"]
    assert len(titles) == 6
    sent = {t.key.split("__")[1]: t.due for t in session.exec(select(Task).where(
        Task.fortschreibung_id == waiblingen.id, Task.key.startswith("ag_einladen__"))).all()}
    by_title = {ag["title"]: ag["key"] for ag in
                load_scenario(EXAMPLES / "waiblingen-2017.yaml").data["arbeitsgruppen"]}
    for n in titles:
        group = by_title[paras[n].text.removeprefix("Einladung zur Arbeitsgruppe „")[:-1]]
        # the letter's head: the sender's Fachbereich, then place and the day it is sent
        assert [p.text for p in paras[n - 2 : n]] == [
            "Fachbereich Bürgerengagement", f"Waiblingen, {sent[group]:%d.%m.%Y}"]


def test_a_working_group_with_one_date(session, tmp_path):
    process = start(session, VOELKLINGEN, tmp_path, lambda text: text.replace(
        AG_LINE, 'moderator: schaeffer, sitzungen: ["2017-12-05 17:00"]}\n'))  # fmt: skip
    einladung = read(session, process, "ag_einladung", tmp_path)
    assert "Wir laden Sie herzlich zur Sitzung ein:" in einladung
    assert "Termin: 1. Sitzung: Dienstag, 5. Dezember 2017, 17:00 Uhr" in einladung
    protokoll = read(session, process, "ag_protokoll", tmp_path)
    assert "Sitzungen 1. Sitzung am Dienstag, 5. Dezember 2017, 17:00 Uhr" in protokoll
    assert "keine Sitzungen" not in protokoll


# --- the signing sheet: the consent above every page's rows -------------------------------


def test_every_signer_of_the_list_sees_the_consent(session, waiblingen, tmp_path):
    replay.run(session, waiblingen)
    path = generate(session, waiblingen, "workshop_teilnehmerliste", out_dir=tmp_path).path
    consent = "Mit meiner Unterschrift bin ich einverstanden, dass mein Name in der " \
              "Dokumentation des Workshops genannt wird."  # fmt: skip
    document = docx.Document(str(path))
    assert consent in [p.text for p in document.sections[0].header.paragraphs]
    assert consent not in [p.text for p in document.paragraphs]  # not once, after 60 rows
    with docx2python(str(path)) as result:
        assert consent in flat(str(result.header))


# --- no English leftovers of python-docx's default template --------------------------------


def test_no_part_of_a_paper_is_english_or_claims_another_writer(session, waiblingen, tmp_path):
    import zipfile

    from lifecycle.plan_types import plan_of

    replay.run(session, waiblingen)
    for kind in plan_of(waiblingen.plan).document_kinds:
        path = generate(session, waiblingen, kind, out_dir=tmp_path).path
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert "word/stylesWithEffects.xml" not in names, kind
            for name in (n for n in names if n.endswith((".xml", ".rels"))):
                data = archive.read(name).decode("utf-8")
                assert "en-US" not in data, (kind, name)
            app = archive.read("docProps/app.xml").decode("utf-8")
            assert "<Application>lifecycle</Application>" in app and "Microsoft" not in app
