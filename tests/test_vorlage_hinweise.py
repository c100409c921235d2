"""A moved Sitzung flags the day the author's own words still name.

The drafts from the process follow a move by themselves; a text the author (or the scenario)
wrote does not. Where it names the day a Sitzung of the process was on before it moved, the
CLI, the editor and document generation say so, and nothing of the text is changed. A Sitzung
of the Beratungsfolge the RIS has cancelled is a note on the Beratungsfolge, until the RIS
reinstates it or the Beratung is bound to another Sitzung (the cancellations come from a real
sync against a loopback RIS, as in tests/test_ris_cancelled.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select
from test_oparl_sync import recorded
from test_oparl_sync_hostile import ORGS, _m, _ris
from web_support import client_for, make_app

from lifecycle import replay, services
from lifecycle.cancellations import cancelled_sitzungen
from lifecycle.cli import run
from lifecycle.dates import MAX_YEAR, MIN_YEAR, long_de, short_de
from lifecycle.db import engine_for
from lifecycle.decided import decided
from lifecycle.documents import generate
from lifecycle.models import Beratung, BeratungRole, Fortschreibung, Vorlage
from lifecycle.oparl.service import bind_sitzung
from lifecycle.oparl.sync import sync
from lifecycle.vorlage_hinweise import BERATUNGSFOLGE, Hinweis, days_named, hinweise

PROCESS, SECTION = "waiblingen-2017", "Verlauf des Fortschreibungsprozesses"
SCENARIO_SECTION = "Wie geht es weiter"  # the scenario's words: "bis zur Sitzung am 6.12.2017"
OWN = ("Der BSV berät am 6. Dezember 2017 vor, der Gemeinderat entscheidet am 14.12.2017. "
       "Am 06.12.17 liegt die Vorlage aus.")  # fmt: skip
BSV = "waiblingen:bsv-2017-12-06"
TODAY = dt.date(2017, 11, 8)


def _notes(session: Session) -> list:
    session.expire_all()
    process = session.exec(select(Fortschreibung).where(Fortschreibung.key == PROCESS)).one()
    vorlage = session.exec(select(Vorlage).where(Vorlage.fortschreibung_id == process.id,
                                                 Vorlage.stage_key == "vorlage")).one()  # fmt: skip
    return hinweise(session, process, vorlage)


def _edit(session: Session, text: str) -> None:
    services.edit_vorlage_section(session, PROCESS, "vorlage", SECTION, text, actor="ortolf")


def test_a_moved_sitzung_flags_its_old_day_in_the_authors_text(session, waiblingen, tmp_path,
                                                               capsys):  # fmt: skip
    _edit(session, OWN)
    assert _notes(session) == []  # the days named are the Sitzungen's days: nothing to check

    services.move_sitzung(session, BSV, dt.date(2017, 12, 13), actor="sd", today=TODAY)
    notes = {n.section: n.text for n in _notes(session)}
    # One note a section, though the author's text names the day twice (in words and in
    # numbers); the scenario's own words in "Wie geht es weiter" name it too ("bis zur
    # Sitzung am 6.12.2017"). The 14.12.2017 is still the Gemeinderat's day.
    assert len(_notes(session)) == len(notes) == 2
    assert notes[SECTION] == notes[SCENARIO_SECTION] == (
        "Der Text nennt den 06.12.2017; die Sitzung des BSV von diesem Tag ist auf Mittwoch, "
        "13. Dezember 2017 verlegt worden. Bitte das Datum prüfen.")  # fmt: skip

    process = session.get(Fortschreibung, waiblingen.id)
    result = generate(session, process, "sitzungsvorlage", out_dir=tmp_path / "a")
    assert set(result.flagged) == {SECTION, SCENARIO_SECTION}
    capsys.readouterr()
    assert run(["docs", "generate", "sitzungsvorlage", "--process", PROCESS,
                "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    assert f"Hinweis zum Abschnitt „{SECTION}“: Der Text nennt den 06.12.2017" \
        in capsys.readouterr().out  # fmt: skip
    assert run(["vorlage", "show", PROCESS, "vorlage"]) == 0
    shown = " ".join(re.sub(r"[│┃|]", " ", capsys.readouterr().out).split())
    assert "06.12.2017" in shown and "verlegt" in shown

    # The author's words are the author's: nothing was rewritten.
    assert session.exec(select(Vorlage.begruendung).where(
        Vorlage.stage_key == "vorlage", Vorlage.fortschreibung_id == waiblingen.id)
    ).one()[SECTION] == OWN  # fmt: skip

    _edit(session, OWN.replace("6. Dezember", "13. Dezember").replace("06.12.17", "13.12.17"))
    assert [n.section for n in _notes(session)] == [SCENARIO_SECTION]


def test_a_sitzung_moved_back_to_its_day_flags_nothing(session, waiblingen):
    _edit(session, OWN)
    services.move_sitzung(session, BSV, dt.date(2017, 12, 13), actor="sd", today=TODAY)
    services.move_sitzung(session, BSV, dt.date(2017, 12, 6), actor="sd", today=TODAY)
    assert _notes(session) == []


def test_the_editor_shows_the_note_next_to_the_section(db_url):
    app = make_app(db_url)
    from lifecycle.db import engine_for

    with Session(engine_for(db_url)) as s:
        _edit(s, OWN)
        services.move_sitzung(s, BSV, dt.date(2017, 12, 13), actor="sd", today=TODAY)
        assert {n.section for n in _notes(s)} == {SECTION, SCENARIO_SECTION}
    page = client_for(app, "ortolf").get(f"/prozess/{PROCESS}/vorlage/vorlage").text
    notes = re.findall(r'<p class="hinweis" role="status">(.*?)</p>', page, re.S)
    assert sum("Der Text nennt den 06.12.2017" in n for n in notes) == 2, notes


@given(st.dates(dt.date(MIN_YEAR, 1, 1), dt.date(MAX_YEAR, 12, 31)), st.text(max_size=40))
def test_every_way_a_clerk_writes_a_day_is_read(day, noise):
    for written in (short_de(day), long_de(day), f"{day.day}.{day.month}.{day.year}",
                    f"{day.day}. {day.month}. {day.year}"):  # fmt: skip
        text = f"{noise} am {written}, {noise}"
        assert day in list(days_named(text)), text


@given(st.text())
def test_any_text_is_read_without_an_error(text):
    for day in days_named(text):
        assert isinstance(day, dt.date)


def test_what_is_no_date_is_no_day():
    assert list(days_named("am 31.02.2017, in 1.2.3.4 Schritten, Version 2.10.2017a, "
                           "Paragraf 1.2.2017.5, am 32. Dezember 2017")) == []  # fmt: skip


# --- a Sitzung of the Beratungsfolge cancelled in the RIS ----------------------------------------

GR = _m("gr-2017-12-14", "2017-12-14T18:00:00+01:00")  # the Entscheidung of BSV 21/2017
NEW = _m("gr-2018-01-25", "2018-01-25T18:00:00+01:00")
CANCELLED = GR | {"cancelled": True}
RIS_TODAY = dt.date(2017, 11, 15)
ABGESAGT = ("Die Sitzung des Gemeinderates am Donnerstag, 14. Dezember 2017 ist im "
            "Ratsinformationssystem abgesagt. Die Projektleitung bindet einen neuen Termin "
            "(lifecycle oparl bind); bitte danach die Beratungsfolge prüfen.")  # fmt: skip
NOTE = Hinweis(BERATUNGSFOLGE, ABGESAGT, beratungsfolge=True)
LINE = f"Hinweis zur Beratungsfolge: {ABGESAGT}"

Lists = Callable[..., None]


@pytest.fixture
def loopback_ris(monkeypatch) -> None:
    """The fake RIS listens on 127.0.0.1, which a real sync refuses."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")


