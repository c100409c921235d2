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
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from .dates import long_de, short_de, weekday_short_de
from .errors import InputError, LifecycleError
from .words import OUTCOME_DE, STATE_DE

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Fortschreibung kommunaler Konzepte: Stand, Aufgaben, Fristen.",
)
# Markup is ours only: every text that comes from a scenario, plan or user goes through esc().
console = Console(highlight=False, emoji=False)
# Error lines are plain text: no markup ("[...]"), no emoji codes (":100:"), no wrapping.
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


TodayOpt = Annotated[
    str | None, typer.Option("--today", help="Stichtag YYYY-MM-DD (Standard: heute)")
]


def one_line(message: str) -> str:
    """A message as exactly one line: line breaks and control characters made visible."""
    return "".join(
        ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in message.strip()
    )


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


def parse_day(value: str | None, option: str) -> dt.date:
    """A day YYYY-MM-DD (today if None); anything else is an InputError naming ``option``."""
    if value is None:
        return dt.date.today()
    return _day(value.strip(), option, value)


def parse_datetime(value: str, option: str) -> dt.date | dt.datetime:
    """A day, or a day with a time ('YYYY-MM-DD HH:MM'); local time, no time zone."""
    text = value.strip()
    if _DAY.fullmatch(text):
        return _day(text, option, value)
    m = _MOMENT.fullmatch(text)
    if m is None:
        raise InputError(
            option, "", f"{value!r} ist kein Datum (erwartet YYYY-MM-DD oder 'YYYY-MM-DD HH:MM')"
        )
    if m.group(5):
        raise InputError(
            option, "", f"{value!r}: bitte ohne Zeitzone angeben (Ortszeit der Kommune)"
        )
    day = _day(m.group(1), option, value)
    hour, minute, second = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InputError(option, "", f"unmögliche Uhrzeit in {value!r}")
    return dt.datetime(day.year, day.month, day.day, hour, minute, second)


def _day(text: str, option: str, original: str) -> dt.date:
    from .dates import check_year

    m = _DAY.fullmatch(text)
    if m is None:
        raise InputError(option, "", f"{original!r} ist kein Datum (erwartet YYYY-MM-DD)")
    try:
        day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise InputError(option, "", f"unmögliches Datum {original!r}") from None
    if problem := check_year(day):
        raise InputError(option, "", f"{original!r}: {problem}")
    return day


_TASK_REF = re.compile(r"[0-9]{1,18}|[a-z0-9][a-z0-9_-]*:[a-z][a-z0-9_-]*")


def check_task_ref(ref: str, argument: str = "AUFGABE") -> str:
    """A task id (digits) or PROZESS:AUFGABE, checked before the engine sees it."""
    if not _TASK_REF.fullmatch(ref):
        raise InputError(
            argument, "", f"{ref!r} ist keine Aufgaben-ID und nicht PROZESS:AUFGABE"
        )
    return ref


def session():
    from .db import session_scope

    return session_scope()


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
    from . import lookups
    from .status import overview, process_status

    day = parse_day(today, "--today")
    with session() as s:
        if process is None:
            summaries, count = overview(s, day)
            if count == 1:
                process = summaries[0].key
            else:
                _print_overview(summaries, count, day)
                return
        _print_status(process_status(s, lookups.get_process(s, process), day))


def _print_overview(summaries, count: int, day: dt.date) -> None:
    if not count:
        console.print("Noch keine Fortschreibung gestartet: [bold]lifecycle start SZENARIO.yaml[/]")
        return
    table = Table(title=f"{count} Fortschreibungen · Stand {long_de(day)}")
    for col in ("Prozess", "Kommune", "Phase", "Fortschritt", "Nächste Frist", "Überfällig"):
        table.add_column(col)
    for p in summaries:
        pct = round(100 * p.done / p.total) if p.total else 100
        table.add_row(
            p.key,
            esc(p.kommune),
            esc(p.stage) if p.state == "running" else STATE_DE[p.state],
            f"{pct} %",
            weekday_short_de(p.next_due) if p.next_due else "—",
            f"[red]{p.overdue}[/]" if p.overdue else "0",
        )
    console.print(table)
    if count > len(summaries):
        console.print(f"… und {count - len(summaries)} weitere; Details: lifecycle status PROZESS")


