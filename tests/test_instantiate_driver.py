"""On SQLite a new process's rows go in on the driver's cursor (instantiate._DriverRows).

The rows must be stored exactly as SQLAlchemy Core stores them: the same values in the same
storage classes (a date as text, a time with its microseconds, an enum by its name, JSON as
text, a boolean as an integer). Every example scenario, including a second process of a
Kommune whose shared rows exist already, is started through the services twice, once each
way, and every table is compared value by value as SQLite returns it.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from conftest import EXAMPLES
from sqlmodel import Session

from lifecycle import instantiate, services
from lifecycle.db import engine_for
from lifecycle.scenario import load_scenario

SCENARIOS = ("waiblingen-2017", "voelklingen-2017", "schwetzingen-2017",
             "schwetzingen-evaluation-2018")  # fmt: skip
# Written as "now" (the time of writing) or at random: compared by their form, not their value.
NOW = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
RANDOM = {("reminder", "message_uid")}


def start_all(db: Path) -> None:
    engine = engine_for(f"sqlite:///{db}")
    with Session(engine) as session:
        for name in SCENARIOS:
            services.start(session, load_scenario(EXAMPLES / f"{name}.yaml"), actor="test")
    engine.dispose()


def stored(db: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(db)
    tables = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    out = {}
    for table in tables:
        columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
        rows = con.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
        out[table] = [tuple(_comparable(table, c, v) for c, v in zip(columns, row, strict=True))
                      for row in rows]  # fmt: skip
    con.close()
    return out


def _comparable(table: str, column: str, value: object) -> object:
    if (table, column) in RANDOM:
        return type(value).__name__
    if isinstance(value, str) and NOW.fullmatch(value) and column in (
            "at", "created_at", "recorded_at", "saved_at"):  # fmt: skip
        return "<now>"
    return (type(value).__name__, value)


def test_the_driver_stores_every_row_as_sqlalchemy_core_does(tmp_path, monkeypatch):
    start_all(tmp_path / "driver.db")
    with monkeypatch.context() as m:
        m.setattr(instantiate, "_driver_for", lambda connection: None)
        start_all(tmp_path / "core.db")
    driver, core = stored(tmp_path / "driver.db"), stored(tmp_path / "core.db")
    assert driver.keys() == core.keys()
    for table in core:
        assert driver[table] == core[table], table
    assert len(core["task"]) > 100 and core["beratung"] and core["workshop"]


def test_the_driver_is_used_on_sqlite(tmp_path, monkeypatch):
    """The comparison above means something only if the driver path really ran."""
    used: list[str] = []
    real = instantiate._DriverRows.insert

    def spy(self, model, rows, key):  # type: ignore[no-untyped-def]
        used.append(model.__tablename__)
        return real(self, model, rows, key)

    monkeypatch.setattr(instantiate._DriverRows, "insert", spy)
    start_all(tmp_path / "spy.db")
    assert {"kommune", "fortschreibung", "stage", "task", "vorlage", "beratung"} <= set(used)


@pytest.mark.parametrize("rows", [1, 199, 200, 201, 450])
def test_many_keyed_rows_come_back_with_their_own_ids(tmp_path, rows):
    """More rows than one statement takes are written in chunks; each key gets its row's id."""
    from sqlalchemy import text

    from lifecycle.models import Kommune

    engine = engine_for(f"sqlite:///{tmp_path / 'chunks.db'}")
    with Session(engine) as session:
        connection = session.connection()
        given = [{"key": f"k{i:04d}", "name": f"Gemeinde {i}", "bundesland": "BW",
                  "closing_days": [f"2017-12-{1 + i % 28:02d}"]} for i in reversed(range(rows))]
        ids = instantiate._DriverRows(connection).insert(Kommune, given, "key")
        found = dict(connection.execute(text("SELECT key, id FROM kommune")).all())
        closing = dict(connection.execute(text("SELECT key, closing_days FROM kommune")).all())
    engine.dispose()
    assert ids == [found[g["key"]] for g in given] and len(set(ids)) == rows
    assert closing[given[0]["key"]] == f'["2017-12-{1 + (rows - 1) % 28:02d}"]'
