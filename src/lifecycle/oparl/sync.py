"""Read a RIS's Sitzungskalender over OParl 1.1: System → Body → Organization and Meeting lists.

Everything is read first (following ``links.next``, with ``modified_since`` after the first
run); only a complete, understood answer is written. A server that does not answer, answers
HTML, invalid JSON, an HTTP error, or a list whose ``links.next`` loops stops the sync with one
German sentence and nothing written.

What is written: new Gremien and Sitzungen in one transaction (with the link from the RIS id to
the row, kept in the event log); then each Sitzung the RIS moved goes through
``services.move_sitzung``, the same reschedule a move by hand takes (deadlines, reminders,
"Sitzung verlegt" messages). A refused move is a warning and is tried again next time.
A Sitzung a process depends on (SitzungBinding or Beratung) that the RIS cancels or deletes
stays here and is escalated to each project lead through the outbox, in the same transaction:
one "Sitzung abgesagt" message per lead, keyed so that a second sync queues none.

Each object is checked before it is used: texts (ids, names, short names, places) must be JSON
strings of one line without control or format characters (CR, LF, NUL, ESC, BEL, bidi
overrides) and of sane length; flags (``cancelled``, ``deleted``, ``public``) real booleans;
``organization`` a list; ``start`` a date with a time of day within the years the engine
handles (a date without a time is refused: a Sitzung at midnight would be a guess). A Meeting
or Organization that fails is skipped with one German warning naming its id, the field and the
problem; the rest is synced.

Matching: a RIS meeting is the Sitzung linked to its id by an earlier sync; else, of the same
Gremium and linked to no other RIS id, the one whose key the id ends in, or the one at the same
start. A tombstone (``deleted``) names no Gremium: it matches its link, or the Sitzung of
its key that is linked to no RIS id at all. The same id twice in one list counts
once (with a warning).

nichtöffentlich: a Meeting with ``keyword`` "nichtöffentlich" (what ``oparl export --intern``
writes) or whose agenda items are all ``public: false`` becomes (or turns) a nichtöffentliche
Sitzung. The reverse never happens by itself: a Sitzung nichtöffentlich here stays so (with a
warning) until a clerk opens it — a RIS that merely omits the mark must not publish it.

Cancelled: a cancelled meeting no process uses is not imported (and an unused Sitzung the RIS
cancels later is removed, as if deleted), so it never appears as a normal public Sitzung. A
used one stays and is escalated once per cancellation; a reinstatement is logged, takes back
the "Sitzung abgesagt" messages not yet sent, queues "Sitzung wieder angesetzt" for whoever was
sent one for that cancellation (in the same transaction, keyed like it), and is warned about.

Real servers are quirky; tolerated with a warning: ``/body`` answering one object instead of a
list, ``auxiliaryFile`` as an object instead of a list, blank strings and "N/A", a list page
without ``links``, timestamps with microseconds or without a zone, ``[]`` instead of a list page.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import socket
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit
from urllib.request import (
    HTTPDefaultErrorHandler,
    HTTPErrorProcessor,
    HTTPHandler,
    HTTPRedirectHandler,
    HTTPSHandler,
    OpenerDirector,
    ProxyHandler,
    Request,
    UnknownHandler,
    getproxies,
)

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from .. import events
from ..cancellations import CANCELLED, DELETED, REINSTATED
from ..dates import BERLIN, check_year
from ..errors import InputError, NeedsReason, NotFound, Refused, Unavailable
from ..hosts import ascii_host, host_problem
from ..models import (
    Beratung,
    Event,
    Fortschreibung,
    Gremium,
    GremiumKind,
    Kommune,
    ProcessState,
    Role,
    Sitzung,
    SitzungBinding,
    Stage,
    StageState,
    Vorlage,
)
from ..outbox import REINSTATED_STALE  # last_error of the messages a reinstatement took back
from ..transactions import transaction as _transaction
from ..words import quoted
from .objects import slug

ACTOR = "oparl-sync"
LINKED, SYNCED = "oparl_linked", "oparl_synced"
# CANCELLED, REINSTATED (the RIS lists a cancelled Sitzung as taking place again): the events
# every view reads a cancellation from (lifecycle.cancellations)
# The outbox kind of the "Sitzung abgesagt" messages to the project lead, and of the
# "Sitzung wieder angesetzt" messages to those of them who were sent one.
ESCALATION = "sitzung_cancelled"
REINSTATEMENT = "sitzung_reinstated"
TIMEOUT = 20.0  # per read: a server that says nothing for this long is down
DEADLINE = 600.0  # seconds for all the reading of one sync (a drip-feeding server)
MAX_BYTES = 50 * 2**20  # one answer
MAX_TOTAL = 200 * 2**20  # all answers of one sync together
# Internal addresses (loopback, private, link-local, multicast, reserved) are refused unless
# this setting is 1: a RIS must not make the server fetch from its own network.
ALLOW_PRIVATE = "LIFECYCLE_OPARL_ALLOW_PRIVATE"
MAX_PAGES = 10_000
MAX_DEPTH = 64  # OParl objects nest a few levels; a deeper answer is not one
_SURROGATE = re.compile("[\ud800-\udfff]")
MARGIN = dt.timedelta(minutes=10)  # modified_since reaches back: clocks and whole seconds
BLANK = {"", "n/a", "n. a.", "k. a.", "-", "--", "null", "none"}
# The Land from the first two digits of the Amtlicher Gemeindeschlüssel.
LAND_OF_AGS = {"01": "SH", "02": "HH", "03": "NI", "04": "HB", "05": "NW", "06": "HE",
               "07": "RP", "08": "BW", "09": "BY", "10": "SL", "11": "BE", "12": "BB",
               "13": "MV", "14": "SN", "15": "ST", "16": "TH"}  # fmt: skip


class SyncFailed(Unavailable):
    """The RIS did not give a usable answer; the sync stopped and wrote nothing."""


@dataclass
class Report:
    body: str = ""
    since: str = ""
    pages: int = 0
    meetings: int = 0
    gremien_created: list[str] = field(default_factory=list)
    sitzungen_created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    moved: list[tuple[str, dt.datetime, dt.datetime]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    escalated: int = 0  # "Sitzung abgesagt" messages queued for project leads by this run
    reinstated: int = 0  # "Sitzung wieder angesetzt" messages queued by this run
    warnings: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)


# --- reading ----------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """The http(s) address of an OParl object, checked before any connection: scheme, host
    (each name part 1 to 63 characters, IDNA), port, no credentials, no blank or control
    character; non-ASCII in path and query percent-encoded, the fragment dropped. Anything
    else is an InputError naming the address."""
    text = url.strip()

    def refuse(problem: str) -> InputError:
        return InputError("URL", text, f"{problem}; erwartet die http(s)-Adresse des OParl-"
                          "Systems, z. B. https://ris.example.org/oparl/v1.1/system")

    if found := next((c for c in text if ord(c) < 0x21 or 0x7F <= ord(c) < 0xA0
                      or c.isspace()), None):  # fmt: skip
        raise refuse(f"enthält Leerraum oder ein Steuerzeichen (U+{ord(found):04X})")
    try:
        parts = urlsplit(text)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        what = ("Port ist keine Zahl zwischen 0 und 65535" if "Port" in str(exc)
                else "IPv6-Adresse in eckigen Klammern ungültig" if "IPv6" in str(exc)
                else "nicht lesbar")  # fmt: skip
        raise refuse(f"Adresse ungültig: {what}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise refuse("keine http(s)-Adresse mit Rechnername")
    if parts.username is not None or parts.password is not None:
        raise refuse("Benutzername oder Passwort in der Adresse werden nicht unterstützt")
    netloc = parts.netloc
    if "[" in netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise refuse(f"{quoted(host)} ist keine IPv6-Adresse") from None
    else:
        if bad := host_problem(host):
            raise refuse(bad)
        netloc = ascii_host(host) + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc, path=_ascii(parts.path),
                                     query=_ascii(parts.query), fragment=""))  # fmt: skip



def _ascii(text: str) -> str:
    """``text`` with every non-ASCII character percent-encoded (UTF-8), the rest as it is."""
    return "".join(c if c.isascii() else quote(c) for c in text)


def with_params(url: str, params: dict[str, str]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params] + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class Budget:
    """What one sync may spend on reading: seconds in all, bytes in all."""

    seconds: float = DEADLINE
    total: int = MAX_TOTAL
    started: float = field(default_factory=time.monotonic)
    used: int = 0

    def left(self, url: str) -> float:
        left = self.seconds - (time.monotonic() - self.started)
        if left <= 0:
            raise SyncFailed(f"{url}: der Abgleich dauert länger als {self.seconds:g} Sekunden "
                             "(Gesamtfrist für das Lesen); Abgleich abgebrochen, nichts "
                             "geändert")  # fmt: skip
        return left

    def spend(self, url: str, size: int) -> None:
        self.used += size
        if self.used > self.total:
            raise SyncFailed(f"{url}: die Antworten des OParl-Servers sind zusammen größer als "
                             f"{self.total / 2**20:g} MiB; Abgleich abgebrochen, nichts "
                             "geändert")  # fmt: skip


class _Blocked(OSError):
    """A connection to an internal address, refused before it is made."""


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _checked_connect(address: tuple[str, int], timeout: Any = None,
                     source_address: Any = None) -> socket.socket:  # fmt: skip
    """socket.create_connection, but every address the name resolves to is checked first
    (so a name that resolves to an internal address, or a redirect to one, is refused); a
    configured proxy is trusted (the administrator chose it)."""
    host, port = address
    allow = os.environ.get(ALLOW_PRIVATE, "").strip() == "1"
    proxies = {urlsplit(p).hostname for p in getproxies().values() if "://" in p}
    if allow or host in proxies:
        return socket.create_connection(address, timeout, source_address)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if _internal(ip):
            raise _Blocked(f"{host} ist eine interne Adresse ({ip}: Loopback, privates Netz, "
                           f"link-local, Multicast oder reserviert); nur mit {ALLOW_PRIVATE}=1 "
                           "erlaubt")  # fmt: skip
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, int | float):  # not the "default timeout" marker
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"{host}: keine Adresse")


def _through_proxy(url: str) -> None:
    """With a proxy configured the connection goes to the proxy: the target is checked here,
    as far as this machine can resolve it (a name only the proxy knows passes)."""
    parts = urlsplit(url)
    if (os.environ.get(ALLOW_PRIVATE, "").strip() == "1" or parts.scheme not in getproxies()
            or not parts.hostname):  # fmt: skip
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    except OSError:
        return
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if _internal(ip):
            raise SyncFailed(f"{url}: {parts.hostname} ist eine interne Adresse ({ip}: Loopback, "
                             "privates Netz, link-local, Multicast oder reserviert); nur mit "
                             f"{ALLOW_PRIVATE}=1 erlaubt; Abgleich abgebrochen, nichts "
                             "geändert")  # fmt: skip


class _HTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connect


class _HTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connect


class _HTTPHandler(HTTPHandler):
    def http_open(self, req: Request) -> Any:
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(HTTPSHandler):
    def https_open(self, req: Request) -> Any:
        return self.do_open(_HTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


class _Redirect(HTTPRedirectHandler):
    """Every redirect target is checked like the first address: http(s) only, a valid host
    (and, when connecting, no internal address); at most 5 redirects."""

    max_redirections = 5

    def _refuse(self, req: Request, target: str, problem: str) -> SyncFailed:
        return SyncFailed(f"{req.full_url}: der OParl-Server leitet auf eine unzulässige "
                          f"Adresse um ({_shown(target)}: {problem}); Abgleich abgebrochen, "
                          "nichts geändert")  # fmt: skip

    def http_error_302(self, req: Request, fp: Any, code: int, msg: str, headers: Any) -> Any:
        target = headers.get("location") or headers.get("uri")
        if target:
            joined = urljoin(req.full_url, target)
            if urlsplit(joined).scheme not in ("http", "https"):
                raise self._refuse(req, target, "keine http(s)-Adresse")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req: Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Request | None:  # fmt: skip
        try:
            checked = check_url(newurl)
        except InputError as exc:
            raise self._refuse(req, newurl, exc.problem.split(";")[0]) from None
        _through_proxy(checked)
        return super().redirect_request(req, fp, code, msg, headers, checked)


def _opener() -> OpenerDirector:
    """http and https only (no ftp:, file:, data:), redirects checked, proxies as configured."""
    opener = OpenerDirector()
    for handler in (ProxyHandler(), UnknownHandler(), _HTTPHandler(), _HTTPSHandler(),
                    HTTPDefaultErrorHandler(), _Redirect(), HTTPErrorProcessor()):  # fmt: skip
        opener.add_handler(handler)
    return opener


def fetch(url: str, budget: Budget | None = None) -> Any:
    """GET one OParl URL; its JSON, or SyncFailed in one German sentence. ``budget`` (one per
    sync) limits the time and the bytes of all reads together."""
    try:
        url = check_url(url)
    except InputError as exc:  # a link the server gave (the user's URL is checked first)
        raise SyncFailed(f"{quoted(url)}: der OParl-Server nennt eine ungültige Adresse "
                         f"({exc.problem.split(';')[0]}); Abgleich abgebrochen, nichts "
                         "geändert") from None  # fmt: skip
    budget = budget or Budget()
    _through_proxy(url)
    request = Request(url, headers={"Accept": "application/json",
                                    "User-Agent": "lifecycle-oparl-sync"})  # fmt: skip
    try:
        timeout = min(TIMEOUT, budget.left(url))
        with _opener().open(request, timeout=timeout) as response:
            kind = response.headers.get_content_type()
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_BYTES:
                budget.left(url)
                chunk = response.read1(2**16)
                if not chunk:
                    break
                size += len(chunk)
                chunks.append(chunk)
                budget.spend(url, len(chunk))
            body = b"".join(chunks)
    except HTTPError as exc:
        raise SyncFailed(f"{url}: der OParl-Server antwortet mit HTTP {exc.code}; "
                         "Abgleich abgebrochen, nichts geändert") from None  # fmt: skip
    except (URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, _Blocked):
            raise SyncFailed(f"{url}: {reason}; Abgleich abgebrochen, nichts geändert") from None
        raise SyncFailed(f"{url}: der OParl-Server antwortet nicht ({reason}); "
                         "Abgleich abgebrochen, nichts geändert") from None  # fmt: skip
    except (HTTPException, ValueError) as exc:  # a broken answer: chunks, headers, length
        raise SyncFailed(f"{url}: die Antwort des OParl-Servers ist unvollständig oder "
                         f"fehlerhaft ({type(exc).__name__}); Abgleich abgebrochen, nichts "
                         "geändert") from None  # fmt: skip
    if len(body) > MAX_BYTES:
        raise SyncFailed(f"{url}: die Antwort ist größer als 50 MiB; Abgleich abgebrochen")
    if kind == "text/html" or body.lstrip()[:1] == b"<":
        raise SyncFailed(f"{url}: die Antwort ist eine HTML-Seite, kein OParl-JSON (falsche "
                         "Adresse?); Abgleich abgebrochen, nichts geändert")  # fmt: skip
    problem: str | None
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SyncFailed(f"{url}: die Antwort ist kein gültiges JSON ({exc}); "
                         "Abgleich abgebrochen, nichts geändert") from None  # fmt: skip
    except RecursionError:  # the parser's own limit, far beyond MAX_DEPTH
        data, problem = None, f"zu tief verschachtelt (mehr als {MAX_DEPTH} Ebenen)"
    else:
        problem = _json_problem(data)
    if problem:
        raise SyncFailed(f"{url}: die Antwort ist kein brauchbares OParl-JSON: {problem}; "
                         "Abgleich abgebrochen, nichts geändert")  # fmt: skip
    return data


def _json_problem(data: Any) -> str | None:
    """What no OParl object holds: nesting deeper than MAX_DEPTH, a lone surrogate (a
    "\\ud800" escape) in a text or key. Checked without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"zu tief verschachtelt (mehr als {MAX_DEPTH} Ebenen)"
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return "ein Text mit einem einzelnen Surrogat, kein gültiger Unicode-Text"
        elif isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return None


