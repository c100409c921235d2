"""Replay a scenario's ``verlauf`` (what happened, with dates) through the engine.

The demo and the tests walk a process through its gates on the dates the scenario names.
Each step is idempotent: a step already in the database is skipped, so a replay that was
killed half-way can simply run again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from . import lookups, services, umsetzung
from .models import Fortschreibung, GateDecision, Stage, StageState, Task, TaskState
from .typing_helpers import get_required, ident


@dataclass(frozen=True)
class Step:
    """One thing that happened: a task completed or a gate decided."""

    kind: str  # "done" | "decide"
    on: dt.date
    by: str
    stage: str = ""
    task: str = ""
    raw: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.on:%d.%m.%Y} {self.kind} {self.task or self.stage}"


def steps(session: Session, process: Fortschreibung) -> Iterator[Step]:
    """The scenario's steps, with the implied task completions before each decision.

    Open required tasks of a stage are completed on their due date, or on the decision day if
    that comes first, by their assignee (or the deciding person).
    """
    for entry in process.scenario.get("verlauf", []):
        on = dt.date.fromisoformat(entry["on"])
        if "done" in entry:
            yield Step("done", on, entry["by"], task=entry["done"], raw=entry)
            continue
        if "massnahme" in entry or "messung" in entry:  # the Umsetzung
            kind = "massnahme" if "massnahme" in entry else "messung"
            yield Step(kind, on, entry["by"], task=entry[kind], raw=entry)
            continue
        stage = lookups.get_stage(session, process, entry["decide"])
        if entry["outcome"] == "approve":
            yield from _implied_completions(session, stage, on, entry["by"])
        yield Step("decide", on, entry["by"], stage=entry["decide"], raw=entry)


def _implied_completions(session: Session, stage: Stage, on: dt.date, by: str) -> Iterator[Step]:
    tasks = session.exec(
        select(Task)
        .where(Task.stage_id == stage.id, Task.state == TaskState.open)
        .order_by(col(Task.due), col(Task.position))
    ).all()
    for task in tasks:
        person = by
        if task.assignee_id:
            from .models import Person

            person = get_required(session, Person, task.assignee_id).key
        yield Step("done", min(task.due or on, on), person, stage=stage.key, task=task.key)


def apply(session: Session, process: Fortschreibung, step: Step, actor: str = "replay") -> bool:
    """Apply one step unless it is already in the database. True if it changed something."""
    if step.kind in ("massnahme", "messung"):
        return _umsetzung(session, process, step)
    if step.kind == "done":
        task = lookups.get_task(session, step.task, process)
        if task.state == TaskState.done:
            return False
        services.complete_task(session, ident(task), on=step.on, by=step.by, actor=actor)
        return True
    stage = lookups.get_stage(session, process, step.stage)
    if _already_decided(session, stage, step):
        return False
    raw = step.raw or {}
    services.decide_gate(
        session,
        process.key,
        step.stage,
        outcome=raw["outcome"],
        on=step.on,
        by=step.by,
        reference=raw.get("reference", ""),
        remarks=raw.get("remarks", raw.get("reason", "")),
        postpone_to=raw.get("postpone_to"),
    )
    return True


def _umsetzung(session: Session, process: Fortschreibung, step: Step) -> bool:
    from .models import Meilenstein, Messung

    raw = step.raw or {}
    if step.kind == "messung":
        ind = umsetzung.indikator(session, process, step.task)
        if session.exec(select(Messung).where(Messung.indikator_id == ind.id,
                                              Messung.on == step.on)).first():  # fmt: skip
            return False
        services.add_messung(session, process.key, step.task, on=step.on,
                             value=float(raw["value"]), note=raw.get("note", ""),
                             actor=step.by)  # fmt: skip
        return True
    values: dict[str, object] = {k: raw[k] for k in ("status", "progress") if k in raw}
    if "text" in raw:
        values["public_text"] = raw["text"]
    changed = False
    m = umsetzung.get(session, process, step.task)
    if values and not _massnahme_step_done(session, ident(m), step.on, values):
        change = services.update_massnahme(session, process.key, step.task, values,
                                           actor=step.by, on=step.on)  # fmt: skip
        changed = bool(change.fields)
    title = raw.get("meilenstein")
    if title and not session.exec(select(Meilenstein).where(
            Meilenstein.massnahme_id == m.id, Meilenstein.on == step.on,
            Meilenstein.title == title)).first():  # fmt: skip
        services.add_meilenstein(session, process.key, step.task, on=step.on, title=title,
                                 actor=step.by)  # fmt: skip
        changed = True
    return changed


def _massnahme_step_done(session: Session, massnahme_id: int, on: dt.date,
                         values: dict[str, object]) -> bool:  # fmt: skip
    """Whether the Maßnahme's log already holds this step, or a later one.

    Comparing the values is not enough: after a later step changed the same field (30 % on
    15.03., 60 % on 05.07.), a re-run would set 30 % again. The verlauf is in date order, so a
    change dated after the step means the step was applied; one on the same day is this step
    when the fields both name agree.
    """
    for change in umsetzung.logged_changes(session, [massnahme_id]):
        if change.on is None:
            continue
        shared = change.after.keys() & values.keys()
        if change.on > on or (change.on == on and shared
                              and all(change.after[k] == values[k] for k in shared)):  # fmt: skip
            return True
    return False


def _already_decided(session: Session, stage: Stage, step: Step) -> bool:
    raw = step.raw or {}
    if raw.get("outcome") == "approve" and stage.state == StageState.closed:
        return True
    return (
        session.exec(
            select(GateDecision).where(
                GateDecision.stage_id == stage.id,
                GateDecision.decided_on == step.on,
                GateDecision.outcome == raw.get("outcome"),
            )
        ).first()
        is not None
    )


def run(session: Session, process: Fortschreibung, until: dt.date | None = None) -> list[Step]:
    """Replay every step up to ``until``; returns the steps that changed something."""
    applied = []
    for step in steps(session, process):  # lazily: each step sees the state the last one left
        if until and step.on > until:
            break
        if apply(session, process, step):
            applied.append(step)
    return applied
