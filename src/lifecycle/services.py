"""Use cases: one function each, the transition and all its follow-ups in one transaction.

The CLI, the Prefect flows and the web app call these functions and nothing below them. A use
case runs the engine's transition (which locks, checks and changes rows but never commits),
adds what must follow from it — reminder messages in the outbox, a request for the next stage
run in the run outbox — and commits once. If anything refuses or the process dies half-way,
nothing of it is stored: a moved Sitzung never exists without its "Sitzung verlegt" messages,
a decision never without the request to start the stage it opened.

Starting runs and sending mail are I/O and stay outside the transaction: the adapters drain
the outboxes (``pending_runs``/``mark_run_started``, ``run_reminders``), and both outboxes are
keyed so that draining twice does nothing twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import bindparam, exists, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from . import engine, events, lookups, recompute, umsetzung
from .engine import SitzungMove
from .errors import InputError, NotFound, Refused
from .models import (
    Event,
    Fortschreibung,
    GateDecision,
    Grant,
    GrantRole,
    Handlungsfeld,
    Kommune,
    Massnahme,
    MassnahmeUebernahme,
    Meilenstein,
    Messung,
    Outcome,
    Person,
    ProcessState,
    Reminder,
    ReminderState,
    RunRequest,
    RunRequestState,
    Stage,
    Task,
    User,
    Vorlage,
    VorlageVersion,
)
from .texts import line_problem, text_problem
from .transactions import transaction
from .typing_helpers import get_all_required, get_required, ident
from .words import quoted

if TYPE_CHECKING:  # keep docxtpl, jsonschema and smtplib off the paths that do not need them
    from sqlalchemy.engine import CursorResult

    from .documents import DocumentResult
    from .mail import Mailer, MailSettings
    from .plan_types import Plan
    from .reminders import DailyReport
    from .scenario import Scenario

__all__ = [
    "MovePreview",
    "Rescheduled",
    "add_user",
    "cancel_reminder",
    "preview_move_sitzung",
    "save_vorlage_text",
    "edit_vorlage_section",
    "install_template",
    "RunToStart",
    "complete_task",
    "decide_gate",
    "generate_document",
    "generate_gate_documents",
    "generate_stage_run_documents",
    "mark_run_started",
    "move_sitzung",
    "pending_runs",
    "plan_reminders",
    "reassign_task",
    "record_stage_run",
    "recompute_all",
    "request_missing_runs",
    "run_reminders",
    "set_closing_days",
    "start",
]


# The services' own name for it: every use case below is `with _transaction(session):`.
_transaction = transaction


# --- the process ---------------------------------------------------------------------------


def start(
    session: Session, scenario: Scenario, *, actor: str = "python", force_reason: str = "",
    from_process: str | None = None,
) -> Fortschreibung:
    """Start the Fortschreibung of a scenario and request the run of its first stage.

    ``from_process``: the next revision of that process's concept; it carries the concept's
    history, its Handlungsfelder (when the scenario names none) and every open Maßnahme, on
    which its first gate then decides (weiterführen, abgeschlossen, streichen).
    """
    with _transaction(session):
        previous = lookups.get_process(session, from_process) if from_process else None
        process = engine.start(session, scenario, actor, force_reason=force_reason)
        if previous is not None:
            _check_successor(previous, process)
            _copy_handlungsfelder(session, previous, process)
            carried = umsetzung.carry(session, previous, process)
            events.log(session, actor=actor, action="carried_from", entity=process,
                       process_id=process.id,
                       after={"from": previous.key, "massnahmen": carried})  # fmt: skip
        _request_run(session, process, None, scenario.plan.first.key)  # the first stage is open
    return process


def _check_successor(previous: Fortschreibung, process: Fortschreibung) -> None:
    if (previous.kommune_id, previous.konzept_id) != (process.kommune_id, process.konzept_id):
        raise Refused(f"{process.key} schreibt nicht das Konzept von {previous.key} fort "
                      "(andere Kommune oder andere Konzeptart)")  # fmt: skip


def _copy_handlungsfelder(session: Session, previous: Fortschreibung,
                          process: Fortschreibung) -> None:  # fmt: skip
    own = session.exec(select(Handlungsfeld).where(
        Handlungsfeld.fortschreibung_id == process.id)).first()  # fmt: skip
    if own is not None:
        return
    for h in session.exec(select(Handlungsfeld).where(
            Handlungsfeld.fortschreibung_id == previous.id)).all():  # fmt: skip
        session.add(Handlungsfeld(fortschreibung_id=ident(process), key=h.key, title=h.title,
                                  position=h.position))  # fmt: skip


def complete_task(
    session: Session,
    task_ref: str | int,
    *,
    on: dt.date,
    by: str | None = None,
    actor: str | None = None,
) -> Task:
    """Mark a task done; ``by`` must be a person of the Kommune (default: the assignee)."""
    with _transaction(session):
        return engine.complete_task(session, task_ref, on=on, by=by, actor=actor)


def reassign_task(session: Session, task_ref: str | int, *, to: str, actor: str) -> Task:
    """Give a task to someone else; reminders queued for the previous assignee are dropped."""
    from .reminders import cancel_for_reassigned

    with _transaction(session):
        task = engine.reassign_task(session, task_ref, to=to, actor=actor)
        cancel_for_reassigned(session, task)
    return task


def decide_gate(
    session: Session,
    process_key: str,
    stage_key: str,
    *,
    outcome: Outcome | str,
    on: dt.date,
    by: str,
    reference: str = "",
    remarks: str = "",
    force_reason: str = "",
    postpone_to: str | None = None,
    reopen: tuple[str, ...] = (),
) -> GateDecision:
    """Approve, send back or postpone a gate; request the run of the stage that is now open.

    Two people deciding the same gate at once: the stage row is locked, so exactly one
    decision is recorded and the other is refused with the state the first one left.
    """
    from .plan_types import plan_of

    with _transaction(session):
        process = lookups.get_process(session, process_key, scenario=False)
        plan = plan_of(process.plan)
        approve = str(outcome) == Outcome.approve
        if approve and stage_key == plan.first.key:
            open_keys = umsetzung.undecided(session, process)
            if open_keys:
                raise Refused("erst über die übernommenen Maßnahmen entscheiden (weiterführen, "
                              f"abgeschlossen oder streichen): {', '.join(open_keys)}")
        decision = engine.decide_gate(
            session, process, stage_key, outcome=outcome, on=on, by=by,
            reference=reference, remarks=remarks, force_reason=force_reason,
            postpone_to=postpone_to, reopen=reopen,
        )  # fmt: skip
        process = get_required(session, Fortschreibung, decision.fortschreibung_id)
        if approve and stage_key == plan.last.key and plan.name != UMSETZUNG_PLAN:
            umsetzung.adopt(session, process, on, by)
        _request_run(session, process, decision, _open_after(plan, stage_key, approve))
    return decision


def _open_after(plan: Plan, decided: str, approved: bool) -> str:
    """The stage open after a decision on ``decided``: the next one after an approval (the
    last one stays, for its closing report); the stages' positions are the plan's order."""
    keys = [s.key for s in plan.stages]
    return keys[keys.index(decided) + 1] if approved and decided != keys[-1] else decided


# The yearly evaluation reports on Maßnahmen; its last gate adopts nothing new.
UMSETZUNG_PLAN = "integrationskonzept-umsetzung"


# --- the council calendar --------------------------------------------------------------------


@dataclass(frozen=True)
class Rescheduled(SitzungMove):
    notified: int = 0  # "Sitzung verlegt" messages queued with the move

    @property
    def due_changes(self) -> int:
        return sum(len(c) for c in self.changes.values())


def move_sitzung(
    session: Session,
    sitzung_ref: str,
    new_start: dt.datetime | dt.date,
    *,
    actor: str,
    force_reason: str = "",
    today: dt.date | None = None,
) -> Rescheduled:
    """Move a Sitzung: deadlines follow, stale reminders go, each person concerned is told."""
    from . import reminders

    with _transaction(session):
        move = engine.move_sitzung(
            session, sitzung_ref, new_start, actor=actor, force_reason=force_reason
        )
        notified = reminders.on_sitzung_moved(session, move, today=today)
    return Rescheduled(move.sitzung, move.old, move.changes, notified)


def set_closing_days(
    session: Session, kommune_key: str, days: Sequence[dt.date], *, actor: str
) -> int:
    """Change the Rathaus's closing days; every deadline of the Kommune is recomputed."""
    with _transaction(session):
        return engine.set_closing_days(session, kommune_key, list(days), actor=actor)


