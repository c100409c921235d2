"""The read commands' work and output: status, tasks, sitzungen. No typer here.

``cli_core`` registers them as commands; ``cli_fast`` calls them directly for a plain
command line, so that a project lead's ``lifecycle status`` starts without the command tree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.markup import escape as esc
from rich.table import Table

from .cli_output import check_limit, console, one_line, parse_day, say, session
from .dates import long_de, short_de, weekday_short_de
from .errors import InputError
from .words import ABGESAGT_DE, OUTCOME_DE, STATE_DE


def show_status(process: str | None = None, *, today: str | None = None) -> None:
    """Where a process stands; without a key the overview (or the only process)."""
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
        st = process_status(s, lookups.get_process(s, process), day)
        _print_status(st)
    # A Sitzung the status cannot show (dated in year 1 or 9999 by an older version's
    # database) is left out and named, exit 0: the rest of the process is still worth seeing,
    # and the warning says which row to correct (lifecycle reschedule KOMMUNE:SITZUNG DATUM).
    if st.skipped:
        say("Warnung: nicht angezeigt: " + "; ".join(st.skipped)
            + " (korrigieren mit lifecycle reschedule KOMMUNE:SITZUNG DATUM)")


def show_tasks(
    *,
    today: str | None = None,
    person: str | None = None,
    overdue: bool = False,
    process: str | None = None,
    include_done: bool = False,
    limit: int = 200,
) -> None:
    """Tasks, open ones first, the most urgent on top."""
    check_limit(limit)
    from .tasks import find_tasks

    day = parse_day(today, "--today")
    with session() as s:
        rows, more = find_tasks(
            s,
            today=day,
            person=person,
            overdue=overdue,
            process=process,
            include_done=include_done,
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


def show_sitzungen(*, today: str | None = None, kommune: str | None = None, days: int = 90) -> None:
    """For the Sitzungsdienst: coming Sitzungen by Vorlagenschluss, with their Vorlagen."""
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
        vorlagen = "\n".join(  # stored texts (from a RIS, too): control characters shown
            esc(one_line(f"{v.reference} {v.betreff} ({v.role}"
            + ("" if v.oeffentlich else ", nichtöffentlich")
            + f"; {v.process})"))
            for v in r.vorlagen
        )
        days_left = (r.vorlagenschluss - day).days
        style = "red" if days_left < 0 else ("bold yellow" if days_left <= 7 else "")
        table.add_row(
            f"{weekday_short_de(r.vorlagenschluss)}",
            _when(r.start, r.cancelled),
            esc(one_line(f"{r.gremium} ({r.kommune})")),
            "öffentlich" if r.oeffentlich else "nichtöffentlich",
            vorlagen or "—",
            style="dim" if r.cancelled else style,  # its Vorlagenschluss presses no one
        )
    console.print(table)


def _print_overview(summaries: Any, count: int, day: dt.date) -> None:
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
            _when(s.start, s.cancelled),
            weekday_short_de(s.vorlagenschluss),
            "öffentlich" if s.oeffentlich else "nichtöffentlich",
            style="dim" if s.cancelled else "",
        )
    return table


def _when(start: dt.datetime, cancelled: bool) -> str:
    """A Sitzung's date and time; one the RIS cancelled says so (in words, not colour only)."""
    when = f"{long_de(start.date())}, {start:%H:%M} Uhr"
    return f"{when}, [bold]{ABGESAGT_DE}[/]" if cancelled else when


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
