"""Transitions of a Fortschreibung: pure state changes on a session, never committed here.

A transition takes a row lock on what it changes, checks everything before it changes
anything, and writes the event log beside the change. It does not commit: the use case in
``lifecycle.services`` adds the follow-ups (reminders, run requests) and commits all of it as
one transaction, or rolls all of it back when anything refuses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Table, UniqueConstraint, Update, bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, SQLModel, col, select

from . import events
from .calendar import WorkCalendar, for_bundesland, for_kommune
from .cancellations import cancelled_sitzungen
from .deadlines import StageSpec, TaskSpec, Timeline
from .errors import InputError, NeedsReason, NotFound, Refused
from .instantiate import instantiate
from .lookups import (
    find_sitzung,
    get_person,
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
from .typing_helpers import get_all_required, get_required, ident
from .words import quoted

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
        session.execute(_touch(model.__table__), {"rid": row.id})  # type: ignore[attr-defined]
    session.refresh(row)


@cache
def _touch(table: Table, **where: Any) -> Update:
    """SQLite's row lock: a no-op UPDATE of one plain column of the rows ``where`` names,
    column by bind parameter (by default ``id`` by ``rid``).

    Not of the primary key: SQLite checks the child tables of a parent key that is set, even
    to itself, and scans every row of a child whose column has no index (the reminders of
    all tasks on a task's lock). A column in no index and no foreign key costs nothing more."""
    indexed = {c.name for index in table.indexes for c in index.columns}
    unique = {c.name for con in table.constraints if isinstance(con, UniqueConstraint)
              for c in con.columns}  # fmt: skip
    plain = next(c for c in table.columns
                 if not (c.primary_key or c.foreign_keys or c.name in indexed | unique))
    params: dict[str, Any] = where or {"id": "rid"}
    return update(table).where(*(table.c[name] == bindparam(param)
                                 for name, param in params.items())).values({plain.name: plain})


# --- start ---------------------------------------------------------------------------------


def start(
    session: Session, scenario: Scenario, actor: str, *, force_reason: str
) -> Fortschreibung:
    """Create the Fortschreibung of ``scenario``: stages, tasks with due dates, Vorlagen."""
    force_reason = reason_given(force_reason)
    data, plan = scenario.data, scenario.plan
    kommune = data["kommune"]
    calendar = for_bundesland(kommune["bundesland"])  # only holidays are asked of it below
    for sitzung in data.get("sitzungen", []):
        day = dt.date.fromisoformat(str(sitzung["start"])[:10])
        check_sitzung_day(calendar, sitzung["key"], day, force_reason)
    existing = session.connection().execute(
        _statements().started_on_of, {"key": scenario.key}).scalar()  # fmt: skip
    if existing is not None:
        raise Refused(
            f"die Fortschreibung {quoted(scenario.key)} gibt es schon "
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


def bound_query() -> Select[tuple[int, str, dt.datetime, int]]:
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
    return timeline_from_specs(
        calendar, started_on, gates, stages, task_specs(tasks), bound, termine
    )


TaskSpecs = tuple[dict[str, TaskSpec], dict[Any, list[str]]]


def task_specs(tasks: Sequence[tuple[Any, str, str, str, int, str]]) -> TaskSpecs:
    """The solver's specs of ``tasks`` (as ``timeline_of`` takes them), and their keys per
    stage key. Never changed by a timeline: processes with the same tasks may share them."""
    by_stage: dict[Any, list[str]] = {}
    for t in tasks:
        by_stage.setdefault(t[0], []).append(t[1])
    return {t[1]: TaskSpec(t[1], t[0], t[2], t[3], t[4], t[5]) for t in tasks}, by_stage


def timeline_from_specs(
    calendar: WorkCalendar,
    started_on: dt.date,
    gates: dict[str, str | None],
    stages: Sequence[tuple[str, dt.date | None, dt.date | None]],
    specs: TaskSpecs,
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
    old: dt.date | None
    new: dt.date


@dataclass(frozen=True)
class TimelineRows:
    """What a process's timeline is computed from, as plain rows read once: a gate's checks
    and the recompute after its approval share them.

    stages: (id, key, opened_on, closed_on, planned_start) in the plan's order; tasks: (id,
    stage_id, key, anchor_kind, anchor_ref, offset, offset_unit, due, state, required) by id;
    bound: (fortschreibung_id, name, start, Vorlagenschluss working days); termine: (name, on).
    """

    stages: Sequence[Any]
    tasks: Sequence[Any]
    bound: Sequence[Any]
    termine: Sequence[Any]

    def sitzung_day(self, name: str) -> dt.date:
        """The day of the Sitzung bound to ``name``."""
        for b in self.bound:
            if b[1] == name:
                return b[2].date()  # type: ignore[no-any-return]
        raise NotFound(f"der Prozess hat keine Sitzung {quoted(name)}")

    def open_tasks(self, stage_id: int | None) -> list[Any]:
        """The open tasks of a stage, by id (as a gate's check lists them)."""
        return [t for t in self.tasks if t.stage_id == stage_id and t.state == TaskState.open]

    def after(self, stage_id: int | None) -> Any:
        """The stage after ``stage_id`` in the plan's order; None after the last."""
        ids = [s[0] for s in self.stages]
        i = ids.index(stage_id) + 1
        return self.stages[i] if i < len(ids) else None

    def with_dates(self, dates: dict[Any, tuple[dt.date | None, dt.date | None]]) -> TimelineRows:
        """These rows with the (opened_on, closed_on) of some stages changed."""
        stages = [(s[0], s[1], *dates[s[0]], s[4]) if s[0] in dates else tuple(s)
                  for s in self.stages]  # fmt: skip
        return TimelineRows(stages, self.tasks, self.bound, self.termine)


def timeline_rows(session: Session, process: Fortschreibung) -> TimelineRows:
    """The rows ``process``'s timeline is computed from, as the transaction has them now."""
    session.flush()  # what the transition changed so far is what the rows below show
    st, db = _statements(), session.connection()
    pid = {"pid": process.id}
    return TimelineRows(
        db.execute(st.timeline_stages, pid).all(), db.execute(st.timeline_tasks, pid).all(),
        db.execute(st.timeline_bound, pid).all(), db.execute(st.timeline_termine, pid).all(),
    )  # fmt: skip


def recompute(
    session: Session, process: Fortschreibung, *, actor: str, reason: str,
    log_changes: bool = True, rows: TimelineRows | None = None,
) -> list[DueChange]:
    """Recompute every due date of ``process``; log each change. Does not commit.

    Reads plain rows (no ORM objects; ``rows``, when the caller read them in this transaction
    and changed nothing since but what they say), writes the changed due dates and projected
    starts with one executemany each and the events with one INSERT; objects of those rows
    the session already holds get the new values, as if they had been changed through them.
    """
    if rows is None:
        rows = timeline_rows(session, process)
    else:
        session.flush()
    st, db = _statements(), session.connection()
    stages, tasks, bound, termine = rows.stages, rows.tasks, rows.bound, rows.termine
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
    for task_id, _, key, _, _, _, _, old, state, _ in tasks:
        due = dues[key]
        if old == due:
            continue
        changes.append(DueChange(task_id, key, old, due))
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
        raise NotFound(f"keine Aufgabe {quoted(str(task_ref))}")
    task: Task = found[0]
    stage_state, opened_on, stage_title, kommune_id, assignee_id, assignee_key = found[1:]
    if task.state == TaskState.done:
        raise Refused(
            f"die Aufgabe {quoted(task.title)} ist schon erledigt (am {task.done_on:%d.%m.%Y})"
        )
    if stage_state != StageState.open:
        state = "noch nicht begonnen" if stage_state == StageState.pending else "abgeschlossen"
        raise Refused(
            f"die Aufgabe {quoted(task.title)} gehört zur Phase {quoted(stage_title)}, "
            f"und die ist {state}"
        )
    if opened_on and on < opened_on:
        raise Refused(
            f"der {on:%d.%m.%Y} liegt vor dem Beginn der Phase {quoted(stage_title)} "
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
        self.lock_task = _touch(task, id="tid")
        self.task_done = update(task).where(task.c.id == bindparam("tid")).values(
            state=bindparam("new_state"), done_on=bindparam("new_done_on"),
            done_by_id=bindparam("new_done_by_id"))  # fmt: skip
        self.insert_event = insert(event)
        self.task_with_context: Any = (
            sa_select(Task, Stage.state, Stage.opened_on, Stage.title,  # type: ignore[call-overload]
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
            Task.offset_unit, Task.due, Task.state, Task.required))
        ).where(col(Task.fortschreibung_id) == pid).order_by(col(Task.id))  # fmt: skip
        self.timeline_bound = bound_query().where(col(SitzungBinding.fortschreibung_id) == pid)
        self.timeline_termine = sa_select(col(Termin.name), col(Termin.on)).where(
            col(Termin.fortschreibung_id) == pid)  # fmt: skip
        skey: Any = bindparam("skey")
        self.lock_stage = _touch(stage, fortschreibung_id="pid", key="skey")
        self.stage_by_key = (
            select(Stage).where(col(Stage.fortschreibung_id) == pid, col(Stage.key) == skey)
            .execution_options(populate_existing=True)
        )  # fmt: skip
        self.stage_for_update = self.stage_by_key.with_for_update()
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
        raise Refused(
            f"die Aufgabe {quoted(task.title)} ist schon erledigt; da gibt es nichts zuzuweisen"
        )
    process = get_required(session, Fortschreibung, task.fortschreibung_id)
    person = get_person(session, process.kommune_id, to)
    if person.id == task.assignee_id:
        raise Refused(f"die Aufgabe {quoted(task.title)} ist schon {person.name} zugewiesen")
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
    process: Fortschreibung,
    stage_key: str,
    *,
    outcome: Outcome | str,
    on: dt.date,
    by: str,
    reference: str,
    remarks: str,
    force_reason: str,
    postpone_to: str | None,
    reopen: tuple[str, ...],
) -> GateDecision:
    """Approve, send back (with a reason) or postpone (to another Sitzung) a stage's gate."""
    outcome = Outcome(outcome)
    force_reason = reason_given(force_reason)
    # two people deciding at once: the second sees the first's result
    stage = _locked_stage(session, process, stage_key)
    gate = plan_of(process.plan).stage(stage.key).gate
    _check_gate_open(session, stage, on)
    if reference and not REFERENCE.fullmatch(reference):
        raise Refused(
            f"das Aktenzeichen {quoted(reference)} hat nicht die erwartete Form (etwa „BSV 3/2017“)"
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
            f"das Gate der Phase {quoted(stage.title)} ist nicht offen: die Phase hat noch nicht "
            "begonnen"
        )
    if stage.state == StageState.closed:  # only an approval closes a stage
        by = session.exec(
            select(GateDecision.decided_by)
            .where(GateDecision.stage_id == stage.id)
            .order_by(col(GateDecision.id).desc())
            .limit(1)
        ).one()
        raise Refused(
            f"das Gate der Phase {quoted(stage.title)} ist schon geschlossen (freigegeben am "
            f"{stage.closed_on:%d.%m.%Y} von {by})"
        )
    if stage.opened_on and on < stage.opened_on:
        raise Refused(
            f"das Entscheidungsdatum {on:%d.%m.%Y} liegt vor dem Beginn der Phase "
            f"{quoted(stage.title)} ({stage.opened_on:%d.%m.%Y})"
        )


def _approve(
    session: Session, process: Fortschreibung, stage: Stage, gate: Gate, decision: GateDecision
) -> None:
    if gate.reference_required and not decision.reference:
        raise Refused(
            f"die Freigabe der Phase {quoted(stage.title)} braucht ein Aktenzeichen "
            "(Vorlagen- oder Beschlussnummer)"
        )
    # the checks and the recompute read the same rows, once
    timeline = timeline_rows(session, process)
    if gate.sitzung:
        day = timeline.sitzung_day(gate.sitzung)
        if decision.decided_on < day:
            raise Refused(
                f"über die Phase {quoted(stage.title)} entscheidet die Sitzung am {day:%d.%m.%Y}; "
                f"der {decision.decided_on:%d.%m.%Y} liegt davor"
            )
    missing = [t.key for t in timeline.open_tasks(stage.id) if gate.blocks(t)]
    if missing and not decision.forced_reason:
        raise Refused(
            f"vor dem Gate der Phase {quoted(stage.title)} müssen erst diese Aufgaben erledigt "
            "sein: "
            f"{', '.join(missing)} (oder mit Begründung erzwingen)"
        )
    # Written with statements built once; the session's objects get the new values.
    session.flush()
    st, db, on = _statements(), session.connection(), decision.decided_on
    following = timeline.after(stage.id)
    rows: list[dict[str, Any]] = [{"sid": stage.id, "new_state": StageState.closed,
                                   "new_opened": stage.opened_on, "new_closed": on}]  # fmt: skip
    state, current = ProcessState.completed, None
    if following is not None:
        rows.append({"sid": following[0], "new_state": StageState.open, "new_opened": on,
                     "new_closed": following[3]})  # fmt: skip
        state, current = process.state, following[0]
    db.execute(st.set_stage_state, rows)
    db.execute(st.set_process_state, {"fid": process.id, "new_state": state,
                                      "new_current": current})  # fmt: skip
    for row in rows:
        _sync(session, Stage, "state", {row["sid"]: row["new_state"]})
        _sync(session, Stage, "opened_on", {row["sid"]: row["new_opened"]})
        _sync(session, Stage, "closed_on", {row["sid"]: row["new_closed"]})
    set_committed_value(process, "state", state)
    set_committed_value(process, "current_stage_id", current)
    recompute(session, process, actor=decision.decided_by,
              reason=f"Gate der Phase {quoted(stage.title)} freigegeben",
              rows=timeline.with_dates({r["sid"]: (r["new_opened"], r["new_closed"])
                                        for r in rows}))  # fmt: skip


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
            raise NotFound(f"die Phase {quoted(stage.title)} hat keine Aufgabe {quoted(key)} "
                           "zum Wiedereröffnen")
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


def refuse_cancelled(session: Session, sitzung: Sitzung) -> None:
    """A Sitzung the RIS has cancelled (lifecycle.cancellations) is no new target: no gate is
    postponed to it, no plan Sitzung bound to it (``lifecycle oparl bind``). Refused in the
    caller's transaction, before it changes anything."""
    if cancelled_sitzungen(session, [ident(sitzung)]):
        raise Refused(
            f"die Sitzung {quoted(sitzung.key)} am {sitzung.start:%d.%m.%Y} ist im "
            "Ratsinformationssystem abgesagt; bitte eine andere Sitzung wählen"
        )


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
            f"das Gate der Phase {quoted(stage.title)} hängt an keiner Sitzung; nichts zu vertagen"
        )
    if not postpone_to:
        raise Refused("wer vertagt, muss die Sitzung nennen, auf die vertagt wird")
    old = _bound_sitzung(session, process, gate.sitzung)
    new = session.exec(
        select(Sitzung).where(Sitzung.kommune_id == process.kommune_id, Sitzung.key == postpone_to)
    ).first()
    if new is None:
        raise NotFound(f"keine Sitzung {quoted(postpone_to)}")
    if new.gremium_id != old.gremium_id or new.start <= old.start:
        raise Refused(
            f"vertagt werden kann nur auf eine spätere Sitzung desselben Gremiums als "
            f"{quoted(old.key)}"
        )
    refuse_cancelled(session, new)
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
    recompute(session, process, actor=decision.decided_by,
              reason=f"vertagt auf die Sitzung am {new.start:%d.%m.%Y}")


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
    force_reason = reason_given(force_reason)
    sitzung = find_sitzung(session, sitzung_ref)
    lock(session, sitzung)
    if isinstance(new_start, dt.date) and not isinstance(new_start, dt.datetime):
        new_start = dt.datetime.combine(new_start, sitzung.start.time())
    if new_start.tzinfo is not None:  # every stored time is the Kommune's local time, naive
        raise InputError("Sitzung", sitzung.key, f"{new_start:%H:%M%z}: bitte ohne Zeitzone "
                         "angeben (Ortszeit der Kommune)")  # fmt: skip
    if new_start == sitzung.start:
        raise Refused(f"die Sitzung {quoted(sitzung.key)} ist schon am {new_start:%d.%m.%Y %H:%M}")
    kommune = get_required(session, Kommune, sitzung.kommune_id)
    check_sitzung_day(for_kommune(kommune), sitzung.key, new_start.date(), force_reason)
    processes = processes_bound_to(session, ident(sitzung))
    for process in processes:
        if new_start.date() < process.started_on:
            raise Refused(
                f"der {new_start:%d.%m.%Y} liegt vor dem Beginn der Fortschreibung "
                f"{quoted(process.key)} ({process.started_on:%d.%m.%Y})"
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
            session, process, actor=actor,
            reason=f"Sitzung vom {old:%d.%m.%Y} auf den {new_start:%d.%m.%Y} verlegt",
        )
        check_stage_starts(session, process, changes[ident(process)])
        events.log(session, actor=actor, action="sitzung_moved", entity=sitzung,
                   process_id=process.id, before={"start": old.isoformat()},
                   after=moved)  # fmt: skip
    return SitzungMove(sitzung, old, changes)


def reason_given(force_reason: str) -> str:
    """A reason to force a refusal aside, as it is checked and logged: without blanks at its
    ends. A blank one is no reason (as an empty one), from every caller: CLI, web, sync."""
    return force_reason.strip()


def check_sitzung_day(
    calendar: WorkCalendar, sitzung_key: str, day: dt.date, force_reason: str
) -> None:
    """A Sitzung on a Sunday or public holiday is a typo far more often than a plan."""
    if reason_given(force_reason):
        return
    why = calendar.holiday_name(day) or ("ein Sonntag" if day.weekday() == 6 else None)
    if why:
        raise NeedsReason(
            f"die Sitzung {quoted(sitzung_key)} läge am {day:%d.%m.%Y} ({why}); "
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
    tasks = get_all_required(session, Task, [c.task_id for c in changes])
    for change in changes:
        task = tasks[change.task_id]
        stage = stages[task.stage_id]
        if stage.state == StageState.closed or task.state == TaskState.done:
            continue
        earliest = stage.opened_on or stage.planned_start
        if earliest and change.new < earliest:
            raise Refused(
                f"dann wäre die Aufgabe {quoted(task.title)} am {change.new:%d.%m.%Y} "
                f"fällig, vor dem frühesten Beginn ihrer Phase {quoted(stage.title)} "
                f"({earliest:%d.%m.%Y})"
            )


def _check_beratungsfolge(session: Session, sitzung: Sitzung, new_start: dt.datetime) -> None:
    """A Vorberatung may not move behind the Entscheidung of the same Vorlage (and v.v.)."""
    here = list(session.exec(select(Beratung).where(Beratung.sitzung_id == sitzung.id)))
    # every Beratung of those Vorlagen with its Sitzung, in one query (not one per Beratung)
    of_vorlage: dict[int, list[tuple[Beratung, Sitzung]]] = {}
    for row in session.exec(
        select(Beratung, Sitzung)
        .join(Sitzung, col(Sitzung.id) == Beratung.sitzung_id)
        .where(col(Beratung.vorlage_id).in_({b.vorlage_id for b in here}))
        .order_by(col(Beratung.id))
    ):  # fmt: skip
        of_vorlage.setdefault(row[0].vorlage_id, []).append((row[0], row[1]))
    for beratung in here:
        others = [(o, s) for o, s in of_vorlage.get(beratung.vorlage_id, []) if o.id != beratung.id]
        for other, other_sitzung in others:
            wrong = (other.position < beratung.position and other_sitzung.start > new_start) or (
                other.position > beratung.position and other_sitzung.start < new_start
            )
            if wrong:
                vorlage = get_required(session, Vorlage, beratung.vorlage_id)
                raise Refused(
                    f"die Verlegung von {quoted(sitzung.key)} auf den {new_start:%d.%m.%Y} bricht "
                    f"die Beratungsfolge der Vorlage {quoted(vorlage.reference)}: "
                    f"{quoted(other_sitzung.key)} "
                    f"ist am {other_sitzung.start:%d.%m.%Y}"
                )


def set_closing_days(session: Session, kommune_key: str, days: list[dt.date], *, actor: str) -> int:
    """Change the Rathaus's extra closing days; recompute every process of the Kommune."""
    kommune = session.exec(select(Kommune).where(Kommune.key == kommune_key)).first()
    if kommune is None:
        raise NotFound(f"keine Kommune {quoted(kommune_key)}")
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
        reason = "Schließtage der Kommune geändert"
        changed += len(recompute(session, process, actor=actor, reason=reason))
    return changed