def recompute_all(session: Session, *, actor: str, reason: str) -> int:
    """Recompute every deadline of every process (after a holiday-calendar update)."""
    with _transaction(session):
        return recompute.recompute_all(session, actor=actor, reason=reason)


# --- documents -------------------------------------------------------------------------------


def generate_document(
    session: Session,
    process_key: str,
    kind: str,
    *,
    out_dir: Path | None = None,
    pdf: bool = False,
    templates: Path | None = None,
    stage: str | None = None,
    actor: str | None = None,
) -> DocumentResult:
    """Write a document of the process (a new version only if its inputs changed).

    The file and its version row are written first (the file must exist before its row
    says so); a new version is then logged with ``actor`` as who asked for it.
    """
    from .documents import generate, output_folder
    from .files import writable_folder, writing

    process = lookups.get_process(session, process_key)
    source = "--out" if out_dir else "Dokumentordner"
    folder = writable_folder(output_folder(out_dir, process), source)  # before any work
    with writing(folder, source):  # a full disk while writing
        result = generate(
            session, process, kind, out_dir=out_dir, pdf=pdf, templates=templates, stage=stage
        )
    if actor and result.created:
        with _transaction(session):
            events.log(session, actor=actor, action="document_generated", entity=process,
                       process_id=process.id, after={"kind": result.kind,
                       "stage": result.stage_key, "version": result.version})  # fmt: skip
    return result


