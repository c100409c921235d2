"""Transitions of a Fortschreibung: pure state changes on a session, never committed here.

A transition takes a row lock on what it changes, checks everything before it changes
anything, and writes the event log beside the change. It does not commit: the use case in
``lifecycle.services`` adds the follow-ups (reminders, run requests) and commits all of it as
one transaction, or rolls all of it back when anything refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Select, Text, bindparam, cast, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy import text as sa_text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, SQLModel, col, select

from . import events
from .calendar import WorkCalendar, for_bundesland, for_kommune
from .deadlines import StageSpec, TaskSpec, Timeline
from .errors import NeedsReason, NotFound, Refused
from .instantiate import instantiate
from .lookups import (
    calendar_of,
    find_sitzung,
    get_person,
    get_process,
    get_stage,
    get_task,
    processes_bound_to,
)
from .models import (
    Beratung,
    Event,
    Fortschreibung,
    GateDecision,
    Gremium,
    Kommune,
    Outcome,
    Person,
    ProcessState,
    Sitzung,
    SitzungBinding,
    Stage,
    StageState,
    Task,
    TaskState,
    Termin,
    Vorlage,
)
from .plan_types import Gate, plan_of
from .typing_helpers import get_required, ident

if TYPE_CHECKING:  # scenario loading pulls in jsonschema: keep it off the status path
    from .scenario import Scenario

# fullmatch: "$" would also accept a reference with a trailing newline
REFERENCE = re.compile(r"[A-ZÄÖÜ][A-Za-zÄÖÜäöüß.-]* \d{1,4}/\d{4}")


def lock(session: Session, row: SQLModel) -> None:
    """Take the row's write lock for the rest of the transaction, then re-read the row.

    PostgreSQL: SELECT … FOR UPDATE. SQLite has no row locks: a no-op UPDATE takes the
    database's write lock (waiting for busy_timeout), which serializes every writer the same
    way. Either way, what the transition checks next is what the winner committed.
    """
    model = type(row)
    pk = model.id  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(model).where(pk == row.id).with_for_update())  # type: ignore[attr-defined]
    else:
        session.execute(update(model).where(pk == row.id).values(id=pk))  # type: ignore[attr-defined]
    session.refresh(row)


# --- start ---------------------------------------------------------------------------------


def start(
    session: Session, scenario: Scenario, actor: str = "cli", *, force_reason: str = ""
) -> Fortschreibung:
    """Create the Fortschreibung of ``scenario``: stages, tasks with due dates, Vorlagen."""
    data, plan = scenario.data, scenario.plan
    kommune = data["kommune"]
    calendar = for_bundesland(kommune["bundesland"], tuple(kommune.get("closing_days", ())))
    for sitzung in data.get("sitzungen", []):
        day = dt.date.fromisoformat(str(sitzung["start"])[:10])
        check_sitzung_day(calendar, sitzung["key"], day, force_reason)
    existing = session.connection().execute(
        _statements().started_on_of, {"key": scenario.key}).scalar()  # fmt: skip
    if existing is not None:
        raise Refused(
            f"die Fortschreibung {scenario.key!r} gibt es schon "
            f"(gestartet am {existing:%d.%m.%Y})"
        )
    process = instantiate(session, data, plan)  # due dates included: nothing to recompute
    events.log_row(
        session,
        actor=actor,
        action="start",
        entity=process,
        process_id=process.id,
        after={
            "scenario": data["key"],
            "plan": plan.name,
            "started_on": process.started_on.isoformat(),
        }
        | ({"force": force_reason} if force_reason else {}),
    )
    return process


# --- deadlines -----------------------------------------------------------------------------


def timeline(session: Session, process: Fortschreibung) -> tuple[Timeline, dict[str, Task]]:
    stages = session.exec(
        select(Stage).where(Stage.fortschreibung_id == process.id).order_by(col(Stage.position))
    ).all()
    tasks = session.exec(select(Task).where(Task.fortschreibung_id == process.id)).all()
    bound = session.execute(
        _bound_query().where(col(SitzungBinding.fortschreibung_id) == process.id)
    ).all()
    termine = session.exec(select(Termin).where(Termin.fortschreibung_id == process.id)).all()
    tl = build_timeline(
        calendar_of(session, process), process.started_on, process.plan,
        stages, tasks, bound, termine,
    )  # fmt: skip
    return tl, {t.key: t for t in tasks}


def _bound_query() -> Select[tuple[int, str, dt.datetime, int]]:
    """The Sitzungen bound to plan names, with their date and their Gremium's Vorlagenschluss."""
    return (
        sa_select(
            col(SitzungBinding.fortschreibung_id),
            col(SitzungBinding.name),
            col(Sitzung.start),
            col(Gremium.vorlagenschluss_working_days),
        )
        .join(Sitzung, col(Sitzung.id) == SitzungBinding.sitzung_id)
        .join(Gremium, col(Gremium.id) == Sitzung.gremium_id)
    )


def build_timeline(
    calendar: WorkCalendar,
    started_on: dt.date,
    plan: dict[str, Any],
    stages: Sequence[Any],
    tasks: Sequence[Any],
    bound: Sequence[Any],
    termine: Sequence[Any],
) -> Timeline:
    """The timeline of one process from its rows: ORM objects or plain result rows alike."""
    stage_of = {s.id: s.key for s in stages}
    return timeline_of(
        calendar,
        started_on,
        {s.key: s.gate.sitzung for s in plan_of(plan).stages},
        [(s.key, s.opened_on, s.closed_on) for s in stages],
        [(stage_of[t.stage_id], t.key, t.anchor_kind, t.anchor_ref, t.offset, t.offset_unit)
         for t in tasks],
        [(b.name, b.start.date(), b.vorlagenschluss_working_days) for b in bound],
        [(t.name, t.on) for t in termine],
    )  # fmt: skip


def timeline_of(
    calendar: WorkCalendar,
    started_on: dt.date,
    gates: dict[str, str | None],
    stages: Sequence[tuple[str, dt.date | None, dt.date | None]],
    tasks: Sequence[tuple[Any, str, str, str, int, str]],
    bound: Sequence[tuple[str, dt.date, int]],
    termine: Sequence[tuple[str, dt.date]],
) -> Timeline:
    """The timeline from plain values: the gate Sitzung per stage key (from the plan), stages
    (key, opened, closed) in order, tasks (stage key, key, anchor, ref, offset, unit), bound
    Sitzungen (name, day, Vorlagenschluss working days) and Termine (name, day)."""
    return _timeline(calendar, started_on, gates, stages, task_specs(tasks), bound, termine)


