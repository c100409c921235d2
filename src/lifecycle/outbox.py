"""The outbox: reminders as rows, planned once and sent once.

- planning inserts rows with INSERT … ON CONFLICT on the UNIQUE key (recipient, subject,
  deadline, offset), so a second or concurrent scan adds nothing; only a row cancelled before
  it was sent is planned again when the scan finds it due again (nothing is sent twice);
- delivery claims a row with one conditional UPDATE (state planned/failed → sending, with a
  fresh claim token); only the process whose UPDATE changed the row sends it;
- an SMTP outage leaves rows planned/failed, and the next run delivers them;
- a run sends every row over one SMTP connection (``mail.Mailer``), claiming, sending and
  recording one row after the other: one row at a time is ever between claim and record.
  A connection the server closed between two messages is reopened for the next one.
A crash between the SMTP hand-over and recording "sent" leaves the row in "sending"; after
STALE_CLAIM it is claimed again and sent again: at-least-once in that one window (see README).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Table, bindparam, case, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, col, select

from . import dates, mail
from .cancellations import CANCELLED, last_word
from .models import (
    Fortschreibung,
    Person,
    ProcessState,
    Reminder,
    ReminderState,
    Sitzung,
    Task,
    TaskState,
)
from .reminder_messages import due_changes_of, render
from .typing_helpers import required

# A row stuck in "sending" longer than this belongs to a crashed run and is retried.
STALE_CLAIM = dt.timedelta(minutes=15)
QUEUED = (ReminderState.planned, ReminderState.failed)
# The outbox's UNIQUE key: a row planned twice is inserted once.
_KEY = ["person_id", "subject", "deadline", "offset"]


@dataclass(frozen=True)
class Planned:
    """A reminder the scan wants in the outbox."""

    person_id: int
    subject: str
    deadline: dt.date
    offset: int
    kind: str
    send_on: dt.date
    process_id: int | None = None
    task_id: int | None = None
    sitzung_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[int, str, dt.date, int]:
        return (self.person_id, self.subject, self.deadline, self.offset)


_new = object.__new__


def planned(
    person_id: int,
    subject: str,
    deadline: dt.date,
    offset: int,
    kind: str,
    send_on: dt.date,
    process_id: int | None,
    task_id: int | None,
    payload: dict[str, Any],
) -> Planned:
    """``Planned(...)`` without the frozen dataclass's field-by-field ``__init__``: the daily
    scan makes one per reminder, thousands of them. Equal to the dataclass built normally."""
    p = _new(Planned)
    p.__dict__.update(
        person_id=person_id,
        subject=subject,
        deadline=deadline,
        offset=offset,
        kind=kind,
        send_on=send_on,
        process_id=process_id,
        task_id=task_id,
        sitzung_id=None,
        payload=payload,
    )
    return p


def queue(session: Session, planned: Sequence[Planned]) -> int:
    """Insert what is not in the outbox yet and commit; returns how many rows are new (or
    cancelled ones planned again)."""
    added = queue_rows(session, planned)
    session.commit()
    return added


def queue_rows(session: Session, planned: Sequence[Planned]) -> int:
    """Insert what is not in the outbox yet (or is again due after it was cancelled unsent), in
    the caller's transaction; count those rows."""
    if not planned:
        return 0
    rows = [
        {
            "person_id": p.person_id,
            "subject": p.subject,
            "deadline": p.deadline,
            "offset": p.offset,
            "kind": p.kind,
            "fortschreibung_id": p.process_id,
            "task_id": p.task_id,
            "sitzung_id": p.sitzung_id,
            "send_on": p.send_on,
            "state": ReminderState.planned.name,
            "payload": p.payload,
            "attempts": 0,
            "last_error": "",
            "created_at": dt.datetime.now(dt.UTC),
            "message_uid": uuid.uuid4().hex,
        }
        for p in planned
    ]
    # counted by RETURNING: the driver's rowcount of an upsert is -1 on PostgreSQL (psycopg)
    stmt = _insert_ignore(session).values(rows).returning(_TABLE.c.id)
    return len(session.execute(stmt).all())


