"""`lifecycle vorlage`: the author's own words for a section of a Vorlage, with versions.

The generated Begründung is a draft. `vorlage edit` stores the author's text of one section
(Betreff, Beschlussvorschlag, a Begründung section) as the Vorlage's next version; documents
generate from it. `vorlage show` lists the sections, which are the author's, and which of
those a newer fact of the process would have changed (flagged, never overwritten).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_core import _actor, console, session, user_errors
from .errors import InputError

MAX_BYTES = 512 * 1024  # a section, not a book: a larger file is surely the wrong one

vorlage = typer.Typer(no_args_is_help=True, add_completion=False,
                      help="Vorlagen: eigene Texte der Abschnitte, Versionen.")  # fmt: skip


def read_section_file(path: Path) -> str:
    """The text of ``path`` (a file, or a pipe: ``--file <(cmd)``): UTF-8 (a BOM is fine),
    nothing else, at most MAX_BYTES read."""
    from .files import read_limited_bytes

    name = str(path)
    data = read_limited_bytes(path, MAX_BYTES, field="--file",
                              too_big=f"größer als {MAX_BYTES // 1024} KB")  # fmt: skip
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(name, f"Zeile {line}", f"keine UTF-8-Datei (Byte 0x{data[exc.start]:02x}"
                         "); bitte als UTF-8 speichern") from None  # fmt: skip


@vorlage.command("edit")
@user_errors
def edit(
    process: Annotated[str, typer.Argument(help="Prozess-Schlüssel")],
    ref: Annotated[str, typer.Argument(metavar="VORLAGE", help="Phase oder Vorlagennummer")],
    section: Annotated[str, typer.Option("--section", help="Abschnitt, z. B. Rückblick")],
    file: Annotated[Path, typer.Option("--file", help="Text des Abschnitts (UTF-8)")],
    by: Annotated[str | None, typer.Option("--by", help="wer ändert")] = None,
) -> None:
    """Einen Abschnitt mit eigenem Text speichern (leere Datei: zurück zum Entwurf)."""
    from . import services

    text = read_section_file(file)
    with session() as s:
        version = services.edit_vorlage_section(s, process, ref, section, text,
                                                actor=by or _actor())  # fmt: skip
    state = "gespeichert" if text.strip() else "zurück zum Entwurf aus dem Prozess"
    console.print(f"{process} {ref}: Abschnitt „{section}“ {state} (Version {version.version}).",
                  markup=False, soft_wrap=True)  # fmt: skip


@vorlage.command("show")
@user_errors
def show(
    process: Annotated[str, typer.Argument(help="Prozess-Schlüssel")],
    ref: Annotated[str, typer.Argument(metavar="VORLAGE", help="Phase oder Vorlagennummer")],
) -> None:
    """Die Abschnitte einer Vorlage: Entwurf oder eigener Text, und was zu prüfen ist."""
    from rich.table import Table

    from . import lookups
    from .decided import decided
    from .doc_context import BETREFF, VORSCHLAG, drafts
    from .vorlage_hinweise import hinweise

    with session() as s:
        p = lookups.get_process(s, process)
        v = lookups.get_vorlage(s, p, ref)
        sections = drafts(s, p, v.stage_key)
        notes: dict[str, list[str]] = {}
        on_folge: list[str] = []  # the Beratungsfolge's notes: no row of the table
        for h in hinweise(s, p, v):
            if h.beratungsfolge:
                on_folge.append(f"{h.heading}: {h.text}")
            else:
                notes.setdefault(h.section, []).append(h.text)
        own = set(v.begruendung)
        own |= {BETREFF} if v.betreff != sections[0].generated else set()
        own |= {VORSCHLAG} if v.beschlussvorschlag != sections[1].generated else set()
        decision = decided(s, v)
    table = Table(title=f"{p.key}: {v.art} {v.reference}", title_justify="left")
    for column in ("Abschnitt", "Text", "Hinweis"):
        table.add_column(column)
    for d in sections:
        note = " ".join(notes.get(d.title, []))
        table.add_row(d.title, "eigener Text" if d.title in own else "Entwurf", note)
    console.print(table)
    for line in on_folge:
        console.print(line, markup=False, soft_wrap=True)
    if decision is not None:
        console.print(decision.text_kept, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(vorlage, name="vorlage")
