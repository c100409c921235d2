"""The `lifecycle` command line. Keeps Prefect off the fast path: only `serve`/`demo` load it."""

from __future__ import annotations

import importlib

import typer

from .cli_core import app

# Command groups of other modules register themselves here; each keeps its heavy imports
# inside its commands so `lifecycle status` stays fast.
OPTIONAL = ("lifecycle.cli_docs", "lifecycle.cli_remind", "lifecycle.cli_flows")


def build() -> typer.Typer:
    for name in OPTIONAL:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(app)
    return app


def main() -> None:
    build()(prog_name="lifecycle")
