"""The Umsetzung: Maßnahmen adopted with a concept, their changes, indicators, carrying.

Transitions only, like ``engine``: each checks first, changes state, writes the event log and
never commits (``services`` does). A Maßnahme belongs to its Konzept; it is found through any
Fortschreibung of that Konzept by its key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from . import engine, events, lookups, words
from .dates import check_year
from .errors import InputError, NotFound, Refused
from .models import (
    Arbeitsgruppe,
    Empfehlung,
    Event,
    Fortschreibung,
    Handlungsfeld,
    Indikator,
    KonzeptVersion,
    Massnahme,
    MassnahmeStatus,
    MassnahmeUebernahme,
    Meilenstein,
    Messung,
    Person,
    Schluesselprojekt,
    Uebernahme,
)  # fmt: skip
from .typing_helpers import ident, required

STATUS_BY_WORD = {s.value: s for s in MassnahmeStatus}
UEBERNAHME_BY_WORD = {u.value: u for u in Uebernahme}
EDITABLE = ("status", "progress", "target_date", "responsible", "public_text", "internal_note",
            "budget_line", "budget_amount", "title", "handlungsfeld", "start_date")  # fmt: skip
# The largest amount in euro anything accepts: the scenario schema's bound for every amount
# (schemas/scenario.json, "maximum"). Beyond it a number is a typo, and from about 1e25 on the
# pages cannot even print it in full.
MAX_AMOUNT = 1_000_000_000_000


def status_of(word: str) -> MassnahmeStatus:
    """'in Umsetzung' -> MassnahmeStatus; anything else is an InputError listing the words."""
    found = STATUS_BY_WORD.get(word.strip())
    if found is None:
        raise InputError("Status", word, f"unbekannt; erlaubt: {', '.join(STATUS_BY_WORD)} "
                         "(„überfällig“ ergibt sich aus dem Zieltermin)")  # fmt: skip
    return found


def check_progress(value: int | str) -> int:
    try:
        number = int(str(value).strip().rstrip("%").strip())
    except ValueError:
        raise InputError("Fortschritt", str(value), "keine ganze Zahl von 0 bis 100") from None
    if not 0 <= number <= 100:
        raise InputError("Fortschritt", str(value), "muss zwischen 0 und 100 liegen")
    return number


def check_amount(value: object, typed: str | None = None) -> float | None:
    """An amount in euro: empty is none, else a number from 0 to MAX_AMOUNT (``typed``: the
    text as the user wrote it, for the message)."""
    if value is None or value == "":
        return None
    shown = words.quoted(typed if typed is not None else str(value)[:40])
    bound = f"{MAX_AMOUNT:,}".replace(",", ".")
    too_large = f"{shown} ist zu groß (höchstens {bound} €)"
    try:
        if isinstance(value, bool):
            raise TypeError(value)
        number = float(value)  # type: ignore[arg-type]  # checked: any other value is refused
    except OverflowError:  # an int beyond any float
        raise InputError("Betrag", "", too_large) from None
    except (TypeError, ValueError):
        raise InputError("Betrag", "", f"{shown} ist kein Betrag") from None
    if number != number:  # NaN
        raise InputError("Betrag", "", f"{shown} ist kein Betrag")
    if number < 0:
        raise InputError("Betrag", "", f"{shown} darf nicht negativ sein")
    if number > MAX_AMOUNT:  # infinity too
        raise InputError("Betrag", "", too_large)
    return number


def overdue(m: Massnahme, today: dt.date) -> bool:
    """Derived, never stored: the target date has passed and the Maßnahme is not done."""
    closed = (MassnahmeStatus.erledigt, MassnahmeStatus.zurueckgestellt)
    return m.target_date is not None and m.target_date < today and m.status not in closed


def slug(title: str) -> str:
    return words.slug(title)[:60].strip("-") or "massnahme"


# --- reading -----------------------------------------------------------------------------------


def of_konzept(session: Session, process: Fortschreibung) -> list[Massnahme]:
    query = select(Massnahme).where(Massnahme.konzept_id == process.konzept_id)
    return list(session.exec(query.order_by(col(Massnahme.position), col(Massnahme.id))).all())


def get(session: Session, process: Fortschreibung, key: str) -> Massnahme:
    found = session.exec(select(Massnahme).where(Massnahme.konzept_id == process.konzept_id,
                                                 Massnahme.key == key)).first()  # fmt: skip
    if found is None:
        raise NotFound(f"keine Maßnahme {words.quoted(key)} im Konzept von {process.key}")
    return found


def latest_messungen(session: Session, process: Fortschreibung, as_of: dt.date | None = None
                     ) -> list[tuple[Indikator, Messung | None]]:  # fmt: skip
    """Each Indikator of the process's Konzept with its latest Messung (up to ``as_of``), in
    two queries however many there are."""
    found = session.exec(select(Indikator).where(Indikator.konzept_id == process.konzept_id)
                         .order_by(col(Indikator.id))).all()  # fmt: skip
    query = select(Messung).where(col(Messung.indikator_id).in_([i.id for i in found]))
    if as_of is not None:
        query = query.where(col(Messung.on) <= as_of)
    latest: dict[int, Messung] = {}
    for messung in session.exec(query.order_by(col(Messung.on), col(Messung.id))).all():
        latest[messung.indikator_id] = messung
    return [(i, latest.get(ident(i))) for i in found]


def indikator(session: Session, process: Fortschreibung, key: str) -> Indikator:
    found = session.exec(select(Indikator).where(Indikator.konzept_id == process.konzept_id,
                                                 Indikator.key == key)).first()  # fmt: skip
    if found is None:
        raise NotFound(f"kein Indikator {words.quoted(key)} im Konzept von {process.key}")
    return found


# --- adoption: the council decides, the Umsetzung begins ----------------------------------------


def adopt(session: Session, process: Fortschreibung, on: dt.date, actor: str) -> list[Massnahme]:
    """Every Schlüsselprojekt and adopted Empfehlung of ``process`` becomes a Maßnahme, merged
    with what the scenario's ``umsetzung`` block says of it; the concept gets a version.

    Idempotent: keys already present are left as they are.
    """
    block = (process.scenario or {}).get("umsetzung") or {}
    given = {m.get("schluesselprojekt") or m["title"]: m for m in block.get("massnahmen", [])}
    existing = {m.key for m in of_konzept(session, process)}
    people = {p.key: p for p in session.exec(
        select(Person).where(Person.kommune_id == process.kommune_id)).all()}  # fmt: skip
    rows: list[Massnahme] = []
    for position, (title, field, source) in enumerate(_recorded(session, process)):
        spec = given.pop(title, {})
        rows.append(_massnahme(process, spec, title, field, source, position, on, people))
    for n, spec in enumerate(given.values(), len(rows)):
        rows.append(_massnahme(process, spec, spec["title"], spec.get("handlungsfeld", ""),
                               "Szenario", n, on, people))  # fmt: skip
    _unique_keys(rows)
    added = [m for m in rows if m.key not in existing]
    session.add_all(added)
    session.flush()
    for m in added:
        events.log(session, actor=actor, action="massnahme_adopted", entity=m,
                   process_id=process.id, after=_state(m))  # fmt: skip
    _indicators(session, process, block.get("indikatoren", []))
    _version(session, process, on)
    return added


def _unique_keys(rows: list[Massnahme]) -> None:
    """Two titles with the same slug get -2, -3, …: the adoption never fails on a key."""
    seen: set[str] = set()
    for m in rows:
        key, n = m.key, 1
        while key in seen:
            n += 1
            key = f"{m.key}-{n}"
        m.key = key
        seen.add(key)


def _recorded(session: Session, process: Fortschreibung) -> list[tuple[str, str, str]]:
    fields = {h.id: h.title for h in session.exec(
        select(Handlungsfeld).where(Handlungsfeld.fortschreibung_id == process.id)).all()}
    out = []
    groups = session.exec(select(Arbeitsgruppe).where(Arbeitsgruppe.fortschreibung_id == process.id)
                          .order_by(col(Arbeitsgruppe.position))).all()  # fmt: skip
    for ag in groups:
        field = fields.get(ag.handlungsfeld_id, ag.title)
        for p in session.exec(select(Schluesselprojekt).where(
                Schluesselprojekt.arbeitsgruppe_id == ag.id).order_by(
                col(Schluesselprojekt.position))).all():  # fmt: skip
            out.append((p.title, field, "Schlüsselprojekt"))
        for e in session.exec(select(Empfehlung).where(Empfehlung.arbeitsgruppe_id == ag.id)
                              .order_by(col(Empfehlung.position))).all():  # fmt: skip
            out.append((e.text, field, "Empfehlung"))
    return out


def _massnahme(process: Fortschreibung, spec: Mapping[str, Any], title: str, field: str,
               source: str, position: int, on: dt.date,
               people: Mapping[str, Person]) -> Massnahme:  # fmt: skip
    person = people.get(spec.get("responsible_person", ""))
    responsible = spec.get("responsible") or (person.name if person else "")
    return Massnahme(
        konzept_id=process.konzept_id, kommune_id=process.kommune_id,
        fortschreibung_id=ident(process), key=spec.get("key") or slug(title),
        handlungsfeld=spec.get("handlungsfeld") or field, title=spec.get("title") or title,
        responsible=responsible, responsible_person_id=person.id if person else None,
        start_date=_day(spec.get("start")) or on, target_date=_day(spec.get("target")),
        budget_line=spec.get("budget_line", ""), budget_amount=spec.get("budget_amount"),
        public_text=spec.get("public_text", ""), source=source, position=position,
    )  # fmt: skip


def _indicators(session: Session, process: Fortschreibung, specs: list[Mapping[str, Any]]) -> None:
    known = {i.key for i in session.exec(
        select(Indikator).where(Indikator.konzept_id == process.konzept_id)).all()}  # fmt: skip
    for spec in specs:
        if spec["key"] in known:
            continue
        session.add(Indikator(
            konzept_id=process.konzept_id, key=spec["key"], handlungsfeld=spec["handlungsfeld"],
            title=spec["title"], unit=spec.get("unit", ""), baseline=spec.get("baseline"),
            baseline_on=_day(spec.get("baseline_date")), target=spec.get("target"),
            target_on=_day(spec.get("target_date")),
        ))  # fmt: skip


def _version(session: Session, process: Fortschreibung, on: dt.date) -> None:
    """The adopted revision joins the concept's history (2010 concept, 2014 evaluation, …)."""
    label = f"Fortschreibung {on.year}"
    known = session.exec(select(KonzeptVersion).where(
        KonzeptVersion.konzept_id == process.konzept_id, KonzeptVersion.label == label)).first()
    if known is None:
        session.add(KonzeptVersion(konzept_id=process.konzept_id, label=label, year=on.year,
                                   note=f"Am {on:%d.%m.%Y} beschlossen."))  # fmt: skip