class Reader:
    def __init__(self, report: Report, get: Callable[[str], Any] = fetch):
        self.report, self.get = report, get

    def object(self, url: str, kind: str) -> dict[str, Any]:
        found = self.get(url)
        if not isinstance(found, dict) or not str(found.get("type", "")).endswith("/" + kind):
            raise SyncFailed(f"{url}: erwartet ein OParl-Objekt {kind}, erhalten "
                             f"{_what(found)}; Abgleich abgebrochen, nichts geändert")  # fmt: skip
        return found

    def items(self, url: str, params: dict[str, str] | None = None,
              keep: Callable[[dict[str, Any]], dict[str, Any]] = lambda o: o,
              ) -> list[dict[str, Any]]:  # fmt: skip
        """Every object of an external list, page by page along links.next; of each only what
        ``keep`` keeps (a long list is not held in memory whole)."""
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        page: str | None = with_params(url, params or {})
        while page:
            if page in seen:
                raise SyncFailed(f"{url}: die Liste verweist im Kreis (links.next zeigt auf "
                                 f"die schon gelesene Seite {page}); Abgleich abgebrochen, "
                                 "nichts geändert")  # fmt: skip
            if len(seen) >= MAX_PAGES:
                raise SyncFailed(f"{url}: mehr als {MAX_PAGES} Listenseiten; abgebrochen")
            seen.add(page)
            self.report.pages += 1
            payload = self.get(page)
            if isinstance(payload, list):
                self.report.warn(f"{url}: eine JSON-Liste statt einer Listenseite "
                                 "(data/pagination/links) erhalten")  # fmt: skip
                found += [keep(o) for o in payload if isinstance(o, dict)]
                break
            if isinstance(payload, dict) and "data" not in payload and "type" in payload:
                self.report.warn(f"{url}: ein einzelnes Objekt statt einer Liste erhalten")
                found.append(keep(payload))
                break
            if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
                raise SyncFailed(f"{page}: keine OParl-Listenseite ({_what(payload)}); "
                                 "Abgleich abgebrochen, nichts geändert")  # fmt: skip
            found += [keep(o) for o in payload["data"] if isinstance(o, dict)]
            links = payload.get("links")
            if not isinstance(links, dict):
                self.report.warn(f"{url}: Listenseite ohne links; als letzte Seite gelesen")
                break
            nxt = links.get("next")
            page = nxt if isinstance(nxt, str) and nxt.strip() else None
        return found


