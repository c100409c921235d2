"""Reminders before council deadlines: the policy, the daily scan, a moved Sitzung.

What is due goes into the outbox (``outbox.py``), which delivers it exactly once in the normal
case; the texts of the messages are in ``reminder_messages.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Any

from sqlalchemy import Row, String, Text, cast, or_, type_coerce, update
from sqlalchemy import select as rows_of
from sqlmodel import Session, col, select

from . import ical, mail
from .calendar import WorkCalendar, for_kommune, vorlagenschluss_of
from .cancellations import cancelled_sitzungen
from .engine import DueChange, SitzungMove
from .errors import InputError
from .gc_pause import no_cyclic_gc
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
from .outbox import QUEUED, Planned, deliver, planned, queue, queue_rows
from .plan_types import plan_of
from .reminder_messages import fristen
from .sitzungsdienst import sitzungen_of
from .typing_helpers import get_all_required, get_required, ident, required
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
    return _merged_policy(plan_block, scenario_block)


def _merged_policy(plan_block: dict[str, Any], scenario_block: dict[str, Any]) -> Policy:
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
#
# The scan reads each running process's context in three queries (processes with their
# Kommune, roles, nothing per process), validates each distinct reminder policy once, reads
# the open tasks of every due window in ONE query of plain tuples over the union of the
# windows (the composite index task (state, due) serves it) and memoises the working-day
# arithmetic per calendar. tests/test_reminder_scan_equivalence.py keeps the previous,
# row-by-row scan and proves both find the same reminders with the same payloads.


@dataclass
class _Ctx:
    """What the scan of one process needs, loaded once."""

    process_id: int
    process_key: str
    kommune_key: str
    policy: Policy
    cal: WorkCalendar
    leads: list[int]


class _Days:
    """Working-day arithmetic of one calendar, memoised for one scan."""

    __slots__ = ("_added", "cal")

    def __init__(self, cal: WorkCalendar):
        self.cal = cal
        self._added: dict[tuple[dt.date, int], dt.date] = {}

    def add(self, day: dt.date, n: int) -> dt.date:
        """``cal.add_working_days(day, n)`` (n == 0 rolls back), computed once per pair."""
        key = (day, n)
        hit = self._added.get(key)
        if hit is None:
            hit = self._added[key] = self.cal.add_working_days(day, n)
        return hit

    def send_day(self, deadline: dt.date, offset: int) -> dt.date:
        # send_day(): add_working_days(d, 0) is roll_back(d)
        return self.add(deadline, -offset)


_Verdict = tuple[dt.date, str, tuple[dt.date, int] | None, dt.date | None, bool]


@dataclass
class _Group:
    """Processes that share a calendar and a policy, with the due windows of ``today``."""

    cal: WorkCalendar
    policy: Policy
    members: dict[int, _Ctx]
    days: _Days
    window: list[dt.date]
    # (offset, lo, hi): deadlines lo < d <= hi may get the offset's reminder
    due_ranges: list[tuple[int, dt.date, dt.date]] = field(default_factory=list)
    # escalations: lo <= d < hi
    escalation: tuple[dt.date, dt.date] | None = None
    # the digest: its day and last listed due date; processes whose digest is planned
    digest: tuple[dt.date, dt.date] | None = None
    digest_done: set[int] = field(default_factory=set)
    # what a task due on a day gets (``_verdict``), by the due date as the driver returns it
    verdicts: dict[Any, _Verdict] = field(default_factory=dict)

    @property
    def covers_vorlagenschluss(self) -> bool:
        return bool(self.policy.before_vorlagenschluss)


# The columns of an open task the scan reads (a plain row, not an ORM object):
# id, process id, key, title, assignee id, due (driver's value), anchor kind, offset, position.
_TaskRow = Row[Any]
_TASK_COLUMNS = (
    col(Task.id),
    col(Task.fortschreibung_id),
    col(Task.key),
    col(Task.title),
    col(Task.assignee_id),
    # as the driver returns it (SQLite: ISO text), converted once per distinct day (_as_date)
    type_coerce(col(Task.due), String).label("due"),
    col(Task.anchor_kind),
    col(Task.offset),
    col(Task.position),
)


def find_due(session: Session, today: dt.date) -> list[Planned]:
    """Every reminder whose send day falls in the catch-up window ending ``today``."""
    # tens of thousands of small objects, none freed in cycles: a third of the scan otherwise
    with no_cyclic_gc():
        return _find_due(session, today)


def _find_due(session: Session, today: dt.date) -> list[Planned]:
    ctxs = _contexts(session)
    groups = _groups(ctxs, today)
    _digests_done(session, groups, today)
    member = {pid: (g, ctx) for g in groups for pid, ctx in g.members.items()}
    # per process, what each row needs (looked up once per row, not attribute by attribute)
    of_process = {
        pid: (g, ctx, ctx.process_key, ctx.kommune_key, g.verdicts, g.digest_done)
        for pid, (g, ctx) in member.items()
    }
    found: list[Planned] = []
    add = found.append
    escalated: list[_Escalated] = []
    digested: dict[tuple[int, int], list[_Listed]] = defaultdict(list)
    dates: dict[Any, dt.date] = {}
    rows = _open_task_rows(session, _intervals(groups))
    for tid, pid, key, title, assignee, due_raw, anchor_kind, offset, position in rows:
        hit = of_process.get(pid)
        if hit is None:  # a task of a process that is not running
            continue
        group, ctx, process_key, kommune_key, verdicts, digest_done = hit
        verdict = verdicts.get(due_raw)
        if verdict is None:
            due = dates.get(due_raw)
            if due is None:
                due = dates[due_raw] = _as_date(due_raw)
            verdict = verdicts[due_raw] = _verdict(group, due, today)
        due, due_iso, remind, escalate_on, in_digest = verdict
        if (
            remind is not None
            and assignee is not None
            # _covered_by_vorlagenschluss, on a plain row
            and not (
                anchor_kind == "vorlagenschluss" and offset == 0 and group.covers_vorlagenschluss
            )
        ):
            send_on, days = remind
            payload = {
                "process": process_key,
                "kommune": kommune_key,
                "task_key": key,
                "task_title": title,
                "due": due_iso,
                "days": days,
            }
            add(planned(assignee, f"task:{tid}", due, days, "due", send_on, pid, tid, payload))
        if escalate_on is not None:
            escalated.append((ctx, tid, pid, key, title, assignee, due, due_iso, escalate_on))
        if in_digest and assignee is not None and pid not in digest_done:
            # by due date and position; of equal ones the older task first (sorted later)
            digested[(assignee, pid)].append((due, position, tid, title, key, due_iso))
    found += _escalations(session, escalated)
    found += _digests(member, digested)
    # Only Vorlagenschluss reminders can be due twice for one deadline here (several offsets
    # in a missed run); a task's due reminder is chosen per task in _verdict, escalations and
    # digests are one per recipient and deadline.
    found += _latest_per_deadline(_all_vorlagenschluss_reminders(session, ctxs, today))
    found.sort(key=_ORDER)
    return found


# The order of the scan's result (as _latest_per_deadline sorts).
_ORDER = attrgetter("send_on", "person_id", "subject", "offset")


def _as_date(value: Any) -> dt.date:
    """A due date as the driver returns it: a date (PostgreSQL) or ISO text (SQLite)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _verdict(group: _Group, due: dt.date, today: dt.date) -> _Verdict:
    """What a task due on ``due`` gets in ``group``: (due, due as ISO text, its due
    reminder's (send day, offset) or None, its escalation's send day or None, whether the
    digest lists it).

    Of several offsets due in the window (a missed run), the latest send day wins, and of
    equal ones the first in the policy's order, as ``_latest_per_deadline`` would choose.
    """
    remind: tuple[dt.date, int] | None = None
    if due >= today and group.due_ranges:
        start = group.window[0]
        for offset, lo, hi in group.due_ranges:
            if lo < due <= hi:
                send_on = group.days.send_day(due, offset)
                if start <= send_on <= today and (remind is None or send_on > remind[0]):
                    remind = (send_on, offset)
    escalate_on = None
    esc = group.escalation
    if esc is not None and esc[0] <= due < esc[1]:
        send_on = group.days.add(due, 1)
        if group.window[0] <= send_on <= today:
            escalate_on = send_on
    dig = group.digest
    return due, due.isoformat(), remind, escalate_on, dig is not None and dig[0] <= due <= dig[1]


