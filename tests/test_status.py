"""Status as of a day: what was done and decided by then, what comes next."""

from __future__ import annotations

import datetime as dt

from lifecycle import replay
from lifecycle.models import ProcessState, StageState
from lifecycle.status import overview, process_status

D = dt.date


def states(st) -> dict[str, StageState]:
    return {v.key: v.state for v in st.stages}


def test_a_walked_process_seen_on_a_day_in_2017(session, waiblingen):
    replay.run(session, waiblingen)
    st = process_status(session, waiblingen, D(2017, 11, 8))
    assert st.state == ProcessState.running
    assert states(st) == {
        "ratsbeschluss": StageState.closed,
        "auftaktworkshop": StageState.closed,
        "arbeitsgruppen": StageState.closed,
        "auswertung": StageState.open,
        "vorlage": StageState.pending,
    }
    assert st.open_gate.key == "auswertung"
    auswertung = st.stages[3]
    assert (auswertung.done, auswertung.total) == (2, 3)  # bericht_abnehmen done on 13.11.
    assert st.stages[0].decision.reference == "BSV 3/2017"
    assert st.stages[4].decision is None  # decided on 14.12., after the day we look at
    upcoming = [(d.day, d.kind) for d in st.upcoming]
    assert (D(2017, 11, 22), "vorlagenschluss") in upcoming
    assert (D(2017, 11, 13), "task") == upcoming[0]


def test_after_the_last_gate_nothing_is_due(session, waiblingen):
    replay.run(session, waiblingen)
    st = process_status(session, waiblingen, D(2017, 12, 15))
    assert st.state == ProcessState.completed
    assert st.upcoming == [] and st.overdue == [] and st.progress == 100


def test_before_anything_was_done_everything_is_overdue_in_november(session, waiblingen):
    st = process_status(session, waiblingen, D(2017, 11, 8))
    assert states(st)["ratsbeschluss"] == StageState.open
    assert st.overdue[0].day == D(2017, 3, 15)
    assert all(d.day < D(2017, 11, 8) for d in st.overdue)


def test_overview_puts_overdue_first(session, waiblingen):
    summaries, count = overview(session, D(2017, 11, 8))
    assert count == 1 and summaries[0].key == "waiblingen-2017"
    assert summaries[0].overdue == 33 and summaries[0].next_due == D(2017, 3, 15)
