"""Narrowing what the schema guarantees but the types cannot see.

``session.get`` returns ``X | None`` and a row's ``id`` is ``int | None`` until it is
flushed. Where the database guarantees the value (a foreign key, a row that was loaded or
flushed), these helpers say so, and fail loudly, naming what is missing, if it is broken:
a ``LookupError`` is a bug or a damaged database (exit 70), never the user's input.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlmodel import Session, SQLModel

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)


class _HasId(Protocol):
    @property
    def id(self) -> int | None: ...


def required(value: T | None, what: str) -> T:
    """``value``, which must be there; ``None`` is a broken invariant, not a user error."""
    if value is None:
        raise LookupError(f"{what} fehlt")
    return value


def get_required(session: Session, model: type[M], row_id: int | None) -> M:
    """The row a foreign key points to; its absence is a broken database."""
    row = session.get(model, row_id) if row_id is not None else None
    if row is None:
        raise LookupError(f"{model.__name__} {row_id} fehlt in der Datenbank")
    return row


def ident(row: _HasId) -> int:
    """The primary key of a loaded or flushed row."""
    if row.id is None:
        raise LookupError(f"{type(row).__name__} hat noch keine id (nicht gespeichert)")
    return row.id