def _contexts(session: Session) -> list[_Ctx]:
    """The running processes, in two queries; each distinct policy is validated once."""
    rows = session.connection().execute(
        rows_of(
            col(Fortschreibung.id),
            col(Fortschreibung.key),
            col(Fortschreibung.plan_name),
            cast(col(Fortschreibung.plan), Text),
            cast(col(Fortschreibung.scenario), Text),
            col(Kommune.key),
            col(Kommune.bundesland),
            cast(col(Kommune.closing_days), Text),
        )
        .join(Kommune, col(Kommune.id) == Fortschreibung.kommune_id)
        .where(col(Fortschreibung.state) == ProcessState.running)
        .order_by(col(Fortschreibung.id))
    ).all()
    roles: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for pid, role, person_id in session.connection().execute(
        rows_of(col(Role.fortschreibung_id), col(Role.role), col(Role.person_id))
        .join(Fortschreibung, col(Fortschreibung.id) == Role.fortschreibung_id)
        .where(col(Fortschreibung.state) == ProcessState.running)
    ):
        roles[pid].append((role, person_id))
    plan_blocks: dict[tuple[str, str], dict[str, Any]] = {}
    validated: set[str] = set()
    policies: dict[tuple[str, str, str], Policy] = {}
    calendars: dict[tuple[str, str | None], WorkCalendar] = {}
    ctxs = []
    for pid, key, plan_name, plan_text, scenario_text, kommune_key, land, closing in rows:
        # the same steps and refusals as policy_of(), each distinct block checked once
        plan_key = (plan_name, plan_text)
        plan_block = plan_blocks.get(plan_key)
        if plan_block is None:
            plan_block = dict(plan_of(json.loads(plan_text)).reminders)
        scenario = json.loads(scenario_text)
        scenario_block = (scenario.get("fortschreibung") or {}).get("reminders") or {}
        if plan_key not in plan_blocks:
            _validate(plan_block, f"plan {plan_name}", "reminders")
            plan_blocks[plan_key] = plan_block
        canonical = json.dumps(scenario_block, sort_keys=True) if scenario_block else "{}"
        if canonical not in validated:
            _validate(scenario_block, f"scenario {key}", "fortschreibung.reminders")
            validated.add(canonical)
        policy = policies.get((*plan_key, canonical))
        if policy is None:
            policy = policies[(*plan_key, canonical)] = _merged_policy(plan_block, scenario_block)
        cal_key = (land, closing)
        cal = calendars.get(cal_key)
        if cal is None:
            days = None if closing is None else json.loads(closing)
            cal = calendars[cal_key] = for_kommune(_KommuneDays(land, days))
        leads = sorted(p for role, p in roles.get(pid, ()) if role == policy.escalate_to)
        ctxs.append(_Ctx(pid, key, kommune_key, policy, cal, leads))
    return ctxs


