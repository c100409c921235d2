"""`lifecycle oparl`: export the Kommunen as OParl 1.1, read a RIS's Sitzungskalender back.

jsonschema and httpx load inside the commands: `lifecycle status` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_core import console, session, user_errors

oparl = typer.Typer(no_args_is_help=True, add_completion=False,
                    help="OParl 1.1: Export für Ratsinformationssysteme und Portale, "
                    "Abgleich des Sitzungskalenders.")  # fmt: skip


@oparl.command("export")
@user_errors
def export(
    folder: Annotated[Path, typer.Argument(help="Zielordner (wird ersetzt)")],
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


def register(app: typer.Typer) -> None:
    app.add_typer(oparl, name="oparl")
