"""Mail delivery: settings, German messages (plain, HTML, .ics attachment), SMTP.

Settings come from the environment (LIFECYCLE_SMTP_HOST …) or from a TOML file named by
LIFECYCLE_SETTINGS with the same keys; the environment wins. Nothing here knows about the
outbox: ``lifecycle.reminders`` decides what to send and records what happened.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import smtplib
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InputError, LifecycleError, Unavailable

SECURITIES = ("none", "starttls", "ssl")
KEYS = (
    "LIFECYCLE_SMTP_HOST",
    "LIFECYCLE_SMTP_PORT",
    "LIFECYCLE_SMTP_SECURITY",
    "LIFECYCLE_SMTP_USER",
    "LIFECYCLE_SMTP_PASSWORD",
    "LIFECYCLE_MAIL_FROM",
    "LIFECYCLE_DASHBOARD_URL",
    "LIFECYCLE_TIMEZONE",
)
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
# Deliberately simple: catches the typos people make (missing @, spaces, no domain dot)
# without rejecting the odd-but-valid addresses a full RFC 5322 parser would allow.
ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]{2,}$")


class ConfigError(InputError):
    """The mail settings are unusable; no message can be sent until they are fixed."""

    def __init__(self, message: str):
        self.source, self.field, self.problem, self.line = "Einstellungen", "", message, None
        LifecycleError.__init__(self, message)


class AddressError(LifecycleError):
    """One recipient cannot be mailed (no or an invalid address); the others can."""


class ServerError(Unavailable):
    """The SMTP server is unreachable or refuses us; every queued message waits."""


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    security: str = "none"
    user: str = ""
    password: str = field(default="", repr=False)
    mail_from: str = "lifecycle@localhost"
    dashboard_url: str = ""
    timezone: str = "Europe/Berlin"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(env: Mapping[str, str] | None = None) -> MailSettings:
    """Settings from a TOML file (LIFECYCLE_SETTINGS) overridden by the environment."""
    env = os.environ if env is None else env
    values: dict[str, str] = {}
    if path := env.get("LIFECYCLE_SETTINGS"):
        values.update(_read_toml(Path(path)))
    values.update({k: env[k] for k in KEYS if env.get(k)})
    return settings_from(values)


def _read_toml(path: Path) -> dict[str, str]:
    from .errors import InputError
    from .yamlio import read_limited

    try:
        text = read_limited(path, f"LIFECYCLE_SETTINGS {path}")
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    if "\x00" in text:
        raise ConfigError(f"LIFECYCLE_SETTINGS {path}: enthält ein NUL-Byte")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"LIFECYCLE_SETTINGS {path}: kein gültiges TOML ({exc})") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"LIFECYCLE_SETTINGS {path}: unbekannte(r) Schlüssel {', '.join(unknown)}; "
            f"bekannt: {', '.join(KEYS)}"
        )
    for key, value in data.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ConfigError(
                f"LIFECYCLE_SETTINGS {path}: {key} muss Text oder eine Zahl sein"
            )
    return {k: str(v) for k, v in data.items()}


def settings_from(values: Mapping[str, str]) -> MailSettings:
    host = values.get("LIFECYCLE_SMTP_HOST", "").strip()
    if not host:
        raise ConfigError(
            "LIFECYCLE_SMTP_HOST ist nicht gesetzt (Umgebung oder LIFECYCLE_SETTINGS)"
        )
    security = values.get("LIFECYCLE_SMTP_SECURITY", "none").strip().lower()
    if security not in SECURITIES:
        raise ConfigError(
            f"LIFECYCLE_SMTP_SECURITY={security!r}: erwartet eines von {', '.join(SECURITIES)}"
        )
    port_text = values.get("LIFECYCLE_SMTP_PORT", str(DEFAULT_PORTS[security])).strip()
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 0 < int(port_text) < 65536:
        raise ConfigError(f"LIFECYCLE_SMTP_PORT={port_text!r} ist keine Portnummer (1–65535)")
    mail_from = values.get("LIFECYCLE_MAIL_FROM", "lifecycle@localhost").strip()
    local = re.fullmatch(r"[^@\s<>\"',;]+@localhost", mail_from)
    if not ADDRESS.fullmatch(mail_from) and not local:
        raise ConfigError(f"LIFECYCLE_MAIL_FROM={mail_from!r} ist keine E-Mail-Adresse")
    timezone = values.get("LIFECYCLE_TIMEZONE", "Europe/Berlin").strip()
    check_timezone(timezone)
    return MailSettings(
        host=host,
        port=int(port_text),
        security=security,
        user=values.get("LIFECYCLE_SMTP_USER", ""),
        password=values.get("LIFECYCLE_SMTP_PASSWORD", ""),
        mail_from=mail_from,
        dashboard_url=values.get("LIFECYCLE_DASHBOARD_URL", "").rstrip("/"),
        timezone=timezone,
    )


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ConfigError(f"LIFECYCLE_TIMEZONE={name!r} ist keine bekannte Zeitzone") from exc


def check_address(name: str, address: str | None) -> str:
    if not address:
        raise AddressError(f"{name} hat keine E-Mail-Adresse")
    if not ADDRESS.fullmatch(address.strip()):
        raise AddressError(f"{name}: {address!r} ist keine gültige E-Mail-Adresse")
    return address.strip()


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    """What a message says, independent of its encoding."""

    subject: str
    greeting: str
    paragraphs: list[str]
    items: list[str] = field(default_factory=list)
    link: str = ""
    ics: bytes | None = None
    ics_name: str = "frist.ics"


def build_message(
    settings: MailSettings, to_name: str, to_addr: str, content: Content, message_id: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = content.subject
    msg["From"] = formataddr(("Fristen-Erinnerung", settings.mail_from))
    msg["To"] = formataddr((to_name, to_addr))
    msg["Date"] = formatdate(localtime=False)
    # Stable per outbox row: if a crash makes us send a row twice, clients can dedupe.
    msg["Message-ID"] = message_id
    msg["Content-Language"] = "de"
    msg.set_content(_plain(content), charset="utf-8")
    msg.add_alternative(_html(content), subtype="html", charset="utf-8")
    if content.ics:
        # as text with a charset, so that readers decode the umlauts of SUMMARY correctly
        msg.add_attachment(
            content.ics.decode("utf-8"),
            subtype="calendar",
            charset="utf-8",
            filename=content.ics_name,
            params={"method": "PUBLISH"},
        )
    return msg


def _plain(c: Content) -> str:
    lines = [c.greeting, "", *(p + "\n" for p in c.paragraphs)]
    lines += [f"  - {item}" for item in c.items]
    if c.items:
        lines.append("")
    if c.link:
        lines += [f"Zum Vorgang: {c.link}", ""]
    lines.append("Diese Nachricht wurde automatisch erstellt.")
    return "\n".join(lines) + "\n"


def _html(c: Content) -> str:
    e = html.escape
    parts = [f"<p>{e(c.greeting)}</p>", *(f"<p>{e(p)}</p>" for p in c.paragraphs)]
    if c.items:
        parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in c.items) + "</ul>")
    if c.link:
        parts.append(f'<p><a href="{e(c.link)}">Zum Vorgang</a></p>')
    parts.append("<p><small>Diese Nachricht wurde automatisch erstellt.</small></p>")
    body = "\n".join(parts)
    head = '<!DOCTYPE html>\n<html lang="de"><head><meta charset="utf-8"></head><body>'
    return f"{head}\n{body}\n</body></html>\n"


# --- delivery --------------------------------------------------------------------------------


class Mailer:
    """One SMTP connection for a batch; ``send`` raises AddressError or ServerError."""

    def __init__(self, settings: MailSettings, timeout: float = 20.0):
        self.settings = settings
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.user:
                smtp.login(s.user, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise ServerError(
                f"SMTP {where}: Anmeldung als {s.user!r} fehlgeschlagen ({exc.smtp_code})"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ServerError(f"SMTP {where}: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerError(f"SMTP {where} nicht erreichbar: {exc}") from exc
        return smtp

    def send(self, msg: EmailMessage) -> None:
        if self.smtp is None:
            self.smtp = self.connect()
        try:
            self.smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise AddressError(f"vom Mailserver abgelehnt: {_refusal(exc)}") from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.smtp = None
            raise ServerError(f"SMTP-Verbindung abgebrochen: {exc}") from exc
        except smtplib.SMTPException as exc:
            raise ServerError(f"SMTP-Fehler: {exc}") from exc

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.smtp.quit()
            self.smtp = None


def _refusal(exc: smtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(
        f"{addr} ({code} {msg.decode(errors='replace')})"
        for addr, (code, msg) in exc.recipients.items()
    )
