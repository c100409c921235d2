"""The Sitzungsdienst's list: coming Sitzungen by Vorlagenschluss, across processes."""

from __future__ import annotations

import datetime as dt

from conftest import EXAMPLES

from lifecycle import services
from lifecycle.scenario import load_scenario
from lifecycle.sitzungsdienst import upcoming_sitzungen

D = dt.date


def test_waiblingen_in_november_2017(session, waiblingen):
    rows = upcoming_sitzungen(session, D(2017, 11, 1))
    assert [(r.key, r.vorlagenschluss) for r in rows] == [
        ("bsv-2017-12-06", D(2017, 11, 22)),
        ("gr-2017-12-14", D(2017, 11, 30)),
    ]
    [vorlage] = rows[0].vorlagen
    assert (vorlage.reference, vorlage.role, vorlage.process) == (
        "BSV 21/2017", "Vorberatung", "waiblingen-2017")  # fmt: skip


def test_several_kommunen_sorted_by_vorlagenschluss(session, waiblingen):
    services.start(session, load_scenario(EXAMPLES / "voelklingen-2017.yaml"), actor="test")
    rows = upcoming_sitzungen(session, D(2017, 8, 1), days=60)
    assert [r.key for r in rows] == ["akjs-2017-08-29", "hpta-2017-08-31"]
    assert rows[1].oeffentlich is False  # the Hauptausschuss met nichtöffentlich
    # Saarland, 10 working days before 29.08.2017 (15.08. Mariä Himmelfahrt is a holiday there)
    assert rows[0].vorlagenschluss == D(2017, 8, 14)
    assert upcoming_sitzungen(session, D(2017, 8, 1), kommune="waiblingen", days=60) == []


def test_a_window_past_the_calendars_end_is_the_rest_of_the_calendar(session, waiblingen):
    found = upcoming_sitzungen(session, dt.date(2017, 11, 1), days=10**9)
    assert [r.key for r in found] == ["bsv-2017-12-06", "gr-2017-12-14"]
    assert upcoming_sitzungen(session, dt.date(9999, 12, 30), days=90) == []