_TaskSpecs = tuple[dict[str, TaskSpec], dict[Any, list[str]]]


def task_specs(tasks: Sequence[tuple[Any, str, str, str, int, str]]) -> _TaskSpecs:
    """The solver's specs of ``tasks`` (as ``timeline_of`` takes them), and their keys per
    stage key. Never changed by a timeline: processes with the same tasks may share them."""
    by_stage: dict[Any, list[str]] = {}
    for t in tasks:
        by_stage.setdefault(t[0], []).append(t[1])
    return {t[1]: TaskSpec(t[1], t[0], t[2], t[3], t[4], t[5]) for t in tasks}, by_stage


def _timeline(
    calendar: WorkCalendar,
    started_on: dt.date,
    gates: dict[str, str | None],
    stages: Sequence[tuple[str, dt.date | None, dt.date | None]],
    specs: _TaskSpecs,
    bound: Sequence[tuple[str, dt.date, int]],
    termine: Sequence[tuple[str, dt.date]],
) -> Timeline:
    tasks, by_stage = specs
    keys = {key for key, _, _ in stages}
    for stage_key in by_stage:
        if stage_key not in keys:  # a task of a stage its process does not have
            raise KeyError(stage_key)
    return Timeline(
        calendar=calendar,
        started_on=started_on,
        stages=[
            StageSpec(key, by_stage.get(key, []), gates[key], opened, closed)
            for key, opened, closed in stages
        ],
        tasks=tasks,
        sitzungen={name: day for name, day, _ in bound},
        vorlagenschluss_days={name: days for name, _, days in bound},
        termine=dict(termine),
    )


@dataclass(frozen=True)
class DueChange:
    task_id: int
    task_key: str
    assignee_id: int | None
    old: dt.date | None
    new: dt.date


def recompute(
    session: Session, process: Fortschreibung, *, actor: str, reason: str, log_changes: bool = True
) -> list[DueChange]:
    """Recompute every due date of ``process``; log each change. Does not commit.

    Reads plain rows (no ORM objects), writes the changed due dates and projected starts with
    one executemany each and the events with one INSERT; objects of those rows the session
    already holds get the new values, as if they had been changed through them.
    """
    session.flush()  # what the transition changed so far is what the rows below show
    st, db = _statements(), session.connection()
    pid = {"pid": process.id}
    stages = db.execute(st.timeline_stages, pid).all()
    tasks = db.execute(st.timeline_tasks, pid).all()
    bound = db.execute(st.timeline_bound, pid).all()
    termine = db.execute(st.timeline_termine, pid).all()
    kommune: Any = session.identity_map.get(identity_key(Kommune, process.kommune_id))
    if kommune is None:  # the two columns the calendar needs, not the ORM object
        kommune = db.execute(st.kommune_calendar, {"kid": process.kommune_id}).one()
    # plain tuples by position (a Row's attribute access costs more than the arithmetic)
    stage_of = {s[0]: s[1] for s in stages}
    tl = timeline_of(
        for_kommune(kommune), process.started_on,
        {s.key: s.gate.sitzung for s in plan_of(process.plan).stages},
        [(s[1], s[2], s[3]) for s in stages],
        [(stage_of[t[1]], t[2], t[3], t[4], t[5], t[6]) for t in tasks],
        [(b[1], b[2].date(), b[3]) for b in bound],
        [(t[0], t[1]) for t in termine],
    )  # fmt: skip
    dues, starts = tl.compute()
    changes, logged, now = [], [], dt.datetime.now(dt.UTC)
    for task_id, _, key, _, _, _, _, old, state, assignee_id in tasks:
        due = dues[key]
        if old == due:
            continue
        changes.append(DueChange(task_id, key, assignee_id, old, due))
        if log_changes and state == TaskState.open:
            logged.append({
                "fortschreibung_id": process.id, "at": now, "actor": actor,
                "action": "due_changed", "entity": "Task", "entity_id": task_id,
                "before": {"due": plain_date(old)},
                "after": {"due": due.isoformat(), "reason": reason},
            })  # fmt: skip
    if changes:
        db.execute(st.set_due, [{"tid": c.task_id, "new_due": c.new} for c in changes])
        _sync(session, Task, "due", {c.task_id: c.new for c in changes})
    moved = {s[0]: starts[s[1]] for s in stages if s[4] != starts[s[1]]}
    if moved:
        db.execute(st.set_planned_start,
                   [{"sid": k, "new_start": v} for k, v in moved.items()])  # fmt: skip
        _sync(session, Stage, "planned_start", moved)
    if logged:
        db.execute(st.insert_event, logged)
    return changes


def _sync(session: Session, model: type[SQLModel], name: str, values: dict[int, Any]) -> None:
    """Objects the session holds of rows just updated by a statement get the new value."""
    for row_id, value in values.items():
        obj = session.identity_map.get(identity_key(model, row_id))
        if obj is not None:
            set_committed_value(obj, name, value)


