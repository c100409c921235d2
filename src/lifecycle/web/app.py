"""The web app: FastAPI, server-rendered German pages, a thin adapter over the services.

Pages read through ``lookups``, ``status``, ``tasks``, ``sitzungsdienst``; every change goes
through ``lifecycle.services`` after ``access`` said yes. Errors the engine raises on purpose
become a German page with the matching status code; the database is unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import dates
from ..db import get_engine
from ..errors import Forbidden, InputError, LifecycleError, NotFound, Refused, Unavailable
from ..words import quoted
from . import security

log = logging.getLogger("lifecycle.web")
SESSION_MAX_AGE = 8 * 3600  # a working day
MAX_BODY = 6 * 2**20  # uploads (scenario, template) and forms together


def _folder(name: str) -> str:
    return str(resources.files("lifecycle.web") / name)


templates = Jinja2Templates(directory=_folder("templates"))
templates.env.globals.update(
    long_de=dates.long_de, short_de=dates.short_de, weekday_short_de=dates.weekday_short_de,
    csrf_field=security.CSRF_FIELD,
)  # fmt: skip


def secret_key() -> str:
    """LIFECYCLE_WEB_SECRET, or a random key kept next to the default database (0600)."""
    configured = os.environ.get("LIFECYCLE_WEB_SECRET")
    if configured:
        return configured
    from platformdirs import user_data_dir

    path = Path(user_data_dir("lifecycle", appauthor=False)) / "web-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _derived(secret: str, purpose: str) -> bytes:
    """A key for one purpose from the app's secret (the session's signing key stays its own)."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


SECURE_COOKIE_ENV = "LIFECYCLE_WEB_SECURE_COOKIE"
_YES, _NO = ("1", "true", "yes", "ja", "on"), ("", "0", "false", "no", "nein", "off")


def secure_cookie_from_env() -> bool:
    """LIFECYCLE_WEB_SECURE_COOKIE: whether the session cookie is sent over HTTPS only.
    Off unless set: ``lifecycle web`` on http://127.0.0.1 for one person would otherwise
    never log in; behind a reverse proxy that terminates TLS, set it (deploy/lifecycle.env)."""
    value = os.environ.get(SECURE_COOKIE_ENV, "").strip().lower()
    if value not in _YES + _NO:
        raise InputError(SECURE_COOKIE_ENV, "", f"{quoted(value)} ist weder 1/ja noch 0/nein")
    return value in _YES


def create_app(database_url: str | None = None, *, secret: str | None = None,
               https_only: bool | None = None) -> FastAPI:  # fmt: skip
    """The app on a database (LIFECYCLE_DATABASE_URL unless given); ``https_only`` marks the
    session cookie Secure (LIFECYCLE_WEB_SECURE_COOKIE unless given)."""
    if https_only is None:
        https_only = secure_cookie_from_env()
    app = FastAPI(title="lifecycle", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.database_url = database_url
    secret = secret or secret_key()
    app.state.login = security.PasswordLogin(key=_derived(secret, "login-name"))
    app.state.session_stamp_key = _derived(secret, "session-stamp")
    get_engine(database_url)  # fail at start, not on the first request
    app.add_middleware(
        SessionMiddleware, secret_key=secret, session_cookie="lifecycle",
        max_age=SESSION_MAX_AGE, same_site="lax", https_only=https_only,
    )  # fmt: skip
    app.add_middleware(LimitBody, limit=MAX_BODY)
    app.middleware("http")(_plain_path)
    app.middleware("http")(_security_headers)
    app.mount("/static", StaticFiles(directory=_folder("static")), name="static")
    _error_pages(app)
    from . import actions, admin_pages, pages, process_pages, sitzungsdienst_pages, vorlage_pages
    from .massnahmen_pages import router as massnahmen_router
    from .oparl_api import router as oparl_router

    for module in (pages, actions, process_pages, sitzungsdienst_pages, vorlage_pages,
                   admin_pages):  # fmt: skip
        app.include_router(module.router)
    app.include_router(massnahmen_router)  # Umsetzung: Maßnahmen, milestones, CSV
    app.include_router(oparl_router)  # the OParl 1.1 API, read-only, public
    return app


def db(request: Request) -> Iterator[Session]:
    """FastAPI dependency: one session per request."""
    with Session(get_engine(request.app.state.database_url), expire_on_commit=False) as s:
        yield s


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           principal: Any = None) -> HTMLResponse:  # fmt: skip
    context = {"request": request, "user": principal, "today": dt.date.today(),
               "csrf_token": security.csrf_token(request),
               "hinweis": _notice(request) if status < 400 else "", **context}  # fmt: skip
    return templates.TemplateResponse(request, name, context, status_code=status)


SESSION_NOTICE = "hinweis"
MAX_NOTICE = 600  # characters: the cookie holds it until the next page


