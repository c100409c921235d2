"""The `lifecycle` command line. Keeps Prefect off the fast path: only `serve`/`demo` load it.

Every way out is one of three exit codes with at most one line on stderr:

- 0: done;
- 2: the input was refused (a bad file or argument, a refused transition, a usage error
  such as an unknown command or ``--limit abc``): one German line, nothing changed;
- 70: an internal error (a bug): one German line naming a log file with the traceback.

Output that cannot be written is no bug: a reader that went away (``lifecycle status | head``)
ends quietly with 141, as a writer killed by SIGPIPE; a full disk is one line and 74 (EX_IOERR).

``lifecycle remind`` adds 3: reminders failed or are still waiting (see README, Reminders).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import re
import sys
import tempfile
import traceback
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import cli_fast
from .cli_output import GuardedStdout, OutputFailed, output_failed, say
from .errors import LifecycleError
from .gc_pause import no_cyclic_gc
from .words import quoted

if TYPE_CHECKING:
    import typer

EXIT_INTERNAL = 70  # EX_SOFTWARE

# Each command group keeps its heavy imports inside its commands; a group is registered only
# when the command line names it (or asks for the overview), so typer builds a small tree.
_GROUPS = ("cli_docs", "cli_flows", "cli_remind", "cli_web", "cli_ops", "cli_oparl",
           "cli_vorlage", "cli_umsetzung")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """The process entry (console script and ``python -m lifecycle``); not for callers."""
    sys.stdout = GuardedStdout(sys.stdout)
    code = run(argv)
    try:  # what is still buffered goes out now, while a failure can still be told
        sys.stdout.flush()
    except OutputFailed as exc:
        code = output_failed(exc)
    # The process ends here. Without this, the interpreter's shutdown traces every object
    # the ORM and pydantic built (~100 ms, a sixth of a `status`) only to free memory the
    # operating system frees anyway. atexit handlers (lifecycle.db closes its connections
    # there) and stream flushes still run.
    gc.freeze()
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    """Run one command line; return its exit code (never raises, except SystemExit)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if problem := argv_problem(args):
        _say(problem)
        return 2
    args = [_nfc(a) for a in args]
    try:
        if (call := cli_fast.match(args)) is not None:
            # A read command is short, and the ORM and pydantic it imports build large object
            # graphs the collector would trace several times over while they load (~50 ms).
            try:
                with no_cyclic_gc():
                    call()
            except LifecycleError as exc:
                _say(str(exc))
                return 2
            return 0
        return _run_typer(args)
    except OutputFailed as exc:  # no bug: the output's reader went away, or its disk is full
        return output_failed(exc)
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback in a file
        from .ops import database_outage

        if outage := database_outage(exc):  # no bug: the database went away (as Unavailable)
            _say(outage)
            return 2
        log = _write_traceback(exc, args)
        _say(f"Interner Fehler ({type(exc).__name__}), Details in {log}")
        return EXIT_INTERNAL


def argv_problem(args: list[str]) -> str | None:
    """The one German line refusing an argument that is not UTF-8 text, else None.

    Python hands bytes that are not UTF-8 (a Latin-1 terminal's "ü") over as lone surrogates
    (surrogateescape); no database, file or terminal can take those. They are refused here,
    once for every command, before anything is read or written.
    """
    for number, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            name, eq, _value = arg.partition("=")
            if arg.startswith("--") and eq:
                where = f" (Wert von {name})"
            elif number > 1 and args[number - 2].startswith("-"):
                where = f" (nach {args[number - 2]})"  # checked already
            else:
                where = ""
            return (f"Aufruf: Argument {number} {_shown(arg)}{where} ist kein UTF-8-Text; "
                    "bitte als UTF-8 eingeben")  # fmt: skip
    return None


def _nfc(arg: str) -> str:
    """``arg`` in Unicode's composed form (NFC), as scenarios and the database hold names: a
    terminal or a macOS file name may hand over "Rückblick" decomposed (u + combining
    diaeresis), which looks the same and would match nothing. A path that exists as given
    stays as it is (a file named in the decomposed form)."""
    nfc = unicodedata.normalize("NFC", arg)
    if nfc == arg or os.path.lexists(arg):
        return arg
    return nfc


def _shown(arg: str) -> str:
    """An argument as typed, bytes that are not UTF-8 as \\xNN (never a lone surrogate)."""
    try:
        raw = arg.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte could have made (only from Python)
        return "„" + arg.encode("utf-8", "backslashreplace").decode("utf-8") + "“"
    return "„" + raw.decode("utf-8", "backslashreplace") + "“"


