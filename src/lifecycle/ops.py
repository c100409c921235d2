"""Operating an installation: the checks of ``lifecycle doctor``, the effective settings of
``lifecycle config show`` and ``lifecycle backup``.

Every check gives one German line and whether the part is usable; nothing here changes the
installation (the database is not migrated, no mail is sent). Prefect is reached over plain
HTTP (``GET /api/health``): the core stays free of Prefect.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, LifecycleError
from .files import writable_folder, writing
from .mail import KEYS as MAIL_KEYS
from .words import quoted

# Everything the installation reads from its environment, in the order `config show` prints.
SETTINGS = (
    "LIFECYCLE_DATABASE_URL",
    "PREFECT_API_URL",
    "LIFECYCLE_SETTINGS",
    *MAIL_KEYS,  # the mail settings, as lifecycle.mail reads them
    "LIFECYCLE_TEMPLATES",
    "LIFECYCLE_OUTPUT",
    "LIFECYCLE_WEB_SECRET",
    "LIFECYCLE_WEB_SECURE_COOKIE",
    "LIFECYCLE_OPARL_ALLOW_PRIVATE",  # `oparl sync` may read an internal address
)
SECRET_KEYS = ("LIFECYCLE_SMTP_PASSWORD", "LIFECYCLE_WEB_SECRET")
# What `lifecycle deploy` / `lifecycle serve` register ("<flow>/<deployment>").
DEPLOYMENTS = (
    "lifecycle-stage/stage",
    "lifecycle-gate/gate",
    "lifecycle-reminders/daily",
    "lifecycle-reconcile/reconcile",
)
MASK = "********"
TIMEOUT = 5.0


@dataclass(frozen=True)
class Check:
    """One line of ``lifecycle doctor``: what was checked, whether it is usable, and why."""

    name: str
    ok: bool
    detail: str
    where: str = ""  # the database or mail server checked

    @property
    def line(self) -> str:
        where = f" {self.where}" if self.where else ""
        return f"{'ok    ' if self.ok else 'FEHLT '} {self.name}{where}: {self.detail}"


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    key: str
    value: str
    source: str  # "Umgebung", "Einstellungsdatei", "Standard" or "nicht gesetzt"


def mask_url(url: str) -> str:
    """A database URL with its password replaced (``postgresql://u:***@host/db``)."""
    from .db import masked_url

    return masked_url(url)


def effective_settings(env: Mapping[str, str] | None = None) -> list[Setting]:
    """The settings in effect, secrets masked; an unusable settings file is an InputError."""
    from . import mail
    from .db import default_url

    env = os.environ if env is None else env
    from_file: dict[str, str] = {}
    if path := env.get("LIFECYCLE_SETTINGS"):
        from_file = mail._read_toml(Path(path))  # raises ConfigError: one line naming the key
    defaults = {
        "LIFECYCLE_DATABASE_URL": default_url(),
        "LIFECYCLE_SMTP_SECURITY": "none",
        "LIFECYCLE_MAIL_FROM": "lifecycle@localhost",
        "LIFECYCLE_TIMEZONE": "Europe/Berlin",
    }
    rows = []
    for key in SETTINGS:
        if env.get(key):
            value, source = env[key], "Umgebung"
        elif key in from_file:
            value, source = from_file[key], "Einstellungsdatei"
        elif key in defaults:
            value, source = defaults[key], "Standard"
        else:
            value, source = "", "nicht gesetzt"
        if value and key in SECRET_KEYS:
            value = MASK
        elif value and key == "LIFECYCLE_DATABASE_URL":
            value = mask_url(value)
        rows.append(Setting(key, value, source))
    return rows


# --- checks --------------------------------------------------------------------------------------


def check_database(url: str | None = None) -> Check:
    """Reachable and at the schema head; never migrates (``lifecycle status`` would)."""
    from sqlalchemy import create_engine, exc
    from sqlalchemy.engine import make_url

    from .db import SCHEMA_HEAD, current_revision, database_url

    url = url or database_url()
    shown = mask_url(url)
    name = "Datenbank"
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError):
        return Check("Datenbank", False, f"{quoted(shown)} ist keine Datenbank-URL")
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(
        parsed.database).is_file():  # fmt: skip
        return Check(name, False, "Datei fehlt (wird beim ersten Aufruf angelegt: "
                     "lifecycle status)", shown)  # fmt: skip
    args = {"connect_timeout": int(TIMEOUT)} if parsed.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(url, connect_args=args)
    except ImportError as e:
        return Check(name, False, f"Datenbanktreiber fehlt ({e.name or e})", shown)
    except exc.ArgumentError as e:
        return Check(name, False, f"ungültige Angabe ({e})", shown)
    try:
        revision = current_revision(engine)
    except exc.DBAPIError as e:
        return Check(name, False, f"nicht erreichbar ({_first_line(e)})", shown)
    finally:
        engine.dispose()
    if revision is None:
        return Check(name, False, "erreichbar, aber ohne Schema (lifecycle status legt es an)",
                     shown)  # fmt: skip
    if revision != SCHEMA_HEAD:
        return Check(name, False, f"erreichbar, Schemastand {revision}, erwartet {SCHEMA_HEAD} "
                     "(lifecycle status migriert)", shown)  # fmt: skip
    return Check(name, True, f"erreichbar, Schemastand {revision} (aktuell)", shown)


