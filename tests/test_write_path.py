"""The fast write path (issue 15): start, complete and decide as plain statements.

A start writes its rows with one statement per table and its due dates computed beforehand;
complete and decide write with prepared statements and keep the session's objects in step.
These tests pin what the ORM path gave: the same rows, the same objects, the same log.
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from conftest import WAIBLINGEN
from sqlalchemy import event, update
from sqlmodel import Session, col, select

from lifecycle import engine, services
from lifecycle.errors import NotFound
from lifecycle.models import (
    Event,
    Fortschreibung,
    GateDecision,
    Person,
    Stage,
    StageState,
    Task,
    TaskState,
)
from lifecycle.scenario import Scenario, load_scenario

D = dt.date


def _renamed(key: str, kommune: str | None = None) -> Scenario:
    base = load_scenario(WAIBLINGEN)
    data = copy.deepcopy(base.data)
    data["key"] = key
    if kommune:
        data["kommune"]["key"] = kommune
    return Scenario(base.source, data, base.plan)


def _check_started(session: Session, process: Fortschreibung) -> None:
    """The first stage is current and open, and the due dates are what recompute computes."""
    stages = session.exec(select(Stage).where(Stage.fortschreibung_id == process.id)
                          .order_by(col(Stage.position))).all()  # fmt: skip
    assert [s.key for s in stages] == [s.key for s in load_scenario(WAIBLINGEN).plan.stages]
    assert process.current_stage_id == stages[0].id
    assert stages[0].state == StageState.open and stages[0].opened_on == process.started_on
    assert all(s.state == StageState.pending and s.opened_on is None for s in stages[1:])
    assert all(s.planned_start is not None for s in stages)
    tasks = session.exec(select(Task).where(Task.fortschreibung_id == process.id)).all()
    assert tasks and all(t.due is not None and t.state == TaskState.open for t in tasks)
    assert engine.recompute(session, process, actor="test", reason="check") == []
    session.rollback()


def test_start_writes_the_rows_recompute_would_leave(session, waiblingen):
    stored = session.get(Fortschreibung, waiblingen.id)
    assert stored is waiblingen  # the returned object is the session's own
    _check_started(session, waiblingen)
    log = session.exec(select(Event).where(Event.fortschreibung_id == waiblingen.id)).all()
    assert [e.action for e in log] == ["start"]


def test_more_processes_in_one_database(session, waiblingen):
    # a second Kommune (every row new) and a second process of the same Kommune (its shared
    # rows reused): each gets its own stages and its own current stage
    other = services.start(session, _renamed("andere-2017", "andere"), actor="test")
    again = services.start(session, _renamed("waiblingen-2018"), actor="test")
    assert other.kommune_id != waiblingen.kommune_id == again.kommune_id
    for process in (waiblingen, other, again):
        session.expire_all()
        _check_started(session, session.get(Fortschreibung, process.id))


def test_complete_updates_the_session_object_and_logs(session, waiblingen):
    task = session.exec(select(Task).where(Task.fortschreibung_id == waiblingen.id,
                                           Task.key == "foerderantrag_stellen")).one()  # fmt: skip
    done = services.complete_task(session, task.id, on=D(2017, 3, 14), by="ortolf")
    assert done is task and task.state == TaskState.done and task.done_on == D(2017, 3, 14)
    assert task.done_by_id is not None
    assert not session.dirty  # the new state is what the database holds
    session.expire_all()
    stored = session.get(Task, task.id)
    ortolf = session.exec(select(Person.id).where(Person.key == "ortolf")).one()
    assert (stored.state, stored.done_on, stored.done_by_id) == (
        TaskState.done, D(2017, 3, 14), ortolf)  # fmt: skip
    event = session.exec(select(Event).where(Event.action == "task_done")).one()
    assert event.entity_id == task.id and event.after["by"] == "ortolf"
    assert event.before == {"state": "open", "done_on": None}


def test_decide_keeps_the_session_objects_in_step(session, waiblingen):
    stages = session.exec(select(Stage).where(Stage.fortschreibung_id == waiblingen.id)
                          .order_by(col(Stage.position))).all()  # fmt: skip
    held = session.exec(select(Task).where(Task.fortschreibung_id == waiblingen.id)).all()
    decision = services.decide_gate(
        session, waiblingen.key, stages[0].key, outcome="approve", on=D(2017, 4, 27),
        by="sitzungsdienst", reference="BSV 3/2017", force_reason="Test")  # fmt: skip
    assert session.get(GateDecision, decision.id) is decision
    assert stages[0].state == StageState.closed and stages[0].closed_on == D(2017, 4, 27)
    assert stages[1].state == StageState.open and stages[1].opened_on == D(2017, 4, 27)
    assert waiblingen.current_stage_id == stages[1].id
    seen = {t.id: t.due for t in held}  # the objects held across the decision
    session.expire_all()
    assert {t.id: t.due for t in session.exec(select(Task)).all()} == seen
    assert session.get(Stage, stages[1].id).state == StageState.open
    assert session.get(Fortschreibung, waiblingen.id).current_stage_id == stages[1].id
    actions = [e.action for e in session.exec(select(Event).order_by(col(Event.id))).all()]
    assert actions[0] == "start" and "gate_approve" in actions


class _Statements:
    """The SQL a block sends, in order, as its first two words ("UPDATE task", "SELECT …")."""

    def __init__(self, session: Session):
        self.bind = session.get_bind()
        self.seen: list[str] = []

    def _note(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        words = statement.split()
        self.seen.append(" ".join(words[:3] if words[0] == "INSERT" else words[:2]))

    def __enter__(self) -> list[str]:
        event.listen(self.bind, "before_cursor_execute", self._note)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        event.remove(self.bind, "before_cursor_execute", self._note)


def test_completing_a_task_is_its_lock_one_read_one_update_and_the_event(session, waiblingen):
    """The daily hot path as its docstring promises; a task named PROCESS:TASK costs the one
    query that finds its id, a task named by its id none."""
    ids = dict(session.exec(select(Task.key, Task.id).where(
        Task.fortschreibung_id == waiblingen.id)).all())  # fmt: skip
    session.commit()
    done = ["UPDATE task", "SELECT task.id,", "UPDATE task", "INSERT INTO event"]
    with _Statements(session) as seen:
        services.complete_task(session, str(ids["foerderantrag_stellen"]), on=D(2017, 3, 14))
    assert seen == done
    with _Statements(session) as seen:
        services.complete_task(session, "waiblingen-2017:partner_anfragen", on=D(2017, 3, 14))
    assert seen == ["SELECT task.id"] + done
    with _Statements(session) as seen, pytest.raises(NotFound) as unknown:
        services.complete_task(session, "waiblingen-2017:gibtsnicht", on=D(2017, 3, 14))
    assert str(unknown.value) == "keine Aufgabe „waiblingen-2017:gibtsnicht“"
    with _Statements(session) as seen, pytest.raises(NotFound, match="^keine Aufgabe „gibts“$"):
        services.complete_task(session, "gibts", on=D(2017, 3, 14))
    assert seen == []  # a bare key names no process: nothing to look up


def test_a_task_nobody_was_given_is_logged_as_done_by_whoever_says_so(session, waiblingen):
    """No assignee and no ``by``: the actor is who did it; with no actor either, the log says
    "unbekannt" rather than nothing."""
    session.exec(update(Task).where(Task.fortschreibung_id == waiblingen.id)
                 .values(assignee_id=None))  # fmt: skip
    session.commit()
    services.complete_task(session, "waiblingen-2017:foerderantrag_stellen", on=D(2017, 3, 14),
                           actor="web:ute")  # fmt: skip
    services.complete_task(session, "waiblingen-2017:partner_anfragen", on=D(2017, 3, 14))
    logged = session.exec(select(Event.actor, Event.after).where(Event.action == "task_done")
                          .order_by(col(Event.id))).all()  # fmt: skip
    assert [(actor, after["by"]) for actor, after in logged] == [
        ("web:ute", "web:ute"), ("unbekannt", "unbekannt")]
    by = session.exec(select(Task.done_by_id).where(col(Task.done_by_id).is_not(None))).all()
    assert by == []
