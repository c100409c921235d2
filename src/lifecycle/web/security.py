"""Login, sessions, CSRF and throttling for the web app.

The session cookie (Starlette's signed SessionMiddleware) carries only the user's id and a
CSRF token. Who the user is comes from a ``LoginProvider``: today the local password login;
an OIDC provider (Keycloak in front of the Rathaus's Active Directory) is another provider
that, after its redirect dance, calls ``log_in(request, user)`` for the ``User`` row mapped
to the token's subject — the pages only ever see the ``Principal``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from sqlmodel import Session, select

from .. import passwords
from ..access import Principal, load_principal
from ..errors import Forbidden, LifecycleError
from ..models import User

SESSION_USER = "user_id"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
# Per account: after this many failures in a row the account waits, doubling each time.
LOCK_AFTER = 5
LOCK_MAX = dt.timedelta(minutes=15)
# Per client address, whatever the names tried: a sliding window.
CLIENT_WINDOW_SECONDS = 300
CLIENT_MAX_FAILURES = 20


class LoginRequired(LifecycleError):
    """The page needs a logged-in user."""


class LoginFailed(LifecycleError):
    """Wrong name or password, or a locked account; the message does not say which."""


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


def check_csrf(request: Request, form: Mapping[str, Any]) -> None:
    """Every form carries the session's token; a forged post does not know it."""
    expected = request.session.get(SESSION_CSRF)
    given = form.get(CSRF_FIELD)
    # compare bytes: compare_digest refuses non-ASCII str, and a forged token may be anything
    if not (isinstance(expected, str) and isinstance(given, str)) or not hmac.compare_digest(
        expected.encode(), given.encode()
    ):
        raise Forbidden(
            "das Formular ist abgelaufen oder stammt nicht von dieser Seite; "
            "bitte die Seite neu laden und noch einmal senden"
        )


def current_principal(request: Request, session: Session) -> Principal | None:
    user_id = request.session.get(SESSION_USER)
    if not isinstance(user_id, int):
        return None
    user = session.get(User, user_id)
    if user is None or not user.active:
        request.session.pop(SESSION_USER, None)
        return None
    return load_principal(session, user)


def require_principal(request: Request, session: Session) -> Principal:
    principal = current_principal(request, session)
    if principal is None:
        raise LoginRequired("bitte melden Sie sich an")
    return principal


def log_in(request: Request, user: User) -> None:
    """Start a fresh session for ``user`` (a new CSRF token: no session fixation)."""
    request.session.clear()
    request.session[SESSION_USER] = user.id
    csrf_token(request)


def log_out(request: Request) -> None:
    request.session.clear()


class Throttle:
    """Failed logins per client address in the last few minutes (in this web process)."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, client: str) -> bool:
        window = self._failures[client]
        cutoff = time.monotonic() - CLIENT_WINDOW_SECONDS
        while window and window[0] < cutoff:
            window.popleft()
        return len(window) >= CLIENT_MAX_FAILURES

    def failed(self, client: str) -> None:
        self._failures[client].append(time.monotonic())


class PasswordLogin:
    """The local LoginProvider: a name and an argon2-hashed password."""

    def __init__(self, throttle: Throttle | None = None) -> None:
        self.throttle = throttle or Throttle()

    def authenticate(self, session: Session, client: str, name: str, password: str) -> User:
        if self.throttle.blocked(client):
            raise LoginFailed("zu viele Fehlversuche; bitte in einigen Minuten erneut versuchen")
        user = session.exec(select(User).where(User.name == name.strip().lower())).first()
        now = dt.datetime.now(dt.UTC)
        if user is not None and user.locked_until and _aware(user.locked_until) > now:
            passwords.verify("", password)  # same cost as a real check
            self.throttle.failed(client)
            raise LoginFailed("zu viele Fehlversuche; bitte in einigen Minuten erneut versuchen")
        if user is None or not user.active or not passwords.verify(user.password_hash, password):
            self.throttle.failed(client)
            if user is not None:
                _count_failure(session, user, now)
            raise LoginFailed("Name oder Passwort stimmt nicht")
        if user.failed_logins or user.locked_until:
            user.failed_logins, user.locked_until = 0, None
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        session.add(user)
        session.commit()
        return user


def _count_failure(session: Session, user: User, now: dt.datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= LOCK_AFTER:
        wait = dt.timedelta(seconds=15 * 2 ** (user.failed_logins - LOCK_AFTER))
        user.locked_until = now + min(wait, LOCK_MAX)
    session.add(user)
    session.commit()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