def _insert_ignore(session: Session) -> Insert:
    """INSERT … ON CONFLICT on the outbox key: a row already there stays as it is, unless it
    was cancelled before it was ever sent (a Sitzung moved and moved back, a task reassigned
    and given back): that row is due again, planned anew with the scan's payload and day.
    A row someone cancelled by hand (``cancelled_by``) stays cancelled."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(Reminder)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(Reminder)  # type: ignore[assignment]
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=_KEY,
        set_={
            "state": ReminderState.planned.name,
            "last_error": "",
            "kind": new.kind,
            "send_on": new.send_on,
            "payload": new.payload,
            "fortschreibung_id": new.fortschreibung_id,
            "task_id": new.task_id,
            "sitzung_id": new.sitzung_id,
            "claim_token": None,
            "claimed_at": None,
        },
        where=(_TABLE.c.state == ReminderState.cancelled.name)
        & _TABLE.c.sent_at.is_(None)
        & (_TABLE.c.cancelled_by == ""),
    )


# --- delivery --------------------------------------------------------------------------------


@dataclass
class Delivery:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    server_error: str = ""
    config_error: str = ""  # the settings do not work: nothing sent, every row still queued


# The statements of a delivery, built once: each row costs a claim, a read and a result, and
# building them anew per row cost more than running them. Core on the table: nothing in the
# session to synchronise (a claimed row is read fresh, _load).
_TABLE: Table = Reminder.__table__  # type: ignore[attr-defined]
_CLAIM = (
    _TABLE.update()
    .where(
        _TABLE.c.id == bindparam("b_id"),
        or_(
            _TABLE.c.state.in_([s.name for s in QUEUED]),
            (_TABLE.c.state == ReminderState.sending.name)
            & (_TABLE.c.claimed_at < bindparam("b_stale")),
        ),
    )
    .values(
        state=ReminderState.sending.name,
        claim_token=bindparam("b_token"),
        claimed_at=bindparam("b_now"),
        attempts=_TABLE.c.attempts + 1,
    )
)
_MINE = (_TABLE.c.id == bindparam("b_id")) & (_TABLE.c.claim_token == bindparam("b_token"))
_FINISH = (
    _TABLE.update().where(_MINE).values(state=bindparam("b_state"), last_error=bindparam("b_error"))
)
_SENT = (
    _TABLE.update()
    .where(_MINE)
    .values(state=ReminderState.sent.name, last_error=bindparam("b_error"),
            sent_at=bindparam("b_sent_at"))
)
# A claim given back untried (nothing reached the server): queued as before, the attempt
# not counted, free for the next run at once instead of after STALE_CLAIM.
_RELEASE = (
    _TABLE.update()
    .where(_MINE)
    .values(state=ReminderState.planned.name, last_error=bindparam("b_error"),
            attempts=_TABLE.c.attempts - 1, claim_token=None, claimed_at=None)
)

# A queued row cancelled by hand, unless a delivery claimed it first: one conditional UPDATE
# like the claim, so of a cancellation and a claim at the same time exactly one wins.
_CANCEL = (
    _TABLE.update()
    .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.state.in_([s.name for s in QUEUED]))
    .values(state=ReminderState.cancelled.name, last_error=bindparam("b_error"),
            cancelled_by=bindparam("b_actor"))
)


def cancel_by_hand(session: Session, reminder_id: int, reason: str, actor: str) -> bool:
    """Cancel a queued (planned or failed) row in the caller's transaction, noting who and
    why; False if it is not queued (any more). Never planned again (``cancelled_by``)."""
    result = session.connection().execute(_CANCEL, {
        "b_id": reminder_id, "b_error": f"von Hand verworfen: {reason} ({actor})",
        "b_actor": actor or "?"})  # fmt: skip
    return result.rowcount == 1


def claim(session: Session, reminder_id: int, token: str, now: dt.datetime) -> bool:
    """Atomically take a row for sending; exactly one concurrent caller gets True."""
    result = session.connection().execute(
        _CLAIM, {"b_id": reminder_id, "b_stale": now - STALE_CLAIM, "b_token": token, "b_now": now}
    )
    session.commit()
    return result.rowcount == 1


# What happened to a claimed row: (id, claim token, new state, error), to be recorded.
_Result = tuple[int, str, ReminderState, str]


def _record(session: Session, result: _Result) -> None:
    """Write a claimed row's result, in the caller's transaction (if the claim is still ours)."""
    reminder_id, token, state, error = result
    mine = {"b_id": reminder_id, "b_token": token, "b_error": error}
    if state == ReminderState.sent:
        session.connection().execute(_SENT, mine | {"b_sent_at": dt.datetime.now(dt.UTC)})
    elif state == ReminderState.sending:  # untried: the claim is given back
        session.connection().execute(_RELEASE, mine)
    else:
        session.connection().execute(_FINISH, mine | {"b_state": state.name})


def deliverable_ids(session: Session, today: dt.date, now: dt.datetime) -> list[int]:
    ids = session.exec(
        select(col(Reminder.id))
        .where(
            col(Reminder.send_on) <= today,
            or_(
                col(Reminder.state).in_(QUEUED),
                (col(Reminder.state) == ReminderState.sending)
                & (col(Reminder.claimed_at) < now - STALE_CLAIM),
            ),
        )
        # the rows tried least often first: a row that failed (and may fail again, even stop
        # the batch) does not go before the rows never tried, run after run
        .order_by(col(Reminder.attempts), col(Reminder.id))
    )
    return [rid for rid in ids if rid is not None]  # a primary key is never NULL


def deliver(
    session: Session,
    today: dt.date,
    settings: mail.MailSettings,
    *,
    mailer: mail.Mailer | None = None,
    now: dt.datetime | None = None,
) -> Delivery:
    """Send every queued row due by ``today``; errors are recorded on the rows."""
    now = now or dt.datetime.now(dt.UTC)
    report = Delivery()
    mailer = mailer or mail.Mailer(settings)
    ids = deliverable_ids(session, today, now)
    # A row's result is committed together with the next row's claim (one commit per row,
    # not two): never is more than one row of this run between its claim and its record.
    pending: _Result | None = None
    try:
        for n, rid in enumerate(ids):
            token = uuid.uuid4().hex
            if pending is not None:
                _record(session, pending)
                pending = None
            if not claim(session, rid, token, now):  # commits the record above too
                continue  # another run has it
            outcome, stop, pending = _deliver_one(session, rid, token, settings, mailer)
            if outcome == "config_error":  # nothing was sent: the claim is given back
                report.config_error = stop
            else:
                getattr(report, outcome).append(rid)
                report.server_error = stop
            if stop:
                _record(session, pending)
                pending = None
                session.commit()
                note_waiting(session, ids[n + 1 :], stop)
                break
        if pending is not None:
            _record(session, pending)
            session.commit()
    finally:
        mailer.close()
    return report


def _deliver_one(
    session: Session, rid: int, token: str, settings: mail.MailSettings, mailer: mail.Mailer
) -> tuple[str, str, _Result]:
    """("sent"|"failed"|"cancelled"|"config_error", the server's or the settings' error that
    stops the batch or "", the result to record)."""
    row, person, reason, sequence = _load(session, rid)
    if reason:
        return "cancelled", "", (rid, token, ReminderState.cancelled, reason)
    try:
        address = mail.check_address(person.name, person.email)
        msg = _message(session, row, person, address, settings, sequence)
    except (mail.AddressError, mail.MessageError) as exc:
        return "failed", "", (rid, token, ReminderState.failed, str(exc))
    except SQLAlchemyError:
        # the database failed while the message was built (the server went away): the
        # caller's error as anywhere else; nothing can be recorded on the row, whose claim
        # expires like a crashed run's
        raise
    except Exception as exc:  # a bug: shown as the crash it is, but its row is not left claimed
        error = f"interner Fehler beim Erstellen der Nachricht ({type(exc).__name__}); bitte melden"
        _record(session, (rid, token, ReminderState.failed, error))
        session.commit()
        raise
    try:
        mailer.send(msg)
    except mail.AddressError as exc:
        return "failed", "", (rid, token, ReminderState.failed, str(exc))
    except mail.ServerError as exc:
        return "failed", str(exc), (rid, token, ReminderState.failed, str(exc))
    except mail.ConfigError as exc:  # raised before a connection exists: nothing went out
        return "config_error", str(exc), (rid, token, ReminderState.sending,
                                          f"wartet: {exc}")  # fmt: skip
    return "sent", "", (rid, token, ReminderState.sent, "")


def _message(
    session: Session, row: Reminder, person: Person, address: str, settings: mail.MailSettings,
    sequence: int,
) -> mail.Outgoing | EmailMessage:
    """The row's message, ready to send; MessageError if its stored data cannot make one."""
    try:
        content = render(session, row, person, settings, sequence=sequence)
        mid = message_id(row, settings)
        msg: mail.Outgoing | EmailMessage | None = mail.outgoing(
            settings, person.name, address, content, mid
        )
        if msg is None:  # an address beyond ASCII: the email package's SMTPUTF8 path
            msg = mail.build_message(settings, person.name, address, content, mid)
    except (ValueError, OverflowError) as exc:
        # what stored text and dates can make the email package, the calendar and the date
        # arithmetic raise: a header it cannot write, a lone surrogate (UnicodeError), a date
        # at the end of the calendar
        raise mail.MessageError(
            "Nachricht nicht erstellbar: die gespeicherten Daten ergeben keine gültige "
            f"Nachricht ({type(exc).__name__})"
        ) from exc
    return msg


