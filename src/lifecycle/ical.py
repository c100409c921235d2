"""Calendar feeds (.ics): Sitzungen, Vorlagenschluss dates, task deadlines and the target
dates (Zieltermine) of the Maßnahmen of a process's Konzept.

UIDs are built from stable keys (Kommune, Sitzung, process and task keys), never from
database ids, so a re-import into Outlook or Thunderbird updates an event instead of adding a
second one; SEQUENCE counts the logged moves, so the newer version wins.

A Sitzung the RIS cancelled while a process still uses it (``lifecycle.cancellations``) stays
in the feed, marked: STATUS:CANCELLED and a summary beginning "Abgesagt: ", on its own entry
and on its Vorlagenschluss; the cancellation (and a reinstatement) counts in the SEQUENCE.
Every entry that can be cancelled (a Sitzung, its Vorlagenschluss, a Maßnahme's Zieltermin)
says its status outright, STATUS:CONFIRMED when it stands (``with_status``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlmodel import Session, col, func, select

from .cancellations import CANCELLED, REINSTATED, cancelled_sitzungen
from .dates import check_year
from .errors import NotFound
from .models import (
    Beratung,
    Fortschreibung,
    Gremium,
    Kommune,
    Konzept,
    Massnahme,
    MassnahmeStatus,
    Person,
    ProcessState,
    Role,
    Sitzung,
    Stage,
    StageState,
    Task,
    TaskState,
    Vorlage,
)
from .models import Event as LogEvent
from .texts import one_line
from .typing_helpers import get_required, ident
from .words import ABGESAGT_TITLE_DE, OEFFENTLICH_DE, quoted

PRODID = "-//lifecycle//Fortschreibung kommunaler Konzepte//DE"
DOMAIN = "lifecycle.invalid"
SITZUNG_HOURS = 3  # council calendars give a start only; three hours is a typical slot
# What changes a Sitzung's events (SEQUENCE, LAST-MODIFIED): a move, and the RIS cancelling
# or reinstating it (RFC 5545 3.8.7.4: each significant revision counts the sequence up).
SITZUNG_CHANGES = ("sitzung_moved", CANCELLED, REINSTATED)


def uid_sitzung(kommune_key: str, sitzung_key: str) -> str:
    return f"sitzung-{kommune_key}-{sitzung_key}@{DOMAIN}"


def uid_vorlagenschluss(kommune_key: str, sitzung_key: str) -> str:
    return f"vorlagenschluss-{kommune_key}-{sitzung_key}@{DOMAIN}"


def uid_task(process_key: str, task_key: str) -> str:
    return f"task-{process_key}-{task_key}@{DOMAIN}"


def uid_massnahme(kommune_key: str, konzept_kind: str, massnahme_key: str) -> str:
    """Per Maßnahme of a Konzept: every Fortschreibung of the Konzept shows the same event."""
    return f"massnahme-{kommune_key}-{konzept_kind}-{massnahme_key}@{DOMAIN}"


def new_calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # An unknown property: icalendar escapes no line break in it (and asserts). A scenario
    # refuses names with one, but a name can come from elsewhere (a RIS, an older database).
    cal.add("x-wr-calname", one_line(name))
    return cal


def finish(cal: Calendar) -> bytes:
    # VTIMEZONE for every TZID used, generated from the zoneinfo rules.
    cal.add_missing_timezones()
    return cal.to_ical()


def all_day_event(
    uid: str,
    day: dt.date,
    summary: str,
    description: str = "",
    *,
    sequence: int = 0,
    stamp: dt.datetime | None = None,
) -> Event:
    ev = Event()
    ev.add("uid", uid)
    ev.add("dtstamp", stamp or dt.datetime.now(dt.UTC))
    ev.add("dtstart", day)
    ev.add("dtend", day + dt.timedelta(days=1))
    ev.add("summary", summary)
    if description:
        ev.add("description", description)
    ev.add("sequence", sequence)
    ev.add("transp", "TRANSPARENT")  # a deadline does not block the day
    return ev


def timed_event(
    uid: str,
    start: dt.datetime,
    zone: ZoneInfo,
    summary: str,
    *,
    place: str = "",
    description: str = "",
    sequence: int = 0,
    stamp: dt.datetime | None = None,
) -> Event:
    ev = Event()
    local = start.replace(tzinfo=zone)  # stored naive = local wall-clock time
    ev.add("uid", uid)
    ev.add("dtstamp", stamp or dt.datetime.now(dt.UTC))
    ev.add("dtstart", local)
    ev.add("dtend", local + dt.timedelta(hours=SITZUNG_HOURS))
    ev.add("summary", summary)
    if place:
        ev.add("location", place)
    if description:
        ev.add("description", description)
    ev.add("sequence", sequence)
    return ev


def sitzung_summary(gremium: Gremium, sitzung: Sitzung, *, cancelled: bool = False) -> str:
    suffix = "" if sitzung.oeffentlich else f" ({OEFFENTLICH_DE[False]})"
    return f"{_abgesagt(cancelled)}{gremium.short}: {gremium.name}{suffix}"


def vorlagenschluss_summary(gremium: Gremium, sitzung: Sitzung, *,
                            cancelled: bool = False) -> str:  # fmt: skip
    return (f"{_abgesagt(cancelled)}Vorlagenschluss {gremium.short} "
            f"(Sitzung am {sitzung.start:%d.%m.%Y})")  # fmt: skip


def _abgesagt(cancelled: bool) -> str:
    return ABGESAGT_TITLE_DE if cancelled else ""


def with_status(ev: Event, *, cancelled: bool) -> Event:
    """``ev`` with its status said outright (RFC 5545 3.8.1.11): CANCELLED, and its time no
    longer busy, or CONFIRMED. Never left out: a client that stored an entry's CANCELLED may
    keep it when an update omits STATUS (Outlook, some CalDAV clients), so a Sitzung the RIS
    reinstates would stay cancelled there. Said on every such entry, not only on one that was
    ever cancelled: the feed and the mails need not know its history to agree. The summary
    says so in German (the callers)."""
    ev.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if cancelled and "transp" not in ev:
        ev.add("transp", "TRANSPARENT")
    return ev


def changes_of(
    session: Session, entity: str, entity_id: int, action: str | tuple[str, ...]
) -> tuple[int, dt.datetime | None]:
    """How often an entity changed (SEQUENCE) and when last (LAST-MODIFIED): the events of
    ``action`` (one, or any of several)."""
    actions = (action,) if isinstance(action, str) else action
    query = select(func.count(), func.max(LogEvent.at)).where(
        LogEvent.entity == entity, LogEvent.entity_id == entity_id,
        col(LogEvent.action).in_(actions),
    )  # fmt: skip
    if entity == "Sitzung":
        # a move is logged once globally and once per bound process; count the global one
        query = query.where(col(LogEvent.fortschreibung_id).is_(None))
    count, last = session.exec(query).one()
    return int(count or 0), last


# --- export ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedOptions:
    process: str | None = None
    person: str | None = None
    public: bool = False
    timezone: str = "Europe/Berlin"


@dataclass(frozen=True)
class Feed:
    """A calendar feed: its .ics bytes, and what was left out of it, one German item each
    (``Sitzung waiblingen:gr-2017-12-14, Beginn: Jahr 9999 außerhalb von 1950 bis 2200``)."""

    data: bytes
    skipped: tuple[str, ...] = ()


def export(session: Session, options: FeedOptions, *, now: dt.datetime | None = None) -> bytes:
    """The feed's bytes; what ``build`` leaves out is left out here too, unreported."""
    return build(session, options, now=now).data


