"""A decided Vorlage is the record of what the council decided.

Once the gate of a Vorlage's stage is approved, ``docs generate`` (and every path to it: the
gate's documents, the stage run) hands out the version generated up to the decision, whatever
changed since (a Sitzung it lists moved, a new template), and says so; its texts are no longer
edited (service, CLI, web editor). Sending a gate back decides nothing: before the approval
everything follows the process as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from docx2python import docx2python
from sqlmodel import Session, func, select
from web_support import client_for, csrf, dump, make_app, notice

from lifecycle import documents, replay, services
from lifecycle.cli import run
from lifecycle.db import engine_for
from lifecycle.decided import decided
from lifecycle.doc_context import build_context
from lifecycle.errors import Refused
from lifecycle.models import (
    DocumentVersion,
    Event,
    Fortschreibung,
    Stage,
    StageState,
    Vorlage,
    VorlageVersion,
)

PROCESS = "waiblingen-2017"
BSV = "waiblingen:bsv-2017-12-06"  # the Vorberatung of BSV 21/2017
DECIDED = "Die Vorlage „BSV 21/2017“ ist beschlossen (Freigabe am 14.12.2017)"
KEPT_V1 = f"{DECIDED}; die beschlossene Fassung v1 bleibt unverändert."
REFUSED = ("die Vorlage „BSV 21/2017“ ist beschlossen (Freigabe am 14.12.2017); ihr Text bleibt, "
           "wie er beschlossen wurde")  # fmt: skip
SECTION = "Wie geht es weiter"


def _process(session: Session) -> Fortschreibung:
    session.expire_all()
    return session.exec(select(Fortschreibung).where(Fortschreibung.key == PROCESS)).one()


def _vorlage(session: Session, stage: str = "vorlage") -> Vorlage:
    process = _process(session)
    return session.exec(select(Vorlage).where(Vorlage.fortschreibung_id == process.id,
                                              Vorlage.stage_key == stage)).one()  # fmt: skip


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text(path) -> str:
    with docx2python(str(path)) as read:
        return " ".join(read.text.split())


def _generate(session: Session, folder, kind: str = "sitzungsvorlage"):
    return services.generate_document(session, PROCESS, kind, out_dir=folder, actor="sd")


def _move(session: Session, ref: str = BSV, day: dt.date = dt.date(2017, 12, 7)) -> None:
    services.move_sitzung(session, ref, day, actor="sd", today=dt.date(2017, 11, 8))


def _decide(session: Session) -> None:
    """The Gemeinderat approves the Sitzungsvorlage (the scenario's last decision)."""
    replay.run(session, _process(session), until=dt.date(2017, 12, 14))


@pytest.fixture
def sent(session, waiblingen, tmp_path):
    """Everything up to the day before the Gemeinderat decides; the Sitzungsvorlage sent (v1)."""
    replay.run(session, waiblingen, until=dt.date(2017, 12, 13))
    first = _generate(session, tmp_path / "out")
    assert (first.version, first.created, first.decided_note) == (1, True, "")
    return first


# --- documents ----------------------------------------------------------------------------------


def test_before_the_decision_a_move_makes_a_new_version(session, sent, tmp_path):
    _move(session)
    second = _generate(session, tmp_path / "out")
    assert (second.version, second.created, second.decided_note) == (2, True, "")
    assert "Verwaltung 07.12.2017 Vorberatung" in _text(second.path)
    assert "Verwaltung 06.12.2017 Vorberatung" in _text(sent.path)  # v1 kept as it was


def test_a_decided_paper_stays_the_version_sent_after_a_move(session, sent, tmp_path):
    sha = _sha(sent.path)
    _decide(session)
    assert decided(session, _vorlage(session)).on == dt.date(2017, 12, 14)
    _move(session)
    # the move did change what the paper would say now
    row = documents.versions(session, _process(session), "sitzungsvorlage")[-1]
    now = build_context(session, _process(session), "sitzungsvorlage")
    assert documents.inputs_hash("sitzungsvorlage", now) != row.inputs_sha256

    again = _generate(session, tmp_path / "out")
    assert (again.version, again.created, again.path) == (1, False, sent.path)
    assert again.decided_note == KEPT_V1 and again.hinweise == ()
    assert _sha(again.path) == sha
    assert "Verwaltung 06.12.2017 Vorberatung" in _text(again.path)
    assert [r.version for r in documents.versions(session, _process(session))] == [1]
    # asked for elsewhere: a copy of the decided version, nothing recorded
    copy = _generate(session, tmp_path / "elsewhere")
    assert (copy.version, copy.created, _sha(copy.path)) == (1, False, sha)
    assert session.exec(select(func.count()).select_from(DocumentVersion)).one() == 1


def test_the_gate_documents_and_the_stage_run_keep_the_decided_paper(session, sent, tmp_path):
    _decide(session)
    _move(session)
    [gate] = services.generate_gate_documents(session, PROCESS, "vorlage", out_dir=tmp_path / "out")
    assert (gate.kind, gate.version, gate.created, gate.decided_note) == (
        "sitzungsvorlage", 1, False, KEPT_V1)  # fmt: skip
    run_ = services.generate_stage_run_documents(session, PROCESS, "vorlage",
                                                 out_dir=tmp_path / "out")  # fmt: skip
    assert [(r.kind, r.version, r.created) for r in run_] == [("sitzungsvorlage", 1, False)]
    assert [r.version for r in documents.versions(session, _process(session))] == [1]


def test_the_beschlussvorlage_is_kept_when_the_next_stage_runs(session, waiblingen, tmp_path):
    """The approval of the first gate opens the Auftaktworkshop, whose run writes the gate
    just passed once more: the decided Beschlussvorlage is not rewritten."""
    replay.run(session, waiblingen, until=dt.date(2017, 4, 26))
    first = _generate(session, tmp_path / "out", "beschlussvorlage")
    replay.run(session, _process(session), until=dt.date(2017, 4, 27))  # BSV 3/2017 approved
    _move(session, "waiblingen:bsv-2017-04-05", dt.date(2017, 4, 6))
    opened = services.generate_stage_run_documents(session, PROCESS, "auftaktworkshop",
                                                   out_dir=tmp_path / "out")  # fmt: skip
    assert "beschlussvorlage" not in [r.kind for r in opened]
    again = _generate(session, tmp_path / "out", "beschlussvorlage")
    assert (again.version, again.created, _sha(again.path)) == (1, False, _sha(first.path))
    assert again.decided_note == ("Die Vorlage „BSV 3/2017“ ist beschlossen (Freigabe am "
                                  "27.04.2017); die beschlossene Fassung v1 bleibt unverändert.")


def test_the_version_sent_is_the_last_one_before_the_decision(session, sent, tmp_path):
    """v2 was the paper the council had; a v3 that an earlier release wrote after the decision
    (a Sitzung moved since) is not the decided paper."""
    _move(session)
    second = _generate(session, tmp_path / "out")
    _decide(session)
    _move(session, BSV, dt.date(2017, 12, 5))
    process = _process(session)
    spec = documents.kind_for(process, "sitzungsvorlage")
    later = documents._generate_once(session, process, spec, documents.find_template(spec),
                                     "vorlage", tmp_path / "out", False)  # fmt: skip
    assert later is not None and later.version == 3  # as the released version did
    again = _generate(session, tmp_path / "out")
    assert (again.version, again.created, again.path) == (2, False, second.path)
    assert again.decided_note == f"{DECIDED}; die beschlossene Fassung v2 bleibt unverändert."


def test_a_paper_first_printed_after_the_decision_is_then_kept(session, waiblingen, tmp_path,
                                                               capsys):  # fmt: skip
    replay.run(session, waiblingen)  # decided; no paper generated before
    late = _generate(session, tmp_path / "out")
    assert (late.version, late.created) == (1, True)
    assert late.decided_note == (f"{DECIDED}; vor der Freigabe war keine Fassung erzeugt worden: "
                                 "v1 ist nach dem heutigen Stand erzeugt und bleibt von nun an "
                                 "die beschlossene Fassung.")  # fmt: skip
    sha = _sha(late.path)
    _move(session)
    capsys.readouterr()
    assert run(["docs", "generate", "sitzungsvorlage", "--process", PROCESS,
                "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "sitzungsvorlage v1 (unverändert)" in out
    assert f"Hinweis: {KEPT_V1}" in " ".join(out.split())
    assert "Hinweis zum Abschnitt" not in out  # nothing to check in a decided text
    assert _sha(late.path) == sha
    assert [r.version for r in documents.versions(session, _process(session))] == [1]


def test_a_decided_papers_lost_file_is_not_made_up_from_todays_records(session, sent, tmp_path):
    _decide(session)
    text = _text(sent.path)
    sent.path.unlink()
    again = _generate(session, tmp_path / "out")  # nothing changed: written again as it was
    assert (again.version, again.created, again.path) == (1, False, sent.path)
    assert _text(again.path) == text
    _move(session)
    sent.path.unlink()
    with pytest.raises(Refused) as refused:
        _generate(session, tmp_path / "out")
    assert str(refused.value).startswith(f"{DECIDED}; die Datei der beschlossenen Fassung v1 "
                                         "fehlt")  # fmt: skip
    assert not sent.path.exists()
    assert session.exec(select(func.count()).select_from(DocumentVersion)).one() == 1


def test_a_gate_sent_back_decides_nothing(session, sent, tmp_path):
    services.decide_gate(session, PROCESS, "vorlage", outcome="send_back", on=dt.date(2017, 12, 14),
                         by="sitzungsdienst", remarks="Finanzen fehlen")  # fmt: skip
    assert decided(session, _vorlage(session)) is None
    _move(session)
    assert _generate(session, tmp_path / "out").version == 2
    version = services.edit_vorlage_section(session, PROCESS, "vorlage", SECTION, "Neu.",
                                            actor="ortolf")  # fmt: skip
    assert version.version == 1


def test_the_engines_state_decides_a_stage_not_closed_is_not_decided(session, sent):
    """The engine reopens no approved stage (a second decision is refused); the answer follows
    the stage's state, should that ever change."""
    _decide(session)
    with pytest.raises(Refused, match="schon geschlossen"):
        services.decide_gate(session, PROCESS, "vorlage", outcome="send_back",
                             on=dt.date(2017, 12, 15), by="sitzungsdienst", remarks="noch mal")
    stage = session.exec(select(Stage).where(Stage.key == "vorlage")).one()
    stage.state = StageState.open  # as a reopening would leave it
    session.add(stage)
    session.commit()
    assert decided(session, _vorlage(session)) is None


# --- editing --------------------------------------------------------------------------------------


def _rows(session: Session) -> tuple:
    session.expire_all()
    vorlage = _vorlage(session)
    return (vorlage.betreff, vorlage.beschlussvorschlag, dict(vorlage.begruendung),
            session.exec(select(func.count()).select_from(VorlageVersion)).one(),
            session.exec(select(func.count()).select_from(Event)).one())  # fmt: skip


def test_a_decided_vorlage_is_not_edited(session, sent, tmp_path, capsys):
    _decide(session)
    before = _rows(session)
    with pytest.raises(Refused) as refused:
        services.edit_vorlage_section(session, PROCESS, "BSV 21/2017", SECTION, "Neu.",
                                      actor="ortolf")  # fmt: skip
    assert str(refused.value) == REFUSED
    with pytest.raises(Refused, match=re.escape(REFUSED)):
        services.save_vorlage_text(session, PROCESS, "vorlage", betreff="Neu",
                                   beschlussvorschlag="Neu", begruendung={}, actor="ortolf")
    assert _rows(session) == before

    own = tmp_path / "text.txt"
    own.write_text("Neu.", encoding="utf-8")
    capsys.readouterr()
    code = run(["vorlage", "edit", PROCESS, "vorlage", "--section", SECTION, "--file", str(own)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"lifecycle: {REFUSED}", err
    assert _rows(session) == before
    assert run(["vorlage", "show", PROCESS, "vorlage"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"{DECIDED}; der Text bleibt, wie er beschlossen wurde." in out


def test_the_editor_shows_a_decided_vorlage_and_refuses_to_save_it(db_url):
    app = make_app(db_url)
    editor = f"/prozess/{PROCESS}/vorlage/vorlage"
    ortolf = client_for(app, "ortolf")
    page = ortolf.get(editor).text
    assert "Als neue Version speichern" in page and " readonly" not in page
    with Session(engine_for(db_url)) as s:
        replay.run(s, _process(s))
    before = dump(db_url)
    page = ortolf.get(editor).text
    assert f"{DECIDED}; der Text bleibt, wie er beschlossen wurde." in page
    assert "Als neue Version speichern" not in page and 'id="betreff"' in page
    assert len(re.findall(r"<textarea [^>]*readonly", page)) == page.count("<textarea ")
    refused = ortolf.post(editor, data={"csrf_token": csrf(page), "betreff": "Geändert",
                                        "beschlussvorschlag": "Geändert"})  # fmt: skip
    assert refused.status_code == 409
    assert REFUSED[1:] in refused.text and "Die Vorlage" in refused.text
    # an empty field changes nothing: the decision is said first, not the form's problem
    empty = ortolf.post(editor, data={"csrf_token": csrf(page), "betreff": "",
                                      "beschlussvorschlag": ""})  # fmt: skip
    assert empty.status_code == 409 and REFUSED[1:] in empty.text
    assert dump(db_url) == before


def test_the_process_page_says_which_version_of_a_decided_paper_stays(db_url):
    app = make_app(db_url)
    with Session(engine_for(db_url)) as s:
        replay.run(s, _process(s))
    sd = client_for(app, "sd")
    path = f"/prozess/{PROCESS}/dokumente/sitzungsvorlage/erzeugen"
    first = sd.post(path, data={"csrf_token": csrf(sd.get(f"/prozess/{PROCESS}").text),
                                "phase": "vorlage"})  # fmt: skip
    assert notice(sd, first).startswith(f"Sitzungsvorlage: Version 1 geschrieben. {DECIDED}; "
                                        "vor der Freigabe war keine Fassung erzeugt worden")
    with Session(engine_for(db_url)) as s:
        _move(s)
    again = sd.post(path, data={"csrf_token": csrf(sd.get(f"/prozess/{PROCESS}").text),
                                "phase": "vorlage"})  # fmt: skip
    assert notice(sd, again) == f"Sitzungsvorlage: unverändert, Version 1 gilt weiter. {KEPT_V1}"