_MEETING_KEYS = ("id", "type", "start", "organization", "location", "cancelled", "deleted",
                 "keyword", "agendaItem")
_ORGANIZATION_KEYS = ("id", "type", "name", "shortName", "classification", "organizationType")


def _slim_meeting(m: dict[str, Any]) -> dict[str, Any]:
    """What the sync reads of a Meeting (of its agenda items only ``public``)."""
    out = {k: m[k] for k in _MEETING_KEYS if k in m}
    if isinstance(out.get("agendaItem"), list):
        out["agendaItem"] = [{"public": i["public"]} if isinstance(i, dict) and "public" in i
                             else {} for i in out["agendaItem"]]  # fmt: skip
    return out


def _slim_organization(o: dict[str, Any]) -> dict[str, Any]:
    return {k: o[k] for k in _ORGANIZATION_KEYS if k in o}


def _what(value: Any) -> str:
    if isinstance(value, dict):
        return f"ein Objekt vom Typ {quoted(value['type'])}" if "type" in value else (
            "ein Objekt ohne type")
    return f"ein JSON-{type(value).__name__}"


def cleaned(value: Any, where: str, report: Report) -> Any:
    """Blank strings and "N/A" become absent; auxiliaryFile as one object becomes a list."""
    if isinstance(value, str):
        if value.strip().lower() in BLANK:
            report.warn(f"{where}: leere Angabe oder „N/A“ als fehlend gelesen")
            return None
        return value.strip()
    if isinstance(value, list):
        return [c for c in (cleaned(v, where, report) for v in value) if c is not None]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "auxiliaryFile" and isinstance(item, dict):
                report.warn(f"{where}: auxiliaryFile als einzelnes Objekt statt Liste")
                item = [item]
            c = cleaned(item, where, report)
            if c is not None:
                out[key] = c
        return out
    return value


class _Bad(Exception):
    """One object from the RIS is unusable; the text names the field and the problem."""


