"""Who takes part in a Fortschreibung: Handlungsfelder, Arbeitsgruppen with their sessions,
Empfehlungen and Schlüsselprojekte, the kickoff workshop."""

from __future__ import annotations

from pydantic import NaiveDatetime
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field

from . import _core  # noqa: F401  (the tables these refer to)
from ._base import Row


class Handlungsfeld(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    key: str
    title: str
    position: int


class Arbeitsgruppe(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    handlungsfeld_id: int = Field(foreign_key="handlungsfeld.id", index=True)
    key: str
    title: str
    position: int
    moderator_id: int | None = Field(default=None, foreign_key="person.id")
    bestandsaufnahme: str = ""
    ergebnis: str = ""


class AgSitzung(Row, table=True):
    """A session of an Arbeitsgruppe (not a council Sitzung)."""

    id: int | None = Field(default=None, primary_key=True)
    arbeitsgruppe_id: int = Field(foreign_key="arbeitsgruppe.id", index=True)
    number: int
    start: NaiveDatetime
    place: str = ""
    notes: str = ""


class Empfehlung(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    arbeitsgruppe_id: int = Field(foreign_key="arbeitsgruppe.id", index=True)
    position: int
    text: str


class Schluesselprojekt(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    arbeitsgruppe_id: int = Field(foreign_key="arbeitsgruppe.id", index=True)
    position: int
    title: str
    description: str = ""


class Workshop(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True, unique=True)
    title: str
    start: NaiveDatetime
    place: str = ""
    moderation: str = ""
    invited_organisations: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    participants: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    expected_participants: int | None = None
    programme: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    teilnehmerkreis: str = ""  # who was invited, in the dative: "aus {teilnehmerkreis}"
    ag_moderation: str = ""  # who moderated the working groups
    schulung: str = ""  # who trained the moderators beforehand ("durch …")