def generate_gate_documents(
    session: Session, process_key: str, stage_key: str, *, out_dir: Path | None = None
) -> list[DocumentResult]:
    """Write every document the plan names for a stage's gate."""
    from .documents import generate_gate_documents as generate_all

    process = lookups.get_process(session, process_key)
    return generate_all(session, process, stage_key, out_dir=out_dir)


def generate_stage_run_documents(
    session: Session, process_key: str, stage_key: str, *, out_dir: Path | None = None
) -> list[DocumentResult]:
    """The documents a stage's run writes: those of its own gate, as drafts for the decision;
    and, when the approval of the stage before opened it, that stage's once more, as decided
    (a report is as of its stage's close: the Abschlussbericht's "Stand", a stage report's
    decisions), listed only where that made a new version. Only for the approval that
    opened this round: a decided paper is not rewritten by every later run."""
    from .documents import generate_gate_documents as generate_all

    process = lookups.get_process(session, process_key)
    decided = _closed_by_last_approval(session, process, stage_key)
    earlier = generate_all(session, process, decided, out_dir=out_dir) if decided else []
    return [*(r for r in earlier if r.created),
            *generate_all(session, process, stage_key, out_dir=out_dir)]  # fmt: skip


def _closed_by_last_approval(session: Session, process: Fortschreibung, stage_key: str
                             ) -> str | None:  # fmt: skip
    """The key of the stage before ``stage_key`` if the process's last decision approved it
    (so that approval opened ``stage_key``); else None."""
    from .plan_types import plan_of

    keys = [s.key for s in plan_of(process.plan).stages]
    i = keys.index(stage_key) if stage_key in keys else 0
    if i == 0:
        return None
    last = session.exec(
        select(GateDecision.outcome, Stage.key)
        .join(Stage, col(Stage.id) == GateDecision.stage_id)
        .where(GateDecision.fortschreibung_id == process.id)
        .order_by(col(GateDecision.id).desc()).limit(1)
    ).first()  # fmt: skip
    approved = last is not None and last[0] == Outcome.approve and last[1] == keys[i - 1]
    return keys[i - 1] if approved else None


# --- reminders -------------------------------------------------------------------------------


def plan_reminders(session: Session, today: dt.date) -> int:
    """Put what is due ``today`` into the outbox (once, however often called)."""
    from . import outbox, reminders

    with _transaction(session):
        return outbox.queue_rows(session, reminders.find_due(session, today))


def run_reminders(
    session: Session,
    today: dt.date,
    *,
    dry_run: bool = False,
    settings: MailSettings | None = None,
    mailer: Mailer | None = None,
    now: dt.datetime | None = None,
) -> DailyReport:
    """The daily run: plan what is due, then deliver the outbox, one claimed row at a time."""
    from .reminders import run_daily

    return run_daily(session, today, dry_run=dry_run, settings=settings, mailer=mailer, now=now)


REASON_LIMIT = 500  # characters of the reason a reminder is cancelled for


