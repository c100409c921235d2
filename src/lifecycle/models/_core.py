"""The core of a process: Kommune, Gremien and Sitzungen, people, the Fortschreibung with its
stages, tasks and gate decisions, its Vorlagen and their Beratungsfolge.

What ``lifecycle status``, ``tasks`` and ``sitzungen`` read; every other part refers to it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import NaiveDatetime
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field

from ._base import BeratungRole, GremiumKind, Outcome, ProcessState, Row, StageState, TaskState
from ._columns import StoredPlan


class Kommune(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    name: str
    bundesland: str  # ISO 3166-2 subdivision code without "DE-", e.g. "BW"
    # Extra days the Rathaus is closed (Brückentage, Rosenmontag): not working days.
    closing_days: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class Gremium(Row, table=True):
    __table_args__ = (UniqueConstraint("kommune_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    kommune_id: int = Field(foreign_key="kommune.id")
    key: str
    name: str
    short: str
    kind: GremiumKind
    vorlagenschluss_working_days: int = 10


class Sitzung(Row, table=True):
    __table_args__ = (UniqueConstraint("kommune_id", "key"),)  # also the kommune_id index
    id: int | None = Field(default=None, primary_key=True)
    kommune_id: int = Field(foreign_key="kommune.id")
    gremium_id: int = Field(foreign_key="gremium.id", index=True)
    key: str = Field(index=True)  # `--sitzung KEY` names it without its Kommune
    start: NaiveDatetime = Field(index=True)  # the Sitzungsdienst's coming weeks
    place: str = ""
    oeffentlich: bool = True


class Person(Row, table=True):
    __table_args__ = (UniqueConstraint("kommune_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    kommune_id: int = Field(foreign_key="kommune.id")
    key: str = Field(index=True)  # `lifecycle tasks --person KEY` asks across Kommunen
    name: str
    email: str | None = None
    fachbereich: str = ""
    funktion: str = ""
    anrede: str = ""  # "Frau" or "Herr": "Ansprechpartnerin", "Erstellerin"; "" when unknown


class Konzept(Row, table=True):
    __table_args__ = (UniqueConstraint("kommune_id", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    kommune_id: int = Field(foreign_key="kommune.id")
    title: str
    kind: str


class Fortschreibung(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    konzept_id: int = Field(foreign_key="konzept.id", index=True)
    plan_name: str
    # The plan as it was when the process started: a later edit of the plan file must not
    # change a running process under its feet.
    plan: dict[str, Any] = Field(sa_column=Column(StoredPlan, nullable=False))
    scenario: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_on: dt.date
    state: ProcessState = ProcessState.running
    current_stage_id: int | None = Field(default=None)
    partner: str = ""
    partner_contact: str = ""
    funding_source: str = ""
    funding_amount: float | None = None
    budget_amount: float | None = None
    budget_note: str = ""
    # When each fact became true: a paper states the facts as of its own date.
    funding_applied_on: dt.date | None = None
    funding_granted_on: dt.date | None = None
    budget_on: dt.date | None = None
    # The emphasis of the revision (before the Handlungsfelder) and the thoughts that run
    # through all of them (after), in the clerk's sentences.
    schwerpunkte: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    leitgedanken: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class SitzungBinding(Row, table=True):
    """Binds a Sitzung name of the plan (e.g. ``vorlage_vorberatung``) to a real Sitzung."""

    __table_args__ = (UniqueConstraint("fortschreibung_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    name: str
    sitzung_id: int = Field(foreign_key="sitzung.id", index=True)


class Stage(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    key: str
    title: str
    position: int
    state: StageState = StageState.pending
    opened_on: dt.date | None = None
    closed_on: dt.date | None = None
    planned_start: dt.date | None = None
    ergebnis: str = ""  # what the stage found, in the clerk's sentences (scenario `ergebnisse`)


class Task(Row, table=True):
    __table_args__ = (
        UniqueConstraint("fortschreibung_id", "key"),
        # covers the Übersicht's per-process progress and deadlines without reading the rows
        Index("ix_task_summary", "fortschreibung_id", "state", "due"),
        # the daily reminder scan: open tasks in a window of due dates
        Index("ix_task_state_due", "state", "due"),
        # a gate's open tasks (without it SQLite read every open task of every process), and
        # a person's open tasks by due date: both were read through ix_task_state_due
        Index("ix_task_stage_state_due", "stage_id", "state", "due"),
        Index("ix_task_assignee_state_due", "assignee_id", "state", "due"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # each indexed as the first column of a composite index above
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    stage_id: int = Field(foreign_key="stage.id")
    key: str
    title: str
    role: str
    assignee_id: int | None = Field(default=None, foreign_key="person.id")
    required: bool = True
    # Anchor of the due date, resolved by lifecycle.deadlines. kind: stage_start | sitzung |
    # vorlagenschluss | termin | task; ref: the Sitzung binding name, Termin name or task key.
    anchor_kind: str
    anchor_ref: str = ""
    offset: int = 0
    offset_unit: str = "days"  # days | working_days
    due: dt.date | None = None  # searched with state first (ix_task_state_due and others)
    state: TaskState = Field(default=TaskState.open)  # indexed first in ix_task_state_due
    done_on: dt.date | None = None
    done_by_id: int | None = Field(default=None, foreign_key="person.id")
    position: int = 0


class GateDecision(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    stage_id: int = Field(foreign_key="stage.id", index=True)
    outcome: Outcome
    decided_by: str
    decided_on: dt.date
    reference: str = ""
    remarks: str = ""
    forced_reason: str = ""
    recorded_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class Vorlage(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "stage_key"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id")
    stage_key: str
    reference: str
    art: str = "Sitzungsvorlage"
    betreff: str
    beschlussvorschlag: str
    fachbereich: str
    author_id: int | None = Field(default=None, foreign_key="person.id")
    dated: dt.date | None = None
    begruendung: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    anlagen: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    beteiligte: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    # The signature block above the author: [{"funktion": …, "name": …}, …]
    mitzeichnung: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))


class Beratung(Row, table=True):
    """One step of a Vorlage's Beratungsfolge (OParl: Consultation)."""

    __table_args__ = (UniqueConstraint("vorlage_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    vorlage_id: int = Field(foreign_key="vorlage.id")
    position: int
    sitzung_id: int = Field(foreign_key="sitzung.id", index=True)
    role: BeratungRole
    oeffentlich: bool = True
