"""Task queries for the CLI and the flows: who has to do what by when."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
    if person:
        ids = session.exec(select(Person.id).where(Person.key == person)).all()
        if not ids:
            raise NotFound(f"keine Person {person!r}")
        query = query.where(col(Task.assignee_id).in_(ids))
    if process:
        if (
            session.exec(select(Fortschreibung.id).where(Fortschreibung.key == process)).first()
            is None
        ):
            raise NotFound(f"keine Fortschreibung {process!r}")
        query = query.where(Fortschreibung.key == process)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Task.due), col(Task.id)).limit(limit)).all()
    return [
        TaskRow(i, due, title, name or "—", key, state.value if hasattr(state, "value") else state)
        for i, due, title, name, key, state in rows
    ], max(0, total - len(rows))