def cancel_reminder(session: Session, reminder_id: int, *, reason: str, actor: str) -> Reminder:
    """Cancel one queued reminder (planned or failed) by hand, e.g. one whose message cannot
    be built and fails run after run: it is not sent, and the daily scan does not plan it
    again. The reason is noted on the row and in the event log.

    Refused: a reminder already sent or already cancelled, and one a delivery run has claimed
    (being sent now, or left by a run that crashed: it may have gone out already).
    """
    from . import outbox

    reason = reason.strip()
    if not reason:
        raise InputError("Grund", "", "darf nicht leer sein")
    if problem := line_problem(reason):
        raise InputError("Grund", "", problem)
    if len(reason) > REASON_LIMIT:
        raise InputError("Grund", "", f"höchstens {REASON_LIMIT} Zeichen, nicht {len(reason)}")
    with _transaction(session):
        row = session.get(Reminder, reminder_id, populate_existing=True)
        if row is None:
            raise NotFound(f"keine Erinnerung mit der Nummer {reminder_id}")
        before = {"state": str(row.state), "last_error": row.last_error}
        if row.state not in outbox.QUEUED or not outbox.cancel_by_hand(
            session, reminder_id, reason, actor
        ):
            session.refresh(row)  # a delivery may have claimed it since it was read
            raise Refused(_not_cancellable(row))
        session.refresh(row)
        events.log(session, actor=actor, action="reminder_cancelled", entity=row,
                   process_id=row.fortschreibung_id, before=before,
                   after={"reason": reason})  # fmt: skip
    return row


def _not_cancellable(row: Reminder) -> str:
    """Why a reminder that is not queued cannot be cancelled, in German."""
    from .dates import short_de

    name = f"Erinnerung {row.id}"
    if row.state == ReminderState.sent:
        when = f" (am {short_de(row.sent_at.date())})" if row.sent_at else ""
        return (f"{name} ist schon gesendet{when}; eine gesendete Nachricht lässt sich nicht "
                "zurückholen")  # fmt: skip
    if row.state == ReminderState.cancelled:
        return f"{name} ist schon verworfen"
    return (f"{name} wird gerade gesendet (ein Versandlauf hat sie übernommen); nach dem "
            "Lauf erneut versuchen")  # fmt: skip


# --- stage runs --------------------------------------------------------------------------------

STAGE_RUN = "stage_run"
REFERENCE = engine.REFERENCE  # the form of a Vorlagen- or Beschlussnummer, for adapters' forms


def record_stage_run(session: Session, process_key: str, stage_key: str, key: str) -> bool:
    """Note in the event log that the stage run for ``key`` is done; once per key."""
    with _transaction(session):
        process = lookups.get_process(session, process_key, scenario=False)
        stage = lookups.get_stage(session, process, stage_key)
        if _stage_run_found(session, key, stage.id):
            return False
        events.log(session, actor="flows", action=STAGE_RUN, entity=stage, process_id=process.id,
                   after={"key": key})  # fmt: skip
    return True


def stage_run_recorded(session: Session, key: str) -> bool:
    return _stage_run_found(session, key)


def _stage_run_found(session: Session, key: str, stage_id: int | None = None) -> bool:
    """Whether a stage run with ``key`` is in the event log; with ``stage_id``, read through
    that stage's history (ix_event_entity) instead of every stage run of the installation."""
    query = sa_select(col(Event.id)).where(
        col(Event.action) == STAGE_RUN, col(Event.after)["key"].as_string() == key)
    if stage_id is not None:
        query = query.where(col(Event.entity) == "Stage", col(Event.entity_id) == stage_id)
    return session.execute(query.limit(1)).first() is not None


# --- the run outbox --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunToStart:
    """A stage run someone asked for; ``key`` doubles as the run's idempotency key."""

    id: int
    key: str
    process_key: str
    stage_key: str


def _request_run(
    session: Session, process: Fortschreibung, decision: GateDecision | None,
    stage_key: str | None = None,
) -> None:
    """The run of the stage now open (the decided one again after send back or postpone; the
    last one once more after the final approval, for its closing report); ``stage_key``: its
    key when the caller knows it."""
    if process.current_stage_id is not None:
        stage_id = process.current_stage_id
    else:
        assert decision is not None, "a process completes only by a decision"
        stage_id = decision.stage_id
    loaded = session.identity_map.get(identity_key(Stage, stage_id))
    if stage_key is None and loaded is not None:
        stage_key = loaded.key
    elif stage_key is None:
        stage_key = session.connection().execute(
            _run_statements()[0], {"sid": stage_id}).scalar_one()  # fmt: skip
    opened_by = str(decision.id) if decision is not None else "start"
    session.flush()  # the decision's rows first: the request is written at once
    session.connection().execute(_run_statements()[1], {
        "key": f"{process.key}:{stage_key}:{opened_by}", "fortschreibung_id": ident(process),
        "stage_id": stage_id, "decision_id": ident(decision) if decision is not None else None,
        "state": RunRequestState.pending, "created_at": dt.datetime.now(dt.UTC),
    })  # fmt: skip


