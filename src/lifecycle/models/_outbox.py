"""The outboxes: reminder messages and stage runs, each written in the transaction of the
change that asks for it."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field

from . import _core  # noqa: F401  (the tables these refer to)
from ._base import Row


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
    person_id: int = Field(foreign_key="person.id")
    subject: str  # what the reminder is about, e.g. "task:12", "vorlagenschluss:3:7"
    deadline: dt.date
    offset: int  # working days before the deadline; -1 for an escalation
    # due | vorlagenschluss | escalation | digest | moved | sitzung_cancelled | sitzung_reinstated
    kind: str
    fortschreibung_id: int | None = Field(default=None, foreign_key="fortschreibung.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id", index=True)
    sitzung_id: int | None = Field(default=None, foreign_key="sitzung.id", index=True)
    send_on: dt.date = Field(index=True)
    state: ReminderState = Field(default=ReminderState.planned, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    claim_token: str | None = None
    claimed_at: dt.datetime | None = None
    attempts: int = 0
    last_error: str = ""
    sent_at: dt.datetime | None = None
    # who cancelled the row by hand (``lifecycle remind cancel``); such a row is never planned
    # again. Empty: not cancelled, or cancelled by the engine (which may plan it anew).
    cancelled_by: str = ""
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # Random per row, so Message-IDs never repeat across databases sending from one domain.
    message_uid: str = Field(default_factory=lambda: uuid.uuid4().hex, unique=True)


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