def build(session: Session, options: FeedOptions, *, now: dt.datetime | None = None) -> Feed:
    """The feed, and the records left out because a date of theirs cannot be written."""
    zone = ZoneInfo(options.timezone)
    stamp = now or dt.datetime.now(dt.UTC)
    processes, person = _selection(session, options)
    cal = new_calendar(_feed_name(session, processes, options))
    seen: set[str] = set()
    skipped: list[str] = []
    for process in processes:
        if options.process and person is not None and not _involved(session, process, person):
            continue  # the named process, but nothing of it concerns the person
        events = _process_events(session, process, zone, stamp, options.public, person, skipped)
        for ev in events:
            uid = str(ev["uid"])
            if uid not in seen:  # a Sitzung shared by two processes appears once
                seen.add(uid)
                cal.add_component(ev)
    return Feed(finish(cal), tuple(dict.fromkeys(skipped)))  # a shared Sitzung named once


def _unwritable(day: dt.date, what: str, field: str, skipped: list[str]) -> bool:
    """Whether ``day`` lies outside the years the engine handles; if so, ``what`` is noted in
    ``skipped``. Every input is checked against those years now, but a database an older
    version wrote may hold such a date (a RIS's Sitzung in 9999); near datetime's ends it
    cannot even be computed with (the event's end, the Vorlagenschluss before it)."""
    problem = check_year(day)
    if problem:
        skipped.append(f"{what}, {field}: {problem}")
    return problem is not None