@dataclass(frozen=True)
class _KommuneDays:
    """What ``calendar.for_kommune`` reads of a Kommune row."""

    bundesland: str
    closing_days: list[str] | None


def _groups(ctxs: list[_Ctx], today: dt.date) -> list[_Group]:
    """Processes by (calendar, policy), each group with its due windows of ``today``."""
    groups: dict[tuple[int, Policy], _Group] = {}
    for ctx in ctxs:
        key = (id(ctx.cal), ctx.policy)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(
                ctx.cal, ctx.policy, {}, _Days(ctx.cal), _window(ctx.cal, today)
            )
            _plan_windows(group, today)
        group.members[ctx.process_id] = ctx
    return list(groups.values())


def _plan_windows(group: _Group, today: dt.date) -> None:
    window, days, policy = group.window, group.days, group.policy
    if window:
        for offset in policy.before_due:
            lo = days.add(window[0], offset - 1) if offset else days.add(window[0], -1)
            group.due_ranges.append((offset, lo, days.add(window[-1], offset)))
        group.escalation = (days.add(window[0], -1), window[-1])
    day = digest_day(group.cal, today, policy.digest_weekday)
    if day is not None and day <= today:
        group.digest = (day, day + dt.timedelta(days=policy.digest_horizon_days))


def _digests_done(session: Session, groups: list[_Group], today: dt.date) -> None:
    """Catching up on a later day of the week: processes whose digest is already planned."""
    catching_up = [g for g in groups if g.digest is not None and g.digest[0] < today]
    if not catching_up:
        return
    days = {g.digest[0] for g in catching_up if g.digest is not None}
    planned: dict[int, set[dt.date]] = defaultdict(set)
    for pid, deadline in session.execute(
        rows_of(col(Reminder.fortschreibung_id), col(Reminder.deadline))
        # a digest is sent on its day (send_on == deadline): read through ix_reminder_send_on
        .where(col(Reminder.kind) == "digest", col(Reminder.deadline).in_(days),
               col(Reminder.send_on).in_(days))
        .distinct()
    ):
        if pid is not None:
            planned[pid].add(deadline)
    for group in catching_up:
        assert group.digest is not None  # selected above
        group.digest_done = {
            pid for pid in group.members if group.digest[0] in planned.get(pid, ())
        }


