"""The append-only event log: one row per change, in the transaction of the change."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

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
    event = Event(
        fortschreibung_id=process_id,
        actor=actor,
        action=action,
        entity=type(entity).__name__,
        entity_id=getattr(entity, "id", None),
        before=before,
        after=after,
    )
    session.add(event)
    return event
