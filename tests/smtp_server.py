"""A real SMTP server on loopback for tests: aiosmtpd in a thread, keeping what arrived."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Inbox:
    raw: list[bytes] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        with self.lock:
            self.raw.append(envelope.original_content or envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [email.message_from_bytes(r, policy=email.policy.default) for r in self.raw]

    def __len__(self) -> int:
        with self.lock:
            return len(self.raw)


class Authenticator:
    def __init__(self, user: str, password: str):
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login == self.user and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    def __init__(self, port: int | None = None, auth: tuple[str, str] | None = None,
                 smtputf8: bool = False):  # fmt: skip
        self.inbox = Inbox()
        self.port = port or free_port()
        kwargs: dict[str, object] = {"enable_SMTPUTF8": smtputf8}
        if auth:
            kwargs = {
                "authenticator": Authenticator(*auth),
                "auth_require_tls": False,
                "auth_required": True,
            }
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def env(self) -> dict[str, str]:
        return {
            "LIFECYCLE_SMTP_HOST": "127.0.0.1",
            "LIFECYCLE_SMTP_PORT": str(self.port),
            "LIFECYCLE_SMTP_SECURITY": "none",
            "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example",
        }