# The kinds of rows whose Sitzung's cancellation (or its end) makes them obsolete: a
# Vorlagenschluss reminder (its deadline does not stand), a "Sitzung wieder angesetzt" message
# (the RIS cancelled it again; that cancellation's own message tells it), a "Sitzung abgesagt"
# message (the RIS reinstated it meanwhile, also while a crashed run held its claim).
_ASK_CANCELLED = ("vorlagenschluss", "sitzung_reinstated", "sitzung_cancelled")
CANCELLED_STALE = "hinfällig: Sitzung im RIS abgesagt"
# a "Sitzung abgesagt" message the RIS's reinstatement overtook (oparl sync takes back the
# queued ones with it; the delivery drops one a run held meanwhile)
REINSTATED_STALE = "hinfällig: Sitzung im RIS wieder angesetzt"

_LOAD = (
    select(  # type: ignore[call-overload]
        *_TABLE.c,
        col(Person.name).label("person_name"),
        col(Person.email).label("person_email"),
        col(Fortschreibung.state).label("process_state"),
        col(Task.state).label("task_state"),
        col(Task.due).label("task_due"),
        col(Sitzung.start).label("sitzung_start"),
        # the SEQUENCE of a task's .ics, read with the row: one statement a message less
        due_changes_of(_TABLE.c.task_id).scalar_subquery().label("task_due_changes"),
        # the RIS's last word on the Sitzung of a row about a Sitzung that may since have been
        # cancelled (lifecycle.cancellations), read with the row; CASE: not asked for the rest
        case(
            (_TABLE.c.kind.in_(_ASK_CANCELLED),
             last_word(_TABLE.c.sitzung_id).scalar_subquery()),
            else_=None,
        ).label("sitzung_last_word"),
    )
    .select_from(_TABLE)
    .join(Person, col(Person.id) == _TABLE.c.person_id)
    .outerjoin(Fortschreibung, col(Fortschreibung.id) == _TABLE.c.fortschreibung_id)
    .outerjoin(Task, col(Task.id) == _TABLE.c.task_id)
    .outerjoin(Sitzung, col(Sitzung.id) == _TABLE.c.sitzung_id)
    .where(_TABLE.c.id == bindparam("b_id"))
)
_COLUMNS = [c.name for c in _TABLE.c]