def app_for(args: list[str]) -> typer.Typer:
    """The typer app with the core commands and the groups ``args`` may need."""
    import importlib

    from .cli_core import app

    name = next((a for a in args if not a.startswith("-")), None)
    if name is not None and name in _core_names(app):
        return app
    groups = [importlib.import_module(f"lifecycle.{module}") for module in _GROUPS]
    named = [g for g in groups if name in _names(g)]
    for group in named or groups:  # an unknown name: all, for typer's error and the help
        group.register(app)
    return app


def _run_typer(args: list[str]) -> int:
    import typer

    click = _click()
    no_args = getattr(click, "NoArgsIsHelpError", ())
    abort = getattr(click, "Abort", None) or typer.Abort
    try:
        result = app_for(args)(args=args, prog_name="lifecycle", standalone_mode=False)
    except no_args as exc:  # `lifecycle` or `lifecycle docs` alone: the help, as typed
        print(exc.ctx.get_help() if exc.ctx else "lifecycle --help")
        return 2
    except click.UsageError as exc:  # also MissingParameter, NoSuchOption, BadParameter
        _say(usage_de(exc))
        return 2
    except abort:
        _say("abgebrochen")
        return 130
    except click.ClickException as exc:  # e.g. a file option that cannot be opened
        _say(exc.format_message())
        return 2
    return result if isinstance(result, int) else 0


def _click() -> Any:
    """click's exceptions: typer >= 0.2x carries its own copy of click, older ones use it."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def _names(group: Any) -> set[str]:
    """The top-level command and group names a cli module registers."""
    import typer

    probe = typer.Typer()
    group.register(probe)
    return _core_names(probe)


def _core_names(app: Any) -> set[str]:
    commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    return commands | {g.name for g in app.registered_groups if g.name}


def _say(message: str) -> None:
    say(message)


def usage_de(exc) -> str:
    """A click usage error as one German line."""
    click = _click()
    ctx = exc.ctx
    command = ctx.command_path if ctx is not None else "lifecycle"
    hint = f" (Hilfe: {command} --help)"
    param = getattr(exc, "param", None)
    name = _param_name(param, ctx) if param is not None else ""
    if isinstance(exc, click.MissingParameter):
        return f"Aufruf: {name or 'ein Argument'} fehlt{hint}"
    if isinstance(exc, click.NoSuchOption):
        return f"Aufruf: unbekannte Option {exc.option_name}{hint}"
    if isinstance(exc, click.BadOptionUsage):
        return f"Aufruf: Option {exc.option_name} falsch verwendet{hint}"
    if isinstance(exc, click.BadParameter):
        return f"Aufruf: ungültiger Wert für {name or 'einen Parameter'}: {_bad_value(exc)}{hint}"
    message = exc.format_message()
    if m := re.match(r"No such command '([^']*)'", message):
        return f"Aufruf: unbekannter Befehl {quoted(m.group(1))}{hint}"
    if m := re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", message):
        return f"Aufruf: überzähliges Argument {m.group(1)}{hint}"
    return f"Aufruf ungültig: {message}{hint}"


def _param_name(param, ctx) -> str:
    if getattr(param, "param_type_name", "") == "option" and getattr(param, "opts", None):
        return max(param.opts, key=len)
    return (getattr(param, "human_readable_name", "") or param.name or "").upper()


_KINDS_DE = {
    "integer": "keine ganze Zahl",
    "float": "keine Zahl",
    "boolean": "kein Wahrheitswert",
    "range": "außerhalb des erlaubten Bereichs",
}


def _bad_value(exc) -> str:
    message = exc.message or ""
    m = re.match(r"'?(.*?)'? is not (?:a valid|one of) (\w+)", message)
    if m and m.group(2) in _KINDS_DE:
        return f"{quoted(m.group(1))} ist {_KINDS_DE[m.group(2)]}"
    m = re.search(r"valid (integer|float|number|boolean)", message)
    if m:
        return _KINDS_DE.get(m.group(1), "keine Zahl")
    return message or "ungültig"


def _write_traceback(exc: BaseException, argv: list[str]) -> Path:
    """The traceback in the user's log folder, else the temp folder; returns the file."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"lifecycle-fehler-{stamp}-{os.getpid()}.log"
    text = "".join(traceback.format_exception(exc))
    folders: list[Path] = []
    try:
        from platformdirs import user_log_dir

        folders.append(Path(user_log_dir("lifecycle", appauthor=False)))
    except Exception:  # noqa: BLE001 - no home directory: the temp folder will do
        pass
    folders.append(Path(tempfile.gettempdir()))
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            # The command line and the traceback may hold anything (bytes that are not UTF-8
            # arrive as lone surrogates): the log is written whatever they hold.
            path.write_text(f"lifecycle {' '.join(argv)}\n{text}", encoding="utf-8",
                            errors="backslashreplace")
            return path
        except OSError:
            continue
    return Path("(nicht schreibbar)")