MAX_TEXT = 300  # a name, short name or place: one line, as a clerk would type it
MAX_ID = 2000  # an OParl id is a URL
# Control and format characters: line breaks and NUL break mail headers, ESC and BEL the
# clerk's terminal, bidi overrides turn what a name shows around.
_UNSAFE = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _shown(value: Any, limit: int = 120) -> str:
    """A value from the RIS for a message: one line, control characters made visible, cut."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)[:limit]
    out = "".join(c if unicodedata.category(c) not in _UNSAFE else f"\\u{ord(c):04x}"
                  for c in text[:limit])  # fmt: skip
    return out + ("…" if len(text) > limit else "")


def _text_problem(value: str, limit: int) -> str | None:
    if found := next((c for c in value if unicodedata.category(c) in _UNSAFE), None):
        return (f"enthält ein Steuer- oder Formatzeichen (U+{ord(found):04X}; erlaubt ist eine "
                "Zeile ohne Steuerzeichen)")  # fmt: skip
    if len(value) > limit:
        return f"ist {len(value)} Zeichen lang (höchstens {limit})"
    return None


def _text(obj: dict[str, Any], key: str, *, limit: int = MAX_TEXT, required: bool = False,
          within: str = "") -> str:  # fmt: skip
    """The text ``obj[key]`` (cleaned: absent when blank), checked: a JSON string of one line
    without control or format characters, at most ``limit`` characters; else _Bad naming the
    field (``within.key`` for a field of an embedded object)."""
    value = obj.get(key)
    name = f"{within}.{key}" if within else key
    if value is None:
        if required:
            raise _Bad(f"Feld „{name}“ fehlt")
        return ""
    if not isinstance(value, str):
        raise _Bad(f"Feld „{name}“ ist kein Text, sondern {_json_type(value)}")
    if problem := _text_problem(value, limit):
        raise _Bad(f"Feld „{name}“ {problem}")
    return value


def _json_type(value: Any) -> str:
    return ("ein Wahrheitswert" if isinstance(value, bool)
            else "eine Zahl" if isinstance(value, int | float)
            else "eine Liste" if isinstance(value, list)
            else "ein Objekt" if isinstance(value, dict)
            else "ein Text" if isinstance(value, str) else "leer")  # fmt: skip


def _flag(obj: dict[str, Any], key: str) -> bool:
    """A boolean field: absent is False; "true" (a string) is a type problem, not False."""
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise _Bad(f"Feld „{key}“ ist kein Wahrheitswert (true/false), sondern "
                   f"{_json_type(value)} {_shown(value, 40)}")  # fmt: skip
    return value


# How a Meeting says it is nichtöffentlich: this project's own `oparl export --intern` writes
# keyword ["nichtöffentlich"] and agenda items with public false; other RIS spell it similarly.
_NOT_PUBLIC = {"nichtöffentlich", "nicht öffentlich", "nicht-öffentlich", "nichtoeffentlich",
               "nicht oeffentlich", "non-public", "nonpublic", "not public", "private"}


def _oeffentlich(m: dict[str, Any]) -> bool:
    keywords = m.get("keyword", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise _Bad("Feld „keyword“ ist keine Liste von Texten")
    if any(" ".join(k.lower().split()) in _NOT_PUBLIC for k in keywords):
        return False
    items = m.get("agendaItem", [])
    if not isinstance(items, list):
        raise _Bad("Feld „agendaItem“ ist keine Liste")
    public = [i.get("public") for i in items if isinstance(i, dict) and "public" in i]
    if any(not isinstance(p, bool) for p in public):
        raise _Bad("Feld „public“ eines Tagesordnungspunkts ist kein Wahrheitswert")
    return not (items and len(public) == len(items) and not any(public))


def _meeting(m: dict[str, Any], report: Report) -> RisMeeting | None:
    """One Meeting of the list, checked; _Bad names the field when it is unusable."""
    ris_id = _text(m, "id", limit=MAX_ID, required=True)
    deleted = _flag(m, "deleted")
    if deleted:  # a tombstone: only the id counts
        return RisMeeting(ris_id=ris_id, gremium_ris="", start=None, place="",
                          cancelled=False, deleted=True, key_hint=_key(ris_id) or "",
                          oeffentlich=True)  # fmt: skip
    orgs = m.get("organization", [])
    if not isinstance(orgs, list):
        raise _Bad(f"Feld „organization“ ist keine Liste, sondern {_json_type(orgs)}")
    if any(not isinstance(o, str) for o in orgs):
        raise _Bad("Feld „organization“ enthält etwas anderes als Adressen (Text)")
    if orgs and (problem := _text_problem(orgs[0], MAX_ID)):
        raise _Bad(f"Feld „organization“ {problem}")
    start = _text(m, "start", limit=64)
    location = m.get("location")
    place = ""
    if isinstance(location, dict):
        parts = [_text(location, k, within="location") for k in (
            "description", "streetAddress", "room", "locality")]  # fmt: skip
        place = parts[0] or ", ".join(p for p in parts[1:] if p)
        if problem := _text_problem(place, MAX_TEXT):
            raise _Bad(f"Feld „location“ {problem}")
    elif location is not None and not isinstance(location, str):  # a URL is not read
        raise _Bad(f"Feld „location“ ist kein Objekt, sondern {_json_type(location)}")
    return RisMeeting(
        ris_id=ris_id, gremium_ris=orgs[0] if orgs else "",
        start=parse_start(start, ris_id, report) if start else None, place=place,
        cancelled=_flag(m, "cancelled"), deleted=False, key_hint=_key(ris_id) or "",
        oeffentlich=_oeffentlich(m),
    )  # fmt: skip


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_start(text: str, where: str, report: Report) -> dt.datetime:
    """An OParl date-time as the naive Berlin wall-clock time Sitzungen are stored in; _Bad
    when it is none. A date without a time is refused: a Sitzung at midnight would be a guess
    that moves every deadline computed from it."""
    if _DATE_ONLY.fullmatch(text):
        raise _Bad(f"Beginn {quoted(text)} ist nur ein Datum ohne Uhrzeit")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(f"Beginn „{_shown(text)}“ ist kein Datum mit Uhrzeit") from None  # cut
    if problem := check_year(moment.date()):  # before the zone: year 1 or 9999 overflows
        raise _Bad(f"Beginn {quoted(text)}: {problem}")
    if moment.microsecond:
        report.warn(f"{_shown(where)}: Zeitstempel mit Mikrosekunden")
    if moment.tzinfo is None:
        report.warn(f"{_shown(where)}: Zeitstempel ohne Zeitzone, als deutsche Ortszeit gelesen")
        moment = moment.replace(tzinfo=BERLIN)
    local = moment.astimezone(BERLIN).replace(tzinfo=None, second=0, microsecond=0)
    if problem := check_year(local.date()):  # 31.12.2200 23:30 UTC is 2201 in Berlin
        raise _Bad(f"Beginn {quoted(text)}: {problem}")
    return local


# --- the plan of changes -------------------------------------------------------------------


@dataclass
class RisMeeting:
    ris_id: str
    gremium_ris: str
    start: dt.datetime | None
    place: str
    cancelled: bool
    deleted: bool
    key_hint: str
    oeffentlich: bool = True


def _last_segment(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def _key(url: str) -> str | None:
    """Our key from a RIS id when it reads like one (not a bare number)."""
    tail = slug(_last_segment(url))
    return None if tail.isdigit() or tail == "ohne-name" else tail[:80]


def _kind(org: dict[str, Any]) -> GremiumKind:
    text = (
        f"{org.get('classification', '')} {org.get('organizationType', '')} {org.get('name', '')}"
    )
    text = text.lower()
    if "beirat" in text:
        return GremiumKind.beirat
    if re.search(r"gemeinderat|stadtrat|\brat\b|kreistag|gemeindevertretung", text):
        return GremiumKind.gemeinderat
    return GremiumKind.ausschuss


def _short(name: str) -> str:
    return "".join(w[0] for w in re.findall(r"\w+", name) if w[0].isupper())[:12] or name[:12]


def _links(session: Session, model: type[Gremium] | type[Sitzung], kommune_id: int
           ) -> dict[str, int]:  # fmt: skip
    """RIS id -> row id, from the link events of earlier syncs of this Kommune's rows (read
    through each row's history, not every link of the installation)."""
    out: dict[str, int] = {}
    for entity_id, after in session.execute(
        sa_select(col(Event.entity_id), col(Event.after))
        .where(col(Event.entity) == model.__name__, col(Event.entity_id).in_(
            sa_select(col(model.id)).where(col(model.kommune_id) == kommune_id)),
            col(Event.action) == LINKED)
        .order_by(col(Event.id))
    ):  # fmt: skip
        ris = (after or {}).get("ris")
        if isinstance(ris, str) and entity_id is not None:
            out[ris] = entity_id
    return out