def _day(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _state(m: Massnahme) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else
                v.value if isinstance(v, MassnahmeStatus) else v)
            for k in EDITABLE for v in [getattr(m, k)]}  # fmt: skip


# --- changes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What one update would change: field -> (before, after), as the event log keeps them."""

    key: str
    fields: dict[str, tuple[Any, Any]]


def update(session: Session, process: Fortschreibung, key: str, values: Mapping[str, Any],
           actor: str, on: dt.date | None = None) -> Change:  # fmt: skip
    """Set fields of a Maßnahme (checked), log before/after; unchanged values change nothing.

    ``on`` is the day the change became true (the log's own time is when it was typed): the
    Sachstandsbericht reports what changed between two reports by it.
    """
    m = get(session, process, key)
    engine.lock(session, m)
    checked = check_values(values)
    before = _state(m)
    for name, value in checked.items():
        setattr(m, name, value)
    if m.status == MassnahmeStatus.erledigt and "progress" not in checked:
        m.progress = 100
    after = _state(m)
    changed = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
    if changed:
        session.add(m)
        events.log(session, actor=actor, action="massnahme_changed", entity=m,
                   process_id=process.id, before={k: v[0] for k, v in changed.items()},
                   after={**{k: v[1] for k, v in changed.items()},
                          "on": (on or dt.date.today()).isoformat()})  # fmt: skip
    return Change(m.key, changed)


