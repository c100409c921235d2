"""`lifecycle web` and `lifecycle user add`. FastAPI and uvicorn load inside the commands."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .cli_core import console, session, user_errors

users = typer.Typer(no_args_is_help=True, add_completion=False, help="Benutzer der Web-App.")


@user_errors
def web(
    host: Annotated[str, typer.Option("--host", help="Adresse (Standard: nur dieser Rechner)")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port")] = 8000,
    secure_cookie: Annotated[bool | None, typer.Option(
        "--secure-cookie/--no-secure-cookie",
        help="Sitzungs-Cookie nur über HTTPS senden (hinter einem Reverse-Proxy mit TLS); "
             "Standard: LIFECYCLE_WEB_SECURE_COOKIE, sonst aus")] = None,
) -> None:
    """Die Web-App starten (http://HOST:PORT)."""
    import uvicorn

    from .web import create_app

    app = create_app(https_only=secure_cookie)
    console.print(f"lifecycle web auf http://{host}:{port}/ (Beenden mit Strg+C)")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)


@users.command("add")
@user_errors
def add_user(
    name: Annotated[str, typer.Argument(help="Benutzername (Kleinbuchstaben)")],
    role: Annotated[list[str] | None, typer.Option(
        "--role", help="viewer | projektleitung | sitzungsdienst (je --kommune)")] = None,
    kommune: Annotated[list[str] | None, typer.Option(
        "--kommune", help="Kommune-Schlüssel, so oft wie --role")] = None,
    process: Annotated[str | None, typer.Option(
        "--process", help="für projektleitung: nur diese Fortschreibung")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Administrator/in (alles, überall)")]
    = False,
    display_name: Annotated[str, typer.Option("--display-name", help="Anzeigename")] = "",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Passwort aus der Standardeingabe lesen")] = False,
) -> None:
    """Einen Benutzer anlegen; das Passwort wird abgefragt (oder --password-stdin)."""
    from . import services
    from .cli_core import _actor
    from .errors import InputError

    roles, kommunen = list(role or []), list(kommune or [])
    if len(roles) != len(kommunen):
        raise InputError("--role/--kommune", "", "zu jeder --role gehört eine --kommune")
    if not roles and not admin:
        raise InputError("--role", "", "eine Rolle in einer Kommune angeben, oder --admin")
    if password_stdin:
        password = password_from_stdin()
    elif not _has_terminal():
        raise InputError("Passwort", "", "kein Terminal für die Abfrage; das Passwort mit "
                         "--password-stdin über die Standardeingabe übergeben")  # fmt: skip
    else:
        password = typer.prompt("Passwort", hide_input=True, confirmation_prompt=True)
    grants = [(r, k, process if r == "projektleitung" else None) for r, k in zip(roles, kommunen,
                                                                                  strict=True)]
    with session() as s:
        user = services.add_user(s, name, password=password, display_name=display_name,
                                 admin=admin, grants=grants, actor=_actor())  # fmt: skip
    console.print(f"Benutzer {user.name} angelegt" + (" (Administrator/in)." if admin else "."))


MAX_PASSWORD_BYTES = 4096


def password_from_stdin() -> str:
    """The first line of stdin without its line ending (\\n, or \\r\\n from Windows); it must
    be UTF-8 text. The bytes are read, not the text: stdin's own decoding would let bytes
    that are not UTF-8 through as lone surrogates, or fail with a traceback."""
    from .errors import InputError

    raw = sys.stdin.buffer.readline(MAX_PASSWORD_BYTES + 3)
    raw = raw.removesuffix(b"\n").removesuffix(b"\r") if raw.endswith(b"\n") else raw
    if len(raw) > MAX_PASSWORD_BYTES:
        raise InputError("--password-stdin", "", f"länger als {MAX_PASSWORD_BYTES} Bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("--password-stdin", "", f"kein UTF-8-Text (Byte 0x{raw[exc.start]:02x} "
                         f"an Stelle {exc.start + 1})") from None  # fmt: skip


def _has_terminal() -> bool:
    """Whether a password can be asked for without echoing it: getpass reads /dev/tty."""
    import os

    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return sys.stdin.isatty()
    os.close(fd)
    return True


def register(app: typer.Typer) -> None:
    app.command("web")(web)
    app.add_typer(users, name="user")
