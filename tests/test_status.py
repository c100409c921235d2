"""Status as of a day: what was done and decided by then, what comes next."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from lifecycle import replay, services
from lifecycle.models import ProcessState, StageState, Task
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
    # Nothing is done yet, so every task due before 08.11.2017 is overdue: all of the first
    # three stages (Ratsbeschluss 7, Auftaktworkshop 7, Arbeitsgruppen 6 groups x 3) and of
    # the Auswertung only ergebnisse_auswerten (30.10.); bericht_entwerfen is due on the day
    # itself (08.11.), which is not overdue yet. The Vorlage's 5 tasks fall later.
    due = {t.key: t.due for t in session.exec(select(Task))}
    assert len(due) == 7 + 7 + 6 * 3 + 3 + 5
    assert due["ergebnisse_auswerten"] == D(2017, 10, 30)
    assert due["bericht_entwerfen"] == D(2017, 11, 8)
    assert summaries[0].overdue == 7 + 7 + 6 * 3 + 1 == 33
    assert summaries[0].next_due == D(2017, 3, 15)
    # a done task is no longer overdue
    first = session.exec(select(Task).where(Task.key == "foerderantrag_stellen")).one()
    assert first.due < D(2017, 11, 8)
    services.complete_task(session, first.id, on=D(2017, 3, 14), by="ortolf")
    assert overview(session, D(2017, 11, 8))[0][0].overdue == 32


def test_the_tasks_of_a_person_known_in_two_kommunen_are_one_list(session, waiblingen,
                                                                   waiblingen_scenario):
    """`lifecycle tasks --person KEY` where KEY names a person in two Kommunen: their tasks
    merged by due date and id, as one query over both would give them, and the count of the
    rest; with --overdue, --all and a limit beyond them all."""
    import copy

    from sqlmodel import col, select

    from lifecycle.models import Person, Stage, TaskState
    from lifecycle.tasks import find_tasks

    other = copy.deepcopy(waiblingen_scenario)
    other.data["key"], other.data["kommune"]["key"] = "zwilling-2017", "zwilling"
    services.start(session, other, actor="test")
    ids = session.exec(select(Person.id).where(Person.key == "ortolf")).all()
    first = session.exec(select(Task).join(Stage, col(Stage.id) == Task.stage_id).where(
        col(Task.assignee_id).in_(ids), Stage.state == StageState.open)
        .order_by(col(Task.id).desc())).first()  # fmt: skip
    services.complete_task(session, str(first.id), on=dt.date(2017, 5, 2))  # one done
    assert len(ids) == 2
    day = dt.date(2017, 11, 8)
    for overdue, include_done, limit in ((False, False, 5), (True, False, 3), (False, True, 500)):
        mine = [t for t in session.exec(select(Task).where(col(Task.assignee_id).in_(ids))).all()
                if (include_done and not overdue or t.state == TaskState.open)
                and (not overdue or t.due < day)]  # fmt: skip
        expected = sorted(mine, key=lambda t: (t.due, t.id))
        rows, more = find_tasks(session, today=day, person="ortolf", overdue=overdue,
                                include_done=include_done, limit=limit)  # fmt: skip
        assert [r.id for r in rows] == [t.id for t in expected[:limit]]
        assert more == max(0, len(expected) - limit)
        assert {r.process for r in rows} <= {"waiblingen-2017", "zwilling-2017"}
    assert len(expected) > 5 and {r.process for r in rows} == {"waiblingen-2017", "zwilling-2017"}
