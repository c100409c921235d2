"""The files a user names for lifecycle to read or write: one place for their limits and errors.

Reading: at most ``limit`` bytes are ever read, whatever the path is — a regular file, a pipe
(``--file <(cmd)``), a device (``/dev/zero``); a pipe's size is not known beforehand, so the
limit is the number of bytes read, not what ``stat`` says.

Writing: a folder is checked (a probe file written and removed in it, or in the folder it
will be made in) before the work starts, so that a folder nobody may write to is one German
line and exit 2, not an internal error after minutes of work; a write that fails all the
same (a full disk) is the same kind of line through ``writing``.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

_ERRNO_DE = {
    errno.EACCES: "keine Berechtigung",
    errno.EPERM: "nicht erlaubt",
    errno.EROFS: "Dateisystem nur lesbar",
    errno.ENOSPC: "kein Platz mehr auf dem Datenträger",
    errno.EDQUOT: "Speicherkontingent erschöpft",
    errno.ENOENT: "Datei oder Ordner fehlt",
    errno.ENOTDIR: "ein Teil des Pfads ist kein Ordner",
    errno.EISDIR: "ist ein Ordner",
    errno.ENAMETOOLONG: "Name zu lang",
    errno.EEXIST: "gibt es schon",
    errno.EIO: "Ein-/Ausgabefehler des Datenträgers",
    errno.ELOOP: "zu viele symbolische Verknüpfungen",
}


def os_problem(exc: OSError) -> str:
    """An operating system error in German (the system's own text in brackets)."""
    german = _ERRNO_DE.get(exc.errno or 0)
    own = exc.strerror or type(exc).__name__
    return f"{german} ({own})" if german else own


# --- reading ---------------------------------------------------------------------------------


def read_limited_bytes(path: str | Path, limit: int, *, source: str | None = None,
                       field: str = "", regular_only: bool = False, kind: str = "Datei",
                       too_big: str | None = None) -> bytes:  # fmt: skip
    """The bytes of ``path``, at most ``limit`` of them; more is an InputError (``too_big``
    its text). A folder is refused (no ``kind`` of file); with ``regular_only`` also a pipe,
    a device or a socket."""
    path = Path(path)
    source = source or str(path)

    def refuse(problem: str) -> InputError:
        return InputError(source, field, problem)

    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise refuse("Datei nicht gefunden") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        problem = os_problem(exc) if isinstance(exc, OSError) else "ungültiger Dateiname"
        raise refuse(f"nicht lesbar: {problem}") from None
    if stat.S_ISDIR(info.st_mode):
        raise refuse(f"ist ein Ordner, keine {kind}")
    if regular_only and not stat.S_ISREG(info.st_mode):
        raise refuse("ist keine gewöhnliche Datei (Gerät, Pipe oder Socket)")
    try:
        with open(path, "rb") as fh:
            raw = _read_upto(fh, limit + 1)
    except OSError as exc:
        raise refuse(f"nicht lesbar: {os_problem(exc)}") from None
    if len(raw) > limit:
        raise refuse(too_big or f"zu groß (mehr als {_size_de(limit)})")
    return raw


def _read_upto(fh, count: int) -> bytes:
    """Up to ``count`` bytes: a pipe hands them over in pieces, a file at once."""
    parts: list[bytes] = []
    left = count
    while left > 0:
        chunk = fh.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _size_de(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return f"{limit} Bytes"


# --- writing ---------------------------------------------------------------------------------


def writable_folder(folder: str | Path, source: str) -> Path:
    """``folder`` if it can be written to: a probe file is written and removed in it, or, while
    it does not exist yet, in the nearest folder above it that does (then it can be made).
    Nothing is left behind. Anything else (a file or a device on the way, a folder nobody may
    write) is an InputError naming the folder and ``source`` (the option that named it)."""
    folder = Path(folder)

    def refuse(problem: str) -> InputError:
        return InputError(str(folder), source, problem)

    try:
        existing = folder
        while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            where = "" if existing == folder else f" ({existing} auf dem Weg)"
            raise refuse(f"ist kein Ordner{where}")
        fd, probe = tempfile.mkstemp(prefix=".lifecycle-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise refuse(f"nicht schreibbar: {os_problem(exc)}") from None
    except ValueError:  # a NUL byte in the name
        raise refuse("ungültiger Ordnername") from None
    return folder


def output_file(path: str | Path, source: str) -> Path:
    """A file to be written: not a folder, and its folder there. A device such as
    /dev/stdout is fine; whether the file itself may be written shows when it is
    (``writing``)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(str(path), source, "ist ein Ordner; erwartet wird eine Datei")
    if not path.parent.is_dir():
        raise InputError(str(path), source, f"Ordner {path.parent} fehlt")
    return path


@contextmanager
def writing(path: str | Path, source: str) -> Iterator[None]:
    """An OSError while writing ``path`` (a file, or a folder and what is in it) as one German
    InputError naming it; an error about another file is left alone (not the user's)."""
    path = Path(path)
    try:
        yield
    except OSError as exc:
        if exc.filename is not None and not _within(Path(os.fsdecode(exc.filename)), path):
            raise
        raise InputError(str(path), source, f"nicht schreibbar: {os_problem(exc)}") from None


def _within(name: Path, path: Path) -> bool:
    name, path = Path(os.path.abspath(name)), Path(os.path.abspath(path))
    return name == path or path in name.parents
