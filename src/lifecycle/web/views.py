"""View models of the Prozess page and Meine Aufgaben: plain data, no HTML.

The timeline is laid out here (positions on a date axis in SVG user units), so the template
only draws; the same facts go into a table for screen readers and narrow screens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from babel.dates import format_date
from sqlmodel import Session, col, select

from .. import dates, lookups
from ..access import Action, Principal, Scope
from ..doc_context import kind_title
from ..lookups import WITHOUT_PLAN
from ..models import (
    DocumentVersion,
    Fortschreibung,
    GrantRole,
    Person,
    Stage,
    StageState,
    Task,
    TaskState,
)
from ..plan_types import plan_of
from ..status import ProcessStatus, StageView
from ..tasks import due_first, merged_by_owner
from ..words import STATE_DE

# --- the timeline ------------------------------------------------------------------------------

LEFT, RIGHT = 230.0, 985.0  # the date axis in SVG user units (the viewBox is 1000 wide)
TOP, ROW = 56, 30  # the first bar's top; one stage per row
PAD = dt.timedelta(days=10)
TODAY_REACH = dt.timedelta(days=60)  # today is drawn only when near the process's dates


@dataclass(frozen=True)
class Bar:
    title: str
    state: str  # pending | open | closed
    state_de: str
    start: dt.date
    end: dt.date
    x: float
    width: float
    y: float


@dataclass(frozen=True)
class Marker:
    gremium: str
    label: str
    start: dt.datetime
    vorlagenschluss: dt.date
    x: float
    vs_x: float
    label_y: float
    cancelled: bool = False  # by the RIS: its label says "abgesagt"


@dataclass(frozen=True)
class Tick:
    label: str
    x: float


@dataclass(frozen=True)
class Timeline:
    first: dt.date
    last: dt.date
    bars: list[Bar]
    markers: list[Marker]
    ticks: list[Tick]
    today_x: float | None
    height: float
    axis_y: float
    undated: list[str] = field(default_factory=list)  # stages without any date yet


def timeline(status: ProcessStatus, today: dt.date) -> Timeline | None:
    """Stages as bars, Sitzungen and their Vorlagenschluss as markers, today as a line."""
    days = [d for v in status.stages for d in (v.start, v.end) if d]
    for s in status.sitzungen:
        days += [s.start.date(), s.vorlagenschluss]
    if not days:
        return None
    first, last = min(days) - PAD, max(days) + PAD
    show_today = first - TODAY_REACH <= today <= last + TODAY_REACH
    if show_today:
        first, last = min(first, today - PAD), max(last, today + PAD)
    span = max((last - first).days, 1)

    def x(day: dt.date) -> float:
        return round(LEFT + (day - first).days / span * (RIGHT - LEFT), 1)

    bars, undated = _bars(status.stages, x)
    axis_y = TOP + ROW * len(bars) + 6
    markers = [
        Marker(s.gremium, s.label, s.start, s.vorlagenschluss, x(s.start.date()),
               x(s.vorlagenschluss), 16.0 if i % 2 == 0 else 34.0, s.cancelled)
        for i, s in enumerate(sorted(status.sitzungen, key=lambda s: s.start))
    ]  # fmt: skip
    return Timeline(first, last, bars, markers, _ticks(first, last, x),
                    x(today) if show_today else None, axis_y + 30, axis_y, undated)  # fmt: skip


def _bars(stages: Iterable[StageView], x: Any) -> tuple[list[Bar], list[str]]:
    bars: list[Bar] = []
    undated: list[str] = []
    for v in stages:
        start = v.start or v.end
        if start is None:
            undated.append(v.title)
            continue
        end = max(v.end or start, start)
        left = x(start)
        bars.append(Bar(v.title, v.state.value, STATE_DE[v.state.value], start, end, left,
                        max(x(end) - left, 3.0), TOP + ROW * len(bars)))  # fmt: skip
    return bars, undated


def _ticks(first: dt.date, last: dt.date, x: Any) -> list[Tick]:
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = max(1, -(-months // 10))  # at most about ten labels
    ticks = []
    year, month = first.year, first.month
    for i in range(months + 1):
        day = dt.date(year + (month - 1 + i) // 12, (month - 1 + i) % 12 + 1, 1)
        if first < day <= last and i % step == 0:
            ticks.append(Tick(format_date(day, "MMM yyyy", locale=dates.LOCALE), x(day)))
    return ticks


# --- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskView:
    id: int
    key: str
    title: str
    assignee: str  # the person's name, or "" when nobody
    assignee_key: str
    due: dt.date | None
    state: str
    done_on: dt.date | None
    overdue: bool
    due_today: bool
    stage_open: bool
    required: bool = True
    process_key: str = ""
    kommune_id: int = 0
    process_id: int = 0

    @property
    def is_open(self) -> bool:
        return self.state == TaskState.open.value


def _task_view(task: Task, person: Person | None, stage: Stage, today: dt.date,
               process: Fortschreibung) -> TaskView:  # fmt: skip
    is_open = task.state == TaskState.open
    assert task.id is not None and process.id is not None
    return TaskView(
        task.id, task.key, task.title, person.name if person else "",
        person.key if person else "", task.due, task.state.value, task.done_on,
        bool(is_open and task.due and task.due < today),
        bool(is_open and task.due == today), stage.state == StageState.open, task.required,
        process.key, process.kommune_id, process.id,
    )  # fmt: skip


def tasks_by_stage(session: Session, process: Fortschreibung, today: dt.date
                   ) -> dict[str, list[TaskView]]:  # fmt: skip
    """Every task of the process, per stage key, by due date."""
    found: dict[str, list[TaskView]] = {}
    rows = session.exec(
        select(Task, Stage, Person)
        .join(Stage, col(Stage.id) == Task.stage_id)
        .join(Person, col(Person.id) == Task.assignee_id, isouter=True)
        .where(Task.fortschreibung_id == process.id)
        .order_by(col(Stage.position), col(Task.due), col(Task.position))
    ).all()
    for task, stage, person in rows:
        found.setdefault(stage.key, []).append(_task_view(task, person, stage, today, process))
    return found


def people_of(session: Session, kommune_ids: Iterable[int]) -> dict[int, list[Person]]:
    """The persons of each Kommune, by name: who a task can be given to."""
    people: dict[int, list[Person]] = {}
    query = select(Person).where(col(Person.kommune_id).in_(sorted(set(kommune_ids))))
    for person in session.exec(query.order_by(col(Person.name))):
        people.setdefault(person.kommune_id, []).append(person)
    return people


MY_TASKS_LIMIT = 200


@dataclass(frozen=True)
class MyTasks:
    tasks: list[TaskView]
    persons: list[Person]  # the user's own Person rows (matched by name)
    led: list[str]  # process keys shown because the user leads them
    more: bool


def my_tasks(session: Session, me: Principal, today: dt.date) -> MyTasks:
    """Open tasks of the user's Person; else (an administrator, no match) of the processes
    the user leads. Either way only of processes the user may open (``Principal.scope``):
    a Person's task in a process of the Kommune the user has no role in is not listed."""
    persons: list[Person] = []
    if not me.is_admin:
        seen = me.kommunen() or frozenset()
        persons = list(session.exec(select(Person).where(
            Person.key == me.name, col(Person.kommune_id).in_(sorted(seen)))))  # fmt: skip
    led = [pid for pid, roles in me.process_roles.items() if GrantRole.projektleitung in roles]
    if persons:
        owners = [col(Task.assignee_id) == p.id for p in persons]
        led = []
    else:
        owners = [col(Task.fortschreibung_id) == pid for pid in sorted(led)]
    ids = _most_urgent_open(session, owners, MY_TASKS_LIMIT + 1, me.scope())
    shown = ids[:MY_TASKS_LIMIT]
    rows = session.exec(
        select(Task, Stage, Person, Fortschreibung)
        .join(Stage, col(Stage.id) == Task.stage_id)
        .join(Fortschreibung, col(Fortschreibung.id) == Task.fortschreibung_id)
        .join(Person, col(Person.id) == Task.assignee_id, isouter=True)
        .where(col(Task.id).in_(shown))
        .options(*WITHOUT_PLAN)  # a row per task: not the process's JSON each time
    ).all()
    by_id = {row[0].id: row for row in rows}
    views = [_task_view(t, p, stage, today, f) for t, stage, p, f in (by_id[i] for i in shown)]
    keys = sorted({v.process_key for v in views}) if led else []
    return MyTasks(views, persons, keys, len(ids) > MY_TASKS_LIMIT)


