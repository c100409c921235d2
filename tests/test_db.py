"""The database: created on first use, migrated by Alembic, migrations in step with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from lifecycle import db


def test_schema_head_constant_is_current():
    head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    assert head == db.SCHEMA_HEAD, "update lifecycle.db.SCHEMA_HEAD to the newest migration"


def test_migrations_match_the_models(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def test_no_index_repeats_the_leading_columns_of_another_or_of_a_unique_key():
    """Such an index is never chosen over the longer one and costs a write on every insert
    (a start wrote 11 pages of 125 to them). Unique constraints and indexes are kept."""
    from sqlalchemy import UniqueConstraint

    import lifecycle.models

    lifecycle.models.load_all()
    redundant = []
    for table in SQLModel.metadata.sorted_tables:
        keys = [tuple(c.name for c in i.columns) for i in table.indexes]
        keys += [tuple(c.name for c in u.columns) for u in table.constraints
                 if isinstance(u, UniqueConstraint)]  # fmt: skip
        for index in table.indexes:
            own = tuple(c.name for c in index.columns)
            if not index.unique and any(k != own and k[: len(own)] == own for k in keys):
                redundant.append(f"{table.name}.{index.name}")
    assert redundant == []


def test_created_on_first_use(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "dir" / "lifecycle.db"
    monkeypatch.setenv("LIFECYCLE_DATABASE_URL", f"sqlite:///{path}")
    engine = db.get_engine()
    assert path.exists()
    assert db.current_revision(engine) == db.SCHEMA_HEAD
    assert {"fortschreibung", "task", "event"} <= set(inspect(engine).get_table_names())


def test_default_is_a_sqlite_file_in_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("LIFECYCLE_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert db.database_url() == f"sqlite:///{tmp_path / 'lifecycle' / 'lifecycle.db'}"


def test_downgrade_to_base_and_up_again(tmp_path):
    from alembic import command

    engine = create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    db.upgrade(engine)
    with engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)
    assert db.current_revision(engine) == db.SCHEMA_HEAD


def test_0016_rewords_the_stored_english_reasons_of_reminders_in_german(tmp_path):
    """Rows a version before 0016 noted with English codes read as the outbox words them now;
    other texts stay as they are."""
    from sqlalchemy import text

    engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    db.upgrade(engine, "0015")
    stored = {
        1: ("obsolete: task done", "hinfällig: Aufgabe erledigt"),
        2: ("obsolete: deadline moved to 06.12.2017", "hinfällig: Frist verschoben auf den "
            "06.12.2017"),
        3: ("obsolete: Sitzung moved to 13.12.2017", "hinfällig: Sitzung verlegt auf den "
            "13.12.2017"),
        4: ("obsolete: Sitzung moved", "hinfällig: Sitzung verlegt"),
        5: ("obsolete: Sitzung neu gebunden", "hinfällig: Sitzung neu gebunden"),
        6: ("waiting: SMTP x nicht erreichbar: waiting: 1", "wartet: SMTP x nicht erreichbar: "
            "waiting: 1"),
        7: ("obsolete: process completed", "hinfällig: Fortschreibung abgeschlossen"),
        8: ("obsolete: task reassigned", "hinfällig: Aufgabe neu zugewiesen"),
        9: ("SMTP-Fehler: 550 obsolete: task done", "SMTP-Fehler: 550 obsolete: task done"),
        10: ("", ""),
    }
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO kommune (id, key, name, bundesland, closing_days) "
            "VALUES (1, 'k', 'K', 'BW', '[]')"))  # fmt: skip
        conn.execute(text("INSERT INTO person (id, kommune_id, key, name, fachbereich, funktion) "
                          "VALUES (1, 1, 'p', 'P', '', '')"))  # fmt: skip
        for rid, (old, _) in stored.items():
            conn.execute(text(
                "INSERT INTO reminder (id, person_id, subject, deadline, \"offset\", kind, "
                "send_on, state, payload, attempts, last_error, created_at, message_uid) "
                "VALUES (:id, 1, :s, '2017-12-06', 0, 'due', '2017-12-01', 'cancelled', '{}', "
                "0, :e, '2017-12-01 00:00:00', :u)"),
                {"id": rid, "s": f"task:{rid}", "e": old, "u": f"u{rid}"})  # fmt: skip
    db.upgrade(engine)
    with engine.connect() as conn:
        now = dict(conn.execute(text("SELECT id, last_error FROM reminder")).all())
    assert now == {rid: new for rid, (_, new) in stored.items()}