def plain_date(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


# --- tasks ---------------------------------------------------------------------------------


def complete_task(
    session: Session,
    task_ref: str | int,
    *,
    on: dt.date,
    by: str | None = None,
    actor: str | None = None,
) -> Task:
    """Mark a task done on ``on`` by the person ``by`` (default: its assignee).

    The hot path of the daily work: the lock, then one query for the task with what the
    checks need of its stage, process and assignee, then one UPDATE and the event's INSERT.
    The task object in the session is the one returned, with its new state.
    """
    task_id = task_id_of(session, task_ref)
    pg = session.get_bind().dialect.name == "postgresql"
    if not pg:  # SQLite: take the database's write lock before reading (see ``lock``)
        session.connection().execute(_statements().lock_task, {"tid": task_id})
    query = _statements().task_for_update if pg else _statements().task_with_context
    found = session.execute(query, {"id": task_id}).first()
    if found is None:
        raise NotFound(f"keine Aufgabe {str(task_ref)!r}")
    task: Task = found[0]
    stage_state, opened_on, stage_key, kommune_id, assignee_id, assignee_key = found[1:]
    if task.state == TaskState.done:
        raise Refused(f"die Aufgabe {task.key!r} ist schon erledigt (am {task.done_on:%d.%m.%Y})")
    if stage_state != StageState.open:
        state = "noch nicht begonnen" if stage_state == StageState.pending else "abgeschlossen"
        raise Refused(
            f"die Aufgabe {task.key!r} gehört zur Phase {stage_key!r}, und die ist {state}"
        )
    if opened_on and on < opened_on:
        raise Refused(
            f"der {on:%d.%m.%Y} liegt vor dem Beginn der Phase {stage_key!r} "
            f"({opened_on:%d.%m.%Y})"
        )
    person_id, person_key = assignee_id, assignee_key
    if by is not None:
        person = get_person(session, kommune_id, by)
        person_id, person_key = person.id, person.key
    who = person_key if person_id is not None else (actor or "unbekannt")
    before = events.snapshot(task, "state", "done_on")
    session.connection().execute(_statements().task_done, {
        "tid": task_id, "new_state": TaskState.done, "new_done_on": on,
        "new_done_by_id": person_id})  # fmt: skip
    for name, value in (("state", TaskState.done), ("done_on", on), ("done_by_id", person_id)):
        set_committed_value(task, name, value)
    events.log_row(
        session,
        actor=actor or who,
        action="task_done",
        entity=task,
        process_id=task.fortschreibung_id,
        before=before,
        after=events.snapshot(task, "state", "done_on") | {"by": who},
    )
    return task


class _Statements:
    """The hot paths' statements, built once (building one costs more than running it)."""

    def __init__(self) -> None:
        task, event = Task.__table__, Event.__table__  # type: ignore[attr-defined]
        self.lock_task = update(task).where(task.c.id == bindparam("tid")).values(id=task.c.id)
        self.task_done = update(task).where(task.c.id == bindparam("tid")).values(
            state=bindparam("new_state"), done_on=bindparam("new_done_on"),
            done_by_id=bindparam("new_done_by_id"))  # fmt: skip
        self.insert_event = insert(event)
        self.task_with_context: Any = (
            sa_select(Task, Stage.state, Stage.opened_on, Stage.key,  # type: ignore[call-overload]
                      Fortschreibung.kommune_id, Person.id, Person.key)
            .join(Stage, col(Stage.id) == Task.stage_id)
            .join(Fortschreibung, col(Fortschreibung.id) == Task.fortschreibung_id)
            .outerjoin(Person, col(Person.id) == Task.assignee_id)
            .where(col(Task.id) == bindparam("id"))
            .execution_options(populate_existing=True)
        )  # fmt: skip
        self.task_for_update = self.task_with_context.with_for_update(of=Task)
        stage = Stage.__table__  # type: ignore[attr-defined]
        pid: Any = bindparam("pid")
        self.timeline_stages = sa_select(*map(col, (
            Stage.id, Stage.key, Stage.opened_on, Stage.closed_on, Stage.planned_start))
        ).where(col(Stage.fortschreibung_id) == pid).order_by(col(Stage.position))  # fmt: skip
        self.timeline_tasks = sa_select(*map(col, (
            Task.id, Task.stage_id, Task.key, Task.anchor_kind, Task.anchor_ref, Task.offset,
            Task.offset_unit, Task.due, Task.state, Task.assignee_id))
        ).where(col(Task.fortschreibung_id) == pid).order_by(col(Task.id))  # fmt: skip
        self.timeline_bound = _bound_query().where(col(SitzungBinding.fortschreibung_id) == pid)
        self.timeline_termine = sa_select(col(Termin.name), col(Termin.on)).where(
            col(Termin.fortschreibung_id) == pid)  # fmt: skip
        skey: Any = bindparam("skey")
        self.lock_stage = update(stage).where(
            stage.c.fortschreibung_id == pid, stage.c.key == skey).values(id=stage.c.id)
        self.stage_by_key = (
            select(Stage).where(col(Stage.fortschreibung_id) == pid, col(Stage.key) == skey)
            .execution_options(populate_existing=True)
        )  # fmt: skip
        self.stage_for_update = self.stage_by_key.with_for_update()
        self.bound_start = (
            sa_select(col(Sitzung.start))
            .join(SitzungBinding, col(SitzungBinding.sitzung_id) == Sitzung.id)
            .where(col(SitzungBinding.fortschreibung_id) == pid,
                   col(SitzungBinding.name) == bindparam("name"))
        )  # fmt: skip
        self.open_tasks_of_stage = sa_select(col(Task.key), col(Task.required)).where(
            col(Task.stage_id) == bindparam("sid"), col(Task.state) == TaskState.open
        ).order_by(col(Task.id))  # fmt: skip
        self.stage_at = sa_select(col(Stage.id), col(Stage.closed_on)).where(
            col(Stage.fortschreibung_id) == pid, col(Stage.position) == bindparam("pos"))
        self.set_stage_state = update(stage).where(stage.c.id == bindparam("sid")).values(
            state=bindparam("new_state"), opened_on=bindparam("new_opened"),
            closed_on=bindparam("new_closed"))  # fmt: skip
        process = Fortschreibung.__table__  # type: ignore[attr-defined]
        self.set_process_state = update(process).where(process.c.id == bindparam("fid")).values(
            state=bindparam("new_state"), current_stage_id=bindparam("new_current"))
        self.kommune_calendar = sa_select(col(Kommune.bundesland), col(Kommune.closing_days)).where(
            col(Kommune.id) == bindparam("kid"))
        self.started_on_of = sa_select(col(Fortschreibung.started_on)).where(
            col(Fortschreibung.key) == bindparam("key"))
        decision = GateDecision.__table__  # type: ignore[attr-defined]
        self.insert_decision = insert(decision).returning(decision.c.id)
        self.set_due = update(task).where(task.c.id == bindparam("tid")).values(
            due=bindparam("new_due"))  # fmt: skip
        self.set_planned_start = update(stage).where(stage.c.id == bindparam("sid")).values(
            planned_start=bindparam("new_start"))  # fmt: skip


@cache
def _statements() -> _Statements:
    return _Statements()


def task_id_of(session: Session, ref: str | int) -> int:
    """The id of the task ``ref`` names (as ``get_task`` finds it), in one query at most."""
    text = str(ref)
    if re.fullmatch(r"[0-9]{1,18}", text):
        return int(text)
    pkey, _, tkey = text.rpartition(":")
    if pkey and tkey:
        found = session.execute(
            sa_select(col(Task.id))
            .join(Fortschreibung, col(Fortschreibung.id) == Task.fortschreibung_id)
            .where(col(Fortschreibung.key) == pkey, col(Task.key) == tkey)
        ).scalar()  # fmt: skip
        if found is not None:
            return int(found)
    return ident(get_task(session, ref))  # the same refusal as everywhere else


def reassign_task(session: Session, task_ref: str | int, *, to: str, actor: str) -> Task:
    task = get_task(session, task_ref)
    lock(session, task)
    if task.state == TaskState.done:
        raise Refused(f"die Aufgabe {task.key!r} ist schon erledigt; da gibt es nichts zuzuweisen")
    process = get_required(session, Fortschreibung, task.fortschreibung_id)
    person = get_person(session, process.kommune_id, to)
    if person.id == task.assignee_id:
        raise Refused(f"die Aufgabe {task.key!r} ist schon {person.name} zugewiesen")
    before = {"assignee_id": task.assignee_id}
    task.assignee_id = person.id
    session.add(task)
    events.log(
        session,
        actor=actor,
        action="task_reassigned",
        entity=task,
        process_id=process.id,
        before=before,
        after={"assignee_id": person.id, "assignee": person.key},
    )
    session.flush()
    return task


# --- gates ---------------------------------------------------------------------------------


def decide_gate(
    session: Session,
    process_key: str,
    stage_key: str,
    *,
    outcome: Outcome | str,
    on: dt.date,
    by: str,
    reference: str = "",
    remarks: str = "",
    force_reason: str = "",
    postpone_to: str | None = None,
    reopen: tuple[str, ...] = (),
    process: Fortschreibung | None = None,
) -> GateDecision:
    """Approve, send back (with a reason) or postpone (to another Sitzung) a stage's gate.

    ``process``: the process of ``process_key`` when the caller has loaded it already.
    """
    outcome = Outcome(outcome)
    if process is None:
        process = get_process(session, process_key)
    # two people deciding at once: the second sees the first's result
    stage = _locked_stage(session, process, stage_key)
    gate = plan_of(process.plan).stage(stage.key).gate
    _check_gate_open(session, stage, on)
    if reference and not REFERENCE.fullmatch(reference):
        raise Refused(
            f"das Aktenzeichen {reference!r} hat nicht die erwartete Form (etwa 'BSV 3/2017')"
        )
    decision = GateDecision(
        fortschreibung_id=ident(process),
        stage_id=ident(stage),
        outcome=outcome,
        decided_by=by,
        decided_on=on,
        reference=reference,
        remarks=remarks,
        forced_reason=force_reason,
    )
    if outcome == Outcome.approve:
        _approve(session, process, stage, gate, decision)
    elif outcome == Outcome.send_back:
        _send_back(session, process, stage, decision, reopen)
    else:
        _postpone(session, process, stage, gate, decision, postpone_to)
    # one INSERT, and the object joins the session as the row it is (no unit-of-work flush)
    session.flush()
    table = GateDecision.__table__  # type: ignore[attr-defined]
    values = {c.name: getattr(decision, c.name) for c in table.columns if c.name != "id"}
    decision.id = session.connection().execute(_statements().insert_decision, values).scalar_one()
    make_transient_to_detached(decision)
    session.add(decision)
    events.log_row(
        session,
        actor=by,
        action=f"gate_{outcome.value}",
        entity=decision,
        process_id=process.id,
        after=events.snapshot(
            decision, "outcome", "decided_on", "reference", "remarks", "forced_reason"
        )
        | {"stage": stage.key},
    )
    return decision


def _locked_stage(session: Session, process: Fortschreibung, key: str) -> Stage:
    """The stage under its row lock (as ``lock`` takes it), read after the lock was taken."""
    pg = session.get_bind().dialect.name == "postgresql"
    if not pg:
        session.connection().execute(_statements().lock_stage, {"pid": process.id, "skey": key})
    query = _statements().stage_for_update if pg else _statements().stage_by_key
    stage: Stage | None = session.execute(query, {"pid": process.id, "skey": key}).scalar()
    if stage is None:
        return get_stage(session, process, key)  # the refusal everyone else gives
    return stage


def _check_gate_open(session: Session, stage: Stage, on: dt.date) -> None:
    if stage.state == StageState.pending:
        raise Refused(
            f"das Gate der Phase {stage.key!r} ist nicht offen: die Phase hat noch nicht begonnen"
        )
    if stage.state == StageState.closed:
        last = session.exec(
            select(GateDecision)
            .where(GateDecision.stage_id == stage.id)
            .order_by(col(GateDecision.id).desc())
        ).first()
        by = f" von {last.decided_by}" if last else ""
        raise Refused(
            f"das Gate der Phase {stage.key!r} ist schon geschlossen (freigegeben am "
            f"{stage.closed_on:%d.%m.%Y}{by})"
        )
    if stage.opened_on and on < stage.opened_on:
        raise Refused(
            f"das Entscheidungsdatum {on:%d.%m.%Y} liegt vor dem Beginn der Phase {stage.key!r} "
            f"({stage.opened_on:%d.%m.%Y})"
        )


def _approve(
    session: Session, process: Fortschreibung, stage: Stage, gate: Gate, decision: GateDecision
) -> None:
    if gate.reference_required and not decision.reference:
        raise Refused(
            f"die Freigabe der Phase {stage.key!r} braucht ein Aktenzeichen "
            "(Vorlagen- oder Beschlussnummer)"
        )
    if gate.sitzung:
        day = session.connection().execute(_statements().bound_start, {
            "pid": process.id, "name": gate.sitzung}).scalar_one().date()  # fmt: skip
        if decision.decided_on < day:
            raise Refused(
                f"über die Phase {stage.key!r} entscheidet die Sitzung am {day:%d.%m.%Y}; "
                f"der {decision.decided_on:%d.%m.%Y} liegt davor"
            )
    missing = _open_required(session, stage, gate)
    if missing and not decision.forced_reason:
        raise Refused(
            f"vor dem Gate der Phase {stage.key!r} müssen erst diese Aufgaben erledigt sein: "
            f"{', '.join(missing)} (oder mit Begründung erzwingen)"
        )
    # Written with statements built once; the session's objects get the new values.
    session.flush()
    st, db, on = _statements(), session.connection(), decision.decided_on
    following = db.execute(st.stage_at, {"pid": process.id, "pos": stage.position + 1}).first()
    rows: list[dict[str, Any]] = [{"sid": stage.id, "new_state": StageState.closed,
                                   "new_opened": stage.opened_on, "new_closed": on}]  # fmt: skip
    state, current = ProcessState.completed, None
    if following is not None:
        rows.append({"sid": following.id, "new_state": StageState.open, "new_opened": on,
                     "new_closed": following.closed_on})  # fmt: skip
        state, current = process.state, following.id
    db.execute(st.set_stage_state, rows)
    db.execute(st.set_process_state, {"fid": process.id, "new_state": state,
                                      "new_current": current})  # fmt: skip
    for row in rows:
        _sync(session, Stage, "state", {row["sid"]: row["new_state"]})
        _sync(session, Stage, "opened_on", {row["sid"]: row["new_opened"]})
        _sync(session, Stage, "closed_on", {row["sid"]: row["new_closed"]})
    set_committed_value(process, "state", state)
    set_committed_value(process, "current_stage_id", current)
    recompute(session, process, actor=decision.decided_by, reason=f"gate {stage.key} approved")


def _open_required(session: Session, stage: Stage, gate: Gate) -> list[str]:
    session.flush()
    tasks = session.connection().execute(_statements().open_tasks_of_stage, {"sid": stage.id})
    return [t.key for t in tasks if gate.blocks(t)]


def _send_back(
    session: Session,
    process: Fortschreibung,
    stage: Stage,
    decision: GateDecision,
    reopen: tuple[str, ...],
) -> None:
    if not decision.remarks.strip():
        raise Refused("wer ein Gate zurückgibt, muss einen Grund nennen")
    for key in reopen:
        task = session.exec(select(Task).where(Task.stage_id == stage.id, Task.key == key)).first()
        if task is None:
            raise NotFound(f"die Phase {stage.key!r} hat keine Aufgabe {key!r} zum Wiedereröffnen")
        if task.state == TaskState.done:
            before = events.snapshot(task, "state", "done_on")
            task.state, task.done_on, task.done_by_id = TaskState.open, None, None
            session.add(task)
            events.log(
                session,
                actor=decision.decided_by,
                action="task_reopened",
                entity=task,
                process_id=process.id,
                before=before,
                after={"state": "open", "reason": decision.remarks},
            )


def _bound_sitzung(session: Session, process: Fortschreibung, name: str) -> Sitzung:
    binding = session.exec(
        select(SitzungBinding).where(
            SitzungBinding.fortschreibung_id == process.id, SitzungBinding.name == name
        )
    ).one()
    return get_required(session, Sitzung, binding.sitzung_id)


def _postpone(
    session: Session,
    process: Fortschreibung,
    stage: Stage,
    gate: Gate,
    decision: GateDecision,
    postpone_to: str | None,
) -> None:
    if not gate.sitzung:
        raise Refused(
            f"das Gate der Phase {stage.key!r} hängt an keiner Sitzung; nichts zu vertagen"
        )
    if not postpone_to:
        raise Refused("wer vertagt, muss die Sitzung nennen, auf die vertagt wird")
    old = _bound_sitzung(session, process, gate.sitzung)
    new = session.exec(
        select(Sitzung).where(Sitzung.kommune_id == process.kommune_id, Sitzung.key == postpone_to)
    ).first()
    if new is None:
        raise NotFound(f"keine Sitzung {postpone_to!r}")
    if new.gremium_id != old.gremium_id or new.start <= old.start:
        raise Refused(
            f"vertagt werden kann nur auf eine spätere Sitzung desselben Gremiums als {old.key!r}"
        )
    binding = session.exec(
        select(SitzungBinding).where(
            SitzungBinding.fortschreibung_id == process.id, SitzungBinding.name == gate.sitzung
        )
    ).one()
    binding.sitzung_id = ident(new)
    session.add(binding)
    for b in session.exec(
        select(Beratung)
        .join(Vorlage, col(Vorlage.id) == Beratung.vorlage_id)
        .where(Vorlage.fortschreibung_id == process.id, Beratung.sitzung_id == old.id)
    ):
        b.sitzung_id = ident(new)
        session.add(b)
    decision.remarks = decision.remarks or f"vertagt von {old.key} auf {new.key}"
    session.flush()
    recompute(session, process, actor=decision.decided_by, reason=f"postponed to {new.key}")


# --- council calendar ----------------------------------------------------------------------


@dataclass(frozen=True)
class SitzungMove:
    sitzung: Sitzung
    old: dt.datetime
    changes: dict[int, list[DueChange]]  # process id -> due changes


def move_sitzung(
    session: Session,
    sitzung_ref: str,
    new_start: dt.datetime | dt.date,
    *,
    actor: str,
    force_reason: str = "",
) -> SitzungMove:
    """Move a Sitzung; every dependent due date recomputes and each change is logged.

    Refused: a day that is a Sunday or public holiday of the Bundesland (unless forced with a
    reason, which is logged), a day before a bound process began, a move that breaks the
    Beratungsfolge or that puts a task's deadline before its stage can start.
    """
    sitzung = find_sitzung(session, sitzung_ref)
    lock(session, sitzung)
    if isinstance(new_start, dt.date) and not isinstance(new_start, dt.datetime):
        new_start = dt.datetime.combine(new_start, sitzung.start.time())
    if new_start == sitzung.start:
        raise Refused(f"die Sitzung {sitzung.key!r} ist schon am {new_start:%d.%m.%Y %H:%M}")
    kommune = get_required(session, Kommune, sitzung.kommune_id)
    check_sitzung_day(for_kommune(kommune), sitzung.key, new_start.date(), force_reason)
    processes = processes_bound_to(session, ident(sitzung))
    for process in processes:
        if new_start.date() < process.started_on:
            raise Refused(
                f"der {new_start:%d.%m.%Y} liegt vor dem Beginn der Fortschreibung "
                f"{process.key!r} ({process.started_on:%d.%m.%Y})"
            )
    _check_beratungsfolge(session, sitzung, new_start)
    old = sitzung.start
    sitzung.start = new_start
    session.add(sitzung)
    session.flush()
    moved = {"start": new_start.isoformat()} | ({"force": force_reason} if force_reason else {})
    events.log(session, actor=actor, action="sitzung_moved", entity=sitzung, process_id=None,
               before={"start": old.isoformat()}, after=moved)  # fmt: skip
    changes: dict[int, list[DueChange]] = {}
    for process in processes:
        changes[ident(process)] = recompute(
            session, process, actor=actor, reason=f"Sitzung {sitzung.key} moved"
        )
        check_stage_starts(session, process, changes[ident(process)])
        events.log(session, actor=actor, action="sitzung_moved", entity=sitzung,
                   process_id=process.id, before={"start": old.isoformat()},
                   after=moved)  # fmt: skip
    return SitzungMove(sitzung, old, changes)


def check_sitzung_day(
    calendar: WorkCalendar, sitzung_key: str, day: dt.date, force_reason: str
) -> None:
    """A Sitzung on a Sunday or public holiday is a typo far more often than a plan."""
    if force_reason:
        return
    why = calendar.holiday_name(day) or ("ein Sonntag" if day.weekday() == 6 else None)
    if why:
        raise NeedsReason(
            f"die Sitzung {sitzung_key!r} läge am {day:%d.%m.%Y} ({why}); "
            "wenn das so gewollt ist, mit Begründung erzwingen (--force GRUND)"
        )


def check_stage_starts(
    session: Session, process: Fortschreibung, changes: list[DueChange]
) -> None:
    """No moved deadline may fall before its stage can start at the earliest (a Sitzung moved
    by hand, by the RIS sync, or a plan Sitzung bound to another)."""
    if not changes:
        return
    stages = {
        s.id: s
        for s in session.exec(select(Stage).where(Stage.fortschreibung_id == process.id))
    }
    for change in changes:
        task = get_required(session, Task, change.task_id)
        stage = stages[task.stage_id]
        if stage.state == StageState.closed or task.state == TaskState.done:
            continue
        earliest = stage.opened_on or stage.planned_start
        if earliest and change.new < earliest:
            raise Refused(
                f"dann wäre die Aufgabe {task.key!r} ({task.title}) am {change.new:%d.%m.%Y} "
                f"fällig, vor dem frühesten Beginn ihrer Phase {stage.key!r} "
                f"({earliest:%d.%m.%Y})"
            )


def _check_beratungsfolge(session: Session, sitzung: Sitzung, new_start: dt.datetime) -> None:
    """A Vorberatung may not move behind the Entscheidung of the same Vorlage (and v.v.)."""
    for beratung in session.exec(select(Beratung).where(Beratung.sitzung_id == sitzung.id)):
        others = session.exec(
            select(Beratung, Sitzung)
            .join(Sitzung, col(Sitzung.id) == Beratung.sitzung_id)
            .where(Beratung.vorlage_id == beratung.vorlage_id, Beratung.id != beratung.id)
        ).all()
        for other, other_sitzung in others:
            wrong = (other.position < beratung.position and other_sitzung.start > new_start) or (
                other.position > beratung.position and other_sitzung.start < new_start
            )
            if wrong:
                vorlage = get_required(session, Vorlage, beratung.vorlage_id)
                raise Refused(
                    f"die Verlegung von {sitzung.key!r} auf den {new_start:%d.%m.%Y} bricht die "
                    f"Beratungsfolge der Vorlage {vorlage.reference!r}: {other_sitzung.key!r} "
                    f"ist am {other_sitzung.start:%d.%m.%Y}"
                )


def set_closing_days(session: Session, kommune_key: str, days: list[dt.date], *, actor: str) -> int:
    """Change the Rathaus's extra closing days; recompute every process of the Kommune."""
    kommune = session.exec(select(Kommune).where(Kommune.key == kommune_key)).first()
    if kommune is None:
        raise NotFound(f"keine Kommune {kommune_key!r}")
    lock(session, kommune)
    before = {"closing_days": list(kommune.closing_days or [])}
    kommune.closing_days = sorted({d.isoformat() for d in days})
    session.add(kommune)
    events.log(
        session,
        actor=actor,
        action="closing_days_changed",
        entity=kommune,
        process_id=None,
        before=before,
        after={"closing_days": kommune.closing_days},
    )
    changed = 0
    for process in session.exec(
        select(Fortschreibung).where(Fortschreibung.kommune_id == kommune.id)
    ):
        changed += len(recompute(session, process, actor=actor, reason="closing days changed"))
    return changed


def recompute_all(session: Session, *, actor: str, reason: str) -> int:
    """Recompute the deadlines of every process (after a holiday-calendar change).

    The same computation as ``recompute`` for each process, in bulk: one query per table as
    plain driver rows, one timeline computed per distinct set of inputs (Kommunen with the same
    calendar, plan, start, Sitzung days and stage dates share it), executemany writes.
    """
    session.flush()
    rows = _AllRows(session)
    codec = rows.codec
    shared: dict[tuple[Any, ...], _Computed] = {}
    # Values go to the driver as the columns' types would convert them (each distinct one once).
    task_updates: list[dict[str, Any]] = []
    stage_updates: list[dict[str, Any]] = []
    logged: list[dict[str, Any]] = []
    at = codec.event_at(dt.datetime.now(dt.UTC))
    befores: dict[dt.date | None, Any] = {}
    afters: dict[dt.date, Any] = {}
    open_ = TaskState.open
    empty: _Rows = []
    for pid, kommune_id, started_raw, plan_index in rows.processes:
        stages = rows.stages.get(pid, empty)
        tasks = rows.tasks.get(pid, empty)
        stage_key = dict(map(_STAGE_ID_KEY, stages))
        inputs = (
            rows.calendar_keys[kommune_id], started_raw, plan_index,
            tuple(map(_STAGE_SPEC, stages)),
            tuple(map(stage_key.get, map(_TASK_STAGE, tasks))), tuple(map(_TASK_SPEC, tasks)),
            rows.bound.get(pid, ()), rows.termine.get(pid, ()),
        )  # fmt: skip
        computed = shared.get(inputs)
        if computed is None:
            computed = shared[inputs] = _compute(rows, inputs)
        # Most processes have nothing to change: compared at once, row by row only if not.
        if list(map(_TASK_DUE, tasks)) != computed.dues_db:
            for t, expected in zip(tasks, computed.dues, strict=True):
                if t[8] == expected[1]:
                    continue
                old = None if t[8] is None else codec.date(t[8])
                new, new_db = expected
                if old == new:  # stored in another spelling of the same day
                    continue
                task_updates.append({"b_id": t[1], "b_due": new_db})
                if codec.task_state(t[9]) == open_:
                    before = befores.get(old)
                    if before is None:
                        before = befores[old] = codec.event_json({"due": plain_date(old)})
                    after = afters.get(new)
                    if after is None:
                        after = afters[new] = codec.event_json(
                            {"due": new.isoformat(), "reason": reason})
                    logged.append({
                        "fortschreibung_id": pid, "at": at, "actor": actor,
                        "action": "due_changed", "entity": "Task", "entity_id": t[1],
                        "before": before, "after": after,
                    })  # fmt: skip
        if list(map(_STAGE_PLANNED, stages)) != computed.starts_db:
            for s, (start, start_db) in zip(stages, computed.starts, strict=True):
                raw = s[5]
                if raw != start_db and (raw is None or codec.date(raw) != start):
                    stage_updates.append({"b_id": s[1], "b_start": start_db})
    if codec.arrays:
        _write_arrays(session, task_updates, stage_updates, logged)
    else:
        task, stage = Task.__table__, Stage.__table__  # type: ignore[attr-defined]
        _executemany(session, update(task).where(task.c.id == bindparam("b_id"))
                     .values(due=bindparam("b_due")), task_updates)  # fmt: skip
        _executemany(session, update(stage).where(stage.c.id == bindparam("b_id"))
                     .values(planned_start=bindparam("b_start")), stage_updates)  # fmt: skip
        _executemany(session, insert(Event.__table__), logged)  # type: ignore[attr-defined]
    session.expire_all()  # the identity map holds the old due dates
    return len(task_updates)


# Columns of the bulk rows (see _AllRows): stage (process, id, key, opened, closed, planned),
# task (process, id, stage id, key, anchor, ref, offset, unit, due, state).
_STAGE_ID_KEY = itemgetter(1, 2)
_STAGE_SPEC = itemgetter(2, 3, 4)
_STAGE_PLANNED = itemgetter(5)
_TASK_STAGE = itemgetter(2)
_TASK_SPEC = itemgetter(3, 4, 5, 6, 7)
_TASK_DUE = itemgetter(8)
_FIRST = itemgetter(0)


def _write_arrays(session: Session, tasks: list[dict[str, Any]], stages: list[dict[str, Any]],
                  logged: list[dict[str, Any]]) -> None:  # fmt: skip
    """PostgreSQL: each table's changes in one statement from arrays (a pipelined row costs
    ~50 µs). The events of one run share their actor, action, entity and time."""
    for table, column, values in (("task", "due", [(v["b_id"], v["b_due"]) for v in tasks]),
                                  ("stage", "planned_start",
                                   [(v["b_id"], v["b_start"]) for v in stages])):  # fmt: skip
        if values:
            session.execute(sa_text(
                f"UPDATE {table} SET {column} = u.value FROM unnest(CAST(:ids AS BIGINT[]), "
                f"CAST(:vals AS DATE[])) AS u(id, value) WHERE {table}.id = u.id"
            ), {"ids": [v[0] for v in values], "vals": [v[1] for v in values]})  # fmt: skip
    if not logged:
        return
    texts: dict[int, str] = {}  # the events share a few before/after dicts: each dumped once

    def dumped(value: dict[str, Any]) -> str:
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = json.dumps(value)  # what the JSON column would send
        return text

    first = logged[0]
    session.execute(sa_text(
        "INSERT INTO event (fortschreibung_id, at, actor, action, entity, entity_id, before, "
        "after) SELECT u.pid, :at, :actor, :action, :entity, u.eid, CAST(u.b AS JSON), "
        "CAST(u.a AS JSON) FROM unnest(CAST(:pids AS BIGINT[]), CAST(:eids AS BIGINT[]), "
        "CAST(:befores AS TEXT[]), CAST(:afters AS TEXT[])) AS u(pid, eid, b, a)"
    ), {
        "at": first["at"], "actor": first["actor"], "action": first["action"],
        "entity": first["entity"], "pids": [e["fortschreibung_id"] for e in logged],
        "eids": [e["entity_id"] for e in logged],
        "befores": [dumped(e["before"]) for e in logged],
        "afters": [dumped(e["after"]) for e in logged],
    })  # fmt: skip


def _executemany(session: Session, statement: Any, params: list[dict[str, Any]]) -> None:
    """``statement`` once per entry of ``params`` on the session's connection, in one driver
    executemany. The values must be as the driver takes them (``_Codec``): SQLAlchemy's
    per-row parameter processing costs more than the database's work."""
    if not params:
        return
    conn = session.connection()
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(params[0]))
    names = compiled.positiontup
    rows = [tuple([p[n] for n in names]) for p in params] if compiled.positional else params
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(str(compiled), rows)
    finally:
        cursor.close()


