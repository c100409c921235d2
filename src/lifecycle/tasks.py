"""Task queries for the CLI and the flows: who has to do what by when."""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import func
from sqlmodel import Session, col, select

from .errors import NotFound
from .models import Fortschreibung, Person, Task, TaskState


@dataclass(frozen=True)
class TaskRow:
    id: int
    due: dt.date | None
    title: str
    assignee: str
    process: str
    state: str


def find_tasks(
    session: Session,
    *,
    today: dt.date,
    person: str | None = None,
    overdue: bool = False,
    process: str | None = None,
    include_done: bool = False,
    limit: int = 200,
) -> tuple[list[TaskRow], int]:
    """Matching tasks, most urgent first, and how many more matched beyond ``limit``."""
    # sqlmodel types select() for at most four columns (fastapi/sqlmodel#271)
    query = (
        select(  # type: ignore[call-overload]
            Task.id, Task.due, Task.title, Person.name, Fortschreibung.key, Task.state
        )
        .join(Fortschreibung, col(Fortschreibung.id) == Task.fortschreibung_id)
        .join(Person, col(Person.id) == Task.assignee_id, isouter=True)
    )
    if not include_done or overdue:
        query = query.where(Task.state == TaskState.open)
    if overdue:
        query = query.where(col(Task.due) < today)
    ids: list[int | None] = [None]  # no person named: one query over all
    if person:
        ids = list(session.exec(select(Person.id).where(Person.key == person)).all())
        if not ids:
            raise NotFound(f"keine Person {person!r}")
    if process:
        if (
            session.exec(select(Fortschreibung.id).where(Fortschreibung.key == process)).first()
            is None
        ):
            raise NotFound(f"keine Fortschreibung {process!r}")
        query = query.where(Fortschreibung.key == process)
    # A person's key may name one in several Kommunen: one query per Person row, each through
    # its own index (assignee, state, due), merged here. Given all in one IN list, SQLite (which
    # plans without statistics) read every open task of the installation in due order.
    total, parts = 0, []
    for one in ids:
        mine = query if one is None else query.where(Task.assignee_id == one)
        total += session.exec(select(func.count()).select_from(mine.subquery())).one()
        parts.append(session.exec(
            mine.order_by(col(Task.due).nulls_first(), col(Task.id)).limit(limit)).all())
    merged = heapq.merge(*parts, key=lambda r: (r[1] is not None, r[1] or dt.date.min, r[0]))
    rows = list(islice(merged, limit))
    return [
        TaskRow(i, due, title, name or "—", key, state.value if hasattr(state, "value") else state)
        for i, due, title, name, key, state in rows
    ], max(0, total - len(rows))