def _print_status(st) -> None:
    from .plan_types import plan_of

    p = st.process
    console.print(
        f"[bold]{esc(plan_of(p.plan).title)}[/] — {esc(st.kommune.name)} ([cyan]{p.key}[/])"
    )
    console.print(
        f"Stand: {long_de(st.today)} · gestartet {short_de(p.started_on)} · "
        f"{STATE_DE[st.state.value]} · {st.progress} % erledigt"
    )
    console.print(_stage_table(st))
    if st.sitzungen:
        console.print(_sitzung_table(st))
    if st.open_gate:
        g = st.open_gate
        console.print(
            f"[bold]Offenes Gate:[/] {esc(g.title)} — {esc(g.gate_title)}. "
            f"{esc(g.gate_condition)}"
        )
    if st.overdue:
        shown = st.overdue[:10]
        console.print(_deadline_table(f"Überfällig ({len(st.overdue)})", shown, st.today, "red"))
        if len(st.overdue) > len(shown):
            console.print(
                f"[red]… und {len(st.overdue) - len(shown)} weitere: "
                f"lifecycle tasks --overdue --process {p.key}[/]"
            )
    if st.upcoming:
        console.print(_deadline_table("Nächste Fristen", st.upcoming, st.today))


def _stage_table(st) -> Table:
    table = Table(title="Phasen", title_justify="left")
    for col in ("#", "Phase", "Status", "Fortschritt", "Beginn", "Ende / Gate", "Entscheidung"):
        table.add_column(col)
    for v in st.stages:
        d = v.decision
        decided = (
            (
                f"{OUTCOME_DE[d.outcome.value]} {short_de(d.decided_on)}"
                + (f" ({esc(d.reference)})" if d.reference else "")
            )
            if d
            else ""
        )
        style = {"closed": "green", "open": "bold yellow"}.get(v.state.value, "")
        table.add_row(
            str(v.position),
            esc(v.title),
            f"[{style}]{STATE_DE[v.state.value]}[/]" if style else STATE_DE[v.state.value],
            f"{v.progress} % ({v.done}/{v.total})",
            short_de(v.start) if v.start else "—",
            short_de(v.end) if v.end else "—",
            decided,
        )
    return table


def _sitzung_table(st) -> Table:
    table = Table(title="Sitzungskalender", title_justify="left")
    for col in ("Sitzung", "Gremium", "Datum", "Vorlagenschluss", ""):
        table.add_column(col)
    for s in st.sitzungen:
        table.add_row(
            esc(s.label),
            esc(s.gremium),
            f"{long_de(s.start.date())}, {s.start:%H:%M} Uhr",
            weekday_short_de(s.vorlagenschluss),
            "öffentlich" if s.oeffentlich else "nichtöffentlich",
        )
    return table