@dataclass(frozen=True)
class _Computed:
    """One timeline's results, aligned with its process's task and stage rows.

    ``dues``: per task row, the due date and its value as the database driver returns it;
    ``starts``: the same per stage row.
    """

    dues: tuple[tuple[dt.date, Any], ...]
    starts: tuple[tuple[dt.date, Any], ...]
    dues_db: list[Any]  # the driver's values alone, to compare a process's rows at once
    starts_db: list[Any]


def _compute(rows: _AllRows, inputs: tuple[Any, ...]) -> _Computed:
    """The timeline of one set of inputs, as ``build_timeline`` builds it from a process."""
    calendar_key, started_raw, plan_index, stages, task_stages, task_rest, bound, termine = inputs
    codec = rows.codec
    tl = _timeline(
        for_kommune(_KommuneCalendar(*calendar_key)),
        codec.date(started_raw),
        rows.gates(plan_index),
        [(key, codec.day(opened), codec.day(closed)) for key, opened, closed in stages],
        rows.task_specs(task_stages, task_rest),
        bound,
        [(name, codec.date(on)) for name, on in termine],
    )
    dues, starts = tl.compute()
    due_list = list(map(dues.__getitem__, map(_FIRST, task_rest)))  # per task row, by its key
    start_list = [starts[s[0]] for s in stages]
    dues_db = list(map(codec.date_db, due_list))
    starts_db = list(map(codec.date_db, start_list))
    return _Computed(dues=tuple(zip(due_list, dues_db, strict=True)),
                     starts=tuple(zip(start_list, starts_db, strict=True)),
                     dues_db=dues_db, starts_db=starts_db)  # fmt: skip


