"""The process state: SQLModel tables, one database as the source of truth.

Times of Sitzungen and workshops are local wall-clock times (Europe/Berlin) stored naive:
that is what a council calendar means by "18:00". Log timestamps are aware UTC.

Domain words stay German where they have no honest English twin (Kommune, Gremium,
Sitzung, Vorlage, Beratung, Handlungsfeld, Arbeitsgruppe, Fortschreibung).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, NaiveDatetime
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class Row(SQLModel):
    """Base of every table. pydantic builds a model's validator when it is first used, not
    at import: ``lifecycle status`` reads a few tables and should not pay for all of them."""

    model_config = ConfigDict(defer_build=True)  # type: ignore[assignment]


class GremiumKind(StrEnum):
    gemeinderat = "gemeinderat"
    ausschuss = "ausschuss"
    beirat = "beirat"


class ProcessState(StrEnum):
    running = "running"
    completed = "completed"


class StageState(StrEnum):
    pending = "pending"
    open = "open"
    closed = "closed"


class TaskState(StrEnum):
    open = "open"
    done = "done"


class Outcome(StrEnum):
    approve = "approve"
    send_back = "send_back"
    postpone = "postpone"


class BeratungRole(StrEnum):
    vorberatung = "Vorberatung"
    entscheidung = "Entscheidung"
    kenntnisnahme = "Kenntnisnahme"


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
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    key: str
    name: str
    short: str
    kind: GremiumKind
    vorlagenschluss_working_days: int = 10


class Sitzung(Row, table=True):
    __table_args__ = (UniqueConstraint("kommune_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    gremium_id: int = Field(foreign_key="gremium.id", index=True)
    key: str
    start: NaiveDatetime
    place: str = ""
    oeffentlich: bool = True


class Person(Row, table=True):
    __table_args__ = (UniqueConstraint("kommune_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    key: str
    name: str
    email: str | None = None
    fachbereich: str = ""
    funktion: str = ""
    anrede: str = ""  # "Frau" or "Herr": "Ansprechpartnerin", "Erstellerin"; "" when unknown


class Konzept(Row, table=True):
    __table_args__ = (UniqueConstraint("kommune_id", "kind"),)
    id: int | None = Field(default=None, primary_key=True)
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    title: str
    kind: str


class KonzeptVersion(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    konzept_id: int = Field(foreign_key="konzept.id", index=True)
    label: str
    year: int
    note: str = ""


class Fortschreibung(Row, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    konzept_id: int = Field(foreign_key="konzept.id", index=True)
    plan_name: str
    # The plan as it was when the process started: a later edit of the plan file must not
    # change a running process under its feet.
    plan: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
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


class Role(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "role", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str


class SitzungBinding(Row, table=True):
    """Binds a Sitzung name of the plan (e.g. ``vorlage_vorberatung``) to a real Sitzung."""

    __table_args__ = (UniqueConstraint("fortschreibung_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    name: str
    sitzung_id: int = Field(foreign_key="sitzung.id", index=True)


class Termin(Row, table=True):
    """A named date of the scenario a task can be anchored to (e.g. the workshop)."""

    __table_args__ = (UniqueConstraint("fortschreibung_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    name: str
    on: dt.date


class Stage(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
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
    )
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    stage_id: int = Field(foreign_key="stage.id", index=True)
    key: str
    title: str
    role: str
    assignee_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    required: bool = True
    # Anchor of the due date, resolved by lifecycle.deadlines. kind: stage_start | sitzung |
    # vorlagenschluss | termin | task; ref: the Sitzung binding name, Termin name or task key.
    anchor_kind: str
    anchor_ref: str = ""
    offset: int = 0
    offset_unit: str = "days"  # days | working_days
    due: dt.date | None = Field(default=None, index=True)
    state: TaskState = Field(default=TaskState.open, index=True)
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
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
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
    vorlage_id: int = Field(foreign_key="vorlage.id", index=True)
    position: int
    sitzung_id: int = Field(foreign_key="sitzung.id", index=True)
    role: BeratungRole
    oeffentlich: bool = True


class Handlungsfeld(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    key: str
    title: str
    position: int


class Arbeitsgruppe(Row, table=True):
    __table_args__ = (UniqueConstraint("fortschreibung_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
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


class Event(Row, table=True):
    """Append-only log of every change, written in the transaction of the change."""

    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int | None = Field(default=None, foreign_key="fortschreibung.id", index=True)
    at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    actor: str
    action: str
    entity: str
    entity_id: int | None = None
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


# --- tables of the documents module (issue "Documents") go below this line ---


class DocumentVersion(Row, table=True):
    """One generated document: what went in (hashes) and where the file is.

    Generating again from unchanged inputs and template is a no-op; a change makes the next
    version and keeps the earlier files.
    """

    __table_args__ = (UniqueConstraint("fortschreibung_id", "kind", "stage_key", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    stage_key: str
    kind: str
    version: int
    inputs_sha256: str
    template_sha256: str
    template_path: str = ""
    path: str
    pdf_path: str = ""
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


# --- tables of the reminders module (issue "Reminders") go below this line ---


class ReminderState(StrEnum):
    planned = "planned"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"


class Reminder(Row, table=True):
    """The reminder outbox: one row per message, planned once, claimed once, sent once.

    The UNIQUE constraint is what makes a second scan (or a concurrent one) a no-op: it can
    only insert rows that do not exist yet.
    """

    __table_args__ = (UniqueConstraint("person_id", "subject", "deadline", "offset"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    subject: str  # what the reminder is about, e.g. "task:12", "vorlagenschluss:3:7"
    deadline: dt.date
    offset: int  # working days before the deadline; -1 for an escalation
    kind: str  # due | vorlagenschluss | escalation | digest | moved | sitzung_cancelled
    fortschreibung_id: int | None = Field(default=None, foreign_key="fortschreibung.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id")
    sitzung_id: int | None = Field(default=None, foreign_key="sitzung.id")
    send_on: dt.date = Field(index=True)
    state: ReminderState = Field(default=ReminderState.planned, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    claim_token: str | None = None
    claimed_at: dt.datetime | None = None
    attempts: int = 0
    last_error: str = ""
    sent_at: dt.datetime | None = None
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # Random per row, so Message-IDs never repeat across databases sending from one domain.
    message_uid: str = Field(default_factory=lambda: uuid.uuid4().hex, unique=True)


# --- the outbox for runs (issue "One way in") -------------------------------------------------


class RunRequestState(StrEnum):
    pending = "pending"
    started = "started"


class RunRequest(Row, table=True):
    """A stage run asked for in the transaction that opened (or re-opened) the stage.

    Written together with the decision, so a crash between the decision and starting the run
    loses nothing: whoever drains the outbox next (the CLI on a shared installation, the
    reconcile flow, the demo) starts it. ``key`` is also the run's idempotency key, so a
    request started twice is one run.
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    stage_id: int = Field(foreign_key="stage.id")
    decision_id: int | None = Field(default=None, foreign_key="gatedecision.id")
    state: RunRequestState = Field(default=RunRequestState.pending, index=True)
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    started_at: dt.datetime | None = None
    run_id: str = ""
    attempts: int = 0
    last_error: str = ""


