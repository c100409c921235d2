"""Core commands: start, status, tasks, done, decide, reschedule, log.

Errors the user can fix (a bad file, a refused transition) print one line to stderr and exit
with code 2; the database is unchanged.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape as esc
from rich.table import Table

from . import cli_read
from .cli_output import (
    check_limit,
    console,
    day_of,
    err_console,
    one_line,
    parse_day,
    session,
)
from .dates import long_de, short_de
from .errors import InputError, LifecycleError
from .words import OUTCOME_DE, quoted

if TYPE_CHECKING:
    from sqlmodel import Session

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Fortschreibung kommunaler Konzepte: Stand, Aufgaben, Fristen.",
)
TodayOpt = Annotated[
    str | None, typer.Option("--today", help="Stichtag YYYY-MM-DD (Standard: heute)")
]


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"lifecycle: {one_line(message)}", markup=False, emoji=False)
    raise typer.Exit(code)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the engine's deliberate errors into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LifecycleError as exc:
            fail(str(exc))

    return wrapper


_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MOMENT = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(.*)")


def parse_datetime(value: str, option: str) -> dt.date | dt.datetime:
    """A day, or a day with a time ('YYYY-MM-DD HH:MM'); local time, no time zone."""
    text = value.strip()
    if _DAY.fullmatch(text):
        return day_of(text, option, value)
    m = _MOMENT.fullmatch(text)
    if m is None:
        raise InputError(
            option, "",
            f"{quoted(value)} ist kein Datum (erwartet YYYY-MM-DD oder „YYYY-MM-DD HH:MM“)",
        )
    if m.group(5):
        raise InputError(
            option, "", f"{quoted(value)}: bitte ohne Zeitzone angeben (Ortszeit der Kommune)"
        )
    day = day_of(m.group(1), option, value)
    hour, minute, second = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InputError(option, "", f"unmögliche Uhrzeit in {quoted(value)}")
    return dt.datetime(day.year, day.month, day.day, hour, minute, second)


_TASK_REF = re.compile(r"[0-9]{1,18}|[a-z0-9][a-z0-9_-]*:[a-z][a-z0-9_-]*")


def check_task_ref(ref: str, argument: str = "AUFGABE") -> str:
    """A task id (digits) or PROZESS:AUFGABE, checked before the engine sees it."""
    if not _TASK_REF.fullmatch(ref):
        raise InputError(
            argument, "", f"{quoted(ref)} ist keine Aufgaben-ID und nicht PROZESS:AUFGABE"
        )
    return ref


# --- start ---------------------------------------------------------------------------------


@app.command()
@user_errors
def start(
    scenario: Annotated[Path, typer.Argument(help="Szenario-Datei (YAML)")],
    force: Annotated[
        str, typer.Option("--force", help="Sitzung an Sonn-/Feiertag trotzdem, mit Grund")
    ] = "",
    previous: Annotated[
        str | None, typer.Option("--from", help="nächste Fortschreibung dieses Prozesses: "
                                 "übernimmt Handlungsfelder und offene Maßnahmen")  # fmt: skip
    ] = None,
) -> None:
    """Eine Fortschreibung aus einer Szenario-Datei starten."""
    from . import services
    from .scenario import load_scenario

    loaded = load_scenario(scenario)  # all checks before the database is touched
    with session() as s:
        process = services.start(s, loaded, actor=_actor(), force_reason=force,
                                 from_process=previous)  # fmt: skip
        console.print(
            f"Fortschreibung [bold]{process.key}[/] gestartet am "
            f"{long_de(process.started_on)} (Plan {process.plan_name})."
        )
        if previous:
            console.print(f"Übernommen aus {previous}: Handlungsfelder und offene Maßnahmen; "
                          f"das erste Tor entscheidet über jede (lifecycle massnahmen list "
                          f"{process.key}).", markup=False)  # fmt: skip


def _actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


# --- status --------------------------------------------------------------------------------


@app.command()
@user_errors
def status(
    process: Annotated[str | None, typer.Argument(help="Prozess-Schlüssel")] = None,
    today: TodayOpt = None,
) -> None:
    """Wo ein Prozess steht: Phasen, offenes Gate, nächste Fristen, Überfälliges in Rot."""
    cli_read.show_status(process, today=today)


# --- tasks ---------------------------------------------------------------------------------


@app.command()
@user_errors
def tasks(
    person: Annotated[str | None, typer.Option("--person", help="Personen-Schlüssel")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="nur überfällige")] = False,
    process: Annotated[str | None, typer.Option("--process", help="Prozess-Schlüssel")] = None,
    all_: Annotated[bool, typer.Option("--all", help="auch erledigte")] = False,
    today: TodayOpt = None,
    limit: int = 200,
) -> None:
    """Aufgaben auflisten, offene zuerst, die dringendsten oben."""
    cli_read.show_tasks(today=today, person=person, overdue=overdue, process=process,
                        include_done=all_, limit=limit)  # fmt: skip


@app.command()
@user_errors
def done(
    task: Annotated[str, typer.Argument(help="Aufgaben-ID oder PROZESS:AUFGABE")],
    on: Annotated[str | None, typer.Option("--on", help="erledigt am (Standard: heute)")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="erledigt von (Personen-Schlüssel)")
    ] = None,
) -> None:
    """Eine Aufgabe als erledigt vermerken."""
    from . import lookups, services
    from .models import Person
    from .typing_helpers import ident

    day = parse_day(on, "--on")
    check_task_ref(task)
    with session() as s:
        t = lookups.get_task(s, task)
        if by is not None:  # an unknown person must not be recorded as the one who did it
            from .models import Fortschreibung
            from .typing_helpers import get_required

            process = get_required(s, Fortschreibung, t.fortschreibung_id)
            lookups.get_person(s, process.kommune_id, by)
        t = services.complete_task(s, ident(t), on=day, by=by, actor=_actor())
        person = s.get(Person, t.done_by_id) if t.done_by_id else None
        who = person.key if person else _actor()
        console.print(f"Erledigt: {esc(t.title)} ({short_de(day)}, {esc(who)})")


@app.command()
@user_errors
def reassign(
    task: Annotated[str, typer.Argument(help="Aufgaben-ID oder PROZESS:AUFGABE")],
    to: Annotated[str, typer.Argument(help="Personen-Schlüssel")],
) -> None:
    """Eine Aufgabe jemand anderem zuweisen."""
    from . import services

    with session() as s:
        t = services.reassign_task(s, task, to=to, actor=_actor())
        console.print(f"Neu zugewiesen: {esc(t.title)} → {esc(to)}")


# --- decide --------------------------------------------------------------------------------


@app.command()
@user_errors
def decide(
    process: Annotated[str, typer.Argument(help="Prozess-Schlüssel")],
    stage: Annotated[str, typer.Argument(help="Phase, deren Gate entschieden wird")],
    outcome: Annotated[str, typer.Argument(help="approve | send_back | postpone")],
    on: Annotated[str | None, typer.Option("--on", help="Datum der Entscheidung")] = None,
    by: Annotated[str | None, typer.Option("--by", help="wer entscheidet")] = None,
    reference: Annotated[str, typer.Option("--reference", help="z. B. 'BSV 3/2017'")] = "",
    reason: Annotated[str, typer.Option("--reason", help="Begründung / Bemerkung")] = "",
    force: Annotated[str, typer.Option("--force", help="trotz offener Aufgaben, mit Grund")] = "",
    to: Annotated[str | None, typer.Option("--to", help="Sitzung bei Vertagung")] = None,
    reopen: Annotated[
        list[str] | None, typer.Option("--reopen", help="Aufgabe wieder öffnen")
    ] = None,
) -> None:
    """Das Gate einer Phase entscheiden: freigeben, zurückgeben (--reason) oder vertagen (--to)."""
    from . import services
    from .models import Outcome, Stage
    from .typing_helpers import get_required

    if outcome not in Outcome.__members__:
        raise InputError(
            "ERGEBNIS", "", f"{quoted(outcome)} ist keins von approve, send_back, postpone"
        )
    if one_line(reference) != reference.strip() or reference != reference.strip():
        problem = f"{quoted(reference)} enthält Zeilenumbrüche, Steuerzeichen oder Leerraum am Rand"
        raise InputError("--reference", "", problem)
    with session() as s:
        d = services.decide_gate(
            s,
            process,
            stage,
            outcome=outcome,
            on=parse_day(on, "--on"),
            by=by or _actor(),
            reference=reference,
            remarks=reason,
            force_reason=force,
            postpone_to=to,
            reopen=tuple(reopen or ()),
        )
        titles = _stage_titles(s, d.fortschreibung_id)
        decided = get_required(s, Stage, d.stage_id).title
        console.print(
            f"Gate der Phase „{esc(decided)}“: {OUTCOME_DE[d.outcome.value]} am "
            f"{long_de(d.decided_on)}" + (f" ({esc(d.reference)})" if d.reference else "")
        )
    _start_next_run(process, stage, titles)


def _stage_titles(s: Session, process_id: int) -> dict[str, str]:
    """Stage key -> title, as the process's own plan names it: a sentence a user reads names
    the stage "Ratsbeschluss", not the key 'ratsbeschluss' the plan file uses internally."""
    from sqlmodel import select

    from .models import Stage

    rows = s.exec(select(Stage.key, Stage.title).where(Stage.fortschreibung_id == process_id))
    return {key: title for key, title in rows}


def _start_next_run(process: str, stage: str, titles: dict[str, str]) -> None:
    """On a shared installation the decision also starts the next stage's Prefect run.

    The decision is already committed; if Prefect is unreachable the reconcile run starts the
    stage later, so this only warns.
    """
    from .cli_flows import after_decide

    try:
        started = after_decide(process, stage)
    except Exception as exc:  # noqa: BLE001 - the decision stands; reconcile catches up
        err_console.print(f"lifecycle: Hinweis: Phasenlauf nicht gestartet ({exc})", markup=False)
        return
    if started:
        title = titles.get(started, started)  # a stage the process does not know: its key
        console.print(f"Prefect-Lauf der Phase „{esc(title)}“ gestartet.")


# --- reschedule ----------------------------------------------------------------------------


@app.command()
@user_errors
def reschedule(
    sitzung: Annotated[str, typer.Argument(help="Sitzungs-Schlüssel (oder KOMMUNE:SITZUNG)")],
    date: Annotated[str, typer.Argument(help="neues Datum YYYY-MM-DD oder 'YYYY-MM-DD HH:MM'")],
    force: Annotated[
        str, typer.Option("--force", help="Sonn-/Feiertag trotzdem, mit Grund")
    ] = "",
) -> None:
    """Eine Sitzung verlegen; abhängige Fristen und Erinnerungen ziehen mit."""
    from . import services

    new = parse_datetime(date, "DATUM")
    with session() as s:
        done = services.move_sitzung(s, sitzung, new, actor=_actor(), force_reason=force)
        move, notified = done, done.notified
        n = done.due_changes
        console.print(
            f"Sitzung {move.sitzung.key}: {long_de(move.old.date())} → "
            f"{long_de(move.sitzung.start.date())}; {n} Fristen neu berechnet"
            + (f", {notified} Benachrichtigungen vorgemerkt" if notified else "")
        )


# --- sitzungen -----------------------------------------------------------------------------


@app.command()
@user_errors
def sitzungen(
    today: TodayOpt = None,
    kommune: Annotated[str | None, typer.Option("--kommune", help="Kommune-Schlüssel")] = None,
    days: Annotated[int, typer.Option("--days", help="so viele Tage voraus (1 bis 3660)")] = 90,
) -> None:
    """Für den Sitzungsdienst: kommende Sitzungen nach Vorlagenschluss, mit ihren Vorlagen."""
    cli_read.show_sitzungen(today=today, kommune=kommune, days=days)





# --- log -----------------------------------------------------------------------------------


@app.command()
@user_errors
def log(process: Annotated[str, typer.Argument(help="Prozess-Schlüssel")], limit: int = 50) -> None:
    """Das Protokoll eines Prozesses: wer wann was geändert hat, vorher und nachher."""
    # Every field, internal notes (words.INTERNAL_FIELDS) included, unlike the web's event
    # log for readers: the CLI is the operators' tool and has no login; whoever runs it holds
    # the database's credentials and reads the Maßnahmen's notes there anyway.
    from . import history, lookups

    check_limit(limit)
    with session() as s:
        entries = history.entries(s, lookups.get_process(s, process), internal=True, limit=limit)
    table = Table(title=f"Protokoll {esc(process)}", title_justify="left")
    for heading in ("Zeitpunkt", "Wer", "Was", "Einzelheiten"):
        table.add_column(heading, overflow="fold")
    for e in reversed(entries):  # read top down, as it happened
        table.add_row(
            f"{e.at:%d.%m.%Y, %H:%M} Uhr",
            esc(e.actor),
            esc(f"{e.what}: {e.subject}" if e.subject else e.what),
            esc(e.details or "—"),
        )
    console.print(table)