@dataclass(frozen=True)
class LoggedChange:
    """A change of a Maßnahme as ``update`` logged it: the day it became true, the fields."""

    massnahme_id: int
    on: dt.date | None
    before: dict[str, Any]
    after: dict[str, Any]  # without "on"


def logged_changes(session: Session, massnahme_ids: list[int]) -> list[LoggedChange]:
    """The logged changes of these Maßnahmen, in the order they were made."""
    if not massnahme_ids:
        return []
    rows = session.exec(select(Event).where(
        Event.entity == "Massnahme", col(Event.entity_id).in_(massnahme_ids),
        Event.action == "massnahme_changed").order_by(col(Event.id))).all()  # fmt: skip
    out = []
    for e in rows:
        after = dict(e.after or {})
        on = after.pop("on", None)
        day = dt.date.fromisoformat(on) if on else None
        out.append(LoggedChange(required(e.entity_id, "entity_id"), day, dict(e.before or {}),
                                after))  # fmt: skip
    return out


def check_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an update as typed values; an unknown field or a bad value is refused."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in EDITABLE:
            raise InputError("Maßnahme", name, f"unbekanntes Feld; erlaubt: {', '.join(EDITABLE)}")
        if name == "status":
            out[name] = value if isinstance(value, MassnahmeStatus) else status_of(str(value))
        elif name == "progress":
            out[name] = check_progress(value)
        elif name in ("target_date", "start_date"):
            out[name] = _day(value)
            problem = check_year(out[name]) if out[name] else None
            if problem:
                raise InputError("Maßnahme", name, problem)
        elif name == "budget_amount":
            try:
                out[name] = check_amount(value)
            except InputError as exc:
                raise InputError("Maßnahme", "Betrag", exc.problem) from None
        elif name in ("title", "handlungsfeld") and not str(value).strip():
            raise InputError("Maßnahme", name, "darf nicht leer sein")
        else:
            out[name] = str(value)
    return out