@cache
def _run_statements() -> tuple[Any, Any]:
    """Built once (building one costs more than running it): a stage's key; a run request."""
    return (sa_select(col(Stage.key)).where(col(Stage.id) == bindparam("sid")),
            insert(RunRequest))  # fmt: skip


def pending_runs(session: Session, *, process_key: str | None = None) -> list[RunToStart]:
    """Stage runs requested and not yet started, oldest first."""
    query = (
        select(RunRequest.id, RunRequest.key, Fortschreibung.key, Stage.key)
        .join(Fortschreibung, col(Fortschreibung.id) == RunRequest.fortschreibung_id)
        .join(Stage, col(Stage.id) == RunRequest.stage_id)
        .where(RunRequest.state == RunRequestState.pending)
        .order_by(col(RunRequest.id))
    )
    if process_key is not None:
        query = query.where(Fortschreibung.key == process_key)
    return [RunToStart(*row) for row in session.exec(query)]


def mark_run_started(session: Session, request_id: int, run_id: str) -> bool:
    """Record that the run is started; False if someone else recorded it first."""
    with _transaction(session):
        result = session.execute(
            update(RunRequest)
            .where(
                col(RunRequest.id) == request_id,
                col(RunRequest.state) == RunRequestState.pending,
            )
            .values(
                state=RunRequestState.started,
                run_id=run_id,
                started_at=dt.datetime.now(dt.UTC),
                attempts=RunRequest.attempts + 1,
            )
        )
    # Session.execute is typed as returning Result; an UPDATE gives a CursorResult, which counts.
    return cast("CursorResult[Any]", result).rowcount == 1  # pragma: no mutate (cast: typing)


def note_run_failed(session: Session, request_id: int, error: str) -> None:
    """Starting the run failed (Prefect unreachable): the request stays pending, with why."""
    with _transaction(session):
        session.execute(
            update(RunRequest)
            .where(col(RunRequest.id) == request_id)
            .values(last_error=error[:500], attempts=RunRequest.attempts + 1)
        )


def request_missing_runs(session: Session) -> int:
    """Request a run for every running process whose open stage has never had one.

    A safety net for databases from before the run outbox; normally every decision has
    already requested its run.
    """
    requested = 0
    asked = exists().where(col(RunRequest.fortschreibung_id) == Fortschreibung.id,
                           col(RunRequest.stage_id) == Fortschreibung.current_stage_id)
    # Run every 15 minutes over all processes: the database finds the few without a request
    # (through ix_runrequest_fortschreibung_id).
    missing = (
        select(Fortschreibung)
        .where(Fortschreibung.state == ProcessState.running,
               col(Fortschreibung.current_stage_id).is_not(None), ~asked)
        .options(*lookups.WITHOUT_PLAN)
    )  # fmt: skip
    with _transaction(session):
        for process in session.exec(missing).all():
            last = session.exec(
                select(GateDecision)
                .where(GateDecision.fortschreibung_id == process.id)
                .order_by(col(GateDecision.id).desc())
            ).first()
            _request_run(session, process, last)
            requested += 1
    return requested


# --- users and grants (the web app's accounts) -----------------------------------------------


def add_user(
    session: Session,
    name: str,
    *,
    password: str,
    display_name: str = "",
    admin: bool = False,
    grants: Sequence[tuple[GrantRole | str, str, str | None]] = (),
    actor: str,
) -> User:
    """Create a local account with its grants: (role, Kommune key, process key or None)."""
    from .passwords import MIN_LENGTH, hash_password

    if not USER_NAME.fullmatch(name):
        raise InputError(
            "NAME", "", f"{quoted(name)}: nur Kleinbuchstaben, Ziffern, „.“, „-“ und „_“"
        )
    if len(password) < MIN_LENGTH:
        raise InputError("Passwort", "", f"mindestens {MIN_LENGTH} Zeichen")
    if problem := text_problem(password):
        raise InputError("Passwort", "", problem)
    if problem := line_problem(display_name):
        raise InputError("Anzeigename", "", problem)
    known = [str(r) for r in GrantRole if r != GrantRole.admin]
    for role, _kommune, _process in grants:
        if str(role) not in known:
            raise InputError(
                "--role", "", f"{quoted(role)} ist keine Rolle; möglich: {', '.join(known)}"
            )
    with _transaction(session):
        if session.exec(select(User).where(User.name == name)).first() is not None:
            raise Refused(f"den Benutzer {quoted(name)} gibt es schon")
        user = User(name=name, display_name=display_name or name,
                    password_hash=hash_password(password), is_admin=admin)  # fmt: skip
        session.add(user)
        session.flush()
        for role, kommune_key, process_key in grants:
            _grant(session, user, GrantRole(role), kommune_key, process_key)
        events.log(session, actor=actor, action="user_added", entity=user, process_id=None,
                   after={"name": name, "admin": admin,
                          "grants": [[str(r), k, p] for r, k, p in grants]})  # fmt: skip
    return user


USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _grant(
    session: Session, user: User, role: GrantRole, kommune_key: str, process_key: str | None
) -> Grant:
    kommune = session.exec(select(Kommune).where(Kommune.key == kommune_key)).first()
    if kommune is None:
        raise NotFound(f"keine Kommune {quoted(kommune_key)}")
    process_id = None
    if process_key is not None:
        process = lookups.get_process(session, process_key)
        if process.kommune_id != kommune.id:
            raise Refused(f"{quoted(process_key)} gehört nicht zur Kommune {quoted(kommune_key)}")
        process_id = process.id
    grant = Grant(user_id=ident(user), role=role, kommune_id=ident(kommune),
                  fortschreibung_id=process_id)  # fmt: skip
    session.add(grant)
    session.flush()
    return grant


# --- the Vorlage editor ------------------------------------------------------------------------


def save_vorlage_text(
    session: Session,
    process_key: str,
    stage_key: str,
    *,
    betreff: str,
    beschlussvorschlag: str,
    begruendung: Mapping[str, str],
    actor: str,
) -> VorlageVersion:
    """Store an edited text as the Vorlage's next version; documents generate from it.

    ``begruendung`` maps section titles to text; a section given empty reverts to the draft
    generated from the process, a section not given keeps what it had. The draft each edited
    section replaces is kept with the version: when the process later changes that draft, the
    section is flagged (``doc_context.stale_sections``), and the author's words stay.

    Refused once the council has decided the Vorlage (``decided``): its text is the record.
    """
    from . import markup
    from .decided import decided
    from .doc_context import BETREFF, VORSCHLAG, drafts

    with _transaction(session):
        process = lookups.get_process(session, process_key)
        vorlage = session.exec(
            select(Vorlage).where(
                Vorlage.fortschreibung_id == process.id, Vorlage.stage_key == stage_key
            )
        ).first()
        if vorlage is None:
            raise NotFound(f"{process_key} hat keine Vorlage für die Phase {quoted(stage_key)}")
        # The gate's decision locks the stage: an edit waits for it and then sees it.
        engine.lock(session, lookups.get_stage(session, process, stage_key))
        decision = decided(session, vorlage)
        if decision is not None:
            raise Refused(decision.refusal)
        for title, value in [(BETREFF, betreff), (VORSCHLAG, beschlussvorschlag),
                             *begruendung.items()]:  # fmt: skip
            problem = markup.problem(value)
            if problem:
                raise InputError(title, "", problem)
        if not betreff.strip():
            raise InputError("Betreff", "", "darf nicht leer sein")
        engine.lock(session, vorlage)
        last = session.exec(select(VorlageVersion.version).where(
            VorlageVersion.vorlage_id == vorlage.id).order_by(
            col(VorlageVersion.version).desc())).first()  # fmt: skip
        # A section given empty goes back to the text generated from the process.
        given = {k: v.strip() for k, v in begruendung.items()}
        texts = {k: v for k, v in given.items() if v}
        generated = {d.title: d.generated for d in drafts(session, process, stage_key)}
        basis = {k: generated[k] for k in [*texts, BETREFF, VORSCHLAG] if k in generated}
        version = VorlageVersion(
            vorlage_id=ident(vorlage), version=(last or 0) + 1, betreff=betreff.strip(),
            beschlussvorschlag=beschlussvorschlag.strip(), begruendung=texts, saved_by=actor,
            basis=basis,
        )  # fmt: skip
        before = {"betreff": vorlage.betreff, "version": last or 0}
        vorlage.betreff, vorlage.beschlussvorschlag = version.betreff, version.beschlussvorschlag
        merged = {k: v for k, v in vorlage.begruendung.items() if k not in given}
        vorlage.begruendung = {**merged, **texts}
        session.add_all([vorlage, version])
        session.flush()
        events.log(session, actor=actor, action="vorlage_saved", entity=vorlage,
                   process_id=process.id, before=before,
                   after={"betreff": vorlage.betreff, "version": version.version})  # fmt: skip
    return version


