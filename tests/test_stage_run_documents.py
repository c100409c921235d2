"""A stage run writes its gate's papers as drafts, and the papers of the gate just passed once
more, as decided: the Abschlussbericht is as of its stage's close, not of its opening."""

from __future__ import annotations

import datetime as dt

from docx2python import docx2python

from lifecycle import replay, services
from lifecycle.models import Fortschreibung

PROCESS = "waiblingen-2017"


def _text(result) -> str:
    with docx2python(str(result.path)) as read:
        return " ".join(read.text.split())


def test_the_report_of_the_gate_just_passed_is_written_again_as_decided(
    session, waiblingen, tmp_path
):
    replay.run(session, waiblingen, until=dt.date(2017, 11, 12))  # the Auswertung is open
    process = session.get(Fortschreibung, waiblingen.id)
    opened = services.generate_stage_run_documents(session, PROCESS, "auswertung",
                                                   out_dir=tmp_path)  # fmt: skip
    [draft] = [r for r in opened if r.kind == "abschlussbericht"]
    # dated as of the stage's opening: the place line "Stadt Waiblingen, <day>"
    assert draft.version == 1 and f"Waiblingen, {_opened(session, process)} " in _text(draft)

    replay.run(session, process, until=dt.date(2017, 11, 13))  # the scenario approves it
    run = services.generate_stage_run_documents(session, PROCESS, "vorlage", out_dir=tmp_path)
    assert [r.kind for r in run] == ["abschlussbericht", "sitzungsvorlage"]
    decided = run[0]
    assert decided.version == 2 and decided.created
    assert "Waiblingen, 13.11.2017 " in _text(decided)

    # The same run again (a retry): nothing new, and the decided paper is not listed again.
    again = services.generate_stage_run_documents(session, PROCESS, "vorlage", out_dir=tmp_path)
    assert [(r.kind, r.version, r.created) for r in again] == [("sitzungsvorlage", 1, False)]
    assert sorted(p.name for p in tmp_path.glob("abschluss*")) == [
        "abschlussbericht_v1.docx", "abschlussbericht_v2.docx"]  # fmt: skip


def test_a_later_round_of_the_stage_leaves_the_decided_report_alone(session, waiblingen, tmp_path):
    replay.run(session, waiblingen, until=dt.date(2017, 11, 13))  # the Auswertung approved
    services.decide_gate(session, PROCESS, "vorlage", outcome="send_back", on=dt.date(2017, 11, 20),
                         by="ortolf", remarks="Finanzen fehlen")  # fmt: skip
    run = services.generate_stage_run_documents(session, PROCESS, "vorlage", out_dir=tmp_path)
    assert [r.kind for r in run] == ["sitzungsvorlage"]


def test_the_first_stage_has_no_gate_before_it(session, waiblingen, tmp_path):
    run = services.generate_stage_run_documents(session, PROCESS, "ratsbeschluss",
                                                out_dir=tmp_path)  # fmt: skip
    assert [r.kind for r in run] == ["beschlussvorlage"]


def _opened(session, process) -> str:
    from lifecycle.dates import short_de
    from lifecycle.models import Stage

    stage = session.get(Stage, process.current_stage_id)
    return short_de(stage.opened_on)
