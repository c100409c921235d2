"""`lifecycle docs`: list and generate the Word documents of a process.

docxtpl and python-docx are imported inside the commands: `lifecycle status` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_core import console, fail, session, user_errors

docs = typer.Typer(no_args_is_help=True, add_completion=False,
                   help="Dokumente: Vorlagen, Einladungen, Protokolle, Berichte.")  # fmt: skip


def _pick_process(s, key: str | None):
    from sqlmodel import select

    from . import lookups
    from .models import Fortschreibung

    if key:
        return lookups.get_process(s, key)
    keys = list(s.exec(select(Fortschreibung.key).limit(3)).all())
    if len(keys) == 1:
        return lookups.get_process(s, keys[0])
    if not keys:
        fail("noch keine Fortschreibung gestartet (lifecycle start SZENARIO)")
    fail(f"mehrere Fortschreibungen ({', '.join(keys[:2])}, …): eine mit --process nennen")


@docs.command("list")
@user_errors
def list_documents(
    process: Annotated[str | None, typer.Argument(help="Prozess-Schlüssel")] = None,
) -> None:
    """Alle erzeugten Dokumentversionen eines Prozesses."""
    from rich.table import Table

    from .dates import short_de
    from .documents import versions

    with session() as s:
        p = _pick_process(s, process)
        rows = versions(s, p)
    if not rows:
        console.print(f"{p.key}: noch keine Dokumente erzeugt.")
        return
    table = Table(title=f"Dokumente {p.key}", title_justify="left")
    for column in ("Art", "Phase", "Version", "Erzeugt", "Datei", "PDF"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.kind, r.stage_key, str(r.version), short_de(r.created_at.date()),
                      Path(r.path).name, Path(r.pdf_path).name if r.pdf_path else "")  # fmt: skip
    console.print(table)
    folders = sorted({str(Path(r.path).parent) for r in rows})
    console.print(f"Ordner: {', '.join(folders)}", markup=False, soft_wrap=True)


@docs.command("generate")
@user_errors
def generate_document(
    kind: Annotated[str, typer.Argument(help="Dokumentart, z. B. sitzungsvorlage")],
    process: Annotated[str | None, typer.Option("--process", help="Prozess-Schlüssel")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Ausgabeordner")] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="zusätzlich PDF (LibreOffice)")] = False,
    templates: Annotated[
        Path | None, typer.Option("--templates", help="eigener Vorlagenordner")
    ] = None,
    stage: Annotated[
        str | None, typer.Option("--stage", help="Phase (für den allgemeinen Phasenbericht)")
    ] = None,
) -> None:
    """Ein Dokument erzeugen; bei unveränderten Eingaben bleibt die aktuelle Version."""
    from . import services

    with session() as s:
        p = _pick_process(s, process)
        result = services.generate_document(s, p.key, kind, out_dir=out, pdf=pdf,
                                            templates=templates, stage=stage)  # fmt: skip
    state = "neu erzeugt" if result.created else "unverändert"
    console.print(f"{result.kind} v{result.version} ({state}): {result.path}", markup=False,
                  soft_wrap=True)  # fmt: skip
    if result.pdf_path:
        console.print(f"PDF: {result.pdf_path}", markup=False, soft_wrap=True)
    if result.decided_note:
        console.print(f"Hinweis: {result.decided_note}", markup=False, soft_wrap=True)
    for note in result.hinweise:
        console.print(f"{note.heading}: {note.text}", markup=False, soft_wrap=True)
    if result.hinweise:
        console.print(f"Die Abschnitte im Überblick: lifecycle vorlage show {p.key} …",
                      markup=False, soft_wrap=True)  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(docs, name="docs")