def _deadline_table(title: str, rows, today: dt.date, style: str = "") -> Table:
    table = Table(title=title, title_justify="left", title_style=style or None)
    for col in ("Frist", "", "Was", "Wer", "ID"):
        table.add_column(col)
    for d in rows:
        days = (d.day - today).days
        when = "heute" if days == 0 else (f"in {days} Tagen" if days > 0 else f"seit {-days} Tagen")
        row_style = "red" if d.day < today else ("bold" if d.kind == "vorlagenschluss" else "")
        table.add_row(
            weekday_short_de(d.day), when, esc(d.what), esc(d.who), str(d.task_id or ""),
            style=row_style,
        )
    return table


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
    from .tasks import find_tasks

    day = parse_day(today, "--today")
    with session() as s:
        rows, more = find_tasks(
            s,
            today=day,
            person=person,
            overdue=overdue,
            process=process,
            include_done=all_,
            limit=limit,
        )
    table = Table(title=f"Aufgaben · Stand {short_de(day)}", title_justify="left")
    for col in ("ID", "Frist", "Aufgabe", "Zuständig", "Prozess", "Status"):
        table.add_column(col)
    for r in rows:
        late = r.state == "open" and r.due and r.due < day
        table.add_row(
            str(r.id),
            weekday_short_de(r.due) if r.due else "—",
            esc(r.title),
            esc(r.assignee),
            r.process,
            STATE_DE[r.state] if not late else "überfällig",
            style="red" if late else ("dim" if r.state == "done" else ""),
        )
    console.print(table if rows else "Keine Aufgaben gefunden.")
    if more:
        console.print(f"… und {more} weitere (--limit)")


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

            process = s.get(Fortschreibung, t.fortschreibung_id)
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
    from .models import Outcome

    if outcome not in Outcome.__members__:
        raise InputError(
            "ERGEBNIS", "", f"{outcome!r} ist keins von approve, send_back, postpone"
        )
    if one_line(reference) != reference.strip() or reference != reference.strip():
        problem = f"{reference!r} enthält Zeilenumbrüche, Steuerzeichen oder Leerraum am Rand"
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
        console.print(
            f"Gate {stage!r}: {OUTCOME_DE[d.outcome.value]} am {long_de(d.decided_on)}"
            + (f" ({esc(d.reference)})" if d.reference else "")
        )
    _start_next_run(process, stage)


def _start_next_run(process: str, stage: str) -> None:
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
        console.print(f"Prefect-Lauf der Phase {started!r} gestartet.")


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
    if not 1 <= days <= 3660:
        raise InputError("--days", "", f"{days} liegt nicht zwischen 1 und 3660 Tagen")
    from .sitzungsdienst import upcoming_sitzungen

    day = parse_day(today, "--today")
    with session() as s:
        rows = upcoming_sitzungen(s, day, kommune=kommune, days=days)
    if not rows:
        console.print(f"Keine Sitzungen in den {days} Tagen ab {short_de(day)}.")
        return
    table = Table(
        title=f"Sitzungen und Vorlagenschluss · Stand {long_de(day)}", title_justify="left"
    )
    for col in ("Vorlagenschluss", "Sitzung", "Gremium", "", "Vorlagen"):
        table.add_column(col)
    for r in rows:
        vorlagen = "\n".join(
            esc(f"{v.reference} {v.betreff} ({v.role}"
            + ("" if v.oeffentlich else ", nichtöffentlich")
            + f"; {v.process})")
            for v in r.vorlagen
        )
        days_left = (r.vorlagenschluss - day).days
        style = "red" if days_left < 0 else ("bold yellow" if days_left <= 7 else "")
        table.add_row(
            f"{weekday_short_de(r.vorlagenschluss)}",
            f"{long_de(r.start.date())}, {r.start:%H:%M} Uhr",
            esc(f"{r.gremium} ({r.kommune})"),
            "öffentlich" if r.oeffentlich else "nichtöffentlich",
            vorlagen or "—",
            style=style,
        )
    console.print(table)


# --- log -----------------------------------------------------------------------------------


@app.command()
@user_errors
def log(process: Annotated[str, typer.Argument(help="Prozess-Schlüssel")], limit: int = 50) -> None:
    """Das Protokoll eines Prozesses: wer wann was geändert hat, vorher und nachher."""
    from sqlmodel import col, select

    from . import lookups
    from .models import Event

    with session() as s:
        p = lookups.get_process(s, process)
        rows = s.exec(
            select(Event)
            .where(Event.fortschreibung_id == p.id)
            .order_by(col(Event.id).desc())
            .limit(limit)
        ).all()
    table = Table(title=f"Protokoll {process}", title_justify="left")
    for heading in ("Zeit (UTC)", "Wer", "Aktion", "Objekt", "vorher", "nachher"):
        table.add_column(heading, overflow="fold")
    for e in reversed(rows):
        table.add_row(
            f"{e.at:%d.%m.%Y %H:%M:%S}",
            esc(e.actor),
            e.action,
            f"{e.entity} {e.entity_id}",
            esc(_fmt(e.before)),
            esc(_fmt(e.after)),
        )
    console.print(table)


def _fmt(values: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (values or {}).items())
