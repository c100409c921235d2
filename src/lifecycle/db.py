"""The database: SQLite file by default, any SQLAlchemy URL via LIFECYCLE_DATABASE_URL.

Created on first use and migrated with Alembic. The fast path (status, tasks) only compares
the stored revision with SCHEMA_HEAD and does not import Alembic.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

# Head revision of lifecycle/migrations; tests/test_db.py fails when this is stale.
SCHEMA_HEAD = "0004"


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


@lru_cache(maxsize=16)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    migrate_if_needed(engine)
    return engine


def get_engine(url: str | None = None) -> Engine:
    return engine_for(url or database_url())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate_if_needed(engine: Engine) -> None:
    if current_revision(engine) != SCHEMA_HEAD:
        upgrade(engine)


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
