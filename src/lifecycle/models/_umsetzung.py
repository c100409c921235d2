"""The Umsetzung: Maßnahmen with their milestones, indicators with their measurements, and
what a later Fortschreibung decides for each carried Maßnahme."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from . import _core  # noqa: F401  (the tables these refer to)
from ._base import Row


class MassnahmeStatus(StrEnum):
    """Stored states; "überfällig" is derived (target date passed, not erledigt), never stored."""

    offen = "offen"
    in_umsetzung = "in Umsetzung"
    erledigt = "erledigt"
    zurueckgestellt = "zurückgestellt"


class Uebernahme(StrEnum):
    """What the next Fortschreibung decides for a Maßnahme it carries."""

    weiterfuehren = "weiterführen"
    abgeschlossen = "abgeschlossen"
    streichen = "streichen"


class Massnahme(Row, table=True):
    """One tracked measure of a concept's Umsetzung (Beschlusskontrolle).

    It belongs to the Konzept (the history of its revisions) and was adopted by one
    Fortschreibung; a later Fortschreibung that carries it records its decision in
    MassnahmeUebernahme.
    """

    __table_args__ = (
        UniqueConstraint("konzept_id", "key"),
        # "what is overdue today" across every Kommune: open rows by target date
        Index("ix_massnahme_due", "status", "target_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    konzept_id: int = Field(foreign_key="konzept.id")
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)  # adopted by
    key: str
    handlungsfeld: str
    title: str
    responsible: str = ""  # a person, a Fachbereich or a partner organisation, as written
    responsible_person_id: int | None = Field(default=None, foreign_key="person.id")
    start_date: dt.date | None = None
    target_date: dt.date | None = None
    budget_line: str = ""  # Haushaltsstelle / Produkt
    budget_amount: float | None = None
    status: MassnahmeStatus = MassnahmeStatus.offen
    progress: int = 0  # percent, 0..100
    public_text: str = ""  # the Sachstand a public paper may print
    internal_note: str = ""  # for the administration only
    source: str = ""  # "Schlüsselprojekt", "Empfehlung", "Szenario", "Import"
    position: int = 0


class Meilenstein(Row, table=True):
    __table_args__ = (UniqueConstraint("massnahme_id", "on", "title"),)
    id: int | None = Field(default=None, primary_key=True)
    massnahme_id: int = Field(foreign_key="massnahme.id")
    on: dt.date
    title: str
    note: str = ""


class Indikator(Row, table=True):
    """An indicator of a Handlungsfeld: baseline, target and dated measurements (effect)."""

    __table_args__ = (UniqueConstraint("konzept_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    konzept_id: int = Field(foreign_key="konzept.id")
    key: str
    handlungsfeld: str
    title: str
    unit: str = ""
    baseline: float | None = None
    baseline_on: dt.date | None = None
    target: float | None = None
    target_on: dt.date | None = None


class Messung(Row, table=True):
    __table_args__ = (UniqueConstraint("indikator_id", "on"),)
    id: int | None = Field(default=None, primary_key=True)
    indikator_id: int = Field(foreign_key="indikator.id")
    on: dt.date
    value: float
    note: str = ""


class MassnahmeUebernahme(Row, table=True):
    """The decision of a later Fortschreibung's first gate on one carried Maßnahme."""

    __table_args__ = (UniqueConstraint("fortschreibung_id", "massnahme_id"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    massnahme_id: int = Field(foreign_key="massnahme.id", index=True)
    decision: Uebernahme | None = None  # None: carried, not yet decided
    decided_on: dt.date | None = None
    decided_by: str = ""
