"""Core commands of the CLI (filled in below); see cli.py for the entry point."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Fortschreibung kommunaler Konzepte: Stand, Aufgaben, Fristen.")