def add_milestone(session: Session, process: Fortschreibung, key: str, on: dt.date, title: str,
                  note: str, actor: str) -> Meilenstein:  # fmt: skip
    m = get(session, process, key)
    if not title.strip():
        raise InputError("Meilenstein", "title", "darf nicht leer sein")
    if m.start_date is not None and on < m.start_date:
        raise Refused(f"Meilenstein am {on:%d.%m.%Y} liegt vor dem Beginn der Maßnahme "
                      f"„{m.title}“ ({m.start_date:%d.%m.%Y})")  # fmt: skip
    row = Meilenstein(massnahme_id=ident(m), on=on, title=title.strip(), note=note.strip())
    session.add(row)
    session.flush()
    events.log(session, actor=actor, action="meilenstein_added", entity=row,
               process_id=process.id, after={"massnahme": m.key, "on": on.isoformat(),
                                             "title": row.title})  # fmt: skip
    return row


def measure(session: Session, process: Fortschreibung, key: str, on: dt.date, value: float,
            note: str, actor: str) -> Messung:  # fmt: skip
    ind = indikator(session, process, key)
    if value != value or value in (float("inf"), float("-inf")):  # NaN, infinity
        raise InputError("Messung", key, "keine endliche Zahl")
    known = session.exec(select(Messung).where(Messung.indikator_id == ind.id,
                                               Messung.on == on)).first()  # fmt: skip
    if known is not None:
        raise Refused(f"für {words.quoted(ind.title)} gibt es am {on:%d.%m.%Y} schon eine Messung")
    row = Messung(indikator_id=ident(ind), on=on, value=value, note=note.strip())
    session.add(row)
    session.flush()
    events.log(session, actor=actor, action="messung_added", entity=row, process_id=process.id,
               after={"indikator": ind.key, "on": on.isoformat(), "value": value})  # fmt: skip
    return row


