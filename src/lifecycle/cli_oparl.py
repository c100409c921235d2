"""`lifecycle oparl`: export the Kommunen as OParl 1.1, read a RIS's Sitzungskalender back.

jsonschema and httpx load inside the commands: `lifecycle status` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_core import _actor, console, session, user_errors
from .cli_output import one_line

oparl = typer.Typer(no_args_is_help=True, add_completion=False,
                    help="OParl 1.1: Export für Ratsinformationssysteme und Portale, "
                    "Abgleich des Sitzungskalenders.")  # fmt: skip


@oparl.command("export")
@user_errors
def export(
    folder: Annotated[Path, typer.Argument(
        help="Zielordner: neu, leer oder ein früherer Export (der ersetzt wird)")],
    base_url: Annotated[
        str, typer.Option("--base-url", help="Adresse, unter der der Ordner veröffentlicht wird")
    ] = "http://localhost:8000/oparl/v1.1",
    intern: Annotated[
        bool,
        typer.Option(
            "--intern",
            help="auch nichtöffentliche Sitzungen und Vorlagen (nur für den Dienstgebrauch)",
        ),
    ] = False,
) -> None:
    """Alle Kommunen als OParl 1.1 in einen Ordner schreiben (jedes Objekt geprüft)."""
    from .oparl.service import export as run_export

    with session() as s:
        result = run_export(s, folder, base_url=base_url, public=not intern)
    what = "intern, mit nichtöffentlichen Objekten" if intern else "öffentlich"
    console.print(f"OParl-Export ({what}): {result.bodies} Körperschaften, {result.objects} "
                  f"Objekte, {result.pages} Listenseiten, {result.files} Dateien in "
                  f"{result.folder}", markup=False, soft_wrap=True)  # fmt: skip


@oparl.command("sync")
@user_errors
def sync(
    url: Annotated[str, typer.Argument(help="Adresse des OParl-Systems (…/system)")],
    kommune: Annotated[str, typer.Option("--kommune", help="Kommune-Schlüssel hier")],
    bundesland: Annotated[
        str | None, typer.Option("--bundesland", help="nur für eine neue Kommune, z. B. BW")
    ] = None,
    full: Annotated[
        bool, typer.Option("--alles", help="alles neu lesen, nicht nur die Änderungen")
    ] = False,
) -> None:
    """Gremien und Sitzungen aus einem Ratsinformationssystem (OParl 1.1) übernehmen."""
    from .oparl.sync import sync as run_sync

    with session() as s:
        report = run_sync(s, url, kommune, bundesland=bundesland, full=full)
    seit = f" (Änderungen seit {report.since})" if report.since else ""
    # what the RIS named (ids, keys, texts in warnings) with its control characters made visible
    console.print(f"OParl-Abgleich {one_line(report.body)}{seit}: {report.meetings} Sitzungen "
                  "gelesen, "
                  f"{len(report.sitzungen_created)} neu, {len(report.moved)} verlegt, "
                  f"{len(report.deleted)} gelöscht, {len(report.gremien_created)} neue Gremien",
                  markup=False, soft_wrap=True)  # fmt: skip
    for key, old, new in report.moved:
        console.print(f"verlegt: {one_line(key)} vom {old:%d.%m.%Y %H:%M} auf "
                      f"{new:%d.%m.%Y %H:%M}",
                      markup=False, soft_wrap=True)  # fmt: skip
    if report.escalated:
        console.print(f"abgesagte Sitzungen: {report.escalated} Nachricht(en) an die "
                      "Projektleitung eingeplant", markup=False, soft_wrap=True)  # fmt: skip
    if report.reinstated:
        console.print(f"wieder angesetzte Sitzungen: {report.reinstated} Nachricht(en) an die "
                      "Projektleitung eingeplant", markup=False, soft_wrap=True)  # fmt: skip
    for warning in report.warnings:
        console.print(f"Warnung: {one_line(warning)}", markup=False, soft_wrap=True)


@oparl.command("bind")
@user_errors
def bind(
    process: Annotated[str, typer.Argument(help="Fortschreibung, z. B. waiblingen-2017")],
    plan_name: Annotated[
        str, typer.Argument(help="Plan-Sitzung, z. B. vorlage_entscheidung")
    ],
    sitzung: Annotated[
        str, typer.Argument(help="die neue Sitzung (Schlüssel, z. B. gr-2018-01-25)")
    ],
) -> None:
    """Eine Plan-Sitzung an eine andere Sitzung binden (z. B. nach einer Absage im RIS);
    Fristen und Erinnerungen folgen dem neuen Termin."""
    from .oparl.service import bind_sitzung

    with session() as s:
        bound = bind_sitzung(s, process, plan_name, sitzung, actor=_actor())
    console.print(f"{bound.process}: {bound.name} von {bound.old.key} "
                  f"({bound.old_start:%d.%m.%Y %H:%M}) an {bound.new.key} "
                  f"({bound.new.start:%d.%m.%Y %H:%M}) gebunden; {bound.due_changes} Fristen "
                  f"neu berechnet, {bound.notified} Nachrichten eingeplant",
                  markup=False, soft_wrap=True)  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(oparl, name="oparl")
