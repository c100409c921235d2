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


def test_two_kommunen_of_one_name_do_not_see_each_others_vorlagen(
    session, waiblingen, waiblingen_scenario
):
    """Two Kommunen named alike with Sitzungen of the same keys (the keys are Gremium and
    date): each Sitzung lists the Vorlagen of its own Kommune only, and a Kommune's list
    (``kommune_ids``, as the web app asks) holds its Sitzungen only."""
    import copy

    other = copy.deepcopy(waiblingen_scenario)
    other.data["key"] = "namensvetter-2017"
    other.data["kommune"]["key"] = "namensvetter"  # the name stays "Waiblingen"
    started = services.start(session, other, actor="test")
    rows = upcoming_sitzungen(session, D(2017, 11, 1))
    assert sorted((r.kommune_key, r.key) for r in rows) == [
        ("namensvetter", "bsv-2017-12-06"), ("namensvetter", "gr-2017-12-14"),
        ("waiblingen", "bsv-2017-12-06"), ("waiblingen", "gr-2017-12-14")]  # fmt: skip
    for r in rows:
        assert {v.process for v in r.vorlagen} == {f"{r.kommune_key}-2017"}, r
    own = upcoming_sitzungen(session, D(2017, 11, 1), kommune_ids={started.kommune_id})
    assert {r.kommune_key for r in own} == {"namensvetter"} and len(own) == 2