def _selection(session: Session, options: FeedOptions
               ) -> tuple[list[Fortschreibung], Person | None]:  # fmt: skip
    """The processes of the feed, and the person it is for: the one process named, or the
    running ones; of those, with a person, the ones they have a role or a task in (asked of
    the database: not two queries per running process of the installation)."""
    from .lookups import WITHOUT_PLAN  # local: keeps `holidays` lazy

    query = select(Fortschreibung).order_by(Fortschreibung.key).options(*WITHOUT_PLAN)
    if options.process:
        found = list(session.exec(query.where(Fortschreibung.key == options.process)))
        if not found:
            raise NotFound(f"keine Fortschreibung {quoted(options.process)}")
        return found, _person(session, [found[0].kommune_id], options.person)
    running = query.where(Fortschreibung.state == ProcessState.running)
    if options.person is None:
        return list(session.exec(running)), None
    kommunen = select(Fortschreibung.kommune_id).where(
        Fortschreibung.state == ProcessState.running)  # fmt: skip
    person = _person(session, kommunen, options.person)
    assert person is not None  # a key was given: found, or NotFound
    role = select(Role.id).where(Role.fortschreibung_id == Fortschreibung.id,
                                 Role.person_id == person.id)  # fmt: skip
    task = select(Task.id).where(Task.fortschreibung_id == Fortschreibung.id,
                                 Task.assignee_id == person.id)  # fmt: skip
    return list(session.exec(running.where(
        Fortschreibung.kommune_id == person.kommune_id,
        role.exists() | task.exists()))), person  # fmt: skip


def _person(session: Session, kommunen: Any, key: str | None) -> Person | None:
    """The person ``key`` in one of ``kommunen`` (ids, or a query of them); the first
    created if several Kommunen know the key."""
    if key is None:
        return None
    person = session.exec(
        select(Person).where(Person.key == key, col(Person.kommune_id).in_(kommunen))
        .order_by(col(Person.id))
    ).first()
    if person is None:
        raise NotFound(f"keine Person {quoted(key)} in diesen Fortschreibungen")
    return person


def _feed_name(session: Session, processes: list[Fortschreibung], options: FeedOptions) -> str:
    if len(processes) == 1:
        kommune = get_required(session, Kommune, processes[0].kommune_id)
        name = f"{kommune.name}: Fortschreibung {processes[0].key}"
    else:
        name = "Fortschreibungen"
    return f"{name} (öffentlich)" if options.public else name


def _involved(session: Session, process: Fortschreibung, person: Person) -> bool:
    role = session.exec(
        select(Role.id).where(Role.fortschreibung_id == process.id, Role.person_id == person.id)
    ).first()
    task = session.exec(
        select(Task.id).where(Task.fortschreibung_id == process.id, Task.assignee_id == person.id)
    ).first()
    return role is not None or task is not None


def relevant_sitzungen(session: Session, process: Fortschreibung) -> list[tuple[Sitzung, Gremium]]:
    """Sitzungen bound to the process or in the Beratungsfolge of one of its Vorlagen."""
    from .sitzungsdienst import sitzungen_of  # local: keeps `holidays` lazy

    pid = ident(process)
    return sitzungen_of(session, [pid]).get(pid, [])


def _agenda(session: Session, sitzung: Sitzung, process: Fortschreibung, public: bool) -> list[str]:
    rows = session.exec(
        select(Vorlage, Beratung)
        .join(Beratung, col(Beratung.vorlage_id) == Vorlage.id)
        .where(Beratung.sitzung_id == sitzung.id, Vorlage.fortschreibung_id == process.id)
        .order_by(col(Vorlage.reference))
    ).all()
    return [
        f"{v.reference}: {v.betreff} ({b.role.value})"
        for v, b in rows
        if b.oeffentlich or not public
    ]


