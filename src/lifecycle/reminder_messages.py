"""The German texts of reminder e-mails: subject, plain text, HTML and the .ics attachment."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from . import dates, ical, mail
from .cancellations import cancelled_sitzungen
from .models import Event as LogEvent
from .models import (
    Fortschreibung,
    Gremium,
    Kommune,
    Person,
    Reminder,
    Role,
    Sitzung,
    Task,
)
from .plan_types import Plan, plan_of
from .typing_helpers import get_required, ident, required
from .words import ABGESAGT_TITLE_DE

# --- messages --------------------------------------------------------------------------------


def render(
    session: Session, row: Reminder, person: Person, settings: mail.MailSettings, *,
    sequence: int | None = None,
) -> mail.Content:
    """The row's message; ``sequence``: its task's ``due_changes_of`` when the caller read it
    with the row (the delivery does, in the query that loads the row), else it is read here."""
    p = row.payload
    link = (
        f"{settings.dashboard_url}/process/{p['process']}"
        if settings.dashboard_url and p.get("process")
        else ""
    )
    if row.kind in _ABOUT_A_TASK:
        if sequence is None:
            sequence = _due_changes(session, row.task_id) if row.task_id else 0
        content = _ABOUT_A_TASK[row.kind](session, row, sequence)
    else:
        renderer = {
            "vorlagenschluss": _render_vorlagenschluss,
            "digest": _render_digest,
            "moved": _render_moved,
            "sitzung_cancelled": _render_cancelled,
            "sitzung_reinstated": _render_reinstated,
        }[row.kind]
        content = renderer(session, row, settings)
    greeting = f"Guten Tag {person.name},"
    return mail.Content(
        content.subject,
        greeting,
        content.paragraphs,
        content.items,
        link,
        content.ics,
        content.ics_name,
    )


def fristen(n: int) -> str:
    return "1 Frist" if n == 1 else f"{n} Fristen"


def _in_days(n: int) -> str:
    return "heute" if n == 0 else ("in 1 Arbeitstag" if n == 1 else f"in {n} Arbeitstagen")


# The process a message is about, as people name it: the plan's title and the Kommune
# ("„Fortschreibung des Integrationskonzepts“ (Waiblingen)"), not its key.
_PROCESS = (
    select(col(Fortschreibung.plan), col(Kommune.name))
    .join(Kommune, col(Kommune.id) == Fortschreibung.kommune_id)
    .where(col(Fortschreibung.key) == bindparam("b_key"))
)


def _process(session: Session, key: str) -> tuple[str, Plan | None]:
    """(the process's readable name, its plan); the key in quotes if it is gone. Read once
    per session: a delivery run names the same few processes in thousands of messages."""
    known: dict[str, tuple[str, Plan | None]] = session.info.setdefault("process_names", {})
    if key not in known:
        found = session.connection().execute(_PROCESS, {"b_key": key}).first()
        plan = plan_of(found[0]) if found is not None else None
        known[key] = (f"„{plan.title}“ ({found[1]})", plan) if found and plan else (
            f"„{key}“", None)  # fmt: skip
    return known[key]


def _when(start: dt.datetime, *, time: bool) -> str:
    day = dates.short_de(start.date())
    return f"{day}, {start:%H:%M} Uhr" if time else day


def _ics(events: list, name: str = "Frist") -> bytes:
    cal = ical.new_calendar(name)
    for ev in events:
        cal.add_component(ev)
    return ical.finish(cal)


def _task_ics(row: Reminder, seq: int, *, stamp: dt.datetime | None = None) -> bytes:
    p = row.payload
    uid = ical.uid_task(p["process"], p["task_key"])
    day = dt.date.fromisoformat(p["due"])
    summary = f"Frist: {p['task_title']}"
    stamp = stamp or dt.datetime.now(dt.UTC)
    fast = _task_ics_text(uid, day, summary, seq, stamp)
    if fast is not None:
        return fast
    return _ics([ical.all_day_event(uid, day, summary, sequence=seq, stamp=stamp)])


def due_changes_of(task_id: Any) -> Any:
    """How often a task's due date changed, the SEQUENCE of its calendar event (as
    ``ical.changes_of(session, "Task", id, "due_changed")[0]``): a SELECT of the count for a
    task id, a bound parameter or a column of an enclosing query."""
    return select(func.count()).where(
        col(LogEvent.entity) == "Task",
        col(LogEvent.entity_id) == task_id,
        col(LogEvent.action) == "due_changed",
    )


# Built once: a digest asks it for each task it lists.
_DUE_CHANGES = due_changes_of(bindparam("b_task"))


def _due_changes(session: Session, task_id: int) -> int:
    return int(session.connection().execute(_DUE_CHANGES, {"b_task": task_id}).scalar() or 0)


# What ``icalendar`` writes for ``ical.all_day_event`` in a calendar of its own, for the
# common case only: no character to escape and no line to fold (else: None, icalendar).
_ICS = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    f"PRODID:{ical.PRODID}\r\n"
    "CALSCALE:GREGORIAN\r\n"
    "METHOD:PUBLISH\r\n"
    "X-WR-CALNAME:Frist\r\n"
    "BEGIN:VEVENT\r\n"
    "SUMMARY:{summary}\r\n"
    "DTSTART;VALUE=DATE:{start:%Y%m%d}\r\n"
    "DTEND;VALUE=DATE:{end:%Y%m%d}\r\n"
    "DTSTAMP:{stamp:%Y%m%dT%H%M%SZ}\r\n"
    "UID:{uid}\r\n"
    "SEQUENCE:{sequence}\r\n"
    "TRANSP:TRANSPARENT\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)
_PLAIN_VALUE = re.compile(r"[^\\;,\r\n\x00-\x1f\x7f]*")


def _task_ics_text(
    uid: str, day: dt.date, summary: str, sequence: int, stamp: dt.datetime
) -> bytes | None:
    if stamp.utcoffset() != dt.timedelta(0):
        return None
    for name, value in (("SUMMARY:", summary), ("UID:", uid)):
        if len((name + value).encode("utf-8")) > 75 or not _PLAIN_VALUE.fullmatch(value):
            return None
    text = _ICS.format(
        summary=summary,
        start=day,
        end=day + dt.timedelta(days=1),
        stamp=stamp,
        uid=uid,
        sequence=sequence,
    )
    return text.encode("utf-8")


def _leads(session: Session, process_id: int | None) -> frozenset[int]:
    """The people a process escalates to (its policy's ``escalate_to``, the Projektleitung),
    read once per process and session."""
    known: dict[int | None, frozenset[int]] = session.info.setdefault("process_leads", {})
    if process_id not in known:
        from .reminders import policy_of  # local: reminders imports this module

        process = session.get(Fortschreibung, process_id) if process_id is not None else None
        known[process_id] = frozenset() if process is None else frozenset(
            session.exec(select(Role.person_id).where(
                Role.fortschreibung_id == process_id,
                Role.role == policy_of(process).escalate_to)).all())  # fmt: skip
    return known[process_id]


def _render_due(session: Session, row: Reminder, sequence: int) -> mail.Content:
    p = row.payload
    due = dt.date.fromisoformat(p["due"])
    # the Projektleitung is not asked to report to itself
    # (the row's person: the delivery builds ``person`` of its name and address alone)
    lead = row.person_id in _leads(session, row.fortschreibung_id)
    return mail.Content(
        subject=f"Erinnerung: „{p['task_title']}“ fällig am {dates.short_de(due)}",
        greeting="",
        paragraphs=[
            f"die Aufgabe „{p['task_title']}“ im Vorgang {_process(session, p['process'])[0]} "
            f"ist {_in_days(row.offset)} fällig: am {dates.long_de(due)}.",
            "Bitte erledigen Sie sie rechtzeitig."
            if lead
            else "Bitte erledigen Sie sie rechtzeitig oder melden Sie sich bei der "
            "Projektleitung, falls sich die Frist nicht halten lässt.",
        ],
        ics=_task_ics(row, sequence),
    )


def _render_escalation(session: Session, row: Reminder, sequence: int) -> mail.Content:
    p = row.payload
    due = dt.date.fromisoformat(p["due"])
    who = p.get("assignee")
    return mail.Content(
        subject=f"Frist versäumt: „{p['task_title']}“ (fällig am {dates.short_de(due)})",
        greeting="",
        paragraphs=[
            f"die Frist der Aufgabe „{p['task_title']}“ im Vorgang "
            f"{_process(session, p['process'])[0]} ist am {dates.long_de(due)} abgelaufen; "
            "die Aufgabe ist noch offen.",
            f"Zuständig: {who}." if who else "Die Aufgabe ist niemandem zugewiesen.",
        ],
        ics=_task_ics(row, sequence),
    )


# The kinds about one task: their .ics is the task's event, with its SEQUENCE.
_ABOUT_A_TASK = {"due": _render_due, "escalation": _render_escalation}


def _render_vorlagenschluss(session: Session, row: Reminder, s: mail.MailSettings) -> mail.Content:
    p = row.payload
    vs = dt.date.fromisoformat(p["vorlagenschluss"])
    start = dt.datetime.fromisoformat(p["sitzung_start"])
    sitzung_id = required(row.sitzung_id, f"Sitzung der Erinnerung {row.id}")  # set when planned
    # as in the calendar feed: a cancellation and a reinstatement in the RIS count too, so a
    # client that took the feed's "Abgesagt" entry takes this one after a reinstatement
    seq, _ = ical.changes_of(session, "Sitzung", sitzung_id, ical.SITZUNG_CHANGES)
    ev = ical.all_day_event(
        ical.uid_vorlagenschluss(p["kommune"], p["sitzung_key"]),
        vs,
        f"Vorlagenschluss {p['gremium_short']} (Sitzung am {start:%d.%m.%Y})",
        sequence=seq,
    )
    ical.with_status(ev, cancelled=False)  # the outbox sends none while the RIS cancels it
    return mail.Content(
        subject=f"Vorlagenschluss {dates.short_de(vs)} für {p['gremium_short']} am "
        f"{dates.short_de(start.date())}",
        greeting="",
        paragraphs=[
            f"{_in_days(row.offset)} ist Vorlagenschluss für die Sitzung "
            f"des Gremiums {p['gremium']} am {dates.long_de(start.date())}, "
            f"{start:%H:%M} Uhr: die Vorlage muss bis {dates.long_de(vs)} beim "
            "Sitzungsdienst sein. Eine verspätete Vorlage wartet auf den nächsten Sitzungstermin."
        ],
        items=[
            *(f"Vorlage {v}" for v in p.get("vorlagen", [])),
            *(f"Aufgabe: {t}" for t in p.get("tasks", [])),
        ],
        ics=_ics([ev]),
        ics_name="vorlagenschluss.ics",
    )


def _render_digest(session: Session, row: Reminder, _s: mail.MailSettings) -> mail.Content:
    p = row.payload
    until = dt.date.fromisoformat(p["until"])
    items = [(dt.date.fromisoformat(i["due"]), i) for i in p["items"]]
    # the SEQUENCE of each task's event as in its due reminder and the calendar feed (how
    # often its due date changed): else a client ignores the digest's newer date
    ids: dict[str, int] = {
        key: tid
        for key, tid in session.connection().execute(
            select(col(Task.key), col(Task.id))
            .join(Fortschreibung, col(Fortschreibung.id) == Task.fortschreibung_id)
            .where(
                col(Fortschreibung.key) == p["process"],
                col(Task.key).in_([i["key"] for _, i in items]),
            )
        )
    }
    events = [
        ical.all_day_event(
            ical.uid_task(p["process"], i["key"]),
            d,
            f"Frist: {i['title']}",
            sequence=_due_changes(session, ids[i["key"]]) if i["key"] in ids else 0,
        )
        for d, i in items
    ]
    return mail.Content(
        subject=f"Wochenübersicht: {fristen(len(items))} bis {dates.short_de(until)}",
        greeting="",
        paragraphs=[
            f"{_span(until - row.deadline)} (bis {dates.long_de(until)}) "
            f"{'ist' if len(items) == 1 else 'sind'} im Vorgang "
            f"{_process(session, p['process'])[0]} "
            f"{'diese Aufgabe' if len(items) == 1 else 'diese Aufgaben'} fällig:"
        ],
        items=[f"{dates.weekday_short_de(d)}: {i['title']}" for d, i in items],
        ics=_ics(events, "Fristen"),
        ics_name="fristen.ics",
    )


_NUMBERS = ("", "einen", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
            "zehn", "elf", "zwölf")  # fmt: skip


def _span(horizon: dt.timedelta) -> str:
    """The digest's horizon (the policy's ``digest_horizon_days``, from its day) in words:
    "in den nächsten zwei Wochen"."""
    days = horizon.days
    if days == 1:
        return "heute und morgen"
    if days == 7:
        return "in der nächsten Woche"
    weeks, rest = divmod(days, 7)
    if not rest and weeks < len(_NUMBERS):
        return f"in den nächsten {_NUMBERS[weeks]} Wochen"
    return f"in den nächsten {_NUMBERS[days] if days < len(_NUMBERS) else days} Tagen"


def _render_moved(session: Session, row: Reminder, s: mail.MailSettings) -> mail.Content:
    p = row.payload
    old, new = (dt.datetime.fromisoformat(p[k]) for k in ("old", "new"))
    sitzung_id = required(row.sitzung_id, f"Sitzung der Erinnerung {row.id}")  # set when planned
    seq, _ = ical.changes_of(session, "Sitzung", sitzung_id, ical.SITZUNG_CHANGES)
    # a Sitzung the RIS has cancelled stays cancelled in the calendar when it is moved: the
    # entry at the feed's SEQUENCE must not say it takes place
    off = bool(cancelled_sitzungen(session, [sitzung_id]))
    # the summary as the feed writes it at this SEQUENCE ("(nichtöffentlich)" included)
    sitzung = session.get(Sitzung, sitzung_id)
    summary = (
        ical.sitzung_summary(get_required(session, Gremium, sitzung.gremium_id), sitzung,
                             cancelled=off)
        if sitzung is not None
        else f"{ABGESAGT_TITLE_DE if off else ''}{p['gremium_short']}: {p['gremium']}"
    )  # fmt: skip
    ev = ical.timed_event(
        ical.uid_sitzung(p["kommune"], p["sitzung_key"]),
        new,
        s.zone,
        summary,
        place=p.get("place", ""),
        sequence=seq,
    )
    ical.with_status(ev, cancelled=off)
    items = [
        f"{c['title']}: bisher {dates.short_de(dt.date.fromisoformat(c['old']))}, "
        f"neu {dates.short_de(dt.date.fromisoformat(c['new']))}"
        for c in p.get("changes", [])
    ]
    same_day = old.date() == new.date()  # then the times tell the move
    return mail.Content(
        subject=f"Sitzung verlegt: {p['gremium_short']} vom {_when(old, time=same_day)} "
        f"auf {_when(new, time=same_day)}",
        greeting="",
        paragraphs=[
            f"die Sitzung des Gremiums {p['gremium']} wurde verlegt: bisher "
            f"{dates.long_de(old.date())}, {old:%H:%M} Uhr, neu {dates.long_de(new.date())}, "
            f"{new:%H:%M} Uhr."
        ]
        + (["Damit ändern sich Ihre Fristen:"] if items else []),
        items=items,
        ics=_ics([ev], "Sitzung"),
        ics_name="sitzung.ics",
    )


def _render_cancelled(session: Session, row: Reminder, s: mail.MailSettings) -> mail.Content:
    """To the project lead: the RIS cancelled (or deleted) a Sitzung the process depends on.
    Its calendar entry goes with it, cancelled, as the feed has it: a lead who keeps the
    Sitzung in her own calendar, without the feed, sees the evening free."""
    p = row.payload
    start = dt.datetime.fromisoformat(p["start"])
    how = "gelöscht" if p.get("deleted") else "abgesagt"
    process, plan = _process(session, p["process"])
    named = plan.sitzungen if plan is not None else {}
    uses = [f"„{named.get(n) or n}“" for n in p.get("names") or []]
    which = f"die Plan-Sitzung {uses[0]}" if len(uses) == 1 else "die betroffenen Plan-Sitzungen"
    return mail.Content(
        subject=f"Sitzung {how}: {p['gremium_short']} am {dates.short_de(start.date())} – "
        "bitte einen neuen Termin binden",
        greeting="",
        paragraphs=[
            f"die Sitzung des Gremiums {p['gremium']} am {dates.long_de(start.date())}, "
            f"{start:%H:%M} Uhr, wurde im Ratsinformationssystem {how}. Der Vorgang "
            f"{process} braucht diese Sitzung; seine Fristen und Erinnerungen hängen weiter "
            "am alten Termin.",
            # the lead works in the web, which cannot bind: the Betreuung does (on the
            # command line, `lifecycle oparl bind`, which the lead need not know)
            f"Bitte lassen Sie {which} an den neuen Termin des Gremiums {p['gremium']} "
            "binden, sobald er im Ratsinformationssystem steht; das übernimmt die Betreuung "
            "dieser Anwendung. Dann folgen Fristen und Erinnerungen dem neuen Termin.",
            "Betroffen:",
        ],
        items=[
            *(f"Plan-Sitzung {u}" for u in uses),
            *(f"Beratung der Vorlage {v}" for v in p.get("vorlagen", [])),
        ],
        ics=_sitzung_ics(session, row, s, off=True),
        ics_name="sitzung.ics",
    )


def _render_reinstated(session: Session, row: Reminder, s: mail.MailSettings) -> mail.Content:
    """To a project lead who was sent "Sitzung abgesagt": the RIS lists the Sitzung as taking
    place again."""
    p = row.payload
    start = dt.datetime.fromisoformat(p["start"])
    ris = dt.datetime.fromisoformat(p["ris_start"]) if p.get("ris_start") else None
    how = "gelöscht" if p.get("deleted") else "abgesagt"
    process, plan = _process(session, p["process"])
    named = plan.sitzungen if plan is not None else {}
    bound = p.get("bound") or {}
    uses = []
    for name in p.get("names") or []:
        use = f"Plan-Sitzung „{named.get(name) or name}“"
        if name in bound:
            key, other = bound[name][0], dt.datetime.fromisoformat(bound[name][1])
            use += f": inzwischen an {_sitzung_named(session, p['kommune'], key, other)}, gebunden"
        else:
            use += ": weiter an dieser Sitzung"
        uses.append(use)
    when = (f", und zwar am {dates.long_de(ris.date())}, {ris:%H:%M} Uhr" if ris is not None
            else "")  # fmt: skip
    return mail.Content(
        subject=f"Sitzung wieder angesetzt: {p['gremium_short']} am "
        f"{dates.short_de((ris or start).date())} – bitte die Bindungen prüfen",
        greeting="",
        paragraphs=[
            f"die Sitzung des Gremiums {p['gremium']} am {dates.long_de(start.date())}, "
            f"{start:%H:%M} Uhr, die wir Ihnen als {how} gemeldet haben, ist im "
            f"Ratsinformationssystem wieder angesetzt: sie findet nun doch statt{when}.",
            f"Bitte prüfen Sie die Bindungen des Vorgangs {process}: Eine Plan-Sitzung, die "
            "inzwischen an einen anderen Termin gebunden wurde, bleibt dort, mit ihren "
            "Fristen und Erinnerungen. Soll sie wieder an diese Sitzung gebunden werden, "
            "bitten Sie die Betreuung dieser Anwendung darum.",  # as in _render_cancelled
            "Betroffen:",
        ],
        items=[
            *uses,
            *(f"Beratung der Vorlage {v}: weiter an dieser Sitzung" for v in p.get("vorlagen", [])),
            *(f"Beratung der Vorlage {v}: inzwischen an einer anderen Sitzung"
              for v in p.get("vorlagen_elsewhere", [])),  # fmt: skip
        ],
        ics=_sitzung_ics(session, row, s, off=False),
        ics_name="sitzung.ics",
    )


def _sitzung_named(session: Session, kommune: str, key: str, start: dt.datetime) -> str:
    """A Sitzung as people name it ("die Sitzung des Gremiums Gemeinderat am 25.01.2018,
    18:00 Uhr"), not by its key; without its Gremium if the Sitzung is gone."""
    gremium = session.exec(
        select(Gremium.name)
        .join(Sitzung, col(Sitzung.gremium_id) == Gremium.id)
        .join(Kommune, col(Kommune.id) == Sitzung.kommune_id)
        .where(Sitzung.key == key, Kommune.key == kommune)
    ).first()
    of = f" des Gremiums {gremium}" if gremium else ""
    return f"die Sitzung{of} am {_when(start, time=True)}"


def _sitzung_ics(
    session: Session, row: Reminder, s: mail.MailSettings, *, off: bool
) -> bytes | None:
    """The Sitzung's calendar entry as the feed has it now (its time, SEQUENCE and status).
    ``off``: whether the RIS has it cancelled, known from the row's kind (the outbox sends
    "abgesagt" only while the RIS's last word is the cancellation, "wieder angesetzt" only
    while it is not), so the delivery asks the event log no question of its own."""
    sitzung = session.get(Sitzung, row.sitzung_id) if row.sitzung_id is not None else None
    if sitzung is None:
        return None  # gone since it was queued: the text still tells it
    gremium = get_required(session, Gremium, sitzung.gremium_id)
    kommune = get_required(session, Kommune, sitzung.kommune_id)
    sitzung_id = ident(sitzung)
    seq, _ = ical.changes_of(session, "Sitzung", sitzung_id, ical.SITZUNG_CHANGES)
    ev = ical.timed_event(
        ical.uid_sitzung(kommune.key, sitzung.key),
        sitzung.start,
        s.zone,
        ical.sitzung_summary(gremium, sitzung, cancelled=off),
        place=sitzung.place,
        sequence=seq,
    )
    return _ics([ical.with_status(ev, cancelled=off)], "Sitzung")
