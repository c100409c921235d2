"""Where a process stands: read-only views for the CLI, flows and documents.

Plain data, no rendering: the CLI draws it with rich, the flows publish it as artifacts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import case, func
from sqlmodel import Session, select

from .engine import calendar_of
from .models import (
    Fortschreibung,
    GateDecision,
    Gremium,
    Kommune,
    Person,
    Sitzung,
    SitzungBinding,
    Stage,
    StageState,
    Task,
    TaskState,
)


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


@dataclass
class ProcessStatus:
    process: Fortschreibung
    kommune: Kommune
    today: dt.date
    stages: list[StageView]
    sitzungen: list[SitzungView]
    upcoming: list[Deadline]
    overdue: list[Deadline]
    open_gate: StageView | None = None
    progress: int = 0
    extra: dict = field(default_factory=dict)


def process_status(
    session: Session, process: Fortschreibung, today: dt.date, horizon: int = 8
) -> ProcessStatus:
    kommune = session.get(Kommune, process.kommune_id)
    stages = _stage_views(session, process)
    sitzungen = _sitzung_views(session, process)
    tasks = session.exec(
        select(Task, Person.name)
        .join(Person, Person.id == Task.assignee_id, isouter=True)
        .where(Task.fortschreibung_id == process.id, Task.state == TaskState.open)
        .order_by(Task.due, Task.position)
    ).all()
    deadlines = [Deadline(t.due, t.title, name or "", t.id) for t, name in tasks if t.due]
    deadlines += [
        Deadline(
            s.vorlagenschluss,
            f"Vorlagenschluss {s.gremium} (Sitzung {s.start:%d.%m.%Y})",
            kind="vorlagenschluss",
        )
        for s in sitzungen
    ]
    deadlines.sort(key=lambda d: (d.day, d.kind != "vorlagenschluss"))
    overdue = [d for d in deadlines if d.day < today and d.kind == "task"]
    upcoming = [d for d in deadlines if d.day >= today][:horizon]
    total = sum(s.total for s in stages)
    done = sum(s.done for s in stages)
    open_gate = next((s for s in stages if s.state == StageState.open), None)
    return ProcessStatus(
        process,
        kommune,
        today,
        stages,
        sitzungen,
        upcoming,
        overdue,
        open_gate,
        round(100 * done / total) if total else 100,
    )


def _stage_views(session: Session, process: Fortschreibung) -> list[StageView]:
    counts = dict(
        (sid, (done, total))
        for sid, done, total in session.exec(
            select(
                Task.stage_id,
                func.sum(case((Task.state == TaskState.done, 1), else_=0)),
                func.count(),
            )
            .where(Task.fortschreibung_id == process.id)
            .group_by(Task.stage_id)
        )
    )
    ends = dict(
        session.exec(
            select(Task.stage_id, func.max(Task.due))
            .where(Task.fortschreibung_id == process.id)
            .group_by(Task.stage_id)
        ).all()
    )
    plan = {s["key"]: s for s in process.plan["stages"]}
    views = []
    for stage in session.exec(
        select(Stage).where(Stage.fortschreibung_id == process.id).order_by(Stage.position)
    ):
        done, total = counts.get(stage.id, (0, 0))
        decision = session.exec(
            select(GateDecision)
            .where(GateDecision.stage_id == stage.id)
            .order_by(GateDecision.id.desc())  # type: ignore[union-attr]
        ).first()
        gate = plan[stage.key]["gate"]
        views.append(
            StageView(
                stage.position + 1,
                stage.key,
                stage.title,
                stage.state,
                int(done or 0),
                total,
                stage.opened_on or stage.planned_start,
                stage.closed_on or ends.get(stage.id),
                gate["title"],
                gate["condition"],
                decision,
            )
        )
    return views


def _sitzung_views(session: Session, process: Fortschreibung) -> list[SitzungView]:
    cal = calendar_of(session, process)
    labels = process.plan.get("sitzungen", {})
    rows = session.exec(
        select(SitzungBinding.name, Sitzung, Gremium)
        .join(Sitzung, Sitzung.id == SitzungBinding.sitzung_id)
        .join(Gremium, Gremium.id == Sitzung.gremium_id)
        .where(SitzungBinding.fortschreibung_id == process.id)
        .order_by(Sitzung.start)
    ).all()
    return [
        SitzungView(
            name,
            labels.get(name, name),
            g.short,
            s.start,
            cal.vorlagenschluss(s.start.date(), g.vorlagenschluss_working_days),
            s.oeffentlich,
        )
        for name, s, g in rows
    ]


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


def overview(session: Session, today: dt.date, limit: int = 20) -> tuple[list[ProcessSummary], int]:
    """One line per process, most urgent first; the count of all processes. One query."""
    per_process = (
        select(
            Task.fortschreibung_id.label("pid"),
            func.sum(case((Task.state == TaskState.done, 1), else_=0)).label("done"),
            func.count().label("total"),
            func.min(case((Task.state == TaskState.open, Task.due))).label("next_due"),
            func.sum(case(((Task.state == TaskState.open) & (Task.due < today), 1), else_=0)).label(
                "overdue"
            ),
        )
        .group_by(Task.fortschreibung_id)
        .subquery()
    )
    rows = session.exec(
        select(
            Fortschreibung.key,
            Kommune.name,
            Fortschreibung.state,
            Stage.title,
            per_process.c.done,
            per_process.c.total,
            per_process.c.next_due,
            per_process.c.overdue,
        )
        .join(Kommune, Kommune.id == Fortschreibung.kommune_id)
        .join(per_process, per_process.c.pid == Fortschreibung.id, isouter=True)
        .join(Stage, Stage.id == Fortschreibung.current_stage_id, isouter=True)
        .order_by(
            per_process.c.overdue.desc(), per_process.c.next_due.is_(None), per_process.c.next_due
        )
        .limit(limit)
    ).all()
    count = session.exec(select(func.count()).select_from(Fortschreibung)).one()
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
        )
        for key, kommune, state, stage, done, total, next_due, overdue in rows
    ]
    return summaries, count


def _as_date(value) -> dt.date | None:
    # SQLite returns aggregates of DATE columns as text.
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