# --- the web app: users, grants, edited Vorlagen (issue "The web app") -------------------------


class GrantRole(StrEnum):
    """What a user may do where (German in the pages: words.GRANT_ROLE_DE)."""

    viewer = "viewer"  # sees the Kommune's processes
    projektleitung = "projektleitung"  # changes one process: tasks, gates, documents, Vorlagen
    sitzungsdienst = "sitzungsdienst"  # moves the Kommune's Sitzungen, decides its gates
    admin = "admin"  # everything, everywhere: users, new processes, templates


class User(Row, table=True):
    """A local account. ``password_hash`` is argon2id; empty for accounts of an external login."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    display_name: str = ""
    password_hash: str = ""
    is_admin: bool = False
    active: bool = True
    failed_logins: int = 0
    locked_until: dt.datetime | None = None
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class Grant(Row, table=True):
    """A role of a user in a Kommune, or in one Fortschreibung of it (project lead)."""

    __table_args__ = (UniqueConstraint("user_id", "role", "kommune_id", "fortschreibung_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    role: GrantRole
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    fortschreibung_id: int | None = Field(default=None, foreign_key="fortschreibung.id")


class VorlageVersion(Row, table=True):
    """A saved text of a Vorlage, edited in the browser; the Vorlage row holds the newest."""

    __table_args__ = (UniqueConstraint("vorlage_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    vorlage_id: int = Field(foreign_key="vorlage.id", index=True)
    version: int
    betreff: str
    beschlussvorschlag: str
    begruendung: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    saved_by: str
    saved_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # The generated draft of each edited section when it was saved: a newer draft means a
    # process fact changed under the author's words (flagged, never overwritten).
    basis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


# --- the Umsetzung: Maßnahmen, milestones, indicators ------------------------------------------


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
    konzept_id: int = Field(foreign_key="konzept.id", index=True)
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
    massnahme_id: int = Field(foreign_key="massnahme.id", index=True)
    on: dt.date
    title: str
    note: str = ""


class Indikator(Row, table=True):
    """An indicator of a Handlungsfeld: baseline, target and dated measurements (effect)."""

    __table_args__ = (UniqueConstraint("konzept_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    konzept_id: int = Field(foreign_key="konzept.id", index=True)
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
    indikator_id: int = Field(foreign_key="indikator.id", index=True)
    on: dt.date
    value: float
    note: str = ""


class MassnahmeUebernahme(Row, table=True):
    """The decision of a later Fortschreibung's first gate on one carried Maßnahme."""

    __table_args__ = (UniqueConstraint("fortschreibung_id", "massnahme_id"),)
    id: int | None = Field(default=None, primary_key=True)
    fortschreibung_id: int = Field(foreign_key="fortschreibung.id", index=True)
    massnahme_id: int = Field(foreign_key="massnahme.id", index=True)
    decision: Uebernahme | None = None  # None: carried, not yet decided
    decided_on: dt.date | None = None
    decided_by: str = ""
