"""Mail delivery: settings, German messages (plain, HTML, .ics attachment), SMTP.

Settings come from the environment (LIFECYCLE_SMTP_HOST …) or from a TOML file named by
LIFECYCLE_SETTINGS with the same keys; the environment wins. Nothing here knows about the
outbox: ``lifecycle.reminders`` decides what to send and records what happened.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime as dt
import html
import os
import re
import smtplib
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InputError, LifecycleError, Unavailable
from .hosts import host_problem
from .words import quoted

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


class MessageError(LifecycleError):
    """One message cannot be built from its stored data (e.g. a line break in its Subject);
    the others can."""


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
    if problem := host_problem(host):  # else smtplib fails only when it connects
        raise ConfigError(f"LIFECYCLE_SMTP_HOST={quoted(host)}: {problem}")
    security = values.get("LIFECYCLE_SMTP_SECURITY", "none").strip().lower()
    if security not in SECURITIES:
        raise ConfigError(
            f"LIFECYCLE_SMTP_SECURITY={quoted(security)}: erwartet eines von "
            f"{', '.join(SECURITIES)}"
        )
    port_text = values.get("LIFECYCLE_SMTP_PORT", str(DEFAULT_PORTS[security])).strip()
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 0 < int(port_text) < 65536:
        raise ConfigError(f"LIFECYCLE_SMTP_PORT={quoted(port_text)} ist keine Portnummer (1–65535)")
    mail_from = values.get("LIFECYCLE_MAIL_FROM", "lifecycle@localhost").strip()
    local = re.fullmatch(r"[^@\s<>\"',;]+@localhost", mail_from)
    if not ADDRESS.fullmatch(mail_from) and not local:
        raise ConfigError(f"LIFECYCLE_MAIL_FROM={quoted(mail_from)} ist keine E-Mail-Adresse")
    mail_from = ascii_domain(
        mail_from, lambda problem: ConfigError(f"LIFECYCLE_MAIL_FROM: {problem}")
    )
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
        raise ConfigError(f"LIFECYCLE_TIMEZONE={quoted(name)} ist keine bekannte Zeitzone") from exc


def check_address(name: str, address: str | None) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in name):  # a header may not carry them
        raise AddressError(f"{quoted(name)}: Steuerzeichen im Namen, keine Nachricht möglich")
    if not address:
        raise AddressError(f"{name} hat keine E-Mail-Adresse")
    if not ADDRESS.fullmatch(address.strip()):
        raise AddressError(f"{name}: {quoted(address)} ist keine gültige E-Mail-Adresse")
    return ascii_domain(address.strip(), lambda problem: AddressError(f"{name}: {problem}"))


def ascii_domain(address: str, error: Callable[[str], LifecycleError]) -> str:
    """The address with its domain as the DNS knows it: an internationalised domain
    (müller.de) IDNA-encoded (xn--mller-kva.de), so that it needs no SMTPUTF8; the local part
    as it is. ``error(problem)`` is raised for a domain IDNA cannot encode."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    import idna  # IDNA 2008 with UTS 46, as DENIC registers: straße.de is not strasse.de

    try:
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        problem = f"die Domain der Adresse {quoted(address)} ist kein gültiger Domainname"
        raise error(problem) from None
    return f"{local}@{encoded}"


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


def check_content(content: Content) -> None:
    """MessageError if a header of ``content`` cannot be written: a line break (it would start
    a header of its own) or another control character but the tab in the Subject, which is
    made of stored names."""
    subject = content.subject
    if len(subject.splitlines()) > 1 or any(
        (ord(c) < 32 and c != "\t") or ord(c) == 127 for c in subject
    ):
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in content.subject)
        raise MessageError(
            f"Nachricht nicht erstellbar: der Betreff „{shown}“ enthält Steuerzeichen "
            "(z. B. einen Zeilenumbruch)"
        )


