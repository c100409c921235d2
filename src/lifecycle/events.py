"""The append-only event log: one row per change, in the transaction of the change."""

from __future__ import annotations

import datetime as dt
import enum
from functools import cache
from typing import Any

from sqlalchemy import Insert, insert
from sqlmodel import Session, SQLModel

from .models import Event


def plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def snapshot(obj: SQLModel, *fields: str) -> dict[str, Any]:
    return {f: plain(getattr(obj, f)) for f in fields}


def log(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: SQLModel,
    process_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> Event:
    event = Event(**_columns(actor, action, entity, process_id, before, after))
    session.add(event)
    return event


def _columns(actor: str, action: str, entity: SQLModel, process_id: int | None,
             before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """An event's columns (but its time), as ``log`` and ``log_row`` write them."""
    return {
        "fortschreibung_id": process_id, "actor": actor, "action": action,
        "entity": type(entity).__name__, "entity_id": getattr(entity, "id", None),
        "before": before, "after": after,
    }  # fmt: skip


@cache
def _insert_event() -> Insert:
    return insert(Event.__table__)  # type: ignore[attr-defined]


def log_row(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: SQLModel,
    process_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """``log`` written at once with one INSERT, without an ORM object (hot paths).

    Whatever the session holds is flushed first, so the log keeps the order of the changes.
    """
    session.flush()
    values = _columns(actor, action, entity, process_id, before, after)
    session.connection().execute(_insert_event(), values | {"at": dt.datetime.now(dt.UTC)})
