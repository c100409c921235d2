"""A process's event log as people read it: when, who, what, on what, and which values changed.

One reading for every face: the Prozess page shows it (without internal notes to a reader who
may not see them), and so does ``lifecycle log``. The log itself (``events``) stays as written:
English action names and raw field values, which the calendar and OParl count and compare.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal
from sqlmodel import Session, col, select

from . import dates
from .doc_context import kind_title
from .models import (
    Event,
    Fortschreibung,
    Gremium,
    Indikator,
    Massnahme,
    Meilenstein,
    Messung,
    Sitzung,
    Stage,
    Task,
    Vorlage,
)
from .plan_types import plan_of
from .words import ACTION_DE, FIELD_DE, INTERNAL_FIELDS, OUTCOME_DE, STATE_DE, quoted

LIMIT = 50


@dataclass(frozen=True)
class Entry:
    at: dt.datetime  # as the clock in the Rathaus showed it
    actor: str
    what: str  # the action, in German
    subject: str  # what it concerns (a task's title, a stage's, a Maßnahme's), or ""
    details: str  # the changed values, in German ("Stand: offen → erledigt; …"), or ""


def entries(session: Session, process: Fortschreibung, *, internal: bool,
            limit: int = LIMIT) -> list[Entry]:  # fmt: skip
    """The latest ``limit`` entries of the process's log, newest first.

    ``internal``: whether the reader may read internal notes (``access.Action.read_internal``);
    without it, the fields of ``words.INTERNAL_FIELDS`` are left out of every entry.
    """
    events = session.exec(
        select(Event).where(Event.fortschreibung_id == process.id)
        .order_by(col(Event.id).desc()).limit(limit)
    ).all()  # fmt: skip
    subjects = _subjects(session, events)
    stages = {s.key: s.title for s in plan_of(process.plan).stages}
    return [
        Entry(
            dates.local_time(e.at),
            e.actor,
            ACTION_DE.get(e.action, e.action),
            subject,
            details(e.before, e.after, internal=internal, stages=stages, subject=subject),
        )
        for e in events
        for subject in [subjects.get((e.entity, e.entity_id), "")]
    ]


def details(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *,
            internal: bool, stages: Mapping[str, str] | None = None,
            subject: str = "") -> str:  # fmt: skip
    """The values an entry records, each with its German label; a changed one as old → new.
    A title the entry's ``subject`` already names is not said twice."""
    parts = []
    for name, value in (after or {}).items():
        label = FIELD_DE.get(name, name)
        if label is None or value in (None, "", [], {}):
            continue
        if name in INTERNAL_FIELDS and not internal:
            continue
        old = (before or {}).get(name)
        if name == "title" and value == subject and old in (None, "", value):
            continue
        shown = _shown(name, value, stages or {})
        if old not in (None, "") and old != value:
            shown = f"{_shown(name, old, stages or {})} → {shown}"
        parts.append(f"{label}: {shown}")
    return "; ".join(parts)


def value_de(value: Any) -> str:
    """A logged value as a German reader expects it: states and outcomes in words, dates as
    "14.12.2017", times with "Uhr", yes/no in words."""
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, list | tuple):
        return ", ".join(value_de(v) for v in value)
    if isinstance(value, float):
        return format_decimal(value, locale=dates.LOCALE)
    if not isinstance(value, str):
        return str(value)
    if value in STATE_DE:
        return STATE_DE[value]
    if value in OUTCOME_DE:
        return OUTCOME_DE[value]
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    day = dates.short_de(moment.date())
    return f"{day}, {moment:%H:%M} Uhr" if "T" in value else day


def _shown(name: str, value: Any, stages: Mapping[str, str]) -> str:
    """A field's value; a stage and a document kind by their titles, a reason in German,
    a progress in percent, an amount in euros."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if name == "progress":
            return f"{value}\xa0%"
        if name == "budget_amount":
            return dates.euro(value)
    if isinstance(value, str):
        if name == "stage":
            return stages.get(value, value)
        if name == "kind":
            return kind_title(value)
        if name == "reason":
            return _reason_de(value, stages)
    return value_de(value)


# The reasons of deadline changes as versions before 2026-12 logged them, in English: the log
# stays as written, so the reading translates them.
_OLD_REASONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], Mapping[str, str]], str]],
                    ...] = (
    (re.compile(r"gate (\S+) approved"),
     lambda m, st: f"Gate der Phase {quoted(st.get(m[1], m[1]))} freigegeben"),
    (re.compile(r"postponed to (\S+)"), lambda m, _: f"vertagt auf die Sitzung {m[1]}"),
    (re.compile(r"Sitzung (\S+) moved"), lambda m, _: f"Sitzung {m[1]} verlegt"),
    (re.compile(r"(\S+) bound to (\S+)"),
     lambda m, _: f"Plan-Sitzung {quoted(m[1])} an die Sitzung {m[2]} gebunden"),
    (re.compile(r"closing days changed"), lambda m, _: "Schließtage der Kommune geändert"),
)  # fmt: skip


def _reason_de(reason: str, stages: Mapping[str, str]) -> str:
    for pattern, german in _OLD_REASONS:
        if match := pattern.fullmatch(reason):
            return german(match, stages)
    return reason


# --- what an entry concerns ------------------------------------------------------------------

Subjects = dict[tuple[str, int | None], str]


def _subjects(session: Session, events: Iterable[Event]) -> Subjects:
    """The readable name of every row the entries concern: one query per kind of row."""
    wanted: dict[str, set[int]] = {}
    for e in events:
        if e.entity_id is not None and e.entity in _NAMES:
            wanted.setdefault(e.entity, set()).add(e.entity_id)
    found: Subjects = {}
    for entity, ids in wanted.items():
        for row_id, name in _NAMES[entity](session, ids):
            found[(entity, row_id)] = name
    return found


def _titles(model: Any) -> Callable[[Session, set[int]], Iterable[tuple[int | None, str]]]:
    def read(session: Session, ids: set[int]) -> Iterable[tuple[int | None, str]]:
        return session.exec(select(model.id, model.title).where(col(model.id).in_(ids))).all()

    return read


def _messungen(session: Session, ids: set[int]) -> Iterable[tuple[int | None, str]]:
    return session.exec(
        select(Messung.id, Indikator.title)
        .join(Indikator, col(Indikator.id) == Messung.indikator_id)
        .where(col(Messung.id).in_(ids))
    ).all()


def _vorlagen(session: Session, ids: set[int]) -> Iterable[tuple[int | None, str]]:
    rows = session.exec(
        select(Vorlage.id, Vorlage.reference, Vorlage.betreff).where(col(Vorlage.id).in_(ids))
    ).all()
    return [(i, f"{ref} {betreff}".strip()) for i, ref, betreff in rows]


def _sitzungen(session: Session, ids: set[int]) -> Iterable[tuple[int | None, str]]:
    rows = session.exec(
        select(Sitzung.id, Gremium.name, Sitzung.start)
        .join(Gremium, col(Gremium.id) == Sitzung.gremium_id)
        .where(col(Sitzung.id).in_(ids))
    ).all()
    return [(i, f"{name}, {dates.short_de(start.date())}") for i, name, start in rows]


_NAMES: dict[str, Callable[[Session, set[int]], Iterable[tuple[int | None, str]]]] = {
    "Task": _titles(Task),
    "Stage": _titles(Stage),
    "Massnahme": _titles(Massnahme),
    "Meilenstein": _titles(Meilenstein),
    "Messung": _messungen,
    "Vorlage": _vorlagen,
    "Sitzung": _sitzungen,
}