def _intervals(groups: list[_Group]) -> list[tuple[dt.date, dt.date]]:
    """The union of every group's windows of due dates, as disjoint closed intervals."""
    one_day = dt.timedelta(days=1)
    spans = []
    for g in groups:
        spans += [(lo + one_day, hi) for _, lo, hi in g.due_ranges]  # lo < d <= hi
        if g.escalation is not None:
            spans.append((g.escalation[0], g.escalation[1] - one_day))  # lo <= d < hi
        if g.digest is not None and len(g.digest_done) < len(g.members):
            spans.append(g.digest)
    merged: list[tuple[dt.date, dt.date]] = []
    for lo, hi in sorted(s for s in spans if s[0] <= s[1]):
        if merged and lo <= merged[-1][1] + one_day:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _open_task_rows(
    session: Session, intervals: list[tuple[dt.date, dt.date]]
) -> Sequence[_TaskRow]:
    """Open tasks of open/pending stages due in any of ``intervals``: one query, plain rows.

    Core, not ORM: no objects, and the due date as the driver returns it (``_as_date``).
    """
    if not intervals:
        return []
    due = col(Task.due)
    query = (
        rows_of(*_TASK_COLUMNS)
        .join(Stage, col(Stage.id) == Task.stage_id)
        .where(
            col(Task.state) == TaskState.open,
            col(Stage.state).in_(OPEN_STAGES),
            or_(*(due.between(lo, hi) for lo, hi in intervals)),
        )
    )
    return session.connection().execute(query).all()


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


def _covered_by_vorlagenschluss(task: Task) -> bool:
    # "Vorlage einreichen" is due on the Vorlagenschluss itself: its assignee gets the
    # Vorlagenschluss reminder, a second mail about the same day would be noise.
    return task.anchor_kind == "vorlagenschluss" and task.offset == 0


def _due(task: Task) -> dt.date:
    """The due date of a task the scan selected by its due date."""
    return required(task.due, f"Fälligkeit der Aufgabe {task.id}")


# An escalated task: its process, id, process id, key, title, assignee, due date (and as
# ISO text), the escalation's send day.
_Escalated = tuple[_Ctx, int, int, str, str, int | None, dt.date, str, dt.date]
# A task in a digest: due date, position, id (the order), title, key, due date as ISO text.
_Listed = tuple[dt.date, int, int, str, str, str]


def _escalations(session: Session, escalated: list[_Escalated]) -> list[Planned]:
    """To the process's leads: the task was due on the working day before the send day."""
    if not escalated:
        return []
    assignees = {e[5] for e in escalated if e[5]}
    names: dict[int | None, str] = {
        pid: name
        for pid, name in session.execute(
            rows_of(col(Person.id), col(Person.name)).where(col(Person.id).in_(assignees))
        )
    }
    out = []
    for ctx, tid, pid, key, title, assignee, due, due_iso, send_on in escalated:
        payload = {
            "process": ctx.process_key,
            "kommune": ctx.kommune_key,
            "task_key": key,
            "task_title": title,
            "due": due_iso,
            "days": -1,
            "assignee": names.get(assignee, ""),
        }
        out += [
            planned(lead, f"task:{tid}", due, -1, "escalation", send_on, pid, tid, payload)
            for lead in ctx.leads
        ]
    return out


