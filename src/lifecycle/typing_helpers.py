"""Narrowing what the schema guarantees but the types cannot see.

``session.get`` returns ``X | None`` and a row's ``id`` is ``int | None`` until it is
flushed. Where the database guarantees the value (a foreign key, a row that was loaded or
flushed), these helpers say so, and fail loudly, naming what is missing, if it is broken:
a ``LookupError`` is a bug or a damaged database (exit 70), never the user's input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from sqlmodel import Session, SQLModel, col, select

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


def get_all_required(session: Session, model: type[M], row_ids: Iterable[int]) -> dict[int, M]:
    """The rows foreign keys point to, by id, in one query (per IN_LIST): ``get_required`` for
    many, where a loop of it would send a statement per row."""
    wanted = sorted(set(row_ids))
    pk: Any = model.id  # type: ignore[attr-defined]
    found: dict[int, M] = {}
    for chunk in chunks(wanted):
        rows = session.exec(select(model).where(col(pk).in_(chunk)))
        found.update((getattr(row, "id"), row) for row in rows)  # noqa: B009 - M has no id type
    if missing := [i for i in wanted if i not in found]:
        raise LookupError(f"{model.__name__} {missing[0]} fehlt in der Datenbank")
    return found


# Ids per IN list: far below every database's limit of bound parameters (SQLite's 32 766).
IN_LIST = 500


def chunks(ids: Sequence[T], size: int = IN_LIST) -> Iterator[Sequence[T]]:
    """``ids`` in slices of ``size``, for one ``IN (…)`` statement each."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def ident(row: _HasId) -> int:
    """The primary key of a loaded or flushed row."""
    if row.id is None:
        raise LookupError(f"{type(row).__name__} hat noch keine id (nicht gespeichert)")
    return row.id