def edit_vorlage_section(
    session: Session, process_key: str, vorlage_ref: str, section: str, text: str, *, actor: str
) -> VorlageVersion:
    """One section of a Vorlage in the author's words (``lifecycle vorlage edit``).

    ``vorlage_ref`` is the stage key or the Vorlage's number; ``section`` one of the titles the
    draft has (Betreff, Beschlussvorschlag, each Begründung section, Finanzielle
    Auswirkungen). An empty text gives the section back to the draft from the process.
    """
    from .doc_context import BETREFF, VORSCHLAG, drafts

    process = lookups.get_process(session, process_key)
    vorlage = lookups.get_vorlage(session, process, vorlage_ref)
    sections = {d.title: d for d in drafts(session, process, vorlage.stage_key)}
    if section not in sections:
        raise InputError("--section", section, f"unbekannter Abschnitt; bekannt: "
                         f"{', '.join(sections)}")  # fmt: skip
    betreff, vorschlag = vorlage.betreff, vorlage.beschlussvorschlag
    texts: dict[str, str] = {}
    if section == BETREFF:
        betreff = text.strip() or sections[BETREFF].generated
    elif section == VORSCHLAG:
        vorschlag = text.strip() or sections[VORSCHLAG].generated
    else:
        texts[section] = text
    return save_vorlage_text(session, process_key, vorlage.stage_key, betreff=betreff,
                             beschlussvorschlag=vorschlag, begruendung=texts,
                             actor=actor)  # fmt: skip


# --- the Umsetzung -----------------------------------------------------------------------------


def update_massnahme(
    session: Session, process_key: str, key: str, values: Mapping[str, object], *, actor: str,
    on: dt.date | None = None,
) -> umsetzung.Change:
    """Change a Maßnahme's status, progress, target date, responsible, texts (event-logged);
    ``on``: the day it became true (default today)."""
    with _transaction(session):
        process = lookups.get_process(session, process_key)
        return umsetzung.update(session, process, key, values, actor, on)


def add_meilenstein(
    session: Session, process_key: str, key: str, *, on: dt.date, title: str, note: str = "",
    actor: str,
) -> Meilenstein:  # fmt: skip
    with _transaction(session):
        process = lookups.get_process(session, process_key)
        return umsetzung.add_milestone(session, process, key, on, title, note, actor)


def add_messung(
    session: Session, process_key: str, indikator_key: str, *, on: dt.date, value: float,
    note: str = "", actor: str,
) -> Messung:  # fmt: skip
    with _transaction(session):
        process = lookups.get_process(session, process_key)
        return umsetzung.measure(session, process, indikator_key, on, value, note, actor)


def begin_umsetzung(session: Session, process_key: str, *, actor: str) -> list[Massnahme]:
    """The Umsetzung of a Fortschreibung whose last gate was approved before this version
    adopted Maßnahmen at the gate (an older database): the same adoption, on the day of that
    approval. Idempotent; refused while the last gate is open."""
    from .plan_types import plan_of

    with _transaction(session):
        process = lookups.get_process(session, process_key)
        last = lookups.get_stage(session, process, plan_of(process.plan).last.key)
        approved = session.exec(select(GateDecision).where(
            GateDecision.stage_id == last.id, GateDecision.outcome == Outcome.approve)).first()
        if approved is None:
            raise Refused(f"{process.key}: über das letzte Tor ist noch nicht entschieden")
        return umsetzung.adopt(session, process, approved.decided_on, actor)


def decide_carried_massnahme(
    session: Session, process_key: str, key: str, decision: str, *, on: dt.date, by: str
) -> MassnahmeUebernahme:
    """The next Fortschreibung's first gate decides a carried Maßnahme."""
    with _transaction(session):
        process = lookups.get_process(session, process_key)
        return umsetzung.decide_carried(session, process, key, decision, on, by)


def import_massnahmen(
    session: Session, process_key: str, data: bytes, *, source: str, apply: bool, actor: str,
    on: dt.date | None = None,
) -> list[umsetzung.Change]:
    """A CSV of Maßnahmen (the export's format): what it would change; with ``apply``, change
    it, all rows in one transaction or none."""
    from . import massnahmen_csv

    process = lookups.get_process(session, process_key)
    rows = massnahmen_csv.parse(data, source)
    with _transaction(session):
        planned = massnahmen_csv.updates(session, process, rows, source)
        changes = [umsetzung.update(session, process, key, values, actor, on)
                   for key, values in planned]  # fmt: skip
        if not apply:
            session.rollback()
    return [c for c in changes if c.fields]


