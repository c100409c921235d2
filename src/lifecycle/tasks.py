"""Task queries for the CLI and the flows: who has to do what by when."""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import func, true
from sqlmodel import Session, col, select

from .errors import NotFound
from .models import Fortschreibung, Person, Task, TaskState
from .words import quoted


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
    owners: list[Any] = [true()]  # no person named: one query over all
    if person:
        ids = session.exec(select(Person.id).where(Person.key == person)).all()
        if not ids:
            raise NotFound(f"keine Person {quoted(person)}")
        # the key may name a person in several Kommunen: one owner each (see merged_by_owner)
        owners = [col(Task.assignee_id) == one for one in ids]
    if process:
        if (
            session.exec(select(Fortschreibung.id).where(Fortschreibung.key == process)).first()
            is None
        ):
            raise NotFound(f"keine Fortschreibung {quoted(process)}")
        query = query.where(Fortschreibung.key == process)
    total = sum(session.exec(select(func.count()).select_from(query.where(owner).subquery())).one()
                for owner in owners)  # fmt: skip
    rows = merged_by_owner(session, query.order_by(col(Task.due).nulls_first(), col(Task.id)),
                           owners, limit, key=lambda r: (*due_first(r[1]), r[0]))  # fmt: skip
    return [
        TaskRow(i, due, title, name or "—", key, state.value if hasattr(state, "value") else state)
        for i, due, title, name, key, state in rows
    ], max(0, total - len(rows))


def merged_by_owner(session: Session, query: Any, owners: list[Any], limit: int,
                    key: Callable[[Any], Any]) -> list[Any]:  # fmt: skip
    """The first ``limit`` rows of ``query`` over all ``owners`` (a condition each: one person
    or one process), in the order ``key`` gives, which must be the query's own.

    One small query per owner through its own index (assignee or process, state, due), merged
    here. Given all owners in one IN list, SQLite, which plans without statistics, read every
    open task of the installation in due order (ix_task_state_due) to find theirs."""
    parts = [session.exec(query.where(owner).limit(limit)).all() for owner in owners]
    return list(islice(heapq.merge(*parts, key=key), limit))


def due_first(due: dt.date | None) -> tuple[bool, dt.date]:
    """A due date's sort key as ``nulls_first()`` orders it in the database."""
    return (due is not None, due or dt.date.min)
