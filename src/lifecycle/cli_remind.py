"""CLI: `lifecycle remind` (and `lifecycle remind cancel`) and `lifecycle calendar export`.

Heavy imports (SQLModel, icalendar, smtplib, rich tables) stay inside the commands so that
registering them costs nothing for `lifecycle status`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli_core import _actor, fail, parse_day, user_errors
from .cli_output import console, say, session

calendar_app = typer.Typer(no_args_is_help=True, help="Kalender-Feeds (.ics).")
# `lifecycle remind` alone is the daily run; `lifecycle remind cancel` one of its commands.
remind_app = typer.Typer(add_completion=False)

# `lifecycle remind` exits with this code when a reminder failed or still waits (mail server
# unreachable, address refused): the daily job's caller sees that something needs a look.
EXIT_NOT_ALL_SENT = 3


def remind(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Nur anzeigen, nichts senden.")
    ] = False,
    today: Annotated[str | None, typer.Option(help="Stichtag (YYYY-MM-DD), sonst heute.")] = None,
) -> None:
    """Fällige Erinnerungen planen, anzeigen und senden.

    Exit 0: alles gesendet oder nichts fällig; 3: mindestens eine fehlgeschlagen oder wartend.

    Exit 2: Eingabe oder Einstellungen abgelehnt, nichts geändert.

    Die Tabelle nennt jede Erinnerung mit ihrer Nummer (Spalte „Nr.“).

    „lifecycle remind cancel NR --reason GRUND“ verwirft eine, die nicht gesendet werden soll.
    """
    # one line per paragraph: typer's rich help keeps a docstring's line breaks
    if ctx.invoked_subcommand is not None:  # `lifecycle remind cancel …`: not the daily run
        if dry_run or today is not None:
            fail(f"Aufruf: {'--dry-run' if dry_run else '--today'} gilt nicht für "
                 f"„lifecycle remind {ctx.invoked_subcommand}“")  # fmt: skip
        return
    from .db import session_scope
    from .errors import LifecycleError
    from .mail import load_settings
    from .services import run_reminders

    try:
        day = parse_day(today, "--today")
        # Settings first: bad ones are refused before the database is touched.
        settings = None if dry_run else load_settings()
        with session_scope() as session:
            report = run_reminders(session, day, dry_run=dry_run, settings=settings)
    except LifecycleError as exc:
        fail(str(exc))
        return
    _show(report)
    if report.config_error:
        fail(report.config_error)
    if not dry_run and (report.failed or report.queued or report.server_error):
        raise typer.Exit(EXIT_NOT_ALL_SENT)


def _show(report) -> None:
    from rich.console import Console
    from rich.table import Table

    from .dates import long_de, short_de
    from .words import REMINDER_KIND_DE as KIND_DE

    title = f"Erinnerungen am {long_de(report.today)}" + (" (Probelauf)" if report.dry_run else "")
    table = Table(title=title)
    for name in ("Nr.", "Versand", "Empfänger", "Art", "Worum", "Frist", "Status", "Fehler"):
        table.add_column(name, overflow="fold")
    for r in report.rows:
        recipient = f"{r.recipient} <{r.email}>" if r.email else r.recipient
        table.add_row(
            "" if r.id is None else str(r.id),  # a dry run's new reminder has no number yet
            short_de(r.send_on),
            recipient,
            KIND_DE.get(r.kind, r.kind),
            r.subject,
            short_de(r.deadline),
            r.state,
            r.error,
        )
    console = Console(width=160) if not sys.stdout.isatty() else Console()
    console.print(table if report.rows else f"{title}: nichts fällig.")
    if report.dry_run:
        console.print(
            f"{report.planned} neu zu planen, {len(report.rows)} insgesamt fällig; nichts gesendet."
        )
    else:
        console.print(
            f"{report.planned} neu geplant, {report.sent} gesendet, "
            f"{report.failed} fehlgeschlagen, {report.cancelled} verworfen, "
            f"{report.queued} warten."
        )
    if report.server_error:
        console.print(f"Mailserver: {report.server_error}", style="red", markup=False, emoji=False)


@user_errors
def cancel(
    nr: Annotated[str, typer.Argument(
        help="Nummer der Erinnerung (Spalte „Nr.“ von lifecycle remind)")],
    reason: Annotated[str, typer.Option("--reason", help="warum sie nicht gesendet wird")],
) -> None:
    """Eine geplante oder fehlgeschlagene Erinnerung verwerfen.

    Sie wird nicht gesendet und nicht neu geplant; der Grund steht an ihr und im Verlauf.
    """
    from .errors import InputError
    from .models import Person
    from .services import cancel_reminder
    from .words import REMINDER_KIND_DE, quoted

    if not _NUMBER.fullmatch(nr):
        raise InputError("NR", "", f"{quoted(nr)} ist keine Nummer einer Erinnerung "
                         "(eine ganze Zahl, z. B. 17)")  # fmt: skip
    with session() as s:
        try:
            row = cancel_reminder(s, int(nr), reason=reason, actor=_actor())
        except InputError as exc:  # the reason: named as typed here
            raise InputError("--reason", "", exc.problem) from exc
        person = s.get(Person, row.person_id)
        who = person.name if person else str(row.person_id)
        console.print(f"Erinnerung {row.id} verworfen ({REMINDER_KIND_DE.get(row.kind, row.kind)}"
                      f" an {who}); sie wird nicht gesendet.", markup=False,
                      soft_wrap=True)  # fmt: skip


# A reminder's number as typed: digits, no sign, within what the database's integer holds.
_NUMBER = re.compile(r"[1-9][0-9]{0,17}")


def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="Zieldatei (.ics).")],
    process: Annotated[
        str | None, typer.Option("--process", help="Nur diese Fortschreibung.")
    ] = None,
    person: Annotated[
        str | None, typer.Option("--person", help="Nur Fristen dieser Person.")
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public", help="Öffentlicher Feed: nur öffentliche Sitzungen und ihre öffentlichen "
            "Beratungen."
        ),
    ] = False,
) -> None:
    """Sitzungen, Vorlagenschluss und Fristen als iCalendar-Datei exportieren."""
    import os

    from .db import session_scope
    from .errors import LifecycleError
    from .files import output_file, writing
    from .ical import FeedOptions, build
    from .mail import ConfigError, check_timezone

    zone = os.environ.get("LIFECYCLE_TIMEZONE", "Europe/Berlin")
    try:
        output_file(output, "-o")
        check_timezone(zone)
        with session_scope() as session:
            feed = build(session, FeedOptions(process, person, public, zone))
        with writing(output, "-o"):
            output.write_bytes(feed.data)
    except (LifecycleError, ConfigError) as exc:
        fail(str(exc))
    typer.echo(f"{output}: {feed.data.count(b'BEGIN:VEVENT')} Termine")
    # A date the feed cannot write (a Sitzung in 9999 from an older database) leaves that
    # record out with a warning, exit 0, instead of refusing the whole export (exit 2): the
    # file is a feed, exported again and again (often unattended, e.g. from cron) and
    # subscribed to, and one broken legacy row must not hold back every other Sitzung and
    # deadline. The warning names each record, so someone can correct it.
    if feed.skipped:
        say("Warnung: nicht im Kalender: " + "; ".join(feed.skipped))


def register(app: typer.Typer) -> None:
    remind_app.callback(invoke_without_command=True)(remind)
    remind_app.command("cancel")(cancel)
    app.add_typer(remind_app, name="remind")
    calendar_app.command("export")(export)
    app.add_typer(calendar_app, name="calendar")