def build_message(
    settings: MailSettings, to_name: str, to_addr: str, content: Content, message_id: str
) -> EmailMessage:
    check_content(content)
    literal = _literal_to(to_name, to_addr)
    # a To written as given (below): the email package would decode it again and refold
    msg = EmailMessage(policy=_AS_GIVEN) if literal else EmailMessage()
    msg["Subject"] = content.subject
    msg["From"] = formataddr(("Fristen-Erinnerung", settings.mail_from))
    if literal:
        msg.set_raw("To", literal)
    elif to_addr.isascii():
        msg["To"] = formataddr((to_name, to_addr))
    else:  # formataddr refuses it; the header registry writes it for SMTPUTF8 (RFC 6532)
        # (given in parts: parsing an addr_spec flags a non-ASCII local part as a defect)
        local, _, domain = to_addr.rpartition("@")
        msg["To"] = Address(display_name=to_name, username=local, domain=domain)
    msg["Date"] = _now(settings)
    # Stable per outbox row: if a crash makes us send a row twice, clients can dedupe.
    msg["Message-ID"] = message_id
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
    # only now: set_content clears every Content-* header the message had, and
    # add_alternative moves them into the first part
    msg["Content-Language"] = "de"
    return msg


def _literal_to(to_name: str, to_addr: str) -> str | None:
    """The To header's value, folded, for a name that contains "=?"; None for other names.

    Mail readers decode what looks like an RFC 2047 encoded word also in a display name, so
    the name "=?utf-8?q?evil=40x=2Ede?=" would show as "evil@x.de". Such a name goes as
    base64 encoded words of its own text (as RFC 2047 asks of text that could be taken for
    one): they decode to the name as it is. The email package cannot write it (it decodes
    the name when it parses the header and writes it back bare).
    """
    if "=?" not in to_name:
        return None
    return "\r\n ".join([*_b64_words(to_name), f"<{to_addr}>"])


def _now(settings: MailSettings) -> str:
    """The Date header: now in the configured zone ("+0100"), not "-0000", which RFC 5322
    reserves for a time whose zone is unknown (readers parse it as a naive time)."""
    return format_datetime(dt.datetime.now(settings.zone))