# --- the next Fortschreibung ------------------------------------------------------------------


def carry(session: Session, previous: Fortschreibung, process: Fortschreibung) -> int:
    """The open Maßnahmen of ``previous``'s concept, to be decided at ``process``'s first gate."""
    count = 0
    for m in of_konzept(session, previous):
        if m.status == MassnahmeStatus.erledigt:
            continue
        session.add(MassnahmeUebernahme(fortschreibung_id=ident(process), massnahme_id=ident(m)))
        count += 1
    return count


def decide_carried(session: Session, process: Fortschreibung, key: str, decision: str,
                   on: dt.date, by: str) -> MassnahmeUebernahme:  # fmt: skip
    choice = UEBERNAHME_BY_WORD.get(decision.strip())
    if choice is None:
        raise InputError("Entscheidung", decision, f"unbekannt; erlaubt: "
                         f"{', '.join(UEBERNAHME_BY_WORD)}")  # fmt: skip
    m = get(session, process, key)
    row = session.exec(select(MassnahmeUebernahme).where(
        MassnahmeUebernahme.fortschreibung_id == process.id,
        MassnahmeUebernahme.massnahme_id == m.id)).first()  # fmt: skip
    if row is None:
        raise Refused(f"{process.key} hat die Maßnahme {words.quoted(key)} nicht übernommen")
    first = lookups.get_stage(session, process, _first_stage_key(process))
    if first.closed_on is not None:
        raise Refused(f"das erste Tor von {process.key} ist schon entschieden")
    engine.lock(session, row)
    before = row.decision.value if row.decision else None
    row.decision, row.decided_on, row.decided_by = choice, on, by
    if choice == Uebernahme.abgeschlossen:
        m.status, m.progress = MassnahmeStatus.erledigt, 100
    elif choice == Uebernahme.streichen:
        m.status = MassnahmeStatus.zurueckgestellt
    session.add_all([row, m])
    events.log(session, actor=by, action="massnahme_carried", entity=m, process_id=process.id,
               before={"decision": before}, after={"decision": choice.value})  # fmt: skip
    return row


def undecided(session: Session, process: Fortschreibung) -> list[str]:
    """Keys of carried Maßnahmen still without a decision (the first gate waits for them)."""
    session.flush()  # a Core read: the session's own changes first, as autoflush would
    rows = session.connection().execute(_undecided(), {"pid": process.id}).scalars()
    return sorted(rows)


@cache
def _undecided() -> Any:
    """Built once: every first gate's decision asks (building it costs more than running it)."""
    return sa_select(col(Massnahme.key)).join(
        MassnahmeUebernahme, col(MassnahmeUebernahme.massnahme_id) == Massnahme.id).where(
        col(MassnahmeUebernahme.fortschreibung_id) == bindparam("pid"),
        col(MassnahmeUebernahme.decision).is_(None))  # fmt: skip


def _first_stage_key(process: Fortschreibung) -> str:
    from .plan_types import plan_of

    return plan_of(process.plan).first.key


def overdue_across(session: Session, today: dt.date, kommune_ids: list[int] | None = None,
                   limit: int = 100) -> tuple[int, list[Massnahme]]:  # fmt: skip
    """What is overdue today across Kommunen (a host's Beschlusskontrolle): how many, and the
    ``limit`` longest overdue. Reads the (status, target_date) index; never loads them all."""
    open_states = [MassnahmeStatus.offen, MassnahmeStatus.in_umsetzung]
    where = [col(Massnahme.status).in_(open_states), col(Massnahme.target_date) < today]
    if kommune_ids is not None:
        where.append(col(Massnahme.kommune_id).in_(kommune_ids))
    total = session.exec(select(func.count()).select_from(Massnahme).where(*where)).one()
    rows = session.exec(select(Massnahme).where(*where)
                        .order_by(col(Massnahme.target_date), col(Massnahme.id)).limit(limit)).all()
    return int(total), list(rows)
