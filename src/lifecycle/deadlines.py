"""Due dates from anchors: pure computation, shared by plan validation and the engine.

A task's due date is an offset (calendar or working days) from an anchor: the start of its
stage, a named Sitzung, that Sitzung's Vorlagenschluss, a named Termin or another task. A
stage starts when it was opened, or else, projected, when the stage before it ends: at its
gate's Sitzung, or at its last task.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .calendar import WorkCalendar
from .dates import check_year
from .errors import InputError
from .words import quoted


class CycleError(InputError):
    def __init__(self, path: list[str]):
        self.path = path
        super().__init__("Plan", "", "Fristen hängen im Kreis voneinander ab: " + " -> ".join(path))


class MissingAnchor(InputError):
    def __init__(self, task: str, kind: str, ref: str):
        self.task, self.kind, self.ref = task, kind, ref
        super().__init__(
            "Plan", task, f"Frist bezieht sich auf {kind} {quoted(ref)}, die es nicht gibt"
        )


class DueOutOfRange(InputError):
    """A chain of offsets carries a due date out of the years the engine handles."""

    def __init__(self, task: str, problem: str):
        self.task = task
        super().__init__("Plan", task, f"Frist {problem} (zu lange Kette von Fristen?)")


@dataclass(frozen=True)
class TaskSpec:
    key: str
    stage: str
    anchor: str
    ref: str = ""
    offset: int = 0
    unit: str = "days"


@dataclass
class StageSpec:
    key: str
    tasks: list[str]
    gate_sitzung: str | None = None
    opened_on: dt.date | None = None
    closed_on: dt.date | None = None


@dataclass
class Timeline:
    """Everything the due dates of one process depend on."""

    calendar: WorkCalendar
    started_on: dt.date
    stages: list[StageSpec]
    tasks: dict[str, TaskSpec]
    sitzungen: dict[str, dt.date]  # binding name -> day of the Sitzung
    vorlagenschluss_days: dict[str, int]  # binding name -> working days of its Gremium
    termine: dict[str, dt.date] = field(default_factory=dict)

    def compute(self) -> tuple[dict[str, dt.date], dict[str, dt.date]]:
        """Due date per task key, and projected start per stage key."""
        solver = _Solver(self)
        dues = {key: solver.task_due(key) for key in self.tasks}
        starts = {stage.key: solver.stage_start(i) for i, stage in enumerate(self.stages)}
        return dues, starts

    def vorlagenschluss(self, name: str) -> dt.date:
        return self.calendar.vorlagenschluss(self.sitzungen[name], self.vorlagenschluss_days[name])


class _Solver:
    """Each task's due date and each stage's start, computed once, in dependency order.

    A node being computed is on ``visiting`` ("task:KEY", "stage:KEY"); meeting it again is a
    cycle. The memos are looked up before a node's name is even built: a timeline asks for the
    same few anchors (a stage's start, a task) many times.
    """

    def __init__(self, timeline: Timeline):
        self.t = timeline
        self.dues: dict[str, dt.date] = {}
        self.starts: dict[str, dt.date] = {}
        self.visiting: list[str] = []
        self.stage_index = {s.key: i for i, s in enumerate(timeline.stages)}

    def _enter(self, node: str) -> None:
        if node in self.visiting:
            raise CycleError([*self.visiting[self.visiting.index(node) :], node])
        self.visiting.append(node)

    def task_due(self, key: str) -> dt.date:
        due = self.dues.get(key)
        if due is None:
            self._enter(f"task:{key}")
            due = self._task_due(self.t.tasks[key])
            self.visiting.pop()
            self.dues[key] = due
        return due

    def _task_due(self, spec: TaskSpec) -> dt.date:
        anchor = self._anchor(spec)
        cal = self.t.calendar
        try:
            if spec.unit == "working_days":
                due = cal.add_working_days(anchor, spec.offset)
            else:
                due = cal.roll_back(anchor + dt.timedelta(days=spec.offset))
        except OverflowError:  # beyond year 9999 (or before year 1)
            raise DueOutOfRange(spec.key, "läge jenseits des Kalenders") from None
        # Each step is checked: a chain leaves the range one bounded offset at a time, so
        # the next step never reaches the calendar's own end.
        if problem := check_year(due):
            raise DueOutOfRange(spec.key, f"am {due.isoformat()}: {problem}")
        return due

    def _anchor(self, spec: TaskSpec) -> dt.date:
        t = self.t
        kind = spec.anchor
        if kind == "stage_start":
            return self.stage_start(self.stage_index[spec.stage])
        if kind == "sitzung" or kind == "vorlagenschluss":
            if spec.ref not in t.sitzungen:
                raise MissingAnchor(spec.key, "Sitzung", spec.ref)
            if kind == "sitzung":
                return t.sitzungen[spec.ref]
            return t.vorlagenschluss(spec.ref)
        if kind == "termin":
            if spec.ref not in t.termine:
                raise MissingAnchor(spec.key, "Termin", spec.ref)
            return t.termine[spec.ref]
        if spec.ref not in t.tasks:
            raise MissingAnchor(spec.key, "task", spec.ref)
        return self.task_due(spec.ref)

    def stage_start(self, i: int) -> dt.date:
        stage = self.t.stages[i]
        if stage.opened_on:
            return stage.opened_on
        if i == 0:
            return self.t.started_on
        start = self.starts.get(stage.key)
        if start is None:
            self._enter(f"stage:{stage.key}")
            start = self.stage_end(i - 1)
            self.visiting.pop()
            self.starts[stage.key] = start
        return start

    def stage_end(self, i: int) -> dt.date:
        stage = self.t.stages[i]
        if stage.closed_on:
            return stage.closed_on
        if stage.gate_sitzung and stage.gate_sitzung in self.t.sitzungen:
            return self.t.sitzungen[stage.gate_sitzung]
        dues = [self.task_due(k) for k in stage.tasks]
        return max(dues) if dues else self.stage_start(i)