_AS_GIVEN = EmailPolicy(refold_source="none")  # the default policy, raw headers as set


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: envelope and the bytes ``build_message`` would send.

    ``outgoing()`` builds it without the email package's header objects (the part of a
    message that cost most of a delivery's time); ``msg["Message-ID"]`` etc. read its
    headers as ``EmailMessage`` would give them as text.
    """

    sender: str
    recipient: str
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str | None:
        return self.headers.get(name)


_CRLF = b"\r\n"
_CONTENT_LANGUAGE = b"Content-Language: de\r\n"  # after Content-Type, as build_message has it
_LINES = re.compile(rb"\r\n|\r|\n")


def outgoing(
    settings: MailSettings,
    to_name: str,
    to_addr: str,
    content: Content,
    message_id: str,
    *,
    date: str | None = None,
    boundaries: tuple[str, str] | None = None,
) -> Outgoing | None:
    """The bytes ``build_message(...)`` gives on the wire (smtplib's ``send_message``), built
    directly: byte for byte the same but for the random MIME boundaries and the Date
    (``date`` and ``boundaries`` fix them for tests). None where only the email package
    gets it right (an address that is not ASCII: SMTPUTF8)."""
    check_content(content)
    if not (to_addr.isascii() and settings.mail_from.isascii() and content.ics_name.isascii()):
        return None
    policy = _wire_policy()
    date = date or _now(settings)
    outer, inner = boundaries or (_boundary(), _boundary())
    sender = _from_header(settings.mail_from)
    literal = _literal_to(to_name, to_addr)
    headers = {
        "Subject": content.subject,
        "From": sender,
        "To": formataddr((to_name, to_addr)) if literal is None else " ".join(literal.split()),
        "Date": date,
        "Message-ID": message_id,
    }
    to = _fold(policy, "To", headers["To"]) if literal is None else f"To: {literal}\r\n".encode()
    out = [
        _fold(policy, "Subject", content.subject),
        _fold(policy, "From", sender),
        to,
        b"Date: " + date.encode("ascii") + _CRLF,
        _fold(policy, "Message-ID", message_id),
        b"MIME-Version: 1.0\r\n",
    ]
    nested, header, body = _multipart(
        "alternative",
        inner,
        [
            _text_part(_plain(content), "plain", []),
            _text_part(_html(content), "html", [b"MIME-Version: 1.0\r\n"]),
        ],
    )
    if content.ics:
        ics = _text_part(
            content.ics.decode("utf-8"),
            "calendar",
            [b"MIME-Version: 1.0\r\n"],
            attachment=content.ics_name,
        )
        header, body = _multipart("mixed", outer, [nested, ics])[1:]
    out += [header, _CONTENT_LANGUAGE, body]
    return Outgoing(settings.mail_from, to_addr, b"".join(out), headers)


@lru_cache(maxsize=1)
def _wire_policy() -> EmailPolicy[EmailMessage]:
    from email import policy

    return policy.default.clone(linesep="\r\n")


@lru_cache(maxsize=16)
def _from_header(mail_from: str) -> str:
    return formataddr(("Fristen-Erinnerung", mail_from))


def _fold(policy: EmailPolicy[EmailMessage], name: str, value: str) -> bytes:
    """The header as the generator writes it (parsed, RFC 2047-encoded and folded), or, for
    a Subject or a recipient's name beyond ASCII, as ``email.header`` encodes it: base64
    encoded words that decode to the same text (the email package's refolding of such a
    header costs a quarter of a delivery)."""
    if "\r" not in value and "\n" not in value:
        if name == "Subject" and not value.isascii():
            return _encoded_subject(value)
        short = len(value) <= 74  # "To: " and the value within 78
        if name == "To" and short and value.startswith("=?utf-8?") and value.count("<") == 1:
            return f"To: {value}\r\n".encode("ascii")  # formataddr encoded the name
    if (
        value.isascii()
        and len(name) + len(value) < 76
        and value == " ".join(value.split())  # no line breaks, tabs, runs of blanks
        and "=?" not in value  # no encoded words to decode and encode again
        and not (name == "To" and any(c in value for c in ',"()\\;:'))
    ):
        return f"{name}: {value}\r\n".encode("ascii")
    return policy.fold(name, policy.header_store_parse(name, value)[1]).encode("ascii")


def _encoded_subject(value: str) -> bytes:
    """``Subject:`` as base64 encoded words of whole characters, one per folded line."""
    return ("Subject: " + "\r\n ".join(_b64_words(value)) + "\r\n").encode("ascii")


def _b64_words(value: str) -> list[str]:
    """``value`` as base64 encoded words of whole characters, each within a folded line."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for char in value:
        n = len(char.encode("utf-8"))
        if size + n > 42:  # 56 base64 characters: "Subject: " and the word within 78
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += n
    words.append("".join(chunk))
    return [
        "=?utf-8?b?" + binascii.b2a_base64(w.encode("utf-8"), newline=False).decode() + "?="
        for w in words
    ]


def _boundary() -> str:
    from email.generator import Generator

    return Generator._make_boundary()  # type: ignore[attr-defined]  # the generator's own


def _text_part(
    text: str, subtype: str, extra: list[bytes], *, attachment: str | None = None
) -> bytes:
    """A text/* part as ``set_content``/``add_attachment`` make and the generator writes it."""
    from email.contentmanager import _encode_text  # type: ignore[attr-defined]
    from email.policy import default

    cte, payload = _encode_text(text, "utf-8", None, default)
    body = payload.encode("ascii", "surrogateescape")
    ctype = f'Content-Type: text/{subtype}; charset="utf-8"'.encode("ascii")
    if attachment is None:
        head = [ctype + _CRLF, b"Content-Transfer-Encoding: " + cte.encode("ascii") + _CRLF]
    else:
        head = [
            b"Content-Transfer-Encoding: " + cte.encode("ascii") + _CRLF,
            f'Content-Disposition: attachment; filename="{attachment}"'.encode("ascii") + _CRLF,
            ctype + b'; method="PUBLISH"' + _CRLF,
        ]
    lines = _LINES.split(body)
    written = _CRLF.join(lines[:-1]) + (_CRLF if len(lines) > 1 else b"") + lines[-1]
    return b"".join([*head, *extra, _CRLF, written])


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> list[bytes]:
    """[the part as a nested part, its Content-Type header, its body] (generator layout)."""
    dash = b"--" + boundary.encode("ascii")
    line = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(line) > 78:  # folded before the parameter, as the policy folds it
        line = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"'
    header = line.encode("ascii") + _CRLF
    body = dash + _CRLF + (_CRLF + dash + _CRLF).join(parts) + _CRLF + dash + b"--" + _CRLF
    return [header + _CRLF + body, header, _CRLF + body]


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
        self.connections = 0  # how many times this mailer connected

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
                f"SMTP {where}: Anmeldung als {quoted(s.user)} fehlgeschlagen ({exc.smtp_code})"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ServerError(f"SMTP {where}: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerError(f"SMTP {where} nicht erreichbar: {exc}") from exc
        except ValueError as exc:  # e.g. a host name the IDNA codec refuses (UnicodeError)
            raise ConfigError(f"LIFECYCLE_SMTP_HOST={quoted(s.host)}: keine Verbindung möglich "
                              f"({exc})") from exc  # fmt: skip
        return smtp

    def send(self, msg: EmailMessage | Outgoing) -> None:
        """Send one message on the batch's connection, opened on first use.

        A connection the server closed since the last message (idle timeout, a limit of
        messages per connection, a restart) shows at MAIL FROM or RCPT TO, before any of this
        message went out: reconnect once and send it on the new connection. A connection lost
        during DATA is a ServerError as before: the server may or may not have the message.
        """
        sender, recipients, data, options = _envelope(msg)
        for attempt in (1, 2):
            if self.smtp is None:
                self.smtp = self.connect()
                self.connections += 1
            smtp = self.smtp
            try:
                _announce(smtp, sender, recipients, options)
                break
            except _NothingSent as exc:
                self._drop()
                if attempt == 2:
                    raise ServerError(f"SMTP-Verbindung abgebrochen: {exc}") from exc
            except _NoSmtputf8 as exc:
                if not sender.isascii():  # every message of the batch has this sender
                    raise ServerError(
                        f"SMTP-Fehler: die Absenderadresse „{sender}“ enthält Zeichen außerhalb "
                        "von ASCII, der Mailserver unterstützt dafür kein SMTPUTF8 "
                        "(LIFECYCLE_MAIL_FROM)"
                    ) from exc
                addresses = ", ".join(f"„{a}“" for a in recipients if not a.isascii())
                raise AddressError(
                    f"die Adresse {addresses} enthält Zeichen außerhalb von ASCII, der Mailserver "
                    "unterstützt dafür kein SMTPUTF8: nicht zustellbar; bitte eine Adresse nur "
                    "aus ASCII-Zeichen eintragen"
                ) from exc
            except smtplib.SMTPRecipientsRefused as exc:
                raise AddressError(f"vom Mailserver abgelehnt: {_refusal(exc)}") from exc
            except smtplib.SMTPException as exc:
                raise ServerError(f"SMTP-Fehler: {exc}") from exc
        try:
            code, resp = smtp.data(data)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise ServerError(f"SMTP-Verbindung abgebrochen: {exc}") from exc
        except smtplib.SMTPException as exc:  # refused DATA (SMTPException is an OSError too)
            _rset(smtp)
            raise ServerError(f"SMTP-Fehler: {exc}") from exc
        except OSError as exc:
            self._drop()
            raise ServerError(f"SMTP-Verbindung abgebrochen: {exc}") from exc
        if code != 250:
            if code == 421:
                self._drop()
            else:
                _rset(smtp)
            raise ServerError(f"SMTP-Fehler: {smtplib.SMTPDataError(code, resp)}")

    def _drop(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.smtp.close()
        self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.smtp.quit()
            self.smtp = None


class _NothingSent(Exception):
    """The connection is gone before DATA: the server has nothing of this message."""


class _NoSmtputf8(Exception):
    """An address beyond ASCII, a server without SMTPUTF8: nothing was sent."""


def _envelope(msg: EmailMessage | Outgoing) -> tuple[str, list[str], bytes, tuple[str, ...]]:
    """(sender, recipients, bytes, MAIL options) as ``smtplib.send_message`` makes them."""
    if isinstance(msg, Outgoing):
        return msg.sender, [msg.recipient], msg.data, ()
    import copy
    import io
    from email.generator import BytesGenerator
    from email.utils import getaddresses

    sender = getaddresses([str(msg["From"])])[0][1]
    fields = [str(f) for h in ("To", "Cc", "Bcc") for f in msg.get_all(h, [])]
    recipients = [a for _, a in getaddresses(fields)]
    copied = copy.copy(msg)
    del copied["Bcc"]
    international = any(not a.isascii() for a in [sender, *recipients])
    with io.BytesIO() as buffer:
        if international:
            generator = BytesGenerator(buffer, policy=msg.policy.clone(utf8=True))  # type: ignore[call-arg]
        else:
            generator = BytesGenerator(buffer)
        generator.flatten(copied, linesep="\r\n")
        data = buffer.getvalue()
    return sender, recipients, data, ("SMTPUTF8", "BODY=8BITMIME") if international else ()


def _announce(
    smtp: smtplib.SMTP, sender: str, recipients: list[str], options: tuple[str, ...]
) -> None:
    """EHLO if needed, MAIL FROM, RCPT TO (``smtplib.sendmail`` up to DATA).

    Raises _NothingSent when the connection turns out to be closed, _NoSmtputf8 when an
    address needs SMTPUTF8 the server does not offer, SMTPRecipientsRefused when every
    recipient is refused, another SMTPException when the server refuses us."""
    try:
        smtp.ehlo_or_helo_if_needed()
        if "SMTPUTF8" in options and not smtp.has_extn("smtputf8"):
            raise _NoSmtputf8()
        code, resp = smtp.mail(sender, list(options))
        if code == 421:
            raise _NothingSent(f"{code} {resp.decode(errors='replace')}")
        if code != 250:
            _rset(smtp)
            raise smtplib.SMTPSenderRefused(code, resp, sender)
        refused = {}
        for recipient in recipients:
            code, resp = smtp.rcpt(recipient)
            if code == 421:
                raise _NothingSent(f"{code} {resp.decode(errors='replace')}")
            if code not in (250, 251):
                refused[recipient] = (code, resp)
        if len(refused) == len(recipients):
            _rset(smtp)
            raise smtplib.SMTPRecipientsRefused(refused)
    except smtplib.SMTPServerDisconnected as exc:
        raise _NothingSent(str(exc)) from exc
    except smtplib.SMTPException:  # an answer (SMTPException is an OSError too)
        raise
    except OSError as exc:  # the socket: reset, broken pipe
        raise _NothingSent(str(exc)) from exc


def _rset(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPServerDisconnected, OSError):
        smtp.rset()


def _refusal(exc: smtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(
        f"{addr} ({code} {msg.decode(errors='replace')})"
        for addr, (code, msg) in exc.recipients.items()
    )
