"""Calendar export: parsed back with icalendar, as a calendar client would import it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlmodel import select

from lifecycle import services
from lifecycle.errors import NotFound
from lifecycle.ical import FeedOptions, export
from lifecycle.models import Sitzung

ROOT = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")


def events(data: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(data)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def test_feed_has_sitzungen_in_german_time_with_vtimezone(session, waiblingen):
    data = export(session, FeedOptions(process="waiblingen-2017"))
    cal = icalendar.Calendar.from_ical(data)
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["tzid"]) == "Europe/Berlin"
    bsv = events(data)["sitzung-waiblingen-bsv-2017-12-06@lifecycle.invalid"]
    start = bsv.decoded("dtstart")
    assert start == dt.datetime(2017, 12, 6, 17, 0, tzinfo=BERLIN)
    assert start.astimezone(dt.UTC).hour == 16  # CET in December
    spring = events(data)["sitzung-waiblingen-bsv-2017-04-05@lifecycle.invalid"].decoded("dtstart")
    assert spring.astimezone(dt.UTC).hour == 15  # CEST in April
    assert "BSV 21/2017: Fortschreibung des Integrationskonzeptes" in str(bsv["description"])
    assert str(bsv["location"]) == "Rathaus Waiblingen, Sitzungssaal"


def test_feed_has_vorlagenschluss_and_task_deadlines(session, waiblingen):
    evs = events(export(session, FeedOptions(process="waiblingen-2017")))
    vs = evs["vorlagenschluss-waiblingen-bsv-2017-12-06@lifecycle.invalid"]
    assert vs.decoded("dtstart") == dt.date(2017, 11, 22)
    task = evs["task-waiblingen-2017-sitzungsvorlage_einreichen@lifecycle.invalid"]
    assert task.decoded("dtstart") == dt.date(2017, 11, 22)
    assert str(task["description"]) == "Zuständig: Sitzungsdienst"


def test_reexport_keeps_uids_and_a_move_bumps_sequence(session, waiblingen):
    before = events(export(session, FeedOptions()))
    again = events(export(session, FeedOptions()))
    assert before.keys() == again.keys()
    services.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0), actor="test")
    after = events(export(session, FeedOptions()))
    assert before.keys() == after.keys()  # same events, updated in place on re-import
    uid = "sitzung-waiblingen-bsv-2017-12-06@lifecycle.invalid"
    assert (before[uid]["sequence"], after[uid]["sequence"]) == (0, 1)
    assert after[uid].decoded("dtstart") == dt.datetime(2017, 12, 13, 17, 0, tzinfo=BERLIN)
    assert "last-modified" in after[uid]
    task = "task-waiblingen-2017-sitzungsvorlage_einreichen@lifecycle.invalid"
    assert after[task].decoded("dtstart") == dt.date(2017, 11, 29) and after[task]["sequence"] == 1


def test_public_feed_leaves_out_nichtoeffentliche_sitzungen_and_tasks(session, waiblingen):
    """Not even the date and Gremium of a nichtöffentliche Sitzung leave through the public
    feed (the OParl export leaves it out too); the internal feed has it, marked."""
    sitzung = session.exec(select(Sitzung).where(Sitzung.key == "gr-2017-12-14")).one()
    sitzung.oeffentlich = False
    session.add(sitzung)
    session.commit()
    data = export(session, FeedOptions(public=True))
    evs = events(data)
    assert evs and all(uid.startswith("sitzung-") for uid in evs)  # no tasks, no Vorlagenschluss
    assert "sitzung-waiblingen-gr-2017-12-14@lifecycle.invalid" not in evs
    assert b"gr-2017-12-14" not in data and b"nicht\xc3\xb6ffentlich" not in data
    assert "Fortschreibung des Integrationskonzeptes" in str(
        evs["sitzung-waiblingen-bsv-2017-12-06@lifecycle.invalid"]["description"]
    )
    internal = events(export(session, FeedOptions()))
    gr = internal["sitzung-waiblingen-gr-2017-12-14@lifecycle.invalid"]
    assert str(gr["summary"]) == "GR: Gemeinderat (nichtöffentlich)"
    assert str(gr["class"]) == "CONFIDENTIAL"


def test_person_feed_has_only_their_tasks(session, waiblingen):
    evs = events(export(session, FeedOptions(person="duerr")))
    tasks = [uid for uid in evs if uid.startswith("task-")]
    assert tasks == ["task-waiblingen-2017-sitzungsvorlage_mitzeichnen@lifecycle.invalid"]
    with pytest.raises(NotFound, match="keine Person „niemand“"):
        export(session, FeedOptions(person="niemand"))


def test_cli_export_writes_a_parsable_file(db_url, waiblingen, tmp_path):
    out = tmp_path / "waiblingen.ics"
    env = os.environ | {"LIFECYCLE_DATABASE_URL": db_url}
    cmd = [
        sys.executable,
        "-m",
        "lifecycle",
        "calendar",
        "export",
        "--process",
        "waiblingen-2017",
        "-o",
        str(out),
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "sitzung-waiblingen-gr-2017-12-14@lifecycle.invalid" in events(out.read_bytes())
    bad = subprocess.run(
        [*cmd[:6], "nirgendwo", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["lifecycle: keine Fortschreibung „nirgendwo“"]


def test_a_persons_feed_asks_the_same_questions_however_many_processes_run(
    session, waiblingen, waiblingen_scenario
):
    """`calendar export --person` without a process: the processes the person is in come
    from one query, not two per running process of the installation; those of other
    Kommunen (where the key may name someone else) are not in the feed."""
    import copy

    from sqlalchemy import event

    STAMP = dt.datetime(2017, 11, 8, 12, tzinfo=dt.UTC)  # noqa: N806 - the same DTSTAMP twice

    def feed() -> tuple[bytes, int]:
        sent: list[str] = []
        listen = lambda *args: sent.append(args[2])  # noqa: E731
        event.listen(session.get_bind(), "before_cursor_execute", listen)
        try:
            return export(session, FeedOptions(person="duerr"), now=STAMP), len(sent)
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", listen)

    alone, asked = feed()
    for n in range(3):  # more running processes, in Kommunen of their own
        other = copy.deepcopy(waiblingen_scenario)
        other.data["key"], other.data["kommune"]["key"] = f"andere-{n}-2017", f"andere-{n}"
        services.start(session, other, actor="test")
    crowded, asked_then = feed()
    assert asked_then == asked
    assert crowded == alone and b"andere-" not in crowded
