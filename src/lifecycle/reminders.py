"""Reminders before council deadlines: the policy, the daily scan, a moved Sitzung.

What is due goes into the outbox (``outbox.py``), which delivers it exactly once in the normal
case; the texts of the messages are in ``reminder_messages.py``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from . import mail
from .calendar import WorkCalendar, vorlagenschluss_of
from .engine import DueChange, SitzungMove
from .errors import InputError
from .lookups import calendar_of
from .models import (
    Beratung,
    Fortschreibung,
    Gremium,
    Kommune,
    Person,
    ProcessState,
    Reminder,
    ReminderState,
    Role,
    Sitzung,
    SitzungBinding,
    Stage,
    StageState,
    Task,
    TaskState,
    Vorlage,
)
from .outbox import QUEUED, Planned, deliver, queue, queue_rows
from .plan_types import plan_of
from .reminder_messages import fristen
from .sitzungsdienst import sitzungen_of
from .typing_helpers import get_required, ident, required
from .words import REMINDER_KIND_DE, REMINDER_STATE_DE

# A run that was missed (server down, weekend) is caught up for this many calendar days;
# older reminders are stale and the escalation covers what was missed.
CATCH_UP_DAYS = 7
OPEN_STAGES = (StageState.open, StageState.pending)
# The labels of reminder kinds and outbox states (``words``); the names stay for the CLI.
KIND_DE = REMINDER_KIND_DE
STATE_DE = REMINDER_STATE_DE


# --- policy ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    before_due: tuple[int, ...] = (10, 5, 1)
    before_vorlagenschluss: tuple[int, ...] = (10, 5, 1)
    escalate_to: str = "projektleitung"
    digest_weekday: int = 0
    digest_horizon_days: int = 14


def policy_of(process: Fortschreibung) -> Policy:
    """The plan's ``reminders`` block, overridden key by key by the scenario's."""
    plan_block = dict(plan_of(process.plan).reminders)
    scenario_block = (process.scenario.get("fortschreibung") or {}).get("reminders") or {}
    _validate(plan_block, f"plan {process.plan_name}", "reminders")
    _validate(scenario_block, f"scenario {process.key}", "fortschreibung.reminders")
    merged = {**plan_block, **scenario_block}
    return Policy(
        before_due=tuple(sorted(set(merged.get("before_due", Policy.before_due)), reverse=True)),
        before_vorlagenschluss=tuple(
            sorted(
                set(merged.get("before_vorlagenschluss", Policy.before_vorlagenschluss)),
                reverse=True,
            )
        ),
        escalate_to=merged.get("escalate_to", Policy.escalate_to),
        digest_weekday=merged.get("digest_weekday", Policy.digest_weekday),
        digest_horizon_days=merged.get("digest_horizon_days", Policy.digest_horizon_days),
    )


@lru_cache(maxsize=1)
def _policy_validator():
    from .validation import schema, validator_for

    return validator_for(schema("plan")["$defs"]["reminders"])


def _validate(block: dict[str, Any], source: str, where: str) -> None:
    from .validation import explain

    if not isinstance(block, dict):
        raise InputError(source, where, "muss eine Zuordnung (Schlüssel: Wert) sein")
    for err in _policy_validator().iter_errors(block):
        path = ".".join([where, *map(str, err.absolute_path)])
        raise InputError(source, path, explain(err))


# --- planning: what is due on a day ----------------------------------------------------------


@dataclass
class _Ctx:
    """What the scan of one process needs, loaded once."""

    process: Fortschreibung
    kommune: Kommune
    policy: Policy
    cal: WorkCalendar
    leads: list[int]


def find_due(session: Session, today: dt.date) -> list[Planned]:
    """Every reminder whose send day falls in the catch-up window ending ``today``."""
    ctxs = _contexts(session)
    found: list[Planned] = []
    groups: dict[tuple, list[_Ctx]] = defaultdict(list)
    for ctx in ctxs:
        groups[(id(ctx.cal), ctx.policy)].append(ctx)
    for members in groups.values():
        found += _task_reminders(session, members, today)
        found += _escalations(session, members, today)
        found += _digests(session, members, today)
    upcoming = sitzungen_of(session, [ident(c.process) for c in ctxs], since=today)
    for ctx in ctxs:
        if ctx.process.id in upcoming:
            found += _vorlagenschluss_reminders(session, ctx, today, upcoming[ctx.process.id])
    return _latest_per_deadline(found)


def _contexts(session: Session) -> list[_Ctx]:
    processes = session.exec(
        select(Fortschreibung).where(Fortschreibung.state == ProcessState.running)
    ).all()
    ctxs = []
    for p in processes:
        policy = policy_of(p)
        leads = list(
            session.exec(
                select(Role.person_id).where(
                    Role.fortschreibung_id == p.id, Role.role == policy.escalate_to
                )
            )
        )
        ctxs.append(
            _Ctx(
                p,
                get_required(session, Kommune, p.kommune_id),
                policy,
                calendar_of(session, p),
                leads,
            )
        )
    return ctxs


def _window(cal: WorkCalendar, today: dt.date) -> list[dt.date]:
    """Working days on which a reminder may have been due and is still worth sending."""
    days = [today - dt.timedelta(days=i) for i in range(CATCH_UP_DAYS)]
    return sorted(d for d in days if cal.is_working_day(d))


def send_day(cal: WorkCalendar, deadline: dt.date, offset: int) -> dt.date:
    return cal.add_working_days(deadline, -offset) if offset else cal.roll_back(deadline)


def _due_range(cal: WorkCalendar, window: list[dt.date], offset: int) -> tuple[dt.date, dt.date]:
    """Deadlines d with send_day(d, offset) in window: lo < d <= hi.

    A deadline d is reminded on s exactly when d lies after the (offset-1)-th working day
    after s and on or before the offset-th one; over the window the ranges join up.
    """
    lo = (
        cal.add_working_days(window[0], offset - 1)
        if offset
        else cal.add_working_days(window[0], -1)
    )
    return lo, cal.add_working_days(window[-1], offset)


def _open_tasks(
    session: Session, ids: list[int], lo: dt.date, hi: dt.date, *, lo_open: bool
) -> Sequence[Task]:
    """Open tasks of open/pending stages with due in (lo, hi] (or [lo, hi) for lo_open=False)."""
    due = col(Task.due)
    in_range = (due > lo) & (due <= hi) if lo_open else (due >= lo) & (due < hi)
    query = (
        select(Task)
        .join(Stage, col(Stage.id) == Task.stage_id)
        .where(
            col(Task.fortschreibung_id).in_(ids),
            Task.state == TaskState.open,
            col(Stage.state).in_(OPEN_STAGES),
            in_range,
        )
        # SQLite's planner otherwise prefers the state or process index and reads far more
        # rows; a day's window of due dates is always the most selective.
        .with_hint(Task, "INDEXED BY ix_task_due", "sqlite")
    )
    return session.exec(query).all()


def _task_reminders(session: Session, members: list[_Ctx], today: dt.date) -> list[Planned]:
    policy, cal = members[0].policy, members[0].cal
    window = _window(cal, today)
    if not window:
        return []
    by_id = {ident(c.process): c for c in members}
    out = []
    for offset in policy.before_due:
        lo, hi = _due_range(cal, window, offset)
        for task in _open_tasks(session, list(by_id), lo, hi, lo_open=True):
            due = _due(task)
            send_on = send_day(cal, due, offset)
            if due < today or not window[0] <= send_on <= today or task.assignee_id is None:
                continue
            if policy.before_vorlagenschluss and _covered_by_vorlagenschluss(task):
                continue
            out.append(
                Planned(
                    task.assignee_id,
                    f"task:{task.id}",
                    due,
                    offset,
                    "due",
                    send_on,
                    task.fortschreibung_id,
                    task.id,
                    payload=_task_payload(by_id[task.fortschreibung_id], task, offset),
                )
            )
    return out


def _covered_by_vorlagenschluss(task: Task) -> bool:
    # "Vorlage einreichen" is due on the Vorlagenschluss itself: its assignee gets the
    # Vorlagenschluss reminder, a second mail about the same day would be noise.
    return task.anchor_kind == "vorlagenschluss" and task.offset == 0


def _due(task: Task) -> dt.date:
    """The due date of a task the scan selected by its due date."""
    return required(task.due, f"Fälligkeit der Aufgabe {task.id}")


def _task_payload(ctx: _Ctx, task: Task, offset: int) -> dict[str, Any]:
    return {
        "process": ctx.process.key,
        "kommune": ctx.kommune.key,
        "task_key": task.key,
        "task_title": task.title,
        "due": _due(task).isoformat(),
        "days": offset,
    }


def _escalations(session: Session, members: list[_Ctx], today: dt.date) -> list[Planned]:
    cal = members[0].cal
    window = _window(cal, today)
    if not window:
        return []
    by_id = {ident(c.process): c for c in members}
    lo, hi = cal.add_working_days(window[0], -1), window[-1]
    tasks = [
        t
        for t in _open_tasks(session, list(by_id), lo, hi, lo_open=False)
        if window[0] <= cal.add_working_days(_due(t), 1) <= today
    ]
    names = dict(
        session.exec(
            select(Person.id, Person.name).where(
                col(Person.id).in_({t.assignee_id for t in tasks if t.assignee_id})
            )
        ).all()
    )
    out = []
    for task in tasks:
        ctx = by_id[task.fortschreibung_id]
        due = _due(task)
        send_on = cal.add_working_days(due, 1)
        payload = _task_payload(ctx, task, -1) | {"assignee": names.get(task.assignee_id, "")}
        out += [
            Planned(
                lead,
                f"task:{task.id}",
                due,
                -1,
                "escalation",
                send_on,
                ctx.process.id,
                task.id,
                payload=payload,
            )
            for lead in ctx.leads
        ]
    return out


def digest_day(cal: WorkCalendar, today: dt.date, weekday: int) -> dt.date | None:
    """This week's digest day: the policy's weekday, or the next working day of the week."""
    day = today - dt.timedelta(days=today.weekday() - weekday)
    while day.weekday() < 5 and not cal.is_working_day(day):
        day += dt.timedelta(days=1)
    return day if day.weekday() < 5 else None


def _digests(session: Session, members: list[_Ctx], today: dt.date) -> list[Planned]:
    policy, cal = members[0].policy, members[0].cal
    day = digest_day(cal, today, policy.digest_weekday)
    if day is None or not day <= today:
        return []
    until = day + dt.timedelta(days=policy.digest_horizon_days)
    by_id = {ident(c.process): c for c in members}
    if day < today:  # catching up: skip processes whose digest of this week is planned
        for pid in session.exec(
            select(Reminder.fortschreibung_id)
            .where(
                Reminder.kind == "digest",
                Reminder.deadline == day,
                col(Reminder.fortschreibung_id).in_(list(by_id)),
            )
            .distinct()
        ):
            if pid is not None:  # always: selected by process id
                by_id.pop(pid, None)
        if not by_id:
            return []
    per_person: dict[tuple[int, int], list[Task]] = defaultdict(list)
    # "bis <until>" in the message includes that day: tasks due on it are listed too
    for task in _open_tasks(session, list(by_id), day, until + dt.timedelta(days=1), lo_open=False):
        if task.assignee_id is not None:
            per_person[(task.assignee_id, task.fortschreibung_id)].append(task)
    out = []
    for (person_id, pid), tasks in sorted(per_person.items()):
        tasks.sort(key=lambda t: (t.due, t.position))
        payload = {
            "process": by_id[pid].process.key,
            "kommune": by_id[pid].kommune.key,
            "until": until.isoformat(),
            "items": [{"title": t.title, "due": _due(t).isoformat(), "key": t.key} for t in tasks],
        }
        out.append(Planned(person_id, f"digest:{pid}", day, 0, "digest", day, pid, payload=payload))
    return out


def _vorlagenschluss_reminders(
    session: Session, ctx: _Ctx, today: dt.date, sitzungen: list[tuple[Sitzung, Gremium]]
) -> list[Planned]:
    window = _window(ctx.cal, today)
    if not window or not ctx.policy.before_vorlagenschluss:
        return []
    out = []
    for sitzung, gremium in sitzungen:
        vs = vorlagenschluss_of(ctx.cal, sitzung, gremium)
        offsets = [
            o
            for o in ctx.policy.before_vorlagenschluss
            if vs >= today and window[0] <= send_day(ctx.cal, vs, o) <= today
        ]
        if not offsets:
            continue
        who, tasks, vorlagen = _deliverers(session, ctx, sitzung)
        if who is None:
            continue
        payload = {
            "process": ctx.process.key,
            "kommune": ctx.kommune.key,
            "sitzung_key": sitzung.key,
            "sitzung_start": sitzung.start.isoformat(),
            "gremium": gremium.name,
            "gremium_short": gremium.short,
            "vorlagenschluss": vs.isoformat(),
            "tasks": tasks,
            "vorlagen": vorlagen,
        }
        for offset in offsets:
            out += [
                Planned(
                    pid,
                    f"vorlagenschluss:{ctx.process.id}:{sitzung.id}",
                    vs,
                    offset,
                    "vorlagenschluss",
                    send_day(ctx.cal, vs, offset),
                    ctx.process.id,
                    sitzung_id=sitzung.id,
                    payload=payload | {"days": offset},
                )
                for pid in who
            ]
    return out


def _deliverers(
    session: Session, ctx: _Ctx, sitzung: Sitzung
) -> tuple[list[int] | None, list[str], list[str]]:
    """Who must deliver the Vorlage for ``sitzung`` (None: nothing open for it)."""
    names = list(
        session.exec(
            select(SitzungBinding.name).where(
                SitzungBinding.fortschreibung_id == ctx.process.id,
                SitzungBinding.sitzung_id == sitzung.id,
            )
        )
    )
    anchored = session.exec(
        select(Task)
        .join(Stage, col(Stage.id) == Task.stage_id)
        .where(
            Task.fortschreibung_id == ctx.process.id,
            Task.state == TaskState.open,
            col(Stage.state).in_(OPEN_STAGES),
            col(Task.anchor_ref).in_(names),
            col(Task.anchor_kind).in_(["vorlagenschluss", "sitzung"]),
        )
    ).all()
    vorlagen = session.exec(
        select(Vorlage)
        .join(Beratung, col(Beratung.vorlage_id) == Vorlage.id)
        .join(
            Stage,
            (col(Stage.fortschreibung_id) == Vorlage.fortschreibung_id)
            & (col(Stage.key) == Vorlage.stage_key),
        )
        .where(
            Vorlage.fortschreibung_id == ctx.process.id,
            Beratung.sitzung_id == sitzung.id,
            col(Stage.state).in_(OPEN_STAGES),
        )
    ).all()
    if not anchored and not vorlagen:
        return None, [], []
    submitters = [t for t in anchored if _covered_by_vorlagenschluss(t) and t.assignee_id]
    who = sorted({t.assignee_id for t in submitters if t.assignee_id})  # each has one
    if not who:
        who = sorted({v.author_id for v in vorlagen if v.author_id}) or ctx.leads
    labels = [f"{v.reference}: {v.betreff}" for v in vorlagen]
    return (who or None), [t.title for t in submitters], labels


def _latest_per_deadline(found: Iterable[Planned]) -> list[Planned]:
    """After missed runs, send only the most recent of several due reminders per deadline."""
    best: dict[tuple, Planned] = {}
    for p in found:
        k = (p.person_id, p.subject, p.deadline, p.kind)
        if k not in best or p.send_on > best[k].send_on:
            best[k] = p
    return sorted(best.values(), key=lambda p: (p.send_on, p.person_id, p.subject, p.offset))


# --- the daily run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderView:
    id: int | None
    send_on: dt.date
    recipient: str
    email: str
    kind: str
    subject: str
    deadline: dt.date
    offset: int
    state: str
    error: str


@dataclass
class DailyReport:
    today: dt.date
    dry_run: bool
    planned: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    queued: int = 0
    config_error: str = ""
    server_error: str = ""
    rows: list[ReminderView] = field(default_factory=list)


def run_daily(
    session: Session,
    today: dt.date,
    *,
    dry_run: bool = False,
    settings: mail.MailSettings | None = None,
    mailer: mail.Mailer | None = None,
    now: dt.datetime | None = None,
) -> DailyReport:
    """Plan what is due ``today`` into the outbox, then deliver everything queued."""
    report = DailyReport(today=today, dry_run=dry_run)
    if not dry_run and settings is None:
        # Unusable mail settings are refused before the database is touched: nothing planned.
        try:
            settings = mail.load_settings()
        except mail.ConfigError as exc:
            report.config_error = str(exc)
            return report
    found = find_due(session, today)
    if dry_run:
        report.rows = _dry_rows(session, today, found)
        report.planned = sum(1 for r in report.rows if r.state == STATE_DE["new"])
        report.queued = len(report.rows)
        return report
    assert settings is not None  # loaded above: this is not a dry run
    report.planned = queue(session, found)
    done = deliver(session, today, settings, mailer=mailer, now=now)
    report.sent, report.failed, report.cancelled = (
        len(done.sent),
        len(done.failed),
        len(done.cancelled),
    )
    report.server_error = done.server_error
    touched = done.sent + done.failed + done.cancelled
    report.rows = _rows(session, today, touched)
    report.queued = sum(
        1 for r in report.rows if r.state in (STATE_DE["planned"], STATE_DE["failed"])
    )
    return report


def _rows(session: Session, today: dt.date, touched: list[int]) -> list[ReminderView]:
    query = (
        select(Reminder, Person)
        .join(Person, col(Person.id) == Reminder.person_id)
        .where(
            or_(
                col(Reminder.id).in_(touched),
                (col(Reminder.send_on) <= today)
                & col(Reminder.state).in_([*QUEUED, ReminderState.sending]),
            )
        )
        .order_by(col(Reminder.send_on), col(Reminder.id))
    )
    return [_view(r, p) for r, p in session.exec(query)]


def _view(r: Reminder, p: Person) -> ReminderView:
    return ReminderView(
        r.id,
        r.send_on,
        p.name,
        p.email or "",
        r.kind,
        _title(r),
        r.deadline,
        r.offset,
        STATE_DE[str(r.state)],
        r.last_error,
    )


def _title(r: Reminder | Planned) -> str:
    p = r.payload
    if r.kind in ("due", "escalation"):
        return p.get("task_title", "")
    if r.kind == "vorlagenschluss":
        return f"{p['gremium_short']} am {dt.datetime.fromisoformat(p['sitzung_start']):%d.%m.%Y}"
    if r.kind == "digest":
        return fristen(len(p.get("items", [])))
    if r.kind == "sitzung_cancelled":
        return f"{p.get('gremium_short', '')} abgesagt"
    return f"{p.get('gremium_short', '')} verlegt"


def _dry_rows(session: Session, today: dt.date, found: list[Planned]) -> list[ReminderView]:
    existing = {
        (r.person_id, r.subject, r.deadline, r.offset)
        for r in session.exec(
            select(Reminder).where(
                col(Reminder.send_on) >= today - dt.timedelta(days=CATCH_UP_DAYS)
            )
        )
    }
    people = {
        p.id: p
        for p in session.exec(
            select(Person).where(col(Person.id).in_({f.person_id for f in found}))
        )
    }
    new = [
        ReminderView(
            None,
            f.send_on,
            people[f.person_id].name,
            people[f.person_id].email or "",
            f.kind,
            _title(f),
            f.deadline,
            f.offset,
            STATE_DE["new"],
            "",
        )
        for f in found
        if f.key not in existing
    ]
    return new + _rows(session, today, [])


# --- a Sitzung moved -------------------------------------------------------------------------


MOVED_STALE = "obsolete: Sitzung moved"  # last_error of reminders a move made stale

def on_sitzung_moved(session: Session, move: SitzungMove, *, today: dt.date | None = None) -> int:
    """Drop reminders made stale by the move; queue ONE message per person concerned.

    Writes in the caller's transaction (``services.move_sitzung``): the move and its messages
    are stored together or not at all.
    """
    today = today or dt.date.today()
    sitzung = get_required(session, Sitzung, move.sitzung.id)
    gremium = get_required(session, Gremium, sitzung.gremium_id)
    kommune = get_required(session, Kommune, sitzung.kommune_id)
    planned: list[Planned] = []
    for process_id, changes in move.changes.items():
        process = get_required(session, Fortschreibung, process_id)
        if process.state != ProcessState.running:
            continue
        _cancel_stale(session, process_id, ident(sitzung), [c.task_id for c in changes])
        per_person = _concerned(session, process, sitzung, changes)
        base = {
            "process": process.key,
            "kommune": kommune.key,
            "sitzung_key": sitzung.key,
            "gremium": gremium.name,
            "gremium_short": gremium.short,
            "place": sitzung.place,
            "old": move.old.isoformat(),
            "new": sitzung.start.isoformat(),
        }
        planned += [
            Planned(
                pid,
                f"moved:{process.id}:{sitzung.id}:{move.old.isoformat()}",
                sitzung.start.date(),
                0,
                "moved",
                today,
                process.id,
                sitzung_id=sitzung.id,
                payload=base | {"changes": items},
            )
            for pid, items in sorted(per_person.items())
        ]
    return queue_rows(session, planned)


def _cancel_stale(session: Session, process_id: int, sitzung_id: int, task_ids: list[int]) -> None:
    session.execute(
        update(Reminder)
        .where(
            col(Reminder.state).in_([s.name for s in QUEUED]),
            col(Reminder.fortschreibung_id) == process_id,
            col(Reminder.kind) != "moved",
            or_(col(Reminder.task_id).in_(task_ids), col(Reminder.sitzung_id) == sitzung_id),
        )
        .values(state=ReminderState.cancelled.name, last_error=MOVED_STALE)
    )


def cancel_for_reassigned(session: Session, task: Task) -> None:
    """Queued reminders of a reassigned task that would still go to the previous assignee."""
    session.execute(
        update(Reminder)
        .where(
            col(Reminder.state).in_([s.name for s in QUEUED]),
            col(Reminder.task_id) == task.id,
            col(Reminder.person_id) != task.assignee_id,
            col(Reminder.kind).in_(["due"]),
        )
        .values(state=ReminderState.cancelled.name, last_error="obsolete: task reassigned")
    )


def _concerned(
    session: Session, process: Fortschreibung, sitzung: Sitzung, changes: list[DueChange]
) -> dict[int, list[dict[str, str]]]:
    """Person id -> their changed open deadlines; the project lead hears in any case."""
    per_person: dict[int, list[dict[str, str]]] = defaultdict(list)
    for change in changes:
        task = get_required(session, Task, change.task_id)
        stage = get_required(session, Stage, task.stage_id)
        if task.state != TaskState.open or stage.state not in OPEN_STAGES or change.old is None:
            continue
        if task.assignee_id is not None:
            per_person[task.assignee_id].append(
                {"title": task.title, "old": change.old.isoformat(), "new": change.new.isoformat()}
            )
    leads = session.exec(
        select(Role.person_id).where(
            Role.fortschreibung_id == process.id, Role.role == policy_of(process).escalate_to
        )
    )
    for lead in leads:
        per_person.setdefault(lead, [])
    return per_person