def last_since(session: Session, kommune_id: int, url: str) -> dt.datetime | None:
    """When the last sync of this Kommune from ``url`` started: its newest record only."""
    after = col(Event.after)
    started = session.execute(
        sa_select(after["started"].as_string())
        .where(col(Event.entity) == "Kommune", col(Event.entity_id) == kommune_id,
               col(Event.action) == SYNCED, after["url"].as_string() == url,
               after["started"].as_string() != "")
        .order_by(col(Event.id).desc()).limit(1)
    ).scalar()  # fmt: skip
    return dt.datetime.fromisoformat(started) if started else None


def _pick_body(bodies: list[dict[str, Any]], kommune_key: str, name: str | None) -> dict:
    if not bodies:
        raise SyncFailed("das OParl-System nennt keine Körperschaft (Body); nichts geändert")
    for test in (lambda b: _last_segment(str(b.get("id", ""))) == kommune_key,
                 lambda b: slug(str(b.get("name", ""))) == kommune_key,
                 lambda b: name is not None and b.get("name") == name):  # fmt: skip
        found = [b for b in bodies if test(b)]
        if len(found) == 1:
            return found[0]
    if len(bodies) == 1:
        return bodies[0]
    names = ", ".join(sorted(str(b.get("name", b.get("id"))) for b in bodies)[:5])
    raise InputError("--kommune", kommune_key, f"keine passende Körperschaft; das System "
                     f"nennt: {names}")  # fmt: skip