def _most_urgent_open(session: Session, owners: list[Any], limit: int,
                      scope: Scope | None) -> list[int]:  # fmt: skip
    """The ids of the first ``limit`` open tasks of all ``owners`` (conditions on one person
    or one process) in processes of ``scope`` (None: all), by due date, process key and
    position; see ``tasks.merged_by_owner``."""
    query = (
        select(col(Task.due), col(Fortschreibung.key), col(Task.position), col(Task.id))
        .join(Fortschreibung, col(Fortschreibung.id) == Task.fortschreibung_id)
        .where(Task.state == TaskState.open)
        .order_by(col(Task.due).nulls_first(), col(Fortschreibung.key), col(Task.position))
    )
    if scope is not None:
        query = query.where(scope.processes())
    rows = merged_by_owner(session, query, owners, limit,
                           key=lambda r: (*due_first(r[0]), *r[1:]))  # fmt: skip
    return [i for *_, i in rows if i is not None]


# --- the gate --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateView:
    stage_key: str
    stage_title: str
    title: str
    condition: str
    reference_required: bool
    open_required: list[str]  # titles of required tasks still open
    postpone_to: list[tuple[str, str]]  # (Sitzung key, German label)
    may_decide: bool


def gate_view(session: Session, process: Fortschreibung, view: StageView,
              tasks: list[TaskView], may_decide: bool) -> GateView:  # fmt: skip
    gate = plan_of(process.plan).stage(view.key).gate
    blocking = [t.title for t in tasks if t.is_open and gate.blocks(_Row(t.key, t.required))]
    return GateView(view.key, view.title, gate.title, gate.condition, gate.reference_required,
                    blocking, _later_sitzungen(session, process, gate.sitzung),
                    may_decide)  # fmt: skip