@contextmanager
def ris() -> Iterator[Lists]:
    """A loopback RIS; ``lists(session, *meetings)`` syncs Waiblingen from it, listing
    ``meetings`` (one server: the RIS ids, with its port, stay the same)."""
    answers: dict = {}
    with recorded(answers) as base:

        def lists(session: Session, *meetings: dict) -> None:
            answers.update(_ris(list(meetings), ORGS))
            sync(session, f"{base}/system", "waiblingen", today=RIS_TODAY, full=True)

        yield lists


def _shown(capsys) -> str:
    capsys.readouterr()
    assert run(["vorlage", "show", PROCESS, "vorlage"]) == 0
    return capsys.readouterr().out


def test_a_cancelled_sitzung_of_the_beratungsfolge_is_a_note_until_reinstated(
    session, waiblingen, loopback_ris, tmp_path, capsys
):
    with ris() as lists:
        lists(session, GR)
        assert _notes(session) == []
        lists(session, CANCELLED)
        assert _notes(session) == [NOTE]  # once, though the sync saw it twice
        assert LINE in _shown(capsys)
        capsys.readouterr()
        assert run(["docs", "generate", "sitzungsvorlage", "--process", PROCESS,
                    "--out", str(tmp_path / "a")]) == 0  # fmt: skip
        out = capsys.readouterr().out
        assert LINE in out and "lifecycle vorlage show waiblingen-2017" in out
        process = session.get(Fortschreibung, waiblingen.id)
        result = generate(session, process, "sitzungsvorlage", out_dir=tmp_path / "b")
        assert result.hinweise == (NOTE,) and result.flagged == ()  # no section is flagged

        lists(session, GR)  # reinstated
        assert _notes(session) == []
        assert "Beratungsfolge" not in _shown(capsys)


def test_a_beratung_bound_to_another_sitzung_has_no_note(session, waiblingen, loopback_ris):
    with ris() as lists:
        lists(session, CANCELLED, NEW)
        assert _notes(session) == [NOTE]
        bind_sitzung(session, PROCESS, "vorlage_entscheidung", "gr-2018-01-25", actor="ute")
        assert _notes(session) == []


def test_the_editor_shows_the_note_on_the_beratungsfolge(db_url, loopback_ris):
    app = make_app(db_url)
    with ris() as lists, Session(engine_for(db_url)) as s:
        lists(s, CANCELLED)
        assert _notes(s) == [NOTE]
        page = client_for(app, "ortolf").get(f"/prozess/{PROCESS}/vorlage/vorlage").text
    notes = re.findall(r'<p class="hinweis" role="status">(.*?)</p>', page, re.S)
    assert notes == [LINE]


def test_a_decided_vorlage_has_no_note_on_a_cancelled_sitzung(session, waiblingen,
                                                               loopback_ris, capsys):  # fmt: skip
    replay.run(session, session.get(Fortschreibung, waiblingen.id), until=dt.date(2017, 12, 14))
    session.expire_all()
    vorlage = session.exec(select(Vorlage).where(Vorlage.fortschreibung_id == waiblingen.id,
                                                 Vorlage.stage_key == "vorlage")).one()  # fmt: skip
    assert decided(session, vorlage) is not None
    with ris() as lists:
        lists(session, CANCELLED)
    entscheidung = select(Beratung.sitzung_id).where(
        Beratung.vorlage_id == vorlage.id, Beratung.role == BeratungRole.entscheidung)
    gr = list(session.exec(entscheidung).all())
    assert cancelled_sitzungen(session, gr) == set(gr)  # cancelled, but the text is decided
    assert _notes(session) == []
    assert "Beratungsfolge" not in _shown(capsys)
