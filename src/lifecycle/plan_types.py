"""The typed plan: frozen objects a checked plan file loads into, once.

``lifecycle.plan`` reads and checks a plan file; this module turns the checked mapping into
these objects. A running process stores its plan as JSON (``Fortschreibung.plan``) and gets
the same objects back through ``plan_of``, so no code walks the raw mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Anchor = Literal["stage_start", "sitzung", "vorlagenschluss", "termin", "task"]
Unit = Literal["days", "working_days"]


@dataclass(frozen=True)
class Due:
    """When a task is due: an offset in days or working days from an anchor."""

    anchor: Anchor
    ref: str = ""
    offset: int = 0
    unit: Unit = "days"

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Due:
        unit: Unit = "working_days" if "working_days" in data else "days"
        return cls(data["anchor"], data.get("ref", ""), int(data.get(unit, 0)), unit)


@dataclass(frozen=True)
class TaskDef:
    key: str
    title: str
    role: str
    due: Due
    description: str = ""
    required: bool = True
    # "arbeitsgruppe": one task per Arbeitsgruppe; "verantwortliche": one per person
    # responsible for an open Maßnahme of the concept
    for_each: str | None = None
    sends: str | None = None  # the document kind this task sends (its due date dates it)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> TaskDef:
        return cls(
            key=data["key"], title=data["title"], role=data["role"],
            due=Due.from_data(data["due"]), description=data.get("description", ""),
            required=bool(data.get("required", True)), for_each=data.get("for_each"),
            sends=data.get("sends"),
        )  # fmt: skip


@dataclass(frozen=True)
class Gate:
    title: str
    condition: str
    requires: Literal["all"] | tuple[str, ...] = "all"
    reference_required: bool = False
    sitzung: str | None = None  # the plan's name of the Sitzung that decides the gate
    documents: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Gate:
        requires = data.get("requires", "all")
        return cls(
            title=data["title"], condition=data["condition"],
            requires="all" if requires == "all" else tuple(requires),
            reference_required=data.get("reference") == "required",
            sitzung=data.get("sitzung") or None, documents=tuple(data.get("documents", ())),
        )  # fmt: skip

    def blocks(self, task: TaskDef | _TaskRow) -> bool:
        """Whether an open ``task`` keeps this gate from being approved."""
        if self.requires == "all":
            return bool(task.required)
        return task.key in self.requires


class _TaskRow(Protocol):
    key: str
    required: bool


@dataclass(frozen=True)
class StageDef:
    key: str
    title: str
    tasks: tuple[TaskDef, ...]
    gate: Gate
    description: str = ""
    # Which recorded facts tell this stage in a Vorlage's Verlauf (workshop, arbeitsgruppen,
    # auswertung); None: its title and its findings.
    verlauf: str | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> StageDef:
        return cls(
            key=data["key"], title=data["title"],
            tasks=tuple(TaskDef.from_data(t) for t in data["tasks"]),
            gate=Gate.from_data(data["gate"]), description=data.get("description", ""),
            verlauf=data.get("verlauf"),
        )  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """A concept kind: its roles, named Sitzungen and Termine, stages, reminder policy."""

    name: str
    title: str
    roles: Mapping[str, str]
    sitzungen: Mapping[str, str]  # name -> what the Sitzung is for
    termine: Mapping[str, str]
    stages: tuple[StageDef, ...]
    reminders: Mapping[str, Any]
    description: str = ""
    version: int = 1
    # The checked mapping it came from: what a process stores (Fortschreibung.plan, JSON).
    data: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Plan:
        """The typed plan of a mapping that ``lifecycle.plan.check_plan`` has accepted."""
        return cls(
            name=data["name"], title=data["title"], roles=dict(data["roles"]),
            sitzungen=dict(data.get("sitzungen") or {}), termine=dict(data.get("termine") or {}),
            stages=tuple(StageDef.from_data(s) for s in data["stages"]),
            reminders=dict(data.get("reminders") or {}),
            description=data.get("description", ""), version=int(data.get("version", 1)),
            data=data,
        )  # fmt: skip

    def stage(self, key: str) -> StageDef:
        stage = self.find_stage(key)
        if stage is None:
            raise KeyError(key)
        return stage

    def find_stage(self, key: str) -> StageDef | None:
        """The stage ``key``, or None if the plan has none of that key."""
        return next((s for s in self.stages if s.key == key), None)

    @property
    def first(self) -> StageDef:
        return self.stages[0]

    @property
    def last(self) -> StageDef:
        return self.stages[-1]

    @property
    def tasks(self) -> dict[str, TaskDef]:
        return {t.key: t for s in self.stages for t in s.tasks}

    def stage_of_document(self, kind: str) -> StageDef | None:
        """The first stage whose gate names the document ``kind``."""
        return next((s for s in self.stages if kind in s.gate.documents), None)

    def sender_of(self, kind: str) -> TaskDef | None:
        """The task that sends the document ``kind``, if the plan names one."""
        return next((t for s in self.stages for t in s.tasks if t.sends == kind), None)

    @property
    def document_kinds(self) -> list[str]:
        return [k for s in self.stages for k in s.gate.documents]


_CACHE: dict[int, tuple[Mapping[str, Any], Plan]] = {}


def plan_of(data: Mapping[str, Any]) -> Plan:
    """The typed plan of a stored plan mapping (``Fortschreibung.plan``), parsed once.

    Keyed by the mapping's identity and kept with it, so a later object at the same address
    is never mistaken for it.
    """
    hit = _CACHE.get(id(data))
    if hit is not None and hit[0] is data:
        return hit[1]
    if len(_CACHE) > 256:
        _CACHE.clear()
    plan = Plan.from_data(data)
    _CACHE[id(data)] = (data, plan)
    return plan
