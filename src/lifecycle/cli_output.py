"""What every command prints through and reads days with, without typer.

The read commands (``status``, ``tasks``, ``sitzungen``) run on this module and ``cli_read``
alone, so that they start without typer and the command tree (see ``cli_fast``).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import sys
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console

from .errors import InputError
from .words import quoted

if TYPE_CHECKING:
    from sqlmodel import Session

# The output's reader went away (`lifecycle status | head`): ended quietly with the code a
# shell shows for a writer killed by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141
# The output could not be written (a full disk, an I/O error): one line, EX_IOERR.
EXIT_OUTPUT_FAILED = 74


def silence_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for a reader that is gone (or for a
    full disk) must not fail once more when the interpreter flushes it at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # captured in a test
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class OutputFailed(Exception):
    """Writing the command's own output failed: its reader went away, or its disk is full.

    Not an OSError: a command's ``except OSError`` about a file of its own must not take it
    for its own failure."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class GuardedStdout:
    """The process's stdout (``main`` installs it), a failed write raised as OutputFailed."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise OutputFailed(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise OutputFailed(exc) from exc

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer, …
        return getattr(self._stream, name)


def output_failed(exc: OutputFailed) -> int:
    """The exit code for output that could not be written; one line unless the reader left."""
    silence_stdout()
    if isinstance(exc.error, BrokenPipeError):
        return EXIT_BROKEN_PIPE
    from .files import os_problem

    say(f"Ausgabe nicht schreibbar: {os_problem(exc.error)}")
    return EXIT_OUTPUT_FAILED


class _Console(Console):
    def on_broken_pipe(self) -> None:  # rich's own: exit 1, which says "failed"
        self.quiet = True
        silence_stdout()
        raise SystemExit(EXIT_BROKEN_PIPE)


# Markup is ours only: every text that comes from a scenario, plan or user goes through esc().
console = _Console(highlight=False, emoji=False)
# Error lines are plain text: no markup ("[...]"), no emoji codes (":100:"), no wrapping.
err_console = _Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


def one_line(message: str) -> str:
    """A message as exactly one line: line breaks and control characters made visible."""
    return "".join(
        ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in message.strip()
    )


def say(message: str) -> None:
    """One line on stderr, prefixed with the program's name."""
    err_console.print(f"lifecycle: {one_line(message)}", markup=False, emoji=False)


MAX_LIMIT = 1_000_000


def check_limit(limit: int, option: str = "--limit") -> int:
    """A number of rows to show: 0 to MAX_LIMIT. SQLite reads -1 as "no limit", and a number
    beyond 2**63 overflows the driver."""
    if not 0 <= limit <= MAX_LIMIT:
        raise InputError(option, "", f"{limit} liegt nicht zwischen 0 und {MAX_LIMIT}")
    return limit


_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_day(value: str | None, option: str) -> dt.date:
    """A day YYYY-MM-DD (today if None); anything else is an InputError naming ``option``."""
    if value is None:
        return dt.date.today()
    return day_of(value.strip(), option, value)


def day_of(text: str, option: str, original: str) -> dt.date:
    """``text`` as a day in the years lifecycle accepts; ``original`` is quoted in errors."""
    from .dates import check_year

    m = _DAY.fullmatch(text)
    if m is None:
        raise InputError(option, "", f"{quoted(original)} ist kein Datum (erwartet YYYY-MM-DD)")
    try:
        day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise InputError(option, "", f"unmögliches Datum {quoted(original)}") from None
    if problem := check_year(day):
        raise InputError(option, "", f"{quoted(original)}: {problem}")
    return day


def session() -> AbstractContextManager[Session]:
    from .db import session_scope

    return session_scope()