def sync(
    session: Session,
    url: str,
    kommune_key: str,
    *,
    bundesland: str | None = None,
    get: Callable[[str], Any] | None = None,
    today: dt.date | None = None,
    full: bool = False,
    budget: Budget | None = None,
) -> Report:
    """Read the RIS at ``url`` (its System) into the Kommune ``kommune_key``."""
    from .. import services

    url = check_url(url)
    day = today or dt.datetime.now(BERLIN).date()
    report = Report()
    started = dt.datetime.now(dt.UTC)
    kommune = session.exec(select(Kommune).where(Kommune.key == kommune_key)).first()
    since = None if kommune is None or full else last_since(session, kommune.id or 0, url)
    params = {"modified_since": (since - MARGIN).isoformat(timespec="seconds")} if since else {}
    report.since = params.get("modified_since", "")

    # 1. read everything; nothing is written before the whole answer is understood
    if get is None:
        spend = budget or Budget()
        get = lambda address: fetch(address, spend)  # noqa: E731 - one budget per sync
    reader = Reader(report, get)
    system = reader.object(url, "System")
    body_list = system.get("body")
    if not isinstance(body_list, str):
        raise SyncFailed(f"{url}: das System nennt keine Liste der Körperschaften (body)")
    body = _pick_body(reader.items(body_list), kommune_key, kommune.name if kommune else None)
    body = cleaned(body, str(body.get("id")), report)
    report.body = str(body.get("id", ""))
    if not isinstance(body.get("organization"), str) or not isinstance(body.get("meeting"), str):
        raise SyncFailed(f"{report.body}: die Körperschaft nennt keine Listen organization "
                         "und meeting; Abgleich abgebrochen, nichts geändert")  # fmt: skip
    organizations: dict[str, dict[str, Any]] = {}
    for o in reader.items(body["organization"], params, lambda o: _slim_organization(
            cleaned(o, _shown(o.get("id")), report))):  # fmt: skip
        try:
            ris = _text(o, "id", limit=MAX_ID, required=True)
            for key in ("name", "shortName"):
                _text(o, key)
        except _Bad as bad:
            report.warn(f"{_shown(o.get('id'))}: Gremium übersprungen: {bad}")
            continue
        organizations.setdefault(ris, o)
    meetings = reader.items(body["meeting"], params, lambda m: _slim_meeting(
        cleaned(m, _shown(m.get("id")), report)))  # cleaned whole: its quirks warned about
    report.meetings = len(meetings)
    parsed: list[RisMeeting] = []
    seen_ids: set[str] = set()
    for raw in meetings:
        try:
            found = _meeting(raw, report)
        except _Bad as bad:
            report.warn(f"{_shown(raw.get('id'))}: Sitzung übersprungen: {bad}")
            continue
        if found is None:
            continue
        if found.ris_id in seen_ids:
            report.warn(f"{_shown(found.ris_id)}: kommt in der Sitzungsliste mehrfach vor; "
                        "nur der erste Eintrag übernommen")  # fmt: skip
            continue
        seen_ids.add(found.ris_id)
        parsed.append(found)

    # 2. Kommune, Gremien, new Sitzungen, places, deletions: one transaction
    moves: list[tuple[Sitzung, dt.datetime]] = []
    with _transaction(session):
        if kommune is None:
            kommune = _new_kommune(session, kommune_key, body, bundesland)
        kid = kommune.id or 0
        gremien = {g.key: g for g in session.exec(select(Gremium).where(
            Gremium.kommune_id == kid)).all()}  # fmt: skip
        sitzungen = {s.key: s for s in session.exec(select(Sitzung).where(
            Sitzung.kommune_id == kid)).all()}  # fmt: skip
        by_id = {s.id: s for s in sitzungen.values()}
        gremium_links = _links(session, Gremium, kid)
        sitzung_links = _links(session, Sitzung, kid)
        gremium_of: dict[str, Gremium] = {}

        def gremium_for(ris: str) -> Gremium | None:
            if ris in gremium_of:
                return gremium_of[ris]
            org = organizations.get(ris)
            linked = next((g for g in gremien.values() if g.id == gremium_links.get(ris)), None)
            name = str(org.get("name", "")) if org else ""
            short = str(org.get("shortName", "")) if org else ""
            found = linked or gremien.get(_key(ris) or "\0") or next(
                (g for g in gremien.values() if name and g.name == name), None) or next(
                (g for g in gremien.values() if short and g.short == short), None)  # fmt: skip
            if found is None and org is None:
                report.warn(f"{ris}: Gremium nicht in der Liste organization; Sitzung übersprungen")
                return None
            if found is None:
                assert org is not None
                key = _key(ris) or slug(short or name)[:80]
                while key in gremien:
                    key += "-ris"
                found = Gremium(kommune_id=kid, key=key, name=name or key, short=short or
                                _short(name or key), kind=_kind(org))  # fmt: skip
                session.add(found)
                session.flush()
                gremien[key] = found
                report.gremien_created.append(key)
                events.log(session, actor=ACTOR, action="oparl_created", entity=found,
                           process_id=None, after={"key": key, "ris": ris})  # fmt: skip
            if gremium_links.get(ris) != found.id:
                events.log(session, actor=ACTOR, action=LINKED, entity=found, process_id=None,
                           after={"ris": ris})  # fmt: skip
                gremium_links[ris] = found.id or 0
            gremium_of[ris] = found
            return found

        def linked_elsewhere(s: Sitzung, ris: str) -> bool:
            return any(row == s.id and other != ris for other, row in sitzung_links.items())

        for m in parsed:
            local = by_id.get(sitzung_links.get(m.ris_id, -1))
            if m.deleted:  # a tombstone names no Gremium: its link, or our key if unlinked
                hinted = sitzungen.get(m.key_hint) if m.key_hint else None
                if local is None and hinted is not None and not any(
                        row == hinted.id for row in sitzung_links.values()):  # fmt: skip
                    local = hinted
                if local is not None:
                    _deleted_in_ris(session, kommune_key, local, m, report, day)
                continue
            gremium = gremium_for(m.gremium_ris) if m.gremium_ris else None
            if gremium is None:
                if not m.gremium_ris:
                    report.warn(f"{_shown(m.ris_id)}: Sitzung ohne Gremium übersprungen")
                continue
            if local is not None and local.gremium_id != gremium.id:
                report.warn(f"{_shown(m.ris_id)}: Sitzung übersprungen: gehört im RIS zu "
                            f"„{gremium.short}“, hier zu einem anderen Gremium "
                            f"({local.key})")  # fmt: skip
                continue
            if local is None:  # not linked yet: our key (same Gremium, linked to no other id)
                hinted = sitzungen.get(m.key_hint) if m.key_hint else None
                if (hinted is not None and hinted.gremium_id == gremium.id
                        and not linked_elsewhere(hinted, m.ris_id)):  # fmt: skip
                    local = hinted
            if local is None and m.start is not None:  # or the same Gremium at the same start
                local = next((s for s in sitzungen.values() if s.gremium_id == gremium.id
                              and s.start == m.start and not linked_elsewhere(s, m.ris_id)),
                             None)  # fmt: skip
            if m.start is None:
                report.warn(f"{_shown(m.ris_id)}: Sitzung ohne Beginn übersprungen")
                continue
            if local is None and m.cancelled:
                report.warn(f"{_shown(m.ris_id)}: im RIS abgesagt; nicht übernommen")
                continue
            if local is None:
                key = m.key_hint or f"{gremium.key}-{m.start:%Y-%m-%d}"
                while key in sitzungen:
                    key += "-ris"
                local = Sitzung(kommune_id=kid, gremium_id=gremium.id or 0, key=key,
                                start=m.start, place=m.place,
                                oeffentlich=m.oeffentlich)  # fmt: skip
                session.add(local)
                session.flush()
                sitzungen[key], by_id[local.id] = local, local
                report.sitzungen_created.append(key)
                events.log(session, actor=ACTOR, action="oparl_created", entity=local,
                           process_id=None, after={"key": key, "ris": m.ris_id,
                                                   "start": m.start.isoformat(),
                                                   "oeffentlich": m.oeffentlich})  # fmt: skip
            elif m.start != local.start and not m.cancelled:
                moves.append((local, m.start))
            if m.place and m.place != local.place:
                events.log(session, actor=ACTOR, action="oparl_updated", entity=local,
                           process_id=None, before={"place": local.place},
                           after={"place": m.place})  # fmt: skip
                local.place = m.place
                session.add(local)
                report.updated.append(local.key)
            # nichtöffentlich in the RIS makes it nichtöffentlich here; the reverse never
            # happens by itself: a Sitzung closed here stays closed until a clerk opens it
            if not m.oeffentlich and local.oeffentlich:
                events.log(session, actor=ACTOR, action="oparl_updated", entity=local,
                           process_id=None, before={"oeffentlich": True},
                           after={"oeffentlich": False})  # fmt: skip
                local.oeffentlich = False
                session.add(local)
                report.updated.append(local.key)
            elif m.oeffentlich and not local.oeffentlich:
                report.warn(f"{local.key}: im RIS öffentlich, hier nichtöffentlich; bleibt "
                            "nichtöffentlich (öffnen nur von Hand)")  # fmt: skip
            if sitzung_links.get(m.ris_id) != local.id:
                events.log(session, actor=ACTOR, action=LINKED, entity=local, process_id=None,
                           after={"ris": m.ris_id})  # fmt: skip
                sitzung_links[m.ris_id] = local.id or 0
            if m.cancelled:
                if not _cancelled_in_ris(session, local, m, report, day):
                    _deleted_in_ris(session, kommune_key, local, m, report, day)
                    sitzungen.pop(local.key, None)
            else:
                _reinstated(session, local, m, report, day)

    # 3. each move through the reschedule service: deadlines, reminders, messages follow.
    # Moves the RIS made together may depend on each other (BSV after GR in the Beratungsfolge):
    # later dates latest first, earlier dates earliest first, and a refused move is tried
    # again after the others as long as any of them goes through.
    pending = sorted(moves, key=lambda mv: (mv[1] < mv[0].start, -mv[1].timestamp()
                                            if mv[1] > mv[0].start else mv[1].timestamp()))
    refusals: dict[str, tuple[dt.datetime, Exception]] = {}
    while pending:
        waiting = []
        for sitzung, new_start in pending:
            try:
                _move(session, services, kommune_key, sitzung, new_start, url, report, today)
            except (Refused, NotFound) as exc:
                waiting.append((sitzung, new_start))
                refusals[sitzung.key] = (new_start, exc)
            else:
                refusals.pop(sitzung.key, None)
        if len(waiting) == len(pending):
            break
        pending = waiting
    for key, (new_start, problem) in refusals.items():
        report.warn(f"{key}: Verlegung auf {new_start:%d.%m.%Y %H:%M} nicht "
                    f"übernommen: {problem}; beim nächsten Abgleich erneut versucht")  # fmt: skip
    refused = bool(refusals)

    # 4. remember the run: the next one asks only for what changed since (unless a move waits)
    if not refused:
        with _transaction(session):
            events.log(session, actor=ACTOR, action=SYNCED, entity=kommune, process_id=None,
                       after={"url": url, "started": started.isoformat(),
                              "meetings": report.meetings})  # fmt: skip
    return report


def _move(session: Session, services: Any, kommune_key: str, sitzung: Sitzung,
          new_start: dt.datetime, url: str, report: Report, today: dt.date | None) -> None:
    """One move the RIS made, through services.move_sitzung; Refused or NotFound raised."""
    ref = f"{kommune_key}:{sitzung.key}"
    old = sitzung.start
    try:
        services.move_sitzung(session, ref, new_start, actor=ACTOR, today=today)
    except NeedsReason:
        services.move_sitzung(session, ref, new_start, actor=ACTOR, today=today,
                              force_reason=f"im Ratsinformationssystem verlegt ({url})")
        report.warn(f"{sitzung.key}: im RIS auf einen Sonn- oder Feiertag gelegt "
                    f"({new_start:%d.%m.%Y}); übernommen")  # fmt: skip
    report.moved.append((sitzung.key, old, new_start))


