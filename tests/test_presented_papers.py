"""Every paper a Gremium had before it is frozen once the gate it was presented at is approved.

The Sachstandsbericht goes to the committee for a Kenntnisnahme (the Umsetzung 2018, BSV
19/2018). Once the committee has taken note (the gate of its stage approved), generating it
again hands out the version the committee had, whatever changed in the Maßnahmen since, and
says so in German ("zur Kenntnis genommen"); before that, a change makes a new version. Papers
no Gremium sees (workshop, Arbeitsgruppen, the Abschlussbericht the Projektleitung accepts)
follow the records as before.

Real SQLite through the services, the real Umsetzung scenario, the DOCX read back with
python-docx.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import docx
import pytest
from conftest import EXAMPLES
from sqlmodel import Session, select
from web_support import client_for, csrf, make_app, notice

from lifecycle import documents, replay, services
from lifecycle.cli import run
from lifecycle.db import engine_for
from lifecycle.decided import presented_at
from lifecycle.doc_context import build_context
from lifecycle.errors import Refused
from lifecycle.models import Fortschreibung, Stage, StageState, Workshop
from lifecycle.plan_types import plan_of
from lifecycle.scenario import load_scenario

UMSETZUNG = EXAMPLES / "waiblingen-umsetzung-2018.yaml"
PROCESS = "waiblingen-umsetzung-2018"
KIND = "sachstandsbericht"
BEFORE = dt.date(2018, 11, 27)  # the day before the BSV takes note (28.11.2018)
NEW_TEXT = "Der offene Treff zieht in das Bürgerzentrum um."
NOTED = "Die Vorlage „BSV 19/2018“ ist zur Kenntnis genommen (Freigabe am 28.11.2018)"
KEPT_V1 = f"{NOTED}; die zur Kenntnis genommene Fassung v1 bleibt unverändert."


def _process(session: Session) -> Fortschreibung:
    session.expire_all()
    return session.exec(select(Fortschreibung).where(Fortschreibung.key == PROCESS)).one()


def _start(session: Session, scenario: Path = UMSETZUNG) -> Fortschreibung:
    """Waiblingen 2017 adopted, its Umsetzung 2018 up to the day before the committee."""
    replay.run(session, session.exec(select(Fortschreibung).where(
        Fortschreibung.key == "waiblingen-2017")).one())  # fmt: skip
    process = services.start(session, load_scenario(scenario), actor="test")
    replay.run(session, process, until=BEFORE)
    return process


def _generate(session: Session, folder: Path) -> documents.DocumentResult:
    return services.generate_document(session, PROCESS, KIND, out_dir=folder, actor="sd")


def _change_a_massnahme(session: Session) -> None:
    services.update_massnahme(session, PROCESS, "offener-treff", {"public_text": NEW_TEXT},
                              actor="ortolf", on=dt.date(2018, 11, 27))  # fmt: skip


def _note_taken(session: Session) -> None:
    replay.run(session, _process(session))  # the BSV takes note on 28.11.2018


def _text(path: Path) -> str:
    """Every paragraph and table cell of the DOCX, read back with python-docx."""
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    parts += [c.text for t in document.tables for r in t.rows for c in r.cells]
    return " ".join(" ".join(parts).split())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sent(session, waiblingen, tmp_path):
    """The Sachstandsbericht as sent to the committee (v1), the day before it takes note."""
    _start(session)
    first = _generate(session, tmp_path / "out")
    assert (first.version, first.created, first.decided_note) == (1, True, "")
    assert NEW_TEXT not in _text(first.path)
    return first


def test_before_the_kenntnisnahme_a_changed_massnahme_makes_a_new_version(session, sent,
                                                                          tmp_path):  # fmt: skip
    _change_a_massnahme(session)
    second = _generate(session, tmp_path / "out")
    assert (second.version, second.created, second.decided_note) == (2, True, "")
    assert NEW_TEXT in _text(second.path)
    assert NEW_TEXT not in _text(sent.path)  # v1 kept as it was


def test_after_the_kenntnisnahme_the_report_stays_as_the_committee_had_it(session, sent,
                                                                           tmp_path):  # fmt: skip
    sha, text = _sha(sent.path), _text(sent.path)
    _note_taken(session)
    _change_a_massnahme(session)
    # the change would alter the paper now
    row = documents.versions(session, _process(session), KIND)[-1]
    now = build_context(session, _process(session), KIND)
    assert documents.inputs_hash(KIND, now) != row.inputs_sha256

    again = _generate(session, tmp_path / "out")
    assert (again.version, again.created, again.path) == (1, False, sent.path)
    assert again.decided_note == KEPT_V1
    assert _sha(again.path) == sha and _text(again.path) == text
    assert NEW_TEXT not in _text(again.path)
    assert [r.version for r in documents.versions(session, _process(session))] == [1]
    # every path to it: the gate's documents
    [gate] = services.generate_gate_documents(session, PROCESS, "bericht",
                                              out_dir=tmp_path / "out")  # fmt: skip
    assert (gate.kind, gate.version, gate.created, gate.decided_note) == (KIND, 1, False,
                                                                          KEPT_V1)  # fmt: skip
    assert [r.version for r in documents.versions(session, _process(session))] == [1]


def test_the_cli_says_the_report_stays_as_taken_note_of(session, sent, tmp_path, capsys):
    _note_taken(session)
    _change_a_massnahme(session)
    capsys.readouterr()
    assert run(["docs", "generate", KIND, "--process", PROCESS,
                "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert f"{KIND} v1 (unverändert)" in out
    assert f"Hinweis: {KEPT_V1}" in out
    assert NEW_TEXT not in _text(sent.path)


def test_a_report_first_printed_after_the_kenntnisnahme_is_then_kept(session, waiblingen,
                                                                     tmp_path):  # fmt: skip
    _start(session)
    _note_taken(session)
    late = _generate(session, tmp_path / "out")
    assert (late.version, late.created) == (1, True)
    assert late.decided_note == (f"{NOTED}; vor der Freigabe war keine Fassung erzeugt worden: "
                                 "v1 ist nach dem heutigen Stand erzeugt und bleibt von nun an "
                                 "die zur Kenntnis genommene Fassung.")  # fmt: skip
    _change_a_massnahme(session)
    again = _generate(session, tmp_path / "out")
    assert (again.version, again.created, again.decided_note) == (1, False, KEPT_V1)
    assert NEW_TEXT not in _text(again.path)


def test_a_lost_file_of_the_report_is_not_made_up_from_todays_records(session, sent, tmp_path):
    _note_taken(session)
    _change_a_massnahme(session)
    sent.path.unlink()
    with pytest.raises(Refused) as refused:
        _generate(session, tmp_path / "out")
    assert str(refused.value).startswith(f"{NOTED}; die Datei der zur Kenntnis genommenen "
                                         "Fassung v1 fehlt")  # fmt: skip
    assert not sent.path.exists()


def test_the_vorlage_of_the_report_is_not_edited_once_taken_note_of(session, sent):
    _note_taken(session)
    with pytest.raises(Refused) as refused:
        services.save_vorlage_text(session, PROCESS, "bericht", betreff="Neu",
                                   beschlussvorschlag="Neu", begruendung={}, actor="ortolf")
    assert str(refused.value) == (
        "die Vorlage „BSV 19/2018“ ist zur Kenntnis genommen (Freigabe am 28.11.2018); ihr Text "
        "bleibt, wie er zur Kenntnis genommen wurde")  # fmt: skip


def test_a_report_without_a_vorlage_is_named_by_the_number_of_its_approval(session, waiblingen,
                                                                           tmp_path):  # fmt: skip
    """No Vorlage row: the gate's approval recorded the number; the plan's Sitzung is a
    Kenntnisnahme ("Sachstandsbericht im Fachausschuss (Kenntnisnahme)")."""
    text = UMSETZUNG.read_text(encoding="utf-8")
    before, rest = text.split("\nvorlagen:\n", 1)
    scenario = tmp_path / UMSETZUNG.name
    scenario.write_text(before + "\n" + rest[rest.index("\n# What happened") :], encoding="utf-8")
    _start(session, scenario)
    first = _generate(session, tmp_path / "out")
    _note_taken(session)
    _change_a_massnahme(session)
    again = _generate(session, tmp_path / "out")
    assert (again.version, again.created, _sha(again.path)) == (1, False, _sha(first.path))
    assert again.decided_note == KEPT_V1


def test_the_web_button_keeps_the_report_and_says_so(db_url):
    app = make_app(db_url)
    with Session(engine_for(db_url)) as s:
        _start(s)
    sd = client_for(app, "sd")
    path = f"/prozess/{PROCESS}/dokumente/{KIND}/erzeugen"

    def press() -> str:
        token = csrf(sd.get(f"/prozess/{PROCESS}").text)
        return notice(sd, sd.post(path, data={"csrf_token": token, "phase": "bericht"}))

    assert press() == "Sachstandsbericht zur Umsetzung: Version 1 geschrieben."
    with Session(engine_for(db_url)) as s:
        _note_taken(s)
        _change_a_massnahme(s)
    assert press() == f"Sachstandsbericht zur Umsetzung: unverändert, Version 1 gilt weiter. " \
                      f"{KEPT_V1}"  # fmt: skip


def test_only_papers_presented_to_a_gremium_are_frozen(session, waiblingen):
    """The Vorlagen and the Sachstandsbericht go to a Gremium at a gate decided in a Sitzung;
    the workshop's and the Arbeitsgruppen's papers and the Abschlussbericht (accepted by the
    Projektleitung) do not, and follow the records after their gate as before."""
    fortschreibung = waiblingen
    found = {kind: presented_at(fortschreibung, kind, stage.key)
             for stage in plan_of(fortschreibung.plan).stages for kind in stage.gate.documents}
    assert found == {
        "beschlussvorlage": "ratsbeschluss", "sitzungsvorlage": "vorlage",
        "workshop_einladung": None, "workshop_programm": None, "workshop_teilnehmerliste": None,
        "ag_einladung": None, "ag_protokoll": None, "abschlussbericht": None,
    }  # fmt: skip
    umsetzung = _start(session)
    assert presented_at(umsetzung, KIND, "bericht") == "bericht"
    assert presented_at(umsetzung, KIND, "sachstand") is None  # not listed at that gate


def test_a_workshop_paper_follows_the_records_after_its_gate(session, waiblingen, tmp_path):
    """The Auftaktworkshop's gate approved: its Teilnehmerliste is still the team's working
    paper; a change to the workshop makes a new version."""
    replay.run(session, waiblingen, until=dt.date(2017, 7, 31))
    process = waiblingen
    stage = session.exec(select(Stage).where(Stage.key == "auftaktworkshop")).one()
    assert stage.state == StageState.closed
    first = documents.generate(session, process, "workshop_einladung", out_dir=tmp_path)
    workshop = session.exec(select(Workshop)).one()
    workshop.place = "Bürgerzentrum Waiblingen, Saal 2"
    session.add(workshop)
    session.commit()
    again = documents.generate(session, process, "workshop_einladung", out_dir=tmp_path)
    assert (again.version, again.created, again.decided_note) == (first.version + 1, True, "")
