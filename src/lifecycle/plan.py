"""Process plans: a data file per concept kind, validated before anything runs.

A plan names its stages in order, each stage's tasks with due-date anchors, and each stage's
gate. The Integrationskonzept plan ships in ``lifecycle/plans``; any other path works too.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any

from .calendar import WorkCalendar
from .deadlines import CycleError, DueOutOfRange, MissingAnchor, StageSpec, TaskSpec, Timeline
from .errors import InputError
from .plan_types import Plan, TaskDef
from .words import quoted
from .yamlio import Document, load, loads

BUILTIN = ("integrationskonzept", "integrationskonzept-umsetzung")


def builtin_path(name: str) -> str:
    return f"lifecycle/plans/{name}.yaml"


def load_plan(name_or_path: str | Path) -> Plan:
    """Load and check a plan (a built-in name or a path to a YAML file) into typed objects."""
    if str(name_or_path) in BUILTIN:
        text = resources.files("lifecycle.plans").joinpath(f"{name_or_path}.yaml").read_text()
        doc = loads(text, builtin_path(str(name_or_path)))
    else:
        doc = load(name_or_path)
    check_plan(doc)
    return Plan.from_data(doc.data)


def check_plan(doc: Document) -> None:
    from .validation import validate  # jsonschema is slow to import; only checks need it

    if not isinstance(doc.data, dict):
        raise InputError(doc.source, "", "ein Plan muss auf oberster Ebene eine Zuordnung sein")
    validate(doc, "plan")
    plan = doc.data
    _check_unique_keys(doc)
    roles = set(plan["roles"])
    sitzungen = set(plan.get("sitzungen", {}))
    termine = set(plan.get("termine", {}))
    task_keys = {t["key"]: t for s in plan["stages"] for t in s["tasks"]}
    for si, stage in enumerate(plan["stages"]):
        for ti, task in enumerate(stage["tasks"]):
            path: list[str | int] = ["stages", si, "tasks", ti]
            if task["role"] not in roles:
                raise doc.error([*path, "role"], f"unbekannte Rolle {quoted(task['role'])}")
            _check_anchor(doc, [*path, "due"], task["due"], sitzungen, termine, task_keys)
        gate = stage["gate"]
        gpath: list[str | int] = ["stages", si, "gate"]
        if gate.get("sitzung") and gate["sitzung"] not in sitzungen:
            raise doc.error([*gpath, "sitzung"], f"unbekannte Sitzung {quoted(gate['sitzung'])}")
        requires = gate.get("requires", "all")
        stage_tasks = {t["key"] for t in stage["tasks"]}
        for key in [] if requires == "all" else requires:
            if key not in stage_tasks:
                raise doc.error([*gpath, "requires"],
                                f"keine Aufgabe {quoted(key)} in dieser Phase")
        _check_documents(doc, gpath, gate.get("documents", []))
    kinds = {k for s in plan["stages"] for k in s["gate"].get("documents", [])}
    for si, stage in enumerate(plan["stages"]):
        for ti, task in enumerate(stage["tasks"]):
            if task.get("sends") and task["sends"] not in kinds:
                problem = f"kein Tor des Plans nennt das Dokument {quoted(task['sends'])}"
                raise doc.error(["stages", si, "tasks", ti, "sends"], problem)
    reminders = plan.get("reminders", {})
    if reminders.get("escalate_to") and reminders["escalate_to"] not in roles:
        raise doc.error(
            ["reminders", "escalate_to"], f"unbekannte Rolle {quoted(reminders['escalate_to'])}"
        )
    _check_cycles(doc)


def _check_unique_keys(doc: Document) -> None:
    seen: dict[str, tuple[str, int]] = {}
    for si, stage in enumerate(doc.data["stages"]):
        if stage["key"] in seen:
            raise doc.error(["stages", si, "key"],
                            f"Phasen-Schlüssel {quoted(stage['key'])} doppelt")
        seen[stage["key"]] = ("stages", si)
    tasks: set[str] = set()
    for si, stage in enumerate(doc.data["stages"]):
        for ti, task in enumerate(stage["tasks"]):
            if task["key"] in tasks:
                raise doc.error(
                    ["stages", si, "tasks", ti, "key"],
                    f"Aufgaben-Schlüssel {quoted(task['key'])} doppelt",
                )
            tasks.add(task["key"])


def _check_anchor(
    doc: Document,
    path: list[str | int],
    due: dict[str, Any],
    sitzungen: set[str],
    termine: set[str],
    task_keys: dict[str, Any],
) -> None:
    anchor, ref = due["anchor"], due.get("ref")
    if anchor == "stage_start":
        if ref:
            raise doc.error([*path, "ref"], "stage_start hat kein ref")
        return
    if not ref:
        raise doc.error([*path, "ref"], f"Anker {quoted(anchor)} braucht ein ref")
    known = {
        "sitzung": sitzungen,
        "vorlagenschluss": sitzungen,
        "termin": termine,
        "task": task_keys,
    }[anchor]
    if ref not in known:
        what = {"sitzung": "Sitzung", "vorlagenschluss": "Sitzung", "termin": "Termin"}.get(
            anchor, "Aufgabe"
        )
        raise doc.error([*path, "ref"], f"hängt an {what} {quoted(ref)}, die der Plan nicht nennt")
    if anchor == "task" and task_keys[ref].get("for_each"):
        raise doc.error(
            [*path, "ref"], f"kann nicht an der Aufgabe je Arbeitsgruppe {quoted(ref)} hängen"
        )


def _check_documents(doc: Document, gpath: list[str | int], kinds: list[str]) -> None:
    """Document kinds become file names: a safe name each, none twice at one gate."""
    from .validation import is_safe_name

    seen: set[str] = set()
    for i, kind in enumerate(kinds):
        if not is_safe_name(kind):
            raise doc.error([*gpath, "documents", i], f"unzulässige Dokumentart {quoted(kind)}")
        if kind in seen:
            raise doc.error([*gpath, "documents", i], f"Dokumentart {quoted(kind)} doppelt")
        seen.add(kind)


def timeline_for_check(plan: Plan) -> Timeline:
    """A timeline with placeholder dates: enough to find cycles with the real solver."""
    day = dt.date(2000, 1, 3)
    return Timeline(
        calendar=WorkCalendar("BW"),
        started_on=day,
        stages=[StageSpec(s.key, [t.key for t in s.tasks], s.gate.sitzung) for s in plan.stages],
        tasks={t.key: task_spec(s.key, t) for s in plan.stages for t in s.tasks},
        sitzungen={n: day for n in plan.sitzungen},
        vorlagenschluss_days={n: 10 for n in plan.sitzungen},
        termine={n: day for n in plan.termine},
    )


def task_spec(stage_key: str, task: TaskDef, key: str | None = None) -> TaskSpec:
    """What the deadline solver needs of a plan's task (``key``: one per Arbeitsgruppe)."""
    due = task.due
    return TaskSpec(key or task.key, stage_key, due.anchor, due.ref, due.offset, due.unit)


def _check_cycles(doc: Document) -> None:
    try:
        timeline_for_check(Plan.from_data(doc.data)).compute()
    except CycleError as exc:
        first = exc.path[0].split(":", 1)[1]
        raise doc.error(_task_path(doc.data, first) + ["due"], exc.problem) from None
    except MissingAnchor as exc:  # pragma: no cover - _check_anchor catches these first
        raise doc.error(_task_path(doc.data, exc.task), exc.problem) from None
    except DueOutOfRange:  # the placeholder dates say nothing of a real process's range:
        pass  # the process's own start refuses a chain that leaves it


def _task_path(plan: dict[str, Any], key: str) -> list[str | int]:
    for si, stage in enumerate(plan["stages"]):
        if stage["key"] == key:
            return ["stages", si]
        for ti, task in enumerate(stage["tasks"]):
            if task["key"] == key:
                return ["stages", si, "tasks", ti]
    return ["stages"]
