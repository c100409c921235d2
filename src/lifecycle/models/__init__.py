"""The process state: SQLModel tables, one database as the source of truth.

Times of Sitzungen and workshops are local wall-clock times (Europe/Berlin) stored naive:
that is what a council calendar means by "18:00". Log timestamps are aware UTC.

Domain words stay German where they have no honest English twin (Kommune, Gremium,
Sitzung, Vorlage, Beratung, Handlungsfeld, Arbeitsgruppe, Fortschreibung).

The tables are declared in parts. The core (``_core``) is declared on import; every other
part when one of its names is first asked for (PEP 562). Declaring a table costs SQLModel
and SQLAlchemy about 2 ms, and ``lifecycle status`` reads only the core. Each part refers
only to itself and the core, so a join's foreign keys are always declared. ``load_all()``
declares every table: for the migrations and anything else that walks the whole metadata.

A foreign key that leads a UNIQUE constraint has no index of its own: the constraint's index
serves its searches, and a second one only costs writes (tests/test_db.py keeps it so).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._base import BeratungRole, GremiumKind, Outcome, ProcessState, Row, StageState, TaskState
from ._core import (
    Beratung,
    Fortschreibung,
    GateDecision,
    Gremium,
    Kommune,
    Konzept,
    Person,
    Sitzung,
    SitzungBinding,
    Stage,
    Task,
    Vorlage,
)

# part -> the names it declares; each part is imported on first use of one of them
_LAZY_PARTS: dict[str, tuple[str, ...]] = {
    "_record": ("KonzeptVersion", "Role", "Termin", "Event", "DocumentVersion", "VorlageVersion"),
    "_beteiligung": ("Handlungsfeld", "Arbeitsgruppe", "AgSitzung", "Empfehlung",
                     "Schluesselprojekt", "Workshop"),  # fmt: skip
    "_outbox": ("ReminderState", "Reminder", "RunRequestState", "RunRequest"),
    "_access": ("GrantRole", "User", "Grant", "LoginFailure"),
    "_umsetzung": ("MassnahmeStatus", "Uebernahme", "Massnahme", "Meilenstein", "Indikator",
                   "Messung", "MassnahmeUebernahme"),  # fmt: skip
}
_PART_OF = {name: part for part, names in _LAZY_PARTS.items() for name in names}

__all__ = [
    # the states and the base (._base)
    "BeratungRole",
    "GremiumKind",
    "Outcome",
    "ProcessState",
    "Row",
    "StageState",
    "TaskState",
    # the core (._core), declared on import
    "Beratung",
    "Fortschreibung",
    "GateDecision",
    "Gremium",
    "Kommune",
    "Konzept",
    "Person",
    "Sitzung",
    "SitzungBinding",
    "Stage",
    "Task",
    "Vorlage",
    # the parts declared on first use (_LAZY_PARTS)
    "KonzeptVersion",
    "Role",
    "Termin",
    "Event",
    "DocumentVersion",
    "VorlageVersion",
    "Handlungsfeld",
    "Arbeitsgruppe",
    "AgSitzung",
    "Empfehlung",
    "Schluesselprojekt",
    "Workshop",
    "ReminderState",
    "Reminder",
    "RunRequestState",
    "RunRequest",
    "GrantRole",
    "User",
    "Grant",
    "LoginFailure",
    "MassnahmeStatus",
    "Uebernahme",
    "Massnahme",
    "Meilenstein",
    "Indikator",
    "Messung",
    "MassnahmeUebernahme",
    "load_all",
]


def load_all() -> None:
    """Declare every table on ``SQLModel.metadata``."""
    for part in _LAZY_PARTS:
        importlib.import_module(f"{__name__}.{part}")


if TYPE_CHECKING:
    from ._access import Grant, GrantRole, LoginFailure, User
    from ._beteiligung import (
        AgSitzung,
        Arbeitsgruppe,
        Empfehlung,
        Handlungsfeld,
        Schluesselprojekt,
        Workshop,
    )
    from ._outbox import Reminder, ReminderState, RunRequest, RunRequestState
    from ._record import DocumentVersion, Event, KonzeptVersion, Role, Termin, VorlageVersion
    from ._umsetzung import (
        Indikator,
        Massnahme,
        MassnahmeStatus,
        MassnahmeUebernahme,
        Meilenstein,
        Messung,
        Uebernahme,
    )
else:

    def __getattr__(name: str) -> object:
        part = _PART_OF.get(name)
        if part is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{part}"), name)
        globals()[name] = value  # the next lookup is an ordinary attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(_PART_OF))