def _process_events(
    session: Session,
    process: Fortschreibung,
    zone: ZoneInfo,
    stamp: dt.datetime,
    public: bool,
    person: Person | None,
    skipped: list[str],
) -> Iterable[Event]:
    kommune = get_required(session, Kommune, process.kommune_id)
    from .calendar import for_kommune, vorlagenschluss_of  # local: keeps `holidays` lazy

    work = for_kommune(kommune)
    sitzungen = relevant_sitzungen(session, process)
    cancelled = cancelled_sitzungen(session, [ident(s) for s, _ in sitzungen])
    for sitzung, gremium in sitzungen:
        if public and not sitzung.oeffentlich:
            continue  # not even its date and Gremium: the OParl export leaves it out too
        # named as `lifecycle reschedule` takes it: KOMMUNE:SITZUNG
        what = f"Sitzung {kommune.key}:{sitzung.key}"
        if _unwritable(sitzung.start.date(), what, "Beginn", skipped):
            continue
        sequence, modified = changes_of(session, "Sitzung", ident(sitzung), SITZUNG_CHANGES)
        off = ident(sitzung) in cancelled
        agenda = _agenda(session, sitzung, process, public)
        ev = timed_event(
            uid_sitzung(kommune.key, sitzung.key),
            sitzung.start,
            zone,
            sitzung_summary(gremium, sitzung, cancelled=off),
            place=sitzung.place,
            description="\n".join(agenda),
            sequence=sequence,
            stamp=stamp,
        )
        ev.add("class", "PUBLIC" if sitzung.oeffentlich else "CONFIDENTIAL")
        if modified:
            ev.add("last-modified", modified)
        yield with_status(ev, cancelled=off)
        if public:
            continue
        day = vorlagenschluss_of(work, sitzung, gremium)
        vs = all_day_event(
            uid_vorlagenschluss(kommune.key, sitzung.key),
            day,
            vorlagenschluss_summary(gremium, sitzung, cancelled=off),
            "\n".join(agenda),
            sequence=sequence,
            stamp=stamp,
        )
        yield with_status(vs, cancelled=off)
    if not public:
        yield from _task_events(session, process, person, stamp, skipped)
        yield from _massnahme_events(session, process, kommune, person, stamp, skipped)


def _task_events(
    session: Session,
    process: Fortschreibung,
    person: Person | None,
    stamp: dt.datetime,
    skipped: list[str],
) -> Iterable[Event]:
    query = (
        select(Task, Person)
        .join(Stage, col(Stage.id) == Task.stage_id)
        .outerjoin(Person, col(Person.id) == Task.assignee_id)
        .where(
            Task.fortschreibung_id == process.id,
            Task.state == TaskState.open,
            col(Stage.state).in_([StageState.open, StageState.pending]),
            col(Task.due).is_not(None),
        )
        .order_by(col(Task.due), col(Task.position))
    )
    if person is not None:
        query = query.where(Task.assignee_id == person.id)
    for task, assignee in session.exec(query):
        assert task.due is not None  # the query selects tasks with a due date only
        if _unwritable(task.due, f"Aufgabe {process.key}:{task.key}", "Frist", skipped):
            continue  # named as `lifecycle done` takes it: PROZESS:AUFGABE
        sequence, modified = changes_of(session, "Task", ident(task), "due_changed")
        who = f"Zuständig: {assignee.name}" if assignee else "Zuständig: (niemand)"
        ev = all_day_event(
            uid_task(process.key, task.key),
            task.due,
            f"Frist: {task.title}",
            who,
            sequence=sequence,
            stamp=stamp,
        )
        ev.add("class", "PRIVATE")
        if modified:
            ev.add("last-modified", modified)
        yield ev


def _massnahme_events(
    session: Session,
    process: Fortschreibung,
    kommune: Kommune,
    person: Person | None,
    stamp: dt.datetime,
    skipped: list[str],
) -> Iterable[Event]:
    """Each Maßnahme's Zieltermin as an all-day event; the internal note never goes out."""
    konzept = get_required(session, Konzept, process.konzept_id)
    query = (
        select(Massnahme)
        .where(Massnahme.konzept_id == konzept.id, col(Massnahme.target_date).is_not(None))
        .order_by(col(Massnahme.target_date), col(Massnahme.position), col(Massnahme.id))
    )
    if person is not None:
        query = query.where(Massnahme.responsible_person_id == person.id)
    for m in session.exec(query):
        assert m.target_date is not None  # the query selects Maßnahmen with a target date only
        what = f"Maßnahme {m.key} ({process.key})"  # as `lifecycle massnahmen set` takes it
        if _unwritable(m.target_date, what, "Zieltermin", skipped):
            continue
        changed, modified = changes_of(session, "Massnahme", ident(m), "massnahme_changed")
        carried, decided = changes_of(session, "Massnahme", ident(m), "massnahme_carried")
        lines = [
            f"Verantwortlich: {m.responsible or '(niemand)'}",
            f"Status: {m.status.value}, Fortschritt {m.progress} %",
            f"Handlungsfeld: {m.handlungsfeld}",
        ]
        if m.public_text:
            lines.append(f"Sachstand: {m.public_text}")
        ev = all_day_event(
            uid_massnahme(kommune.key, konzept.kind, m.key),
            m.target_date,
            f"Zieltermin: {m.title}",
            "\n".join(lines),
            sequence=changed + carried,
            stamp=stamp,
        )
        ev.add("class", "PRIVATE")
        # zurückgestellt: the date no longer applies (CONFIRMED again when taken up again)
        with_status(ev, cancelled=m.status == MassnahmeStatus.zurueckgestellt)
        last = max((d for d in (modified, decided) if d is not None), default=None)
        if last:
            ev.add("last-modified", last)
        yield ev
