"""The database: SQLite file by default, any SQLAlchemy URL via LIFECYCLE_DATABASE_URL.

Created on first use and migrated with Alembic. The fast path (status, tasks) only compares
the stored revision with SCHEMA_HEAD and does not import Alembic.
"""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sqlalchemy import event, exc, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from .errors import InputError, Unavailable
from .words import quoted

# Head revision of lifecycle/migrations; tests/test_db.py fails when this is stale.
SCHEMA_HEAD = "0016"


def default_url() -> str:
    from platformdirs import user_data_dir

    folder = Path(user_data_dir("lifecycle", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'lifecycle.db'}"


def database_url() -> str:
    return os.environ.get("LIFECYCLE_DATABASE_URL") or default_url()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the daily run read while the CLI writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL survives a killed process (our crash tests) and saves an fsync per
    # commit; only a power cut may lose the last commits, never corrupt the file.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SQLITE_HEADER = b"SQLite format 3\x00"

# The engines this process opened, for close_engines (weakly: an engine the cache evicted
# goes when nothing uses it any more).
_opened: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def close_engines() -> None:
    """Close the pooled connections of every engine this process opened; runs at exit.

    SQLite folds its write-ahead log back into the database file when the last connection
    closes. A process whose connections are left to the collector at shutdown (the CLI
    freezes it; the demo's flows keep references) leaves ``-wal`` and ``-shm`` beside the
    file, and a plain copy of the file alone would then miss the newest changes.
    """
    for engine in list(_opened):
        engine.dispose()


def masked_url(url: str) -> str:
    """``url`` as it may be shown: the password replaced, also when the URL is malformed (an
    error message must not print the password it could not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (exc.ArgumentError, ValueError):
        pass
    if "@" not in url:
        return url
    head, _, host = url.rpartition("@")  # the password may hold '@' itself
    scheme, sep, userinfo = head.partition("://")
    if not sep:
        return f"***@{host}"
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{host}"


def _refuse(shown: str, problem: str) -> InputError:
    return InputError(f"Datenbank {shown}", "", problem)


@lru_cache(maxsize=16)
def engine_for(url: str) -> Engine:
    """The engine for ``url``, migrated; a URL or database we cannot use is one clear error.

    Checked before anything is written: a malformed URL, an unknown dialect or missing
    driver, a server that does not answer, a file that is not an SQLite database (a text file,
    random bytes, a truncated file, a folder, a device), another application's database
    (tables, but none of ours), and a database migrated by a newer lifecycle.
    """
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError):
        raise InputError(
            "LIFECYCLE_DATABASE_URL", "",
            f"{quoted(masked_url(url))} ist keine Datenbank-URL (z. B. sqlite:///pfad/lifecycle.db "
            "oder postgresql+psycopg://benutzer@host/datenbank)",
        ) from None  # fmt: skip
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            _check_sqlite_file(shown, parsed.database)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            args = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
            engine = create_engine(url, pool_pre_ping=True, connect_args=args)
    except exc.NoSuchModuleError:
        raise _refuse(shown, f"unbekannter Datenbanktyp {quoted(parsed.drivername)}") from None
    except ImportError as e:
        raise _refuse(shown, f"Datenbanktreiber fehlt ({e.name or e})") from None
    except exc.ArgumentError as e:
        raise _refuse(shown, f"ungültige Angabe ({e})") from None
    try:
        migrate_if_needed(engine, shown)
    except exc.OperationalError as e:
        engine.dispose()
        raise _unusable(shown, parsed.get_backend_name(), e) from None
    except exc.DatabaseError as e:
        engine.dispose()
        raise _refuse(shown, f"keine lesbare Datenbank ({_first_line(e)})") from None
    except InputError:
        engine.dispose()
        raise
    _opened.add(engine)
    return engine


def _check_sqlite_file(shown: str, database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        if path.exists():
            if path.is_dir():
                raise _refuse(shown, "ist ein Ordner, keine Datenbankdatei")
            if not path.is_file():
                raise _refuse(shown, "ist keine gewöhnliche Datei (Gerät, Pipe oder Socket)")
            with open(path, "rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
            if head and head != SQLITE_HEADER:
                raise _refuse(shown, "ist keine SQLite-Datenbank (andere oder beschädigte Datei)")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _refuse(shown, f"nicht nutzbar ({e.strerror or e})") from None


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unusable(shown: str, backend: str, e: exc.OperationalError) -> Exception:
    detail = _first_line(e)
    if backend == "sqlite":
        if "not a database" in detail or "malformed" in detail:
            return _refuse(shown, f"ist keine lesbare SQLite-Datenbank ({detail})")
        return _refuse(shown, f"lässt sich nicht öffnen ({detail})")
    return Unavailable(f"Datenbank {shown}: nicht erreichbar ({detail})")


def get_engine(url: str | None = None) -> Engine:
    return engine_for(url or database_url())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate_if_needed(engine: Engine, shown: str | None = None) -> None:
    """Bring a database of ours (or an empty one) to SCHEMA_HEAD; refuse anything else."""
    if _head_revision(engine):  # the everyday case, in one query
        return
    shown = shown or engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        revision = (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if "alembic_version" in tables
            else None
        )
    if revision == SCHEMA_HEAD:
        return
    if revision is None and tables - {"alembic_version"}:
        listed = ", ".join(sorted(tables)[:3]) + (", …" if len(tables) > 3 else "")
        raise _refuse(
            shown,
            f"gehört einer anderen Anwendung (Tabellen {listed}, aber keine von lifecycle); "
            "lifecycle legt dort keine Tabellen an",
        )
    if revision is not None and revision not in known_revisions():
        raise _refuse(
            shown,
            f"hat den Schemastand {quoted(revision)}, den diese lifecycle-Version nicht kennt "
            "(von einer neueren Version oder einer anderen Anwendung); lifecycle aktualisieren",
        )
    upgrade(engine)


def _head_revision(engine: Engine) -> bool:
    """Whether the database says it is at SCHEMA_HEAD; any failure: look closer (below)."""
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                == SCHEMA_HEAD
            )
    except exc.DBAPIError:
        return False


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("lifecycle") / "migrations"))
    return cfg


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    with Session(get_engine(url), expire_on_commit=False) as session:
        yield session