def see_result(request: Request, path: str, note: str = "") -> RedirectResponse:
    """POST-redirect-GET to the page that shows the result; ``note`` is shown once there.

    The note travels in the (signed) session, never in the address: a notice on a page is
    always one this server issued to this session, not text someone put into a link.
    """
    if note:
        request.session[SESSION_NOTICE] = note[:MAX_NOTICE]
    return RedirectResponse(path, status_code=303)


def _notice(request: Request) -> str:
    """The notice ``see_result`` left for this session, once."""
    note = request.session.pop(SESSION_NOTICE, "")
    return note if isinstance(note, str) else ""


TOO_LARGE = f"Die Anfrage ist zu groß (höchstens {MAX_BODY // 2**20} MiB)."
_LENGTH = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() also takes "²"


class _TooLarge(Exception):
    """The body passed the limit while the app was reading it."""


class LimitBody:
    """A request body above ``limit`` bytes is answered with 413, by what actually arrives.

    A Content-Length above the limit (or not a number) is refused before anything is read.
    Without one (``Transfer-Encoding: chunked``) or with one that lies, the chunks are counted
    as ``receive()`` hands them to the app: the first chunk past the limit ends the reading,
    and whatever the app would answer to the broken-off body is replaced by the 413 page.
    A pure ASGI middleware: ``BaseHTTPMiddleware`` cannot see the body as it streams.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not _LENGTH.fullmatch(length) or int(length) > self.limit):
            await _error(Request(scope), 413, TOO_LARGE)(scope, receive, send)
            return
        received = 0
        exceeded = started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:  # the app's answer to a body it did not get whole: never sent
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded or started:  # whatever the app wraps _TooLarge in
                raise
        if exceeded:
            if started:  # the app answered before reading; the rest cannot be sent
                raise _TooLarge
            log.warning("request body above %d bytes refused: %s %s", self.limit,
                        scope.get("method"), scope.get("path"))  # fmt: skip
            await _error(Request(scope), 413, TOO_LARGE)(scope, receive, send)


async def _plain_path(request: Request, call_next: Any) -> Response:
    """A control character in the path is refused. Starlette's routes end in ``$``, which
    matches before a final line break: ``/prozess/x%0A`` would otherwise be ``/prozess/x``.
    The raw path: ``request.url`` drops line breaks and tabs (urllib's rule)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in request.scope["path"]):
        return _error(request, 404, "Die Adresse enthält ein Steuerzeichen (etwa einen "
                                    "Zeilenumbruch); eine solche Seite gibt es nicht.")  # fmt: skip
    return await call_next(request)


async def _security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


STATUS_OF: list[tuple[type[LifecycleError], int]] = [
    (security.LoginRequired, 401),
    (security.LoginFailed, 401),
    (NotFound, 404),
    (Forbidden, 403),
    (Refused, 409),
    (InputError, 422),
    (Unavailable, 503),
]


def _status(exc: LifecycleError) -> int:
    return next((code for cls, code in STATUS_OF if isinstance(exc, cls)), 400)


def _error(request: Request, status: int, message: str) -> HTMLResponse:
    try:
        token = security.csrf_token(request)
    except AssertionError:  # no session yet (the body limit runs before the session)
        token = ""
    return templates.TemplateResponse(
        request, "fehler.html",
        {"request": request, "status": status, "message": message,
         "user": _logged_in(request) if token else None,
         "csrf_token": token, "today": dt.date.today()},
        status_code=status,
    )  # fmt: skip


def _logged_in(request: Request) -> Any:
    """Who is logged in, for the error page's menu: the way back and out, as on every page.
    Nobody when that cannot be told: the database may be what failed."""
    try:
        with Session(get_engine(request.app.state.database_url)) as s:
            return security.current_principal(request, s)
    except Exception:
        log.debug("no user for the error page of %s", request.url.path, exc_info=True)
        return None


def _error_pages(app: FastAPI) -> None:
    @app.exception_handler(LifecycleError)
    async def lifecycle_error(request: Request, exc: LifecycleError) -> Response:
        status = _status(exc)
        if isinstance(exc, security.LoginRequired) and request.method == "GET":
            return RedirectResponse(f"/anmelden?weiter={request.url.path}", status_code=303)
        # "m.csv: Zeile 2: …" names a file: its first letter stays as it is
        return _error(request, status, _sentence(str(exc), upper=not isinstance(exc, InputError)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors())
        return _error(request, 422, f"Ungültige Angabe im Feld {fields}.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "Diese Seite gibt es nicht.", 405: "Diese Aktion geht so nicht."}
        return _error(request, exc.status_code,
                      messages.get(exc.status_code, "Die Anfrage ist fehlerhaft."))  # fmt: skip

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(request, 500, "Interner Fehler; die Einzelheiten stehen im Server-Log.")


def _sentence(text: str, upper: bool = True) -> str:
    text = text.strip()
    if not text:
        return "Das ging nicht."
    if upper:
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