@dataclass
class _Row:
    key: str
    required: bool


def _later_sitzungen(session: Session, process: Fortschreibung, name: str | None
                     ) -> list[tuple[str, str]]:  # fmt: skip
    """Where a gate bound to a Sitzung can be postponed to (lookups.postpone_targets: later
    Sitzungen of its Gremium, none the RIS has cancelled), as the form's options."""
    return [(s.key, f"{dates.long_de(s.start.date())}, {s.start:%H:%M} Uhr ({s.key})")
            for s in lookups.postpone_targets(session, process, name)]  # fmt: skip


# --- documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentKind:
    kind: str
    title: str
    stage_key: str
    stage_title: str
    versions: list[DocumentVersion]


def document_kinds(process: Fortschreibung, versions: list[DocumentVersion],
                   stage_titles: Mapping[str, str]) -> list[DocumentKind]:  # fmt: skip
    """Every document the plan names at a gate, with the versions written so far."""
    found = []
    for stage in plan_of(process.plan).stages:
        for kind in stage.gate.documents:
            own = [v for v in versions if v.kind == kind and v.stage_key == stage.key]
            found.append(DocumentKind(kind, kind_title(kind), stage.key,
                                      stage_titles.get(stage.key, stage.key), own))  # fmt: skip
    return found


def may(me: Principal, action: Action, process: Fortschreibung) -> bool:
    return me.may(action, process.kommune_id, process.id)


def sees_internal(me: Principal, process: Fortschreibung) -> bool:
    """Whether ``me`` may read the process's internal notes: the one rule of every page that
    could show one (the Maßnahme pages, their CSV, the Prozess page's event log)."""
    return may(me, Action.read_internal, process)
