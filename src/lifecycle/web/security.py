"""Login, sessions, CSRF and throttling for the web app.

The session cookie (Starlette's signed SessionMiddleware) carries only the user's id, a
stamp of the user's session generation and password (logging out or a new password revokes
every session of the user, copies of the cookie included) and a CSRF token. Who the user
is comes from a ``LoginProvider``: today the local password login; an OIDC provider
(Keycloak in front of the Rathaus's Active Directory) is another provider that, after its
redirect dance, calls ``log_in(request, user)`` for the ``User`` row mapped to the token's
subject — the pages only ever see the ``Principal``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .. import passwords
from ..access import Principal, load_principal
from ..errors import Forbidden, LifecycleError
from ..models import LoginFailure, User

SESSION_USER = "user_id"
SESSION_CSRF = "csrf"
SESSION_STAMP = "stamp"  # the user's session generation and password, hashed (_stamp)
CSRF_FIELD = "csrf_token"
# Per submitted name, whether an account has it or not (the answer must not tell): after
# this many failures in a row the name waits, doubling each time.
LOCK_AFTER = 5
LOCK_MAX = dt.timedelta(minutes=15)
# The per-name counts are bounded: a name without a failure for a day is forgotten, and at
# most this many names are kept (the longest quiet ones go first).
FORGET_AFTER = dt.timedelta(days=1)
MAX_NAMES = 50_000
TOO_MANY = "zu viele Fehlversuche; bitte in einigen Minuten erneut versuchen"
WRONG = "Name oder Passwort stimmt nicht"
# Per client address, whatever the names tried: a sliding window.
CLIENT_WINDOW_SECONDS = 300
CLIENT_MAX_FAILURES = 20
CLIENT_MAX_TRACKED = 10_000  # addresses kept in memory at most


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
    stamp = request.session.get(SESSION_STAMP)
    if (user is None or not user.active or not isinstance(stamp, str)
            or not hmac.compare_digest(stamp.encode(), _stamp(request, user).encode())):
        request.session.clear()  # a revoked session: logged out, or the password changed
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
    request.session[SESSION_STAMP] = _stamp(request, user)
    csrf_token(request)


def log_out(request: Request, session: Session) -> None:
    """End the session here and every other session of the user: the cookie is signed, not
    stored, so a copy of it would live on; a new generation makes every stamp stale."""
    principal = current_principal(request, session)
    if principal is not None:
        session.execute(update(User).where(col(User.id) == principal.user_id)
                        .values(session_epoch=col(User.session_epoch) + 1))  # fmt: skip
        session.commit()
    request.session.clear()


def _stamp(request: Request, user: User) -> str:
    """What a session of ``user`` carries to stay valid: a keyed hash of the user's session
    generation and password hash. Logging out (a new generation) and a new password (a new
    hash) make every earlier session's stamp stale."""
    key: bytes = request.app.state.session_stamp_key
    text = f"{user.id}:{user.session_epoch}:{user.password_hash}"
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


class Throttle:
    """Failed logins per client address in the last few minutes (in this web process)."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, client: str) -> bool:
        window = self._failures.get(client)
        if window is None:
            return False
        cutoff = time.monotonic() - CLIENT_WINDOW_SECONDS
        while window and window[0] < cutoff:
            window.popleft()
        if not window:  # only addresses with recent failures are kept
            del self._failures[client]
        return len(window) >= CLIENT_MAX_FAILURES

    def failed(self, client: str) -> None:
        self._failures[client].append(time.monotonic())
        if len(self._failures) > CLIENT_MAX_TRACKED:  # forget the addresses quiet longest
            quiet = sorted(self._failures, key=lambda c: self._failures[c][-1])
            for gone in quiet[: len(self._failures) - CLIENT_MAX_TRACKED]:
                del self._failures[gone]


class PasswordLogin:
    """The local LoginProvider: a name and an argon2-hashed password.

    Whatever the name, the answers and their cost are the same: an unknown name is checked
    against a dummy hash and locks after LOCK_AFTER failures like an account does.
    """

    def __init__(self, throttle: Throttle | None = None, *, key: bytes = b"") -> None:
        self.throttle = throttle or Throttle()
        self._key = key or secrets.token_bytes(32)

    def name_key(self, name: str) -> str:
        """The key of a submitted name's failure count: a keyed hash, never the name itself
        (people type their password into the name field)."""
        return hmac.new(self._key, name.encode(), hashlib.sha256).hexdigest()

    def authenticate(self, session: Session, client: str, name: str, password: str) -> User:
        if self.throttle.blocked(client):
            raise LoginFailed(TOO_MANY)
        name = name.strip().lower()
        now = dt.datetime.now(dt.UTC)
        failure = session.get(LoginFailure, self.name_key(name))
        if failure is not None and failure.locked_until and _aware(failure.locked_until) > now:
            passwords.verify("", password)  # same cost as a real check
            self.throttle.failed(client)
            raise LoginFailed(TOO_MANY)
        user = session.exec(select(User).where(User.name == name)).first()
        # an unknown name costs a hash as well: no timing hint that an account exists
        right = passwords.verify(user.password_hash if user else "", password)
        if user is None or not user.active or not right:
            self.throttle.failed(client)
            self._count_failure(session, name, now)
            raise LoginFailed(WRONG)
        if failure is not None:
            session.delete(failure)
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
            session.add(user)
        session.commit()
        return user

    def _count_failure(self, session: Session, name: str, now: dt.datetime) -> None:
        key = self.name_key(name)
        for attempt in (1, 2):  # a second try when a parallel first failure inserted the row
            failure = session.get(LoginFailure, key)
            if failure is None:
                _make_room(session, now)
                failure = LoginFailure(name_key=key, last_failed=now)
            failure.failures += 1
            failure.last_failed = now
            if failure.failures >= LOCK_AFTER:
                wait = dt.timedelta(seconds=15 * 2 ** min(failure.failures - LOCK_AFTER, 20))
                failure.locked_until = now + min(wait, LOCK_MAX)
            session.add(failure)
            try:
                session.commit()
                return
            except IntegrityError:
                session.rollback()
                if attempt == 2:
                    raise


def _make_room(session: Session, now: dt.datetime) -> None:
    """Forget names quiet for FORGET_AFTER; keep fewer than MAX_NAMES (the quietest go)."""
    table = LoginFailure.__table__  # type: ignore[attr-defined]
    session.execute(delete(table).where(table.c.last_failed < now - FORGET_AFTER))
    count = session.execute(select(func.count()).select_from(table)).scalar_one()
    if count >= MAX_NAMES:
        quietest = (select(table.c.name_key).order_by(table.c.last_failed)
                    .limit(count - MAX_NAMES + 1))  # fmt: skip
        session.execute(delete(table).where(table.c.name_key.in_(quietest.scalar_subquery())))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
