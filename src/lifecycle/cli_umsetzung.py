"""`lifecycle massnahmen`: the Umsetzung after the council's decision (Beschlusskontrolle).

Which Maßnahme stands where, who is responsible, what is overdue; changes, milestones,
measurements of indicators, the next Fortschreibung's decisions, and the CSV a Fachbereich
edits in Excel and loads back. Every change goes through the services and the event log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_core import _actor, console, parse_day, session, user_errors
from .errors import InputError
from .words import quoted

massnahmen = typer.Typer(no_args_is_help=True, add_completion=False,
                         help="Umsetzung: Maßnahmen, Meilensteine, Indikatoren.")  # fmt: skip

Process = Annotated[str, typer.Argument(help="Prozess-Schlüssel (eine Fortschreibung)")]
Key = Annotated[str, typer.Argument(help="Schlüssel der Maßnahme")]


@massnahmen.command("list")
@user_errors
def list_massnahmen(
    process: Process,
    overdue: Annotated[bool, typer.Option("--overdue", help="nur überfällige")] = False,
    today: Annotated[str | None, typer.Option("--today", help="Stichtag JJJJ-MM-TT")] = None,
) -> None:
    """Die Maßnahmen des Konzepts: Stand, Verantwortliche, Zieltermin, überfällig."""
    from rich.table import Table
    from rich.text import Text

    from . import lookups, umsetzung
    from .dates import short_de

    day = parse_day(today, "--today")
    with session() as s:
        p = lookups.get_process(s, process)
        rows = umsetzung.of_konzept(s, p)
    if overdue:
        rows = [m for m in rows if umsetzung.overdue(m, day)]
    table = Table(title=f"Maßnahmen {p.key}, Stand {short_de(day)}", title_justify="left")
    # The key is what `massnahmen set` takes: never cut, the other columns wrap instead.
    table.add_column("Schlüssel", no_wrap=True, min_width=max((len(m.key) for m in rows),
                                                              default=9))  # fmt: skip
    for column in ("Maßnahme", "Verantwortlich", "Zieltermin", "Status", "%"):
        table.add_column(column)
    field = None
    for m in rows:
        if m.handlungsfeld != field:  # one block per Handlungsfeld
            field = m.handlungsfeld
            table.add_row("", Text(field, style="bold"))  # user text: never markup
        late = umsetzung.overdue(m, day)
        status = f"{m.status.value}, überfällig" if late else m.status.value
        table.add_row(m.key, m.title, m.responsible,
                      short_de(m.target_date) if m.target_date else "", status,
                      str(m.progress), style="red" if late else "")  # fmt: skip
    console.print(table)
    if not rows:
        console.print("Keine Maßnahmen." if not overdue else "Nichts überfällig.")


@massnahmen.command("set")
@user_errors
def set_massnahme(
    process: Process,
    key: Key,
    status: Annotated[str | None, typer.Option("--status", help="offen, in Umsetzung, "
                                               "erledigt, zurückgestellt")] = None,  # fmt: skip
    progress: Annotated[str | None, typer.Option("--progress", help="0 bis 100")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Zieltermin JJJJ-MM-TT")] = None,
    responsible: Annotated[str | None, typer.Option("--responsible")] = None,
    text: Annotated[str | None, typer.Option("--text", help="öffentlicher Sachstand")] = None,
    note: Annotated[str | None, typer.Option("--note", help="interne Notiz")] = None,
    on: Annotated[str | None, typer.Option("--on", help="seit wann (JJJJ-MM-TT), "
                                           "Standard heute")] = None,  # fmt: skip
    by: Annotated[str | None, typer.Option("--by", help="wer ändert")] = None,
) -> None:
    """Stand einer Maßnahme ändern (im Ereignisprotokoll mit vorher/nachher)."""
    from . import services

    values: dict[str, object] = {}
    for name, value in (("status", status), ("progress", progress), ("responsible", responsible),
                        ("public_text", text), ("internal_note", note)):  # fmt: skip
        if value is not None:
            values[name] = value
    if target is not None:
        values["target_date"] = parse_day(target, "--target")
    if not values:
        raise InputError("massnahmen set", "", "nichts zu ändern (--status, --progress, …)")
    with session() as s:
        change = services.update_massnahme(s, process, key, values, actor=by or _actor(),
                                           on=parse_day(on, "--on"))  # fmt: skip
    if not change.fields:
        console.print(f"{key}: unverändert.")
    for field, (before, after) in change.fields.items():
        console.print(f"{key}: {field}: {quoted(before)} → {quoted(after)}", markup=False)


@massnahmen.command("meilenstein")
@user_errors
def meilenstein(
    process: Process, key: Key,
    on: Annotated[str, typer.Option("--on", help="Datum JJJJ-MM-TT")],
    title: Annotated[str, typer.Option("--title", help="was erreicht ist")],
    note: Annotated[str, typer.Option("--note")] = "",
    by: Annotated[str | None, typer.Option("--by")] = None,
) -> None:
    """Einen Meilenstein einer Maßnahme festhalten."""
    from . import services

    day = parse_day(on, "--on")
    with session() as s:
        services.add_meilenstein(s, process, key, on=day, title=title, note=note,
                                 actor=by or _actor())  # fmt: skip
    console.print(f"{key}: Meilenstein „{title}“ am {day:%d.%m.%Y} festgehalten.", markup=False)


@massnahmen.command("messung")
@user_errors
def messung(
    process: Process,
    key: Annotated[str, typer.Argument(help="Schlüssel des Indikators")],
    on: Annotated[str, typer.Option("--on", help="Datum JJJJ-MM-TT")],
    value: Annotated[str, typer.Option("--value", help="Messwert")],
    note: Annotated[str, typer.Option("--note")] = "",
    by: Annotated[str | None, typer.Option("--by")] = None,
) -> None:
    """Einen Messwert eines Indikators festhalten."""
    from . import services

    day = parse_day(on, "--on")
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise InputError("--value", value, "keine Zahl") from None
    with session() as s:
        services.add_messung(s, process, key, on=day, value=number, note=note,
                             actor=by or _actor())  # fmt: skip
    console.print(f"{key}: {value} am {day:%d.%m.%Y} festgehalten.", markup=False)


@massnahmen.command("uebernahme")
@user_errors
def uebernahme(
    process: Process, key: Key,
    decision: Annotated[str, typer.Argument(help="weiterführen, abgeschlossen oder streichen")],
    on: Annotated[str | None, typer.Option("--on")] = None,
    by: Annotated[str | None, typer.Option("--by")] = None,
) -> None:
    """Über eine übernommene Maßnahme entscheiden (erstes Tor der nächsten Fortschreibung)."""
    from . import services

    with session() as s:
        services.decide_carried_massnahme(s, process, key, decision, on=parse_day(on, "--on"),
                                          by=by or _actor())  # fmt: skip
    console.print(f"{key}: {decision}.", markup=False)


@massnahmen.command("export")
@user_errors
def export(
    process: Process,
    out: Annotated[Path, typer.Option("-o", "--out", help="CSV-Datei")],
) -> None:
    """Alle Maßnahmen als CSV (Excel: Semikolon, UTF-8 mit BOM)."""
    from . import lookups, massnahmen_csv, umsetzung
    from .files import output_file, writing

    output_file(out, "-o")
    with session() as s:
        p = lookups.get_process(s, process)
        text = massnahmen_csv.export(umsetzung.of_konzept(s, p))
    with writing(out, "-o"):
        out.write_bytes(text.encode("utf-8"))
    console.print(f"{text.count(chr(10)) - 1} Maßnahmen nach {out}", markup=False)


@massnahmen.command("import")
@user_errors
def import_(
    process: Process,
    file: Annotated[Path, typer.Argument(help="CSV im Format des Exports")],
    apply: Annotated[bool, typer.Option("--apply", help="Änderungen übernehmen")] = False,
    by: Annotated[str | None, typer.Option("--by")] = None,
) -> None:
    """Zeigt, was eine CSV ändern würde; mit --apply wird es übernommen (alles oder nichts)."""
    from . import services
    from .files import read_limited_bytes
    from .massnahmen_csv import MAX_BYTES

    data = read_limited_bytes(file, MAX_BYTES, kind="CSV-Datei",
                              too_big=f"größer als {MAX_BYTES // 2**20} MiB")  # fmt: skip
    with session() as s:
        changes = services.import_massnahmen(s, process, data, source=file.name, apply=apply,
                                             actor=by or _actor())  # fmt: skip
    for change in changes:
        for field, (before, after) in change.fields.items():
            console.print(f"{change.key}: {field}: {quoted(before)} → {quoted(after)}",
                          markup=False)
    verb = "übernommen" if apply else "würden übernommen (mit --apply)"
    console.print(f"{len(changes)} Maßnahmen geändert: {verb}." if changes
                  else "Keine Änderungen.")  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(massnahmen, name="massnahmen")

