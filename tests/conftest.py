"""Shared fixtures: a fresh real SQLite database per test, the Waiblingen scenario started."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from lifecycle import models, services
from lifecycle.db import engine_for
from lifecycle.scenario import load_scenario

# The tables' dumps (a refusal changes nothing) walk SQLModel.metadata: every part declared.
models.load_all()

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
WAIBLINGEN = EXAMPLES / "waiblingen-2017.yaml"


# The modules `make mutate` mutates (pyproject.toml [tool.mutmut] only_mutate).
MUTATED = ("calendar", "deadlines", "engine", "services", "outbox")


@pytest.fixture(autouse=True)
def _forget_caches_under_mutmut() -> None:
    """Under mutmut, each test starts with the mutated modules' caches empty.

    mutmut runs a mutant's tests in a process forked from one that already ran tests, and maps
    each function to the tests that call it: a cache filled before (the engine's compiled
    statements, the calendars) would hand the mutant the unmutated result, and record the code
    that fills it as called by the first test alone.
    """
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    import importlib

    for name in MUTATED:
        module = importlib.import_module(f"lifecycle.{name}")
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutmut, a mutant's tests run fastest first: ``-x`` stops at the first that fails,
    and in the order mutmut lists them a slow replay often ran before the test that kills."""
    if "MUTANT_UNDER_TEST" not in os.environ:
        return
    stats = Path("mutmut-stats.json")  # mutmut runs the tests from its mutants/ folder
    if stats.is_file():
        durations = json.loads(stats.read_text(encoding="utf-8")).get("duration_by_test", {})
        items.sort(key=lambda item: durations.get(item.nodeid, 0.0))


def child_env() -> dict[str, str]:
    """``os.environ`` for a child interpreter that must import the very lifecycle this test
    imported: under ``make mutate`` the mutated copy, not the checkout the install points at."""
    import lifecycle

    ours = str(Path(lifecycle.__file__).resolve().parents[1])
    rest = os.environ.get("PYTHONPATH")
    return dict(os.environ) | {"PYTHONPATH": ours + (os.pathsep + rest if rest else "")}


def require_real(reason: str) -> None:
    """Skip loudly when a system component is missing; fail instead under CI."""
    if os.environ.get("LIFECYCLE_REQUIRE_REAL") == "1":
        pytest.fail(f"LIFECYCLE_REQUIRE_REAL=1 but {reason}")
    pytest.skip(f"SKIPPED FOR MISSING SYSTEM COMPONENT: {reason}")


def needs_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        require_real(f"{name!r} is not installed")
    return path


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch) -> None:
    """Documents, installed templates, logs and keys of a test stay in its own folder.

    Nothing a test writes may reach the next one through the user's data directory.
    """
    monkeypatch.setenv("LIFECYCLE_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


def run_python(code: str, database: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter against ``database``, as a command line would start."""
    env = os.environ | {"LIFECYCLE_DATABASE_URL": database}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    monkeypatch.setenv("LIFECYCLE_DATABASE_URL", url)
    return url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An SQLite file brought to the schema head by the real migrations, once per run."""
    path = tmp_path_factory.mktemp("migrated") / "lifecycle.db"
    engine = engine_for(f"sqlite:///{path}")
    with engine.connect() as conn:  # everything into the main file: it is copied alone
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def session(db_url, migrated_sqlite) -> Session:
    """A session on the test's own database: a copy of the migrated file (migrating costs
    ~100 ms a test; the migrations themselves are tested in test_db.py)."""
    path = Path(db_url.removeprefix("sqlite:///"))
    if not path.exists():
        shutil.copyfile(migrated_sqlite, path)
    with Session(engine_for(db_url), expire_on_commit=False) as s:
        yield s


@pytest.fixture(scope="session")
def waiblingen_scenario():
    """The Waiblingen scenario, read and validated once per run (~50 ms each time)."""
    return load_scenario(WAIBLINGEN)


@pytest.fixture
def waiblingen(session, waiblingen_scenario):
    """The Waiblingen 2017 Fortschreibung, started, nothing decided yet."""
    return services.start(session, copy.deepcopy(waiblingen_scenario), actor="test")


@pytest.fixture
def pg_url():
    """A fresh database on the PostgreSQL server of LIFECYCLE_TEST_POSTGRES_URL."""
    admin_url, name = new_pg_database("lifecycle_test")
    url = database_url(admin_url, name)
    yield url
    engine_for(url).dispose()
    drop_database(admin_url, name)


def new_pg_database(prefix: str) -> tuple[str, str]:
    """(admin URL, name) of a new empty database on the server of LIFECYCLE_TEST_POSTGRES_URL;
    no server is a loud skip (a failure in CI). The caller drops it (drop_database)."""
    admin_url = os.environ.get("LIFECYCLE_TEST_POSTGRES_URL")
    if not admin_url:
        require_real("LIFECYCLE_TEST_POSTGRES_URL is not set (no PostgreSQL server)")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create_database(admin_url, name)
    return admin_url, name


def database_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``admin_url``."""
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def create_database(admin_url: str, name: str) -> None:
    """A new empty database; a server that does not answer is a loud skip (a failure in CI)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - server down: say so loudly
        require_real(f"PostgreSQL at {admin_url} is not reachable: {exc}")
    finally:
        admin.dispose()


def drop_database(admin_url: str, name: str, *, tries: int = 20) -> None:
    """Drop a test database, whoever is still connected to it.

    Neither form of DROP works alone. WITH (FORCE) ends connections a test left behind, but
    PostgreSQL 15 refuses it outright while an autovacuum worker is in the database (a process
    without a role that a non-superuser may signal). A plain DROP cancels autovacuum itself but
    fails on a leftover connection. So each try runs both, and a busy database gets another.
    """
    drops = (f'DROP DATABASE IF EXISTS "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        for _ in range(tries):
            for statement in drops:
                try:
                    with admin.connect() as conn:
                        conn.execute(text(statement))
                    return
                except DBAPIError as exc:
                    refused = exc
            time.sleep(0.1)
        raise refused
    finally:
        admin.dispose()


def template_with_document_xml(template: Path, folder: Path, edit) -> Path:
    """A templates folder holding ``template`` with its word/document.xml passed through
    ``edit`` (bytes to bytes): how a test gives the renderer a broken template."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(template) as src, \
            zipfile.ZipFile(folder / template.name, "w") as dst:  # fmt: skip
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, edit(data) if info.filename == "word/document.xml" else data)
    return folder