def digest_day(cal: WorkCalendar, today: dt.date, weekday: int) -> dt.date | None:
    """This week's digest day: the policy's weekday, or the next working day of the week."""
    day = today - dt.timedelta(days=today.weekday() - weekday)
    while day.weekday() < 5 and not cal.is_working_day(day):
        day += dt.timedelta(days=1)
    return day if day.weekday() < 5 else None


def _digests(
    member: dict[int, tuple[_Group, _Ctx]], digested: dict[tuple[int, int], list[_Listed]]
) -> list[Planned]:
    out = []
    for (person_id, pid), rows in sorted(digested.items()):
        group, ctx = member[pid]
        assert group.digest is not None  # rows are listed only for a group's digest
        day, until = group.digest
        rows.sort()  # by due date, position, id (unique: the rest is never compared)
        payload = {
            "process": ctx.process_key,
            "kommune": ctx.kommune_key,
            "until": until.isoformat(),
            "items": [{"title": t, "due": iso, "key": k} for _, _, _, t, k, iso in rows],
        }
        out.append(Planned(person_id, f"digest:{pid}", day, 0, "digest", day, pid, payload=payload))
    return out


# A Sitzung whose Vorlagenschluss reminder is due in the window: the process's context, the
# Sitzung, its Gremium, its Vorlagenschluss, the policy's offsets due.
_VsDue = tuple[_Ctx, Sitzung, Gremium, dt.date, list[int]]


def _all_vorlagenschluss_reminders(
    session: Session, ctxs: list[_Ctx], today: dt.date
) -> list[Planned]:
    """The Vorlagenschluss reminders of every process due in the window, but none for a
    Sitzung the RIS has cancelled (and not reinstated): its Vorlagenschluss does not stand,
    the project lead is asked to bind a new date. The cancelled ones among the Sitzungen due
    in the window are asked in one query (``cancelled_sitzungen``), not one per Sitzung."""
    upcoming = sitzungen_of(session, [c.process_id for c in ctxs], since=today)
    due: list[_VsDue] = []
    for ctx in ctxs:
        if ctx.process_id in upcoming:
            due += _vorlagenschluss_due(ctx, today, upcoming[ctx.process_id])
    cancelled = cancelled_sitzungen(session, [ident(d[1]) for d in due]) if due else set()
    out: list[Planned] = []
    for ctx, sitzung, gremium, vs, offsets in due:
        if sitzung.id not in cancelled:
            out += _vorlagenschluss_reminders(session, ctx, sitzung, gremium, vs, offsets)
    return out


def _vorlagenschluss_due(
    ctx: _Ctx, today: dt.date, sitzungen: list[tuple[Sitzung, Gremium]]
) -> list[_VsDue]:
    """The Sitzungen of ``ctx`` whose Vorlagenschluss has a reminder due in the window."""
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
        if offsets:
            out.append((ctx, sitzung, gremium, vs, offsets))
    return out


def _vorlagenschluss_reminders(
    session: Session, ctx: _Ctx, sitzung: Sitzung, gremium: Gremium, vs: dt.date,
    offsets: list[int],
) -> list[Planned]:
    """One Sitzung's Vorlagenschluss reminders (``offsets``) to whoever must deliver."""
    who, tasks, vorlagen = _deliverers(session, ctx, sitzung)
    if who is None:
        return []
    payload = {
        "process": ctx.process_key,
        "kommune": ctx.kommune_key,
        "sitzung_key": sitzung.key,
        "sitzung_start": sitzung.start.isoformat(),
        "gremium": gremium.name,
        "gremium_short": gremium.short,
        "vorlagenschluss": vs.isoformat(),
        "tasks": tasks,
        "vorlagen": vorlagen,
    }
    return [
        Planned(
            pid,
            f"vorlagenschluss:{ctx.process_id}:{sitzung.id}",
            vs,
            offset,
            "vorlagenschluss",
            send_day(ctx.cal, vs, offset),
            ctx.process_id,
            sitzung_id=sitzung.id,
            payload=payload | {"days": offset},
        )
        for offset in offsets
        for pid in who
    ]


