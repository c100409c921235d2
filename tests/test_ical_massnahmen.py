"""The Maßnahmen's target dates in the calendar feed, read back with icalendar.

Waiblingen 2017 is replayed through its last gate: 13 Maßnahmen of its Konzept, each with a
Zieltermin, become all-day events with a UID per Maßnahme of the Konzept.
"""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
from conftest import EXAMPLES
from sqlmodel import col, select

from lifecycle import replay, services, umsetzung
from lifecycle.cli import run
from lifecycle.ical import FeedOptions, export, uid_massnahme
from lifecycle.models import Massnahme
from lifecycle.scenario import load_scenario

LOTSEN = uid_massnahme("waiblingen", "integrationskonzept", "integrationslotsen")
SECRET = "Streit mit dem Träger, vertraulich"


@pytest.fixture
def adopted(session, waiblingen):
    replay.run(session, waiblingen)
    services.update_massnahme(session, waiblingen.key, "integrationslotsen",
                              {"internal_note": SECRET, "public_text": "Schulung läuft"},
                              actor="test")  # fmt: skip
    return waiblingen


def massnahmen(data: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(data)
    return {str(e["uid"]): e for e in cal.walk("VEVENT") if str(e["uid"]).startswith("massn")}


def test_each_target_date_is_an_all_day_event_without_the_internal_note(session, adopted):
    data = export(session, FeedOptions(process=adopted.key))
    evs = massnahmen(data)
    rows = umsetzung.of_konzept(session, adopted)
    dated = [m for m in rows if m.target_date]
    assert len(dated) == len(evs) >= 5
    assert LOTSEN == "massnahme-waiblingen-integrationskonzept-integrationslotsen@lifecycle.invalid"
    lotsen = evs[LOTSEN]
    assert str(lotsen["summary"]) == "Zieltermin: Integrationslotsen"
    start = lotsen.decoded("dtstart")
    assert start == dt.date(2018, 6, 30) and not isinstance(start, dt.datetime)  # all day
    assert lotsen.decoded("dtend") == dt.date(2018, 7, 1)
    description = str(lotsen["description"])
    assert "Verantwortlich: Fachbereich Bürgerengagement" in description
    assert "Status: offen, Fortschritt 0 %" in description
    assert "Sachstand: Schulung läuft" in description
    assert SECRET not in data.decode("utf-8").replace("\r\n ", "")  # unfolded, nowhere
    assert str(lotsen["transp"]) == "TRANSPARENT" and str(lotsen["class"]) == "PRIVATE"


def test_a_reexport_updates_the_event_instead_of_adding_one(session, adopted):
    before = massnahmen(export(session, FeedOptions(process=adopted.key)))
    services.update_massnahme(session, adopted.key, "integrationslotsen",
                              {"target_date": dt.date(2018, 9, 30), "status": "in Umsetzung"},
                              actor="test")  # fmt: skip
    after = massnahmen(export(session, FeedOptions(process=adopted.key)))
    assert before.keys() == after.keys()
    assert after[LOTSEN].decoded("dtstart") == dt.date(2018, 9, 30)
    assert after[LOTSEN]["sequence"] > before[LOTSEN]["sequence"]
    assert "last-modified" in after[LOTSEN]
    assert "Status: in Umsetzung" in str(after[LOTSEN]["description"])


def test_a_postponed_massnahme_is_cancelled_and_one_without_a_date_is_left_out(session, adopted):
    services.update_massnahme(session, adopted.key, "integrationslotsen",
                              {"status": "zurückgestellt"}, actor="test")  # fmt: skip
    services.update_massnahme(session, adopted.key, "offener-treff", {"target_date": None},
                              actor="test")  # fmt: skip
    evs = massnahmen(export(session, FeedOptions(process=adopted.key)))
    assert str(evs[LOTSEN]["status"]) == "CANCELLED"
    assert not any("offener-treff" in uid for uid in evs)


def test_a_massnahme_taken_up_again_says_confirmed_over_its_cancelled_entry(session, adopted):
    """STATUS said outright: a client that stored CANCELLED may keep it when an update omits
    STATUS, so the entry of a Maßnahme no longer zurückgestellt says CONFIRMED, newer."""
    assert str(massnahmen(export(session, FeedOptions(process=adopted.key)))[LOTSEN]["status"]
               ) == "CONFIRMED"  # fmt: skip
    services.update_massnahme(session, adopted.key, "integrationslotsen",
                              {"status": "zurückgestellt"}, actor="test")  # fmt: skip
    off = massnahmen(export(session, FeedOptions(process=adopted.key)))[LOTSEN]
    services.update_massnahme(session, adopted.key, "integrationslotsen",
                              {"status": "offen"}, actor="test")  # fmt: skip
    again = massnahmen(export(session, FeedOptions(process=adopted.key)))[LOTSEN]
    assert (str(off["status"]), str(again["status"])) == ("CANCELLED", "CONFIRMED")
    assert int(again["sequence"]) > int(off["sequence"])


def test_only_the_massnahmen_of_the_process_konzept_and_each_once(session, adopted):
    voelklingen = services.start(session, load_scenario(EXAMPLES / "voelklingen-2017.yaml"),
                                 actor="test")  # fmt: skip
    assert massnahmen(export(session, FeedOptions(process=voelklingen.key))) == {}
    # the Umsetzung 2018 is another process of the same Konzept: the same events, once
    services.start(session, load_scenario(EXAMPLES / "waiblingen-umsetzung-2018.yaml"),
                   actor="test")  # fmt: skip
    running = export(session, FeedOptions())  # every running process: Völklingen, Umsetzung
    assert massnahmen(running).keys() == massnahmen(
        export(session, FeedOptions(process=adopted.key))).keys()  # fmt: skip
    assert running.replace(b"\r\n ", b"").count(f"UID:{LOTSEN}".encode()) == 1


def test_the_public_feed_has_no_massnahmen(session, adopted):
    assert massnahmen(export(session, FeedOptions(process=adopted.key, public=True))) == {}


def test_a_persons_feed_has_the_massnahmen_they_are_responsible_for(session, adopted):
    evs = massnahmen(export(session, FeedOptions(process=adopted.key, person="ortolf")))
    theirs = session.exec(select(Massnahme.key).where(
        col(Massnahme.responsible_person_id).is_not(None))).all()  # fmt: skip
    assert theirs and {uid.split("-integrationskonzept-")[1].split("@")[0] for uid in evs} <= set(
        theirs)  # fmt: skip
    assert uid_massnahme("waiblingen", "integrationskonzept", "runder-tisch-vielfalt") in evs
    assert LOTSEN not in evs


def test_the_cli_export_carries_the_target_dates(session, adopted, db_url, tmp_path, capsys):
    out = tmp_path / "feed.ics"
    assert run(["calendar", "export", "-o", str(out), "--process", adopted.key]) == 0
    evs = massnahmen(out.read_bytes())
    assert evs[LOTSEN].decoded("dtstart") == dt.date(2018, 6, 30)
    assert SECRET.encode() not in out.read_bytes()


def test_a_target_date_out_of_range_is_left_out_and_named(session, adopted, db_url, tmp_path,
                                                          capsys):  # fmt: skip
    """A Zieltermin an older version stored (9999-12-31: its all-day event would end in
    10000): the CLI's feed leaves that Maßnahme out, names it on stderr, exit 0."""
    import sqlite3

    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    con.execute("UPDATE massnahme SET target_date = '9999-12-31' WHERE key = 'integrationslotsen'")
    con.commit()
    con.close()
    out = tmp_path / "feed.ics"
    assert run(["calendar", "export", "-o", str(out), "--process", adopted.key]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "lifecycle: Warnung: nicht im Kalender: Maßnahme integrationslotsen (waiblingen-2017), "
        "Zieltermin: Jahr 9999 außerhalb von 1950 bis 2200"
    ]
    dated = session.exec(select(Massnahme.key).where(col(Massnahme.target_date).is_not(None)))
    others = {uid_massnahme("waiblingen", "integrationskonzept", key) for key in dated} - {LOTSEN}
    assert set(massnahmen(out.read_bytes())) == others  # the other Maßnahmen go out
