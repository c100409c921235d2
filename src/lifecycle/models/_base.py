"""The base of every table and the states the core tables share."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict
from sqlmodel import SQLModel


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