def _deliverers(
    session: Session, ctx: _Ctx, sitzung: Sitzung
) -> tuple[list[int] | None, list[str], list[str]]:
    """Who must deliver the Vorlage for ``sitzung`` (None: nothing open for it)."""
    names = list(
        session.exec(
            select(SitzungBinding.name).where(
                SitzungBinding.fortschreibung_id == ctx.process_id,
                SitzungBinding.sitzung_id == sitzung.id,
            )
        )
    )
    anchored = session.exec(
        select(Task)
        .join(Stage, col(Stage.id) == Task.stage_id)
        .where(
            Task.fortschreibung_id == ctx.process_id,
            col(Task.state) == TaskState.open,
            col(Stage.state).in_(OPEN_STAGES),
            col(Task.anchor_ref).in_(names),
            col(Task.anchor_kind).in_(["vorlagenschluss", "sitzung"]),
        )
        # in the plan's order: without it PostgreSQL may list them differently run to run
        .order_by(col(Stage.position), col(Task.position), col(Task.id))
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
            Vorlage.fortschreibung_id == ctx.process_id,
            Beratung.sitzung_id == sitzung.id,
            col(Stage.state).in_(OPEN_STAGES),
        )
        .order_by(col(Vorlage.id))
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
    report.config_error = done.config_error
    touched = done.sent + done.failed + done.cancelled
    report.rows = _rows(session, today, touched)
    # a row left in "sending" (by a run that crashed, or still running) waits as well
    waiting = (STATE_DE["planned"], STATE_DE["failed"], STATE_DE["sending"])
    report.queued = sum(1 for r in report.rows if r.state in waiting)
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
        _shown(p.name),
        _shown(p.email or ""),
        r.kind,
        _shown(_title(r)),
        r.deadline,
        r.offset,
        STATE_DE[str(r.state)],
        _shown(r.last_error),
    )


def _shown(text: str) -> str:
    """Stored text as a report shows it: a control character (a line break or a terminal
    escape in a name from the RIS) written as its escape (\\r, \\x1b), not acted upon."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
    if r.kind == "sitzung_reinstated":
        return f"{p.get('gremium_short', '')} wieder angesetzt"
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


MOVED_STALE = "hinfällig: Sitzung verlegt"  # last_error of reminders a move made stale

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
    processes = get_all_required(session, Fortschreibung, move.changes)
    # which move of this Sitzung this is (the engine logged it): each move is told, also a
    # move back and a move to a day it had before; the same move's follow-up again adds nothing
    nth, _ = ical.changes_of(session, "Sitzung", ident(sitzung), "sitzung_moved")
    for process_id, changes in move.changes.items():
        process = processes[process_id]
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
                f"moved:{process.id}:{sitzung.id}:{nth}:{move.old.isoformat()}",
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
            # a "wieder angesetzt" message stays true when its Sitzung moves (the RIS may list
            # it again at another time: the move's own message follows it)
            col(Reminder.kind).not_in(["moved", "sitzung_reinstated"]),
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
        .values(state=ReminderState.cancelled.name, last_error="hinfällig: Aufgabe neu zugewiesen")
    )


def _concerned(
    session: Session, process: Fortschreibung, sitzung: Sitzung, changes: list[DueChange]
) -> dict[int, list[dict[str, str]]]:
    """Person id -> their changed open deadlines; the project lead hears in any case."""
    per_person: dict[int, list[dict[str, str]]] = defaultdict(list)
    tasks = get_all_required(session, Task, [c.task_id for c in changes])
    stages = get_all_required(session, Stage, [t.stage_id for t in tasks.values()])
    for change in changes:
        task = tasks[change.task_id]
        stage = stages[task.stage_id]
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