def _new_kommune(session: Session, key: str, body: dict[str, Any], bundesland: str | None
                 ) -> Kommune:  # fmt: skip
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", key):
        raise InputError("--kommune", key, "nur Kleinbuchstaben, Ziffern, „-“ und „_“")
    land = bundesland or LAND_OF_AGS.get(str(body.get("ags", ""))[:2])
    if not land:
        raise InputError("--bundesland", "", f"die Kommune {quoted(key)} gibt es hier noch nicht "
                         "und "
                         "die Körperschaft nennt keinen Gemeindeschlüssel (ags): das Bundesland "
                         "angeben, z. B. --bundesland BW")  # fmt: skip
    name = body.get("name")
    if not isinstance(name, str) or _text_problem(name, MAX_TEXT):
        name = key  # a name that is no one-line text is not taken over
    kommune = Kommune(key=key, name=name or key, bundesland=land.upper())
    session.add(kommune)
    session.flush()
    events.log(
        session,
        actor=ACTOR,
        action="oparl_created",
        entity=kommune,
        process_id=None,
        after={"key": key, "ris": body.get("id"), "bundesland": kommune.bundesland},
    )
    return kommune


def _used(session: Session, sitzung: Sitzung) -> bool:
    return any(session.exec(select(model.id).where(model.sitzung_id == sitzung.id)).first()
               is not None for model in (Beratung, SitzungBinding))  # fmt: skip


def _cancel_state(session: Session, sitzung: Sitzung) -> tuple[int, bool]:
    """How often the RIS has cancelled ``sitzung`` (cancellation events), and whether the
    last word was a cancellation (not a reinstatement). Counted from its last removal on, as
    ``cancellations`` does: SQLite may give a removed row's id to a new Sitzung."""
    actions = list(session.exec(select(Event.action).where(
        col(Event.action).in_((CANCELLED, REINSTATED, DELETED)), Event.entity == "Sitzung",
        Event.entity_id == sitzung.id).order_by(col(Event.id))).all())  # fmt: skip
    if DELETED in actions:
        actions = actions[len(actions) - actions[::-1].index(DELETED):]
    return sum(a == CANCELLED for a in actions), bool(actions) and actions[-1] == CANCELLED


def _cancelled_in_ris(session: Session, sitzung: Sitzung, m: RisMeeting, report: Report,
                      today: dt.date) -> bool:  # fmt: skip
    """A Sitzung a process uses, cancelled or deleted in the RIS: it stays, the project leads
    are told (once per cancellation). False when no process uses it (the caller removes it)."""
    if not _used(session, sitzung):
        return False
    how = "gelöscht" if m.deleted else "abgesagt"
    count, open_ = _cancel_state(session, sitzung)
    if not open_:  # a new cancellation (the first, or one after a reinstatement)
        events.log(session, actor=ACTOR, action=CANCELLED, entity=sitzung, process_id=None,
                   after={"ris": m.ris_id, "deleted": m.deleted})  # fmt: skip
        count += 1
    queued = escalate_cancelled(session, sitzung, today, deleted=m.deleted, round_=count)
    report.escalated += queued
    if _pending_uses(session, sitzung):
        told = ("an die Projektleitung gemeldet" if queued else "keine neue Nachricht an "
                "die Projektleitung (schon gemeldet oder keine Projektleitung eingetragen)")
        report.warn(f"{sitzung.key}: im RIS {how}, aber eine Fortschreibung braucht diese "
                    f"Sitzung: {told} (neuen Termin binden: lifecycle oparl bind)")  # fmt: skip
    else:
        report.warn(f"{sitzung.key}: im RIS {how}; bleibt hier, weil Fortschreibungen auf sie "
                    "verweisen (über sie ist schon entschieden)")  # fmt: skip
    return True


def _reinstated(session: Session, sitzung: Sitzung, m: RisMeeting, report: Report,
                today: dt.date) -> None:  # fmt: skip
    """The RIS lists a Sitzung it had cancelled as taking place again: noted, "Sitzung abgesagt"
    messages not yet sent are taken back (as a new binding does), and whoever was sent one for
    this cancellation gets "Sitzung wieder angesetzt", in this transaction (see
    ``tell_reinstated``)."""
    from sqlalchemy import update

    from ..models import Reminder, ReminderState
    from ..outbox import QUEUED

    count, open_ = _cancel_state(session, sitzung)
    if not open_:
        return
    events.log(session, actor=ACTOR, action=REINSTATED, entity=sitzung, process_id=None,
               after={"ris": m.ris_id})  # fmt: skip
    queued = session.exec(select(Reminder.id).where(
        col(Reminder.state).in_([s.name for s in QUEUED]),
        Reminder.sitzung_id == sitzung.id, Reminder.kind == ESCALATION)).all()  # fmt: skip
    if queued:
        session.execute(update(Reminder).where(col(Reminder.id).in_(queued)).values(
            state=ReminderState.cancelled.name, last_error=REINSTATED_STALE))  # fmt: skip
    told = tell_reinstated(session, sitzung, today, round_=count, ris_start=m.start)
    report.reinstated += told
    said = [f"{len(queued)} noch nicht verschickte Absage-Nachricht(en) zurückgenommen"
            ] if queued else []  # fmt: skip
    said.append(f"{told} Nachricht(en) „Sitzung wieder angesetzt“ an die Projektleitung "
                "vorgemerkt, der die Absage geschickt wurde" if told else
                "keine Nachricht an die Projektleitung (ihr wurde keine Absage geschickt)")
    report.warn(f"{sitzung.key}: im RIS wieder angesetzt (Absage aufgehoben); "
                f"{'; '.join(said)}; Bindungen prüfen (lifecycle oparl bind)")  # fmt: skip


def tell_reinstated(session: Session, sitzung: Sitzung, today: dt.date, *, round_: int,
                    ris_start: dt.datetime | None = None) -> int:  # fmt: skip
    """Queue "Sitzung wieder angesetzt" for each recipient who was SENT the "Sitzung abgesagt"
    message of cancellation ``round_``, in the caller's transaction; one whose message was
    taken back unsent learns nothing of either. Keyed as that message (its subject with this
    kind, its deadline), so a repeated call queues nothing. Returns how many rows are new.

    A message a delivery has claimed (``sending``) may be on its way or out already (a run
    that crashed after the server took it): it counts as sent. If it was not, the delivery
    drops it now that the RIS's last word is no cancellation (``outbox``), and the recipient
    reads only that the Sitzung takes place, which is true."""
    from ..models import Reminder, ReminderState
    from ..outbox import Planned, queue_rows

    sent = session.exec(select(Reminder).where(
        Reminder.sitzung_id == sitzung.id, Reminder.kind == ESCALATION,
        col(Reminder.state).in_([ReminderState.sent, ReminderState.sending]),
    ).order_by(col(Reminder.id))).all()  # fmt: skip
    gremium = session.get(Gremium, sitzung.gremium_id)
    planned: list[Planned] = []
    for row in sent:
        p = row.payload
        process_id = row.fortschreibung_id
        if process_id is None or row.subject != _escalation_subject(
                process_id, sitzung.id, p.get("start", ""), round_):  # fmt: skip
            continue  # the message of another cancellation of this Sitzung
        bound = {b.name: other for b, other in session.exec(
            select(SitzungBinding, Sitzung)
            .join(Sitzung, col(Sitzung.id) == SitzungBinding.sitzung_id)
            .where(SitzungBinding.fortschreibung_id == process_id,
                   col(SitzungBinding.name).in_(p.get("names") or []),
                   SitzungBinding.sitzung_id != sitzung.id)).all()}  # fmt: skip
        here = {_beratung_label(b, v) for b, v in session.exec(
            select(Beratung, Vorlage).join(Vorlage, col(Vorlage.id) == Beratung.vorlage_id)
            .where(Beratung.sitzung_id == sitzung.id,
                   Vorlage.fortschreibung_id == process_id)).all()}  # fmt: skip
        payload = {
            "process": p.get("process", ""),
            "kommune": p.get("kommune", ""),
            "sitzung_key": sitzung.key,
            "gremium": gremium.name if gremium else p.get("gremium", ""),
            "gremium_short": gremium.short if gremium else p.get("gremium_short", ""),
            "start": sitzung.start.isoformat(),
            "ris_start": (ris_start.isoformat() if ris_start and ris_start != sitzung.start
                          else ""),  # fmt: skip
            "deleted": bool(p.get("deleted")),
            "names": p.get("names") or [],
            # plan Sitzungen bound to another Sitzung since: name -> (its key, its start)
            "bound": {n: [s.key, s.start.isoformat()] for n, s in sorted(bound.items())},
            # the Beratungen the cancellation named: still at this Sitzung, or moved since
            "vorlagen": [v for v in p.get("vorlagen") or [] if v in here],
            "vorlagen_elsewhere": [v for v in p.get("vorlagen") or [] if v not in here],
        }
        planned.append(Planned(
            row.person_id, REINSTATEMENT + row.subject.removeprefix(ESCALATION),
            row.deadline, 0, REINSTATEMENT, today, process_id, sitzung_id=sitzung.id,
            payload=payload))  # fmt: skip
    return queue_rows(session, planned)


