"""Where a process stands: read-only views for the CLI, flows and documents.

Plain data, no rendering: the CLI draws it with rich, the flows publish it as artifacts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, case, func
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from .calendar import vorlagenschluss_of
from .cancellations import cancelled_sitzungen
from .dates import check_year
from .lookups import calendar_of
from .models import (
    Fortschreibung,
    GateDecision,
    Kommune,
    Konzept,
    Person,
    ProcessState,
    SitzungBinding,
    Stage,
    StageState,
    Task,
    TaskState,
)
from .plan_types import plan_of
from .sitzungsdienst import sitzungen_of
from .typing_helpers import get_required, ident
from .words import ABGESAGT_TITLE_DE

if TYPE_CHECKING:
    from .access import Scope


@dataclass
class StageView:
    position: int
    key: str
    title: str
    state: StageState
    done: int
    total: int
    start: dt.date | None  # opened, or projected
    end: dt.date | None  # closed, or projected (last due date)
    gate_title: str
    gate_condition: str
    decision: GateDecision | None = None

    @property
    def progress(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


@dataclass
class Deadline:
    day: dt.date
    what: str
    who: str = ""
    task_id: int | None = None
    kind: str = "task"  # task | vorlagenschluss | sitzung


@dataclass
class SitzungView:
    name: str  # the plan's name for it
    label: str  # the plan's description
    gremium: str
    start: dt.datetime
    vorlagenschluss: dt.date
    oeffentlich: bool
    cancelled: bool = False  # by the RIS (lifecycle.cancellations), kept for the process


@dataclass
class ProcessStatus:
    process: Fortschreibung
    kommune: Kommune
    today: dt.date
    state: ProcessState  # as of ``today``
    stages: list[StageView]
    sitzungen: list[SitzungView]
    upcoming: list[Deadline]
    overdue: list[Deadline]
    open_gate: StageView | None = None
    progress: int = 0
    # What the views leave out, one text each ("Sitzung waiblingen:gr-2017-12-14, Beginn: Jahr 1
    # außerhalb von 1950 bis 2200"): a Sitzung dated outside the years the engine handles.
    skipped: list[str] = field(default_factory=list)


def process_status(
    session: Session, process: Fortschreibung, today: dt.date, horizon: int = 8
) -> ProcessStatus:
    """Where ``process`` stood on ``today``.

    Every transition carries its business date (done on, decided on, opened, closed), so a
    day in the past shows what was done and decided by then; Sitzungen keep their current
    dates.
    """
    kommune = get_required(session, Kommune, process.kommune_id)
    rows = session.exec(
        select(Task, Person.name)
        .join(Person, col(Person.id) == Task.assignee_id, isouter=True)
        .where(Task.fortschreibung_id == process.id)
        .order_by(col(Task.due), col(Task.position))
    ).all()
    stages = _stage_views(session, process, [t for t, _ in rows], today)
    running = any(v.state != StageState.closed for v in stages)
    skipped: list[str] = []
    sitzungen = _sitzung_views(session, process, kommune, skipped)
    deadlines = [
        Deadline(t.due, t.title, name or "", t.id)
        for t, name in rows
        if t.due and not done_by(t, today)
    ]
    if running:
        deadlines += [
            Deadline(s.vorlagenschluss, (ABGESAGT_TITLE_DE if s.cancelled else "")
                     + f"Vorlagenschluss {s.gremium} (Sitzung {s.start:%d.%m.%Y})",
                     kind="vorlagenschluss")
            for s in sitzungen
        ]  # fmt: skip
    deadlines.sort(key=lambda d: (d.day, d.kind != "vorlagenschluss"))
    total = sum(v.total for v in stages)
    done = sum(v.done for v in stages)
    return ProcessStatus(
        process=process,
        kommune=kommune,
        today=today,
        state=ProcessState.running if running else ProcessState.completed,
        stages=stages,
        sitzungen=sitzungen,
        upcoming=[d for d in deadlines if d.day >= today][:horizon],
        overdue=[d for d in deadlines if d.day < today and d.kind == "task"],
        open_gate=next((v for v in stages if v.state == StageState.open), None),
        progress=round(100 * done / total) if total else 100,
        skipped=skipped,
    )


def done_by(task: Task, day: dt.date) -> bool:
    return task.state == TaskState.done and task.done_on is not None and task.done_on <= day


def stage_state_on(stage: Stage, day: dt.date) -> StageState:
    if stage.closed_on and stage.closed_on <= day:
        return StageState.closed
    if stage.opened_on and stage.opened_on <= day:
        return StageState.open
    return StageState.pending


def _stage_views(
    session: Session, process: Fortschreibung, tasks: list[Task], today: dt.date
) -> list[StageView]:
    plan = plan_of(process.plan)
    decisions = session.exec(
        select(GateDecision)
        .where(GateDecision.fortschreibung_id == process.id, GateDecision.decided_on <= today)
        .order_by(col(GateDecision.id))
    ).all()
    last_decision = {d.stage_id: d for d in decisions}
    views = []
    for stage in session.exec(
        select(Stage).where(Stage.fortschreibung_id == process.id).order_by(col(Stage.position))
    ):
        own = [t for t in tasks if t.stage_id == stage.id]
        state = stage_state_on(stage, today)
        dues = [t.due for t in own if t.due]
        gate = plan.stage(stage.key).gate
        views.append(
            StageView(
                position=stage.position + 1,
                key=stage.key,
                title=stage.title,
                state=state,
                done=sum(done_by(t, today) for t in own),
                total=len(own),
                start=stage.opened_on if state != StageState.pending else stage.planned_start,
                end=stage.closed_on if state == StageState.closed else max(dues, default=None),
                gate_title=gate.title,
                gate_condition=gate.condition,
                decision=last_decision.get(ident(stage)),
            )
        )
    return views


def _sitzung_views(
    session: Session, process: Fortschreibung, kommune: Kommune, skipped: list[str]
) -> list[SitzungView]:
    """The process's Sitzungen (bound or in a Beratungsfolge), named as in the plan.

    A Sitzung dated outside the years the engine handles is left out and noted in ``skipped``
    (named as ``lifecycle reschedule`` takes it: KOMMUNE:SITZUNG): every input is checked
    against those years now, but a database an older version wrote may hold such a row, and
    near datetime's ends its Vorlagenschluss cannot even be computed (calendar export does
    the same: ``ical._unwritable``).
    """
    cal = calendar_of(session, process)
    labels = plan_of(process.plan).sitzungen
    names: dict[int, str] = {}
    for name, sitzung_id in session.exec(
        select(SitzungBinding.name, SitzungBinding.sitzung_id)
        .where(SitzungBinding.fortschreibung_id == process.id)
        .order_by(col(SitzungBinding.id))
    ):
        names.setdefault(sitzung_id, name)
    views = []
    pid = ident(process)
    found = sitzungen_of(session, [pid]).get(pid, [])
    cancelled = cancelled_sitzungen(session, [ident(s) for s, _ in found])
    for s, g in found:
        if problem := check_year(s.start.date()):
            skipped.append(f"Sitzung {kommune.key}:{s.key}, Beginn: {problem}")
            continue
        name = names.get(ident(s), s.key)  # a Beratung moved to an unbound Sitzung has no name
        views.append(
            SitzungView(
                name,
                labels.get(name, name),
                g.short,
                s.start,
                vorlagenschluss_of(cal, s, g),
                s.oeffentlich,
                ident(s) in cancelled,
            )
        )
    return views


@dataclass
class ProcessSummary:
    key: str
    kommune: str
    state: str
    stage: str
    done: int
    total: int
    next_due: dt.date | None
    overdue: int
    konzept: str = ""


def overview(
    session: Session,
    today: dt.date,
    limit: int = 20,
    *,
    kommune_ids: frozenset[int] | None = None,
    kommune: str | None = None,
    state: str | None = None,
    offset: int = 0,
    scope: Scope | None = None,
) -> tuple[list[ProcessSummary], int]:
    """One line per process, most urgent first; the count of all that match. One query.

    ``scope`` limits to the processes a user may open (``Principal.scope``; None: all);
    ``kommune_ids`` to those of some Kommunen (None: all); ``kommune`` (a key) and ``state``
    ("running" or "completed") are the page's filters.
    """
    filters = _filters(kommune_ids, kommune, state)
    if scope is not None:
        filters.append(scope.processes())
    tasks: Select[Any] = (  # SQLAlchemy's select: sqlmodel's is typed for at most four columns
        sa_select(
            col(Task.fortschreibung_id).label("pid"),
            func.sum(case((col(Task.state) == TaskState.done, 1), else_=0)).label("done"),
            func.count().label("total"),
            func.min(case((col(Task.state) == TaskState.open, Task.due))).label("next_due"),
            func.sum(
                case(((col(Task.state) == TaskState.open) & (col(Task.due) < today), 1), else_=0)
            ).label("overdue"),
        )
        .group_by(col(Task.fortschreibung_id))
    )
    if filters:  # only the tasks of the processes shown, not the whole installation's
        tasks = (
            tasks.join(Fortschreibung, col(Fortschreibung.id) == Task.fortschreibung_id)
            .join(Kommune, col(Kommune.id) == Fortschreibung.kommune_id)
            .where(*filters)
        )
    per_process = tasks.subquery()
    # Rank first, on narrow columns only: a process row carries its plan and scenario as JSON,
    # and reading its later columns for all 10 000 rows costs more than the ranking itself.
    ranked = (
        sa_select(
            col(Fortschreibung.id).label("fid"),
            col(Fortschreibung.key).label("fkey"),
            per_process.c.done,
            per_process.c.total,
            per_process.c.next_due,
            per_process.c.overdue,
        )
        .join(Kommune, col(Kommune.id) == Fortschreibung.kommune_id)
        .join(per_process, per_process.c.pid == Fortschreibung.id, isouter=True)
        .where(*filters)
        .order_by(*_urgency(per_process.c.overdue, per_process.c.next_due,
                            col(Fortschreibung.key)))  # fmt: skip
        .offset(offset)
        .limit(limit)
        .subquery()
    )
    rows = session.execute(
        sa_select(
            ranked.c.fkey,
            col(Kommune.name),
            col(Fortschreibung.state),
            col(Stage.title),
            ranked.c.done,
            ranked.c.total,
            ranked.c.next_due,
            ranked.c.overdue,
            col(Konzept.title),
        )
        .select_from(ranked)
        .join(Fortschreibung, col(Fortschreibung.id) == ranked.c.fid)
        .join(Kommune, col(Kommune.id) == Fortschreibung.kommune_id)
        .join(Konzept, col(Konzept.id) == Fortschreibung.konzept_id)
        .join(Stage, col(Stage.id) == Fortschreibung.current_stage_id, isouter=True)
        .order_by(*_urgency(ranked.c.overdue, ranked.c.next_due, ranked.c.fkey))
    ).all()
    count = session.exec(
        select(func.count())
        .select_from(Fortschreibung)
        .join(Kommune, col(Kommune.id) == Fortschreibung.kommune_id)
        .where(*filters)
    ).one()
    summaries = [
        ProcessSummary(
            key,
            kommune,
            str(state.value if hasattr(state, "value") else state),
            stage or "—",
            int(done or 0),
            int(total or 0),
            _as_date(next_due),
            int(overdue or 0),
            konzept,
        )
        for key, kommune, state, stage, done, total, next_due, overdue, konzept in rows
    ]
    return summaries, count


def _urgency(overdue: Any, next_due: Any, key: Any) -> list[Any]:
    """Most urgent first: most overdue tasks, then the nearest deadline, then by key."""
    return [overdue.desc(), next_due.is_(None), next_due, key]


def _as_date(value: object) -> dt.date | None:
    # SQLite returns aggregates of DATE columns as text.
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _filters(
    kommune_ids: frozenset[int] | None, kommune: str | None, state: str | None
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if kommune_ids is not None:
        found.append(col(Fortschreibung.kommune_id).in_(sorted(kommune_ids)))
    if kommune:
        found.append(col(Kommune.key) == kommune)
    if state:
        found.append(col(Fortschreibung.state) == state)
    return found