# --- previews -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MovePreview:
    """What a move would change: every deadline and every message, nothing stored."""

    sitzung_key: str
    old: dt.datetime
    new: dt.datetime
    deadlines: list[tuple[str, str, dt.date | None, dt.date]]  # process, task title, old, new
    messages: list[tuple[str, str]]  # recipient, what the message is about
    cancelled_reminders: int


def preview_move_sitzung(
    session: Session, sitzung_ref: str, new_start: dt.datetime | dt.date, *, actor: str,
    force_reason: str = "", today: dt.date | None = None,
) -> MovePreview:  # fmt: skip
    """Run the real move and its follow-ups in a transaction, read the result, roll back.

    The same code as ``move_sitzung``, so the preview cannot disagree with what confirming
    will do; a refusal is the same refusal.
    """
    from . import reminders

    def stale(process_ids: list[int]) -> int:
        """Reminders of these processes cancelled as stale (the follow-up cancels them in
        bulk, not as ORM objects); read through each process's reminders."""
        return session.exec(select(func.count()).select_from(Reminder).where(
            col(Reminder.fortschreibung_id).in_(process_ids),
            Reminder.last_error == reminders.MOVED_STALE)).one()  # fmt: skip

    try:
        move = engine.move_sitzung(session, sitzung_ref, new_start, actor=actor,
                                   force_reason=force_reason)  # fmt: skip
        concerned = sorted(move.changes)  # only their reminders are cancelled as stale
        stale_before = stale(concerned)
        reminders.on_sitzung_moved(session, move, today=today)
        session.flush()
        deadlines = []
        processes = get_all_required(session, Fortschreibung, move.changes)
        for process_id, changes in move.changes.items():
            tasks = get_all_required(session, Task, [c.task_id for c in changes])
            deadlines += [(processes[process_id].key, tasks[c.task_id].title, c.old, c.new)
                          for c in changes]  # fmt: skip
        messages = [
            (person.name, reminder.kind)
            for reminder, person in session.exec(
                select(Reminder, Person).join(Person, col(Person.id) == Reminder.person_id)
                .where(Reminder.kind == "moved", Reminder.sitzung_id == move.sitzung.id)
                .order_by(col(Reminder.id))
            )
            if reminder.state == ReminderState.planned
            and reminder.payload.get("new") == move.sitzung.start.isoformat()
        ]
        return MovePreview(move.sitzung.key, move.old, move.sitzung.start, deadlines, messages,
                           stale(concerned) - stale_before)  # fmt: skip
    finally:
        session.rollback()


# --- a Kommune's own Word templates ----------------------------------------------------------

def install_template(
    session: Session, process_key: str, kind: str, data: bytes, *, actor: str
) -> Path:
    """Check an uploaded Word template against the process's context, then store it as the
    Kommune's template for ``kind`` (every process of the Kommune generates with it).

    Refused unless it is a DOCX (a zip with word/document.xml) that renders: a field the
    context lacks is named. Nothing is stored when a check fails.
    """
    from .doc_context import kind_for
    from .documents import kommune_template_folder

    process = lookups.get_process(session, process_key)
    name = f"{kind_for(process, kind).template}.docx"
    _check_template(session, process, kind, name, data)
    folder = kommune_template_folder(process)
    with _transaction(session):
        kommune = get_required(session, Kommune, process.kommune_id)
        events.log(session, actor=actor, action="template_installed", entity=kommune,
                   process_id=None, after={"kind": kind, "path": str(folder / name)})  # fmt: skip
        session.flush()
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f".{name}.part"
        part.write_bytes(data)
        part.replace(folder / name)
    return folder / name


def _check_template(
    session: Session, process: Fortschreibung, kind: str, name: str, data: bytes
) -> None:
    """A DOCX that renders against the process's context for ``kind``; InputError otherwise."""
    import tempfile
    import zipfile
    from io import BytesIO

    from .doc_context import build_context
    from .documents import TemplateError, render

    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            is_docx = "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        is_docx = False
    if not is_docx:
        raise InputError("Vorlage", kind, "keine Word-Datei (DOCX); bitte eine .docx hochladen")
    context = build_context(session, process, kind)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_bytes(data)
        try:
            render(Path(tmp) / name, context, Path(tmp) / "probe.docx")
        except TemplateError as exc:  # German, naming the field or paragraph (documents)
            raise InputError("Vorlage", kind, str(exc).removeprefix("Vorlage ")) from None