def _escalation_subject(process_id: int, sitzung_id: int | None, start: str, round_: int
                        ) -> str:  # fmt: skip
    """The outbox subject of a "Sitzung abgesagt" message to a process's lead: the process,
    the Sitzung, its start then, and the cancellation's round when it is not the first."""
    return (f"{ESCALATION}:{process_id}:{sitzung_id}:{start}"
            + (f":{round_}" if round_ > 1 else ""))  # fmt: skip


def escalate_cancelled(session: Session, sitzung: Sitzung, today: dt.date, *,
                       deleted: bool = False, round_: int = 1) -> int:  # fmt: skip
    """Queue "Sitzung abgesagt" for the project lead of every running process that depends on
    ``sitzung``, in the caller's transaction; the outbox key (lead, process, Sitzung and its
    start; a second cancellation after a reinstatement, ``round_`` 2, has its own) makes a
    repeated call queue nothing. Returns how many rows are new."""
    from ..outbox import Planned, queue_rows
    from ..reminders import policy_of

    uses = _pending_uses(session, sitzung)
    gremium = session.get(Gremium, sitzung.gremium_id)
    kommune = session.get(Kommune, sitzung.kommune_id)
    planned: list[Planned] = []
    for process_id, used in sorted(uses.items()):
        process = session.get(Fortschreibung, process_id)
        assert process is not None  # a use is of a running process
        leads = sorted(set(session.exec(select(Role.person_id).where(
            Role.fortschreibung_id == process_id,
            Role.role == policy_of(process).escalate_to)).all()))  # fmt: skip
        payload = {
            "process": process.key,
            "kommune": kommune.key if kommune else "",
            "sitzung_key": sitzung.key,
            "gremium": gremium.name if gremium else "",
            "gremium_short": gremium.short if gremium else "",
            "start": sitzung.start.isoformat(),
            "deleted": deleted,
            "names": used["names"],
            "vorlagen": used["vorlagen"],
        }
        planned += [
            Planned(
                lead,
                _escalation_subject(process_id, sitzung.id, sitzung.start.isoformat(), round_),
                sitzung.start.date(),
                0,
                ESCALATION,
                today,
                process_id,
                sitzung_id=sitzung.id,
                payload=payload,
            )
            for lead in leads
        ]
    return queue_rows(session, planned)


def _pending_uses(session: Session, sitzung: Sitzung) -> dict[int, dict[str, list[str]]]:
    """Process id -> the plan Sitzung names and Vorlagen (Beratungen) of running processes
    that still wait for ``sitzung``."""
    uses: dict[int, dict[str, list[str]]] = {}
    for b in session.exec(select(SitzungBinding).where(SitzungBinding.sitzung_id == sitzung.id)
                          .order_by(col(SitzungBinding.name))):  # fmt: skip
        if _open_use(session, b.fortschreibung_id, name=b.name):
            uses.setdefault(b.fortschreibung_id, {"names": [], "vorlagen": []})[
                "names"].append(b.name)  # fmt: skip
    for beratung, vorlage in session.exec(
        select(Beratung, Vorlage).join(Vorlage, col(Vorlage.id) == Beratung.vorlage_id)
        .where(Beratung.sitzung_id == sitzung.id).order_by(col(Vorlage.id))
    ).all():  # fmt: skip
        if _open_use(session, vorlage.fortschreibung_id, stage_key=vorlage.stage_key):
            uses.setdefault(vorlage.fortschreibung_id, {"names": [], "vorlagen": []})[
                "vorlagen"].append(_beratung_label(beratung, vorlage))  # fmt: skip
    return uses


def _beratung_label(beratung: Beratung, vorlage: Vorlage) -> str:
    """A Beratung as the cancellation's messages list it: "BSV 21/2017 (Entscheidung)"."""
    return f"{vorlage.reference} ({beratung.role})"


def _open_use(session: Session, process_id: int, *, name: str | None = None,
              stage_key: str | None = None) -> bool:  # fmt: skip
    """Whether a plan Sitzung name (the gates deciding on it) or a Vorlage's stage still waits
    for its Sitzung: a use whose stages are all decided needs no new date."""
    from ..plan_types import plan_of

    process = session.get(Fortschreibung, process_id)
    if process is None or process.state != ProcessState.running:
        return False
    keys = {stage_key} if stage_key else {
        s.key for s in plan_of(process.plan).stages if s.gate.sitzung == name}  # fmt: skip
    if not keys:
        return True  # only tasks are anchored to it
    states = session.exec(select(Stage.state).where(
        Stage.fortschreibung_id == process_id, col(Stage.key).in_(keys))).all()  # fmt: skip
    return any(state != StageState.closed for state in states)


def _deleted_in_ris(session: Session, kommune_key: str, sitzung: Sitzung, m: RisMeeting,
                    report: Report, today: dt.date) -> None:  # fmt: skip
    """Deleted (or cancelled) in the RIS: removed here unless a process uses it."""
    from .service import delete_rows

    if _cancelled_in_ris(session, sitzung, m, report, today):
        return
    how = "gelöscht" if m.deleted else "abgesagt"
    try:
        delete_rows(session, kommune_key, sitzung.key, actor=ACTOR)
    except Refused as exc:
        report.warn(f"{sitzung.key}: im RIS {how}, bleibt hier: {exc}")
        return
    if not m.deleted:
        report.warn(f"{sitzung.key}: im RIS abgesagt und von keiner Fortschreibung gebraucht; "
                    "hier gelöscht")  # fmt: skip
    report.deleted.append(sitzung.key)