def _load(session: Session, rid: int) -> tuple[Reminder, Person, str, int]:
    """The claimed row, its recipient, why it is obsolete ('' if it is not) and how often its
    task's due date changed, read fresh after the claim in one query. Detached objects:
    nothing here is written through them."""
    found = session.connection().execute(_LOAD, {"b_id": rid}).one()
    values = found._mapping
    row = Reminder.model_construct(**{name: values[name] for name in _COLUMNS})
    person = Person.model_construct(name=values["person_name"], email=values["person_email"])
    reason = _obsolete(
        row,
        values["process_state"],
        values["task_state"],
        values["task_due"],
        values["sitzung_start"],
        values["sitzung_last_word"] == CANCELLED,
    )
    return row, person, reason, values["task_due_changes"]


def _obsolete(
    row: Reminder,
    process_state: ProcessState | None,
    task_state: TaskState | None,
    task_due: dt.date | None,
    sitzung_start: dt.datetime | None,
    sitzung_cancelled: bool = False,
) -> str:
    """Why a queued row should no longer be sent ('' if it should). ``sitzung_cancelled``:
    the RIS's last word on the row's Sitzung is a cancellation (asked for the kinds in
    _ASK_CANCELLED only)."""
    if row.fortschreibung_id is not None and process_state != ProcessState.running:
        return "hinfällig: Fortschreibung abgeschlossen"
    if row.task_id is not None:  # a due or escalation reminder: about its task
        if task_state == TaskState.done:
            return "hinfällig: Aufgabe erledigt"
        if task_due != row.deadline:
            due = required(task_due, f"Fälligkeit der Aufgabe {row.task_id}")  # set since planned
            return f"hinfällig: Frist verschoben auf den {dates.short_de(due)}"
    if sitzung_cancelled and row.sitzung_id is not None:
        if row.kind == "vorlagenschluss":
            # its Vorlagenschluss does not stand; the lead is asked to bind a new date, and
            # the scan plans this row again if the RIS reinstates the Sitzung
            return CANCELLED_STALE
        if row.kind == "sitzung_reinstated":
            return "hinfällig: Sitzung im RIS wieder abgesagt"
    if row.kind == "sitzung_cancelled" and not sitzung_cancelled:
        return REINSTATED_STALE
    moved = sitzung_start is not None and (
        sitzung_start.isoformat() != row.payload.get("sitzung_start")
    )
    if row.kind == "vorlagenschluss" and row.sitzung_id is not None and moved:
        assert sitzung_start is not None  # moved
        return f"hinfällig: Sitzung verlegt auf den {dates.short_de(sitzung_start.date())}"
    return ""


def note_waiting(session: Session, ids: list[int], error: str) -> None:
    """Rows not tried because the server is down: keep them queued, say why."""
    if ids:
        session.execute(
            update(Reminder)
            .where(col(Reminder.id).in_(ids), col(Reminder.state).in_([s.name for s in QUEUED]))
            .values(last_error=f"wartet: {error}")
        )
        session.commit()


def message_id(row: Reminder, settings: mail.MailSettings) -> str:
    """Stable for the row (a resend shows as the same message), unique across databases."""
    domain = settings.mail_from.rpartition("@")[2]  # an address: checked by mail.settings_from
    return f"<reminder-{row.message_uid}@{domain}>"
