"""The `lifecycle` command line. Keeps Prefect off the fast path: only `serve`/`demo` load it."""

from __future__ import annotations

from . import cli_docs, cli_flows, cli_remind
from .cli_core import app

# Each command group keeps its heavy imports inside its commands, so that registering it
# costs nothing for `lifecycle status`.
for _group in (cli_docs, cli_flows, cli_remind):
    _group.register(app)


def main() -> None:
    app(prog_name="lifecycle")