def prefect_api_problem(url: str | None = None) -> str | None:
    """None if the Prefect API answers its health check, else one German line."""
    url = url if url is not None else os.environ.get("PREFECT_API_URL", "")
    if not url:
        return "PREFECT_API_URL ist nicht gesetzt (z. B. http://prefect-host:4200/api)"
    health = url.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=TIMEOUT) as answer:  # noqa: S310 - http(s) only
            if answer.status == 200:
                return None
            return f"Prefect-API {url}: Antwort {answer.status} auf /health"
    except urllib.error.HTTPError as e:
        return f"Prefect-API {url}: Antwort {e.code} auf /health (falsche URL? endet auf /api)"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        return f"Prefect-API {url} nicht erreichbar ({reason})"


def check_prefect(url: str | None = None) -> Check:
    url = url if url is not None else os.environ.get("PREFECT_API_URL", "")
    problem = prefect_api_problem(url)
    return Check("Prefect-API", problem is None, problem or f"{url} antwortet")


def _api(url: str, path: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url.rstrip("/") + path, data=data, method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 - http(s) only
        return json.load(answer)


def entrypoint_problem(entrypoint: str) -> str | None:
    """None if a module-path entrypoint ("lifecycle.flows.stages.stage_flow") imports here."""
    module, _, attr = entrypoint.rpartition(".")
    if not module or ":" in entrypoint:
        return f"{quoted(entrypoint)} ist kein Modulpfad (lifecycle deploy legt Modulpfade an)"
    try:
        found = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any import error is the answer
        return f"{entrypoint} nicht importierbar ({type(exc).__name__}: {exc})"
    if not hasattr(found, attr):
        return f"{entrypoint}: {attr} fehlt in {module} (andere lifecycle-Version?)"
    return None


def check_deployments(url: str) -> tuple[Check, list[str]]:
    """The four deployments exist and their code imports in this environment; their pools."""
    found: list[dict] = []
    missing: list[str] = []
    for name in DEPLOYMENTS:
        try:
            answer = _api(url, f"/deployments/name/{name}")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                return Check("Deployments", False, f"Prefect-API antwortet {e.code}"), []
            missing.append(name)
            continue
        except (urllib.error.URLError, OSError, ValueError) as e:
            return Check("Deployments", False, f"nicht lesbar ({e})"), []
        if isinstance(answer, dict):
            found.append(answer)
    if missing:
        return Check("Deployments", False, f"fehlen: {', '.join(missing)} "
                     "(lifecycle deploy --pool lifecycle)"), []  # fmt: skip
    for deployment in found:
        if problem := entrypoint_problem(str(deployment.get("entrypoint") or "")):
            return Check("Deployments", False, problem), []
    pools = sorted({str(d.get("work_pool_name") or "") for d in found})
    where = ", ".join(f"Work-Pool {p}" if p else "ohne Work-Pool (lifecycle serve)"
                      for p in pools)  # fmt: skip
    return Check("Deployments", True, f"{len(found)} angelegt, Code importierbar; {where}"), pools


def check_workers(url: str, pools: list[str]) -> Check:
    """At least one worker online in every pool the deployments use."""
    if not [p for p in pools if p]:
        return Check("Worker", True, "kein Work-Pool: die Läufe führt lifecycle serve aus")
    parts, ok = [], True
    for pool in (p for p in pools if p):
        try:
            workers = _api(url, f"/work_pools/{pool}/workers/filter", {})
        except (urllib.error.URLError, OSError, ValueError) as e:
            return Check("Worker", False, f"Work-Pool {pool} nicht lesbar ({e})")
        online = sorted(str(w.get("name")) for w in workers if isinstance(w, dict)
                        and w.get("status") == "ONLINE") if isinstance(workers, list) else []
        if online:
            parts.append(f"{len(online)} online im Work-Pool {pool} ({', '.join(online)})")
        else:
            ok = False
            parts.append(f"keiner online im Work-Pool {pool} "
                         "(systemctl start prefect-worker@1)")  # fmt: skip
    return Check("Worker", ok, "; ".join(parts))


def check_smtp(env: Mapping[str, str] | None = None) -> Check:
    """Connect and EHLO (STARTTLS/SSL as configured); no login, no mail."""
    import smtplib
    import ssl

    from . import mail

    try:
        settings = mail.load_settings(env)
    except LifecycleError as exc:
        return Check("Mailserver", False, str(exc))
    name, shown = "Mailserver", f"{settings.host}:{settings.port}"
    try:
        if settings.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=TIMEOUT,
                context=ssl.create_default_context())  # fmt: skip
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT)
        try:
            code, _ = server.ehlo()
            if settings.security == "starttls":
                server.starttls(context=ssl.create_default_context())
                code, _ = server.ehlo()
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
    except (smtplib.SMTPException, OSError) as exc:
        detail = (f"verweigert ({exc})" if isinstance(exc, smtplib.SMTPException)
                  else f"nicht erreichbar ({exc.strerror or exc})")  # fmt: skip
        return Check(name, False, detail, shown)
    if code != 250:
        return Check(name, False, f"EHLO beantwortet mit {code}", shown)
    return Check(name, True, f"erreichbar, EHLO ok ({settings.security})", shown)


