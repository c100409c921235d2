"""The record of a process: Konzept versions, roles, named dates, the event log, generated
documents and edited Vorlage texts."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field

from . import _core  # noqa: F401  (the tables these refer to)
from ._base import Row


class KonzeptVersion(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    konzept_id: int = Field(foreign_key="konzept.id", index=True)
    label: str
    year: int
    note: str = ""


class Role(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "role", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str


class Termin(Row, table=True):
    """A named date of the scenario a task can be anchored to (e.g. the workshop)."""

    __table_args__ = (UniqueConstraint("fortschreibung_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    name: str
    on: dt.date


_DELETED = "oparl_deleted"
_DELETED_ONLY = f"action = '{_DELETED}'"


class Event(Row, table=True):
    """Append-only log of every change, written in the transaction of the change."""

    DELETED: ClassVar[str] = _DELETED  # the action of a row removed; OParl keeps a tombstone

    __table_args__ = (
        Index("ix_event_entity", "entity", "entity_id"),
        # OParl's tombstones: the few deletions among all events, without indexing the rest
        Index("ix_event_deleted", "id", sqlite_where=text(_DELETED_ONLY),
              postgresql_where=text(_DELETED_ONLY)),
    )  # fmt: skip

    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int | None = Field(default=None, foreign_key="fortschreibung.id", index=True)
    at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    actor: str
    action: str
    entity: str
    entity_id: int | None = None  # with entity in ix_event_entity: one row's history
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class DocumentVersion(Row, table=True):
    """One generated document: what went in (hashes) and where the file is.

    Generating again from unchanged inputs and template is a no-op; a change makes the next
    version and keeps the earlier files.
    """

    __table_args__ = (UniqueConstraint("fortschreibung_id", "kind", "stage_key", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    stage_key: str
    kind: str
    version: int
    inputs_sha256: str
    template_sha256: str
    template_path: str = ""
    path: str
    pdf_path: str = ""
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class VorlageVersion(Row, table=True):
    """A saved text of a Vorlage, edited in the browser; the Vorlage row holds the newest."""

    __table_args__ = (UniqueConstraint("vorlage_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    vorlage_id: int = Field(foreign_key="vorlage.id")
    version: int
    betreff: str
    beschlussvorschlag: str
    begruendung: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    saved_by: str
    saved_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # The generated draft of each edited section when it was saved: a newer draft means a
    # process fact changed under the author's words (flagged, never overwritten).
    basis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
