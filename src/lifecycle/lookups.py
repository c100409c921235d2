"""Finding things by the names people use: processes, stages, tasks, people, Sitzungen.

Read-only. Adapters (CLI, flows, web) look things up here and change them through
``lifecycle.services``; a name that matches nothing raises ``NotFound`` in German.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from .calendar import WorkCalendar, for_kommune
from .cancellations import cancelled_sitzungen
from .errors import NotFound, Refused
from .models import (
    Fortschreibung,
    Kommune,
    Person,
    Sitzung,
    SitzungBinding,
    Stage,
    Task,
    Vorlage,
)  # fmt: skip
from .typing_helpers import get_required, ident
from .words import quoted

# Loader options for processes read by the hundred (lists, feeds, the reconcile pass): their
# plan and scenario, ~30 KB of JSON per row, are read only when something asks for them.
WITHOUT_PLAN = (defer(Fortschreibung.plan), defer(Fortschreibung.scenario))  # type: ignore[arg-type]


def get_process(session: Session, key: str, *, scenario: bool = True) -> Fortschreibung:
    """The process by its key; ``scenario=False``: its scenario column (the largest) is read
    only when something asks for it, within the session."""
    process: Fortschreibung | None = session.execute(
        _process_by_key(scenario), {"key": key}).scalars().first()  # fmt: skip
    if process is None:
        known = session.exec(select(Fortschreibung.key).limit(5)).all()
        hint = f" (vorhanden: {', '.join(known)})" if known else " (noch keine gestartet)"
        raise NotFound(f"keine Fortschreibung {quoted(key)}{hint}")
    return process


@cache
def _process_by_key(scenario: bool) -> Any:
    """Built once: building and caching the statement cost more than running it."""
    query = select(Fortschreibung).where(Fortschreibung.key == bindparam("key"))
    if not scenario:
        query = query.options(defer(Fortschreibung.scenario))  # type: ignore[arg-type]
    return query


def get_stage(session: Session, process: Fortschreibung, key: str) -> Stage:
    stage = session.exec(
        select(Stage).where(Stage.fortschreibung_id == process.id, Stage.key == key)
    ).first()
    if stage is None:
        keys = session.exec(select(Stage.key).where(Stage.fortschreibung_id == process.id)).all()
        raise NotFound(f"{process.key} hat keine Phase {quoted(key)} (Phasen: {', '.join(keys)})")
    return stage


def get_task(session: Session, ref: str | int, process: Fortschreibung | None = None) -> Task:
    """A task by id, by 'process-key:task-key', or by task key within ``process``."""
    task: Task | None = None
    text = str(ref)
    if re.fullmatch(r"[0-9]{1,18}", text):  # ASCII digits that fit a database integer
        task = session.get(Task, int(text))
    elif ":" in text or process is not None:
        pkey, _, tkey = text.rpartition(":")
        proc = get_process(session, pkey) if pkey else process
        if proc is not None and tkey:
            task = session.exec(
                select(Task).where(Task.fortschreibung_id == proc.id, Task.key == tkey)
            ).first()
    if task is None:
        raise NotFound(f"keine Aufgabe {quoted(text)}")
    return task


def get_person(session: Session, kommune_id: int, ref: str) -> Person:
    person = session.exec(
        select(Person).where(Person.kommune_id == kommune_id, Person.key == ref)
    ).first()
    if person is None:
        raise NotFound(f"keine Person {quoted(ref)} in dieser Kommune")
    return person


def calendar_of(session: Session, process: Fortschreibung) -> WorkCalendar:
    return for_kommune(get_required(session, Kommune, process.kommune_id))


def get_vorlage(session: Session, process: Fortschreibung, ref: str) -> Vorlage:
    """A Vorlage of ``process`` by its stage key ('vorlage') or its number ('BSV 21/2017')."""
    rows = session.exec(select(Vorlage).where(Vorlage.fortschreibung_id == process.id)).all()
    for vorlage in rows:
        if ref in (vorlage.stage_key, vorlage.reference):
            return vorlage
    known = ", ".join(f"{v.stage_key} ({v.reference})" for v in rows) or "keine"
    raise NotFound(f"{process.key} hat keine Vorlage {quoted(ref)}; vorhanden: {known}")


def find_sitzung(session: Session, ref: str) -> Sitzung:
    kommune_key, _, key = ref.rpartition(":")
    query = select(Sitzung).where(Sitzung.key == key)
    if kommune_key:
        query = query.join(Kommune, col(Kommune.id) == Sitzung.kommune_id).where(
            Kommune.key == kommune_key
        )
    found = session.exec(query).all()
    if not found:
        raise NotFound(f"keine Sitzung {quoted(ref)}")
    if len(found) > 1:
        raise Refused(f"die Sitzung {quoted(key)} gibt es in mehreren Kommunen; "
                      f"{quoted('KOMMUNE:' + key)} angeben")
    return found[0]


def processes_bound_to(session: Session, sitzung_id: int) -> list[Fortschreibung]:
    # by the ids of the bindings: DISTINCT over the process rows could not compare their JSON
    # columns on PostgreSQL; one query for all, not one per process
    bound = select(SitzungBinding.fortschreibung_id).where(SitzungBinding.sitzung_id == sitzung_id)
    return list(session.exec(select(Fortschreibung).where(col(Fortschreibung.id).in_(bound))
                             .order_by(col(Fortschreibung.id))))  # fmt: skip


def postpone_targets(session: Session, process: Fortschreibung, name: str | None
                     ) -> list[Sitzung]:  # fmt: skip
    """The Sitzungen a gate at the plan Sitzung ``name`` can be postponed to, earliest first:
    the later Sitzungen of the bound one's Gremium the RIS has not cancelled (``engine._postpone``
    refuses every other). The web's "Vertagen auf" offers these."""
    if not name:
        return []
    bound = session.exec(
        select(Sitzung).join(SitzungBinding, col(SitzungBinding.sitzung_id) == Sitzung.id)
        .where(SitzungBinding.fortschreibung_id == process.id, SitzungBinding.name == name)
    ).first()  # fmt: skip
    if bound is None:
        return []
    later = session.exec(
        select(Sitzung).where(Sitzung.gremium_id == bound.gremium_id,
                              Sitzung.start > bound.start).order_by(col(Sitzung.start))
    ).all()  # fmt: skip
    cancelled = cancelled_sitzungen(session, [ident(s) for s in later])
    return [s for s in later if s.id not in cancelled]