class _KommuneCalendar(NamedTuple):
    bundesland: str
    closing_days: tuple[str, ...] | None


def _same(value: Any) -> Any:
    return value


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` remembering its results (a bulk run converts a few hundred days 10⁵ times)."""
    known: dict[Any, Any] = {}

    def memoised(value: Any) -> Any:
        result = known.get(value, known)
        if result is known:
            result = known[value] = convert(value)
        return result

    return memoised


class _Codec:
    """Driver values to Python values and back, as the columns' types convert them.

    The bulk queries fetch plain driver rows (SQLite: dates as text); a value is converted
    only where it is used, by the very processors SQLAlchemy would apply to the column.
    """

    def __init__(self, dialect: Dialect):
        def impl(column: Any) -> Any:
            return column.type.dialect_impl(dialect)

        due = impl(Task.__table__.c.due)  # type: ignore[attr-defined]
        start = impl(Sitzung.__table__.c.start)  # type: ignore[attr-defined]
        state = impl(Task.__table__.c.state)  # type: ignore[attr-defined]
        self.date: Callable[[Any], Any] = due.result_processor(dialect, None) or _same
        to_db = due.bind_processor(dialect)
        self.date_db: Callable[[Any], Any] = _same if to_db is None else _memoised(to_db)
        self.datetime: Callable[[Any], Any] = start.result_processor(dialect, None) or _same
        self.task_state: Callable[[Any], Any] = state.result_processor(dialect, None) or _same
        # PostgreSQL takes the changes as arrays (``_write_arrays``): the events' values stay
        # as they are.
        self.arrays = dialect.name == "postgresql"
        event = Event.__table__.c  # type: ignore[attr-defined]
        self.event_at: Callable[[Any], Any] = _same
        self.event_json: Callable[[Any], Any] = _same
        if not self.arrays:
            self.event_at = impl(event.at).bind_processor(dialect) or _same
            self.event_json = impl(event.before).bind_processor(dialect) or _same

    def day(self, raw: Any) -> dt.date | None:
        return None if raw is None else self.date(raw)


class _AllRows:
    """Every row the deadlines of all processes depend on, grouped by process, as plain
    driver tuples (an ORM or typed row per task costs more than the whole computation)."""

    def __init__(self, session: Session):
        conn = session.connection()
        self.codec = codec = _Codec(conn.dialect)
        raw = conn.connection.cursor()
        try:
            def fetch(query: Select[Any]) -> list[tuple[Any, ...]]:
                raw.execute(str(query.compile(dialect=conn.dialect,
                                              compile_kwargs={"literal_binds": True})))
                return raw.fetchall()  # type: ignore[return-value]

            plans: dict[str, int] = {}
            self._plan_texts: list[str] = []
            self.processes: list[tuple[int, int, Any, int]] = []
            for pid, kommune_id, started_raw, plan_text in fetch(sa_select(
                col(Fortschreibung.id), col(Fortschreibung.kommune_id),
                col(Fortschreibung.started_on), cast(col(Fortschreibung.plan), Text),
            ).order_by(col(Fortschreibung.id))):  # fmt: skip
                index = plans.get(plan_text)
                if index is None:
                    index = plans[plan_text] = len(self._plan_texts)
                    self._plan_texts.append(plan_text)
                self.processes.append((pid, kommune_id, started_raw, index))
            self._gates: dict[int, dict[str, str | None]] = {}
            self._task_specs: dict[tuple[Any, ...], _TaskSpecs] = {}
            self.calendar_keys = {
                kid: (land, _closing_days(days))
                for kid, land, days in fetch(sa_select(
                    col(Kommune.id), col(Kommune.bundesland),
                    cast(col(Kommune.closing_days), Text)))
            }  # fmt: skip
            self.stages = _grouped(fetch(sa_select(*map(col, (
                Stage.fortschreibung_id, Stage.id, Stage.key, Stage.opened_on, Stage.closed_on,
                Stage.planned_start))).order_by(col(Stage.position), col(Stage.id))))  # fmt: skip
            self.tasks = _grouped(fetch(sa_select(*map(col, (
                Task.fortschreibung_id, Task.id, Task.stage_id, Task.key, Task.anchor_kind,
                Task.anchor_ref, Task.offset, Task.offset_unit, Task.due, Task.state))
            ).order_by(col(Task.id))))  # fmt: skip
            bound: dict[int, list[tuple[str, dt.date, int]]] = defaultdict(list)
            for pid, name, start, days in fetch(
                _bound_query().order_by(col(SitzungBinding.id))
            ):
                bound[pid].append((name, codec.datetime(start).date(), days))
            self.bound = {pid: tuple(b) for pid, b in bound.items()}
            termine: dict[int, list[tuple[str, Any]]] = defaultdict(list)
            for pid, name, on in fetch(sa_select(
                col(Termin.fortschreibung_id), col(Termin.name), col(Termin.on)
            ).order_by(col(Termin.id))):  # fmt: skip
                termine[pid].append((name, on))
            self.termine = {pid: tuple(t) for pid, t in termine.items()}
        finally:
            raw.close()

    def task_specs(self, stages: tuple[Any, ...], rest: tuple[Any, ...]) -> _TaskSpecs:
        """``task_specs`` of each distinct set of tasks (the stage key and the rest of each
        task) once: most processes share one."""
        specs = self._task_specs.get((stages, rest))
        if specs is None:
            tasks = [(stage, *more) for stage, more in zip(stages, rest, strict=True)]
            specs = self._task_specs[(stages, rest)] = task_specs(tasks)
        return specs

    def gates(self, plan_index: int) -> dict[str, str | None]:
        """The gate Sitzung of each stage of a distinct stored plan (decoded once)."""
        gates = self._gates.get(plan_index)
        if gates is None:
            plan = plan_of(json.loads(self._plan_texts[plan_index]))
            gates = self._gates[plan_index] = {s.key: s.gate.sitzung for s in plan.stages}
        return gates


def _closing_days(text: str | None) -> tuple[str, ...] | None:
    days = None if text is None else json.loads(text)
    return None if days is None else tuple(days)


_Rows = list[tuple[Any, ...]]


def _grouped(rows: list[tuple[Any, ...]]) -> dict[int, _Rows]:
    """Rows by their first column (the process), in query order."""
    groups: dict[int, _Rows] = {}
    for row in rows:
        group = groups.get(row[0])
        if group is None:
            groups[row[0]] = [row]
        else:
            group.append(row)
    return groups