def check_templates() -> Check:
    """Every document kind finds its template (LIFECYCLE_TEMPLATES, then the shipped ones)."""
    from .doc_context import KINDS
    from .documents import find_template

    try:
        found = [find_template(kind) for kind in KINDS.values()]
    except LifecycleError as exc:
        return Check("Vorlagen", False, str(exc))
    folders = sorted({str(p.parent) for p in found})
    return Check("Vorlagen", True, f"{len(found)} Dokumentarten, aus {', '.join(folders)}")


def check_libreoffice(which: Callable[[str], str | None] | None = None) -> Check:
    import shutil

    which = which or shutil.which
    for name in ("soffice", "libreoffice"):
        if path := which(name):
            return Check("LibreOffice", True, f"{path} (PDF-Ausgabe)")
    return Check("LibreOffice", False, "soffice nicht gefunden; ohne LibreOffice keine PDFs "
                 "(Debian: apt install libreoffice-writer-nogui)")  # fmt: skip


def doctor() -> list[Check]:
    """All checks, in the order an IT department would fix them. With a Prefect API that
    answers, also its deployments (present, code importable here) and workers (online)."""
    checks = [check_database(), check_prefect()]
    if checks[-1].ok:
        url = os.environ.get("PREFECT_API_URL", "")
        deployments, pools = check_deployments(url)
        checks.append(deployments)
        if deployments.ok:
            checks.append(check_workers(url, pools))
    checks += [check_smtp(), check_templates(), check_libreoffice()]
    return checks


def database_outage(exc: BaseException) -> str | None:
    """One German line if ``exc`` is the database going away in the middle of a command
    (server stopped, connection lost), else None (then it is a bug)."""
    from sqlalchemy import exc as sa_exc

    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return None
    if isinstance(exc, sa_exc.OperationalError) and "sqlite" in type(exc.orig).__module__:
        return None  # a locked or broken SQLite file is not an outage
    return (f"Datenbank nicht erreichbar ({_first_line(exc)}); abgebrochen, Angefangenes ist "
            "zurückgerollt, bitte wiederholen, wenn die Datenbank wieder läuft")  # fmt: skip


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# --- backup --------------------------------------------------------------------------------------


class BackupRefused(InputError):
    """No backup by us: the database is a server's (PostgreSQL), its own tools do it."""


def pg_dump_command(url: str, target: Path) -> str:
    """The pg_dump command line for a PostgreSQL URL (password from ~/.pgpass or PGPASSWORD)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parts = ["pg_dump", "--format=custom", f"--file={target}"]
    if parsed.host:
        parts.append(f"--host={parsed.host}")
    if parsed.port:
        parts.append(f"--port={parsed.port}")
    if parsed.username:
        parts.append(f"--username={parsed.username}")
    parts.append(parsed.database or "lifecycle")
    return " ".join(parts)


def backup(target: Path, url: str | None = None) -> Path:
    """A consistent copy of the SQLite database while others keep writing (online backup API).

    PostgreSQL: refused with the pg_dump command to use instead.
    """
    from sqlalchemy.engine import make_url

    from .db import database_url

    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupRefused(
            "lifecycle backup", "",
            f"die Datenbank ist {parsed.get_backend_name()}: sichern mit "
            f"{pg_dump_command(url, target)} (zurückspielen: pg_restore)",
        )  # fmt: skip
    source = Path(parsed.database or "")
    if not source.is_file():
        raise InputError("lifecycle backup", "", f"Datenbankdatei {source} fehlt")
    target = Path(target)
    if target.exists():
        raise InputError("lifecycle backup", "", f"{target} gibt es schon; nichts überschrieben")
    if not target.parent.is_dir():
        raise InputError("lifecycle backup", "", f"Ordner {target.parent} fehlt")
    writable_folder(target.parent, "lifecycle backup")
    partial = target.with_name(f".{target.name}.teil")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        with writing(target, "lifecycle backup"):
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorname", "") not in _COPY_FAILED:
                    raise
                partial.unlink(missing_ok=True)
                raise InputError(str(target), "lifecycle backup",
                                 f"nicht schreibbar ({exc})") from None  # fmt: skip
            finally:
                dst.close()
            if ok != "ok":
                partial.unlink(missing_ok=True)
                raise InputError("lifecycle backup", "", f"Kopie nicht intakt ({ok})")
            partial.replace(target)
    finally:
        src.close()
    return target


# What writing the copy can run into (the source is only read): a full disk, a folder that
# went away or became read-only meanwhile.
_COPY_FAILED = {"SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_READONLY"}
