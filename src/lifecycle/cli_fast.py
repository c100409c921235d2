"""The read commands on a plain command line, without typer and the command tree.

A project lead types ``lifecycle status`` many times a day; building the whole typer/click
tree of ~60 commands costs more than the query. ``match`` recognises exactly the plain forms
of ``status``, ``tasks`` and ``sitzungen`` (known options, each at most once, values that
are not options) and returns the call; anything else — ``--help``, an unknown or repeated
option, a value that is not a number — returns None and goes through typer, which gives the
usual help and German usage errors. tests/test_cli_fast.py checks both ways print the same.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from . import cli_read

# command -> (positional arguments allowed, {option: kind}); kind "text", "int" or "flag"
_SPECS: dict[str, tuple[int, dict[str, str]]] = {
    "status": (1, {"--today": "text"}),
    "tasks": (0, {"--person": "text", "--overdue": "flag", "--process": "text",
                  "--all": "flag", "--today": "text", "--limit": "int"}),  # fmt: skip
    "sitzungen": (0, {"--today": "text", "--kommune": "text", "--days": "int"}),
}
_TARGETS: dict[str, Callable[..., None]] = {
    "status": cli_read.show_status,
    "tasks": cli_read.show_tasks,
    "sitzungen": cli_read.show_sitzungen,
}
_NAMES = {"--all": "include_done"}


def match(args: list[str]) -> Callable[[], None] | None:
    """The call for a plain read command line, or None (then typer parses it)."""
    if not args or args[0] not in _SPECS:
        return None
    allowed, options = _SPECS[args[0]]
    positional: list[str] = []
    given: dict[str, str | int | bool] = {}
    rest = iter(args[1:])
    for token in rest:
        if not token.startswith("-"):
            positional.append(token)
            continue
        name, eq, value = token.partition("=")
        kind = options.get(name)
        if kind is None or name in given or (kind == "flag" and eq):
            return None
        if kind == "flag":
            given[name] = True
            continue
        if not eq:
            value = next(rest, "")
        if not value or value.startswith("-") or (kind == "int" and not _is_int(value)):
            return None
        given[name] = int(value) if kind == "int" else value
    if len(positional) > allowed:
        return None
    kwargs = {_NAMES.get(k, k[2:]): v for k, v in given.items()}
    today = kwargs.pop("today", None)
    return partial(_TARGETS[args[0]], *positional, today=today, **kwargs)


def _is_int(value: str) -> bool:
    return value.isascii() and value.lstrip("+-").isdigit() and len(value) < 19
