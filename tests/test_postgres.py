"""The same engine on a real PostgreSQL server, through the same kind of URL.

Needs LIFECYCLE_TEST_POSTGRES_URL (an account that may create databases); `.ci/run` installs
and starts Debian's postgresql and sets it. Each test gets a database of its own.
"""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import EXAMPLES, WAIBLINGEN, database_url, drop_database, new_pg_database
from smtp_server import SmtpServer
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from lifecycle import mail, reminders, replay, services
from lifecycle.db import engine_for
from lifecycle.errors import Refused
from lifecycle.models import Event, ProcessState, Task
from lifecycle.scenario import load_scenario

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_url):
    with Session(engine_for(pg_url), expire_on_commit=False) as s:
        yield s


def dues(session) -> dict[str, dt.date]:
    return {t.key: t.due for t in session.exec(select(Task))}


def walk(session) -> tuple[dict, list[str]]:
    process = services.start(session, load_scenario(WAIBLINGEN), actor="test")
    services.move_sitzung(session, "bsv-2017-12-06", dt.date(2017, 12, 13), actor="test")
    services.move_sitzung(session, "bsv-2017-12-06", dt.date(2017, 12, 6), actor="test")
    replay.run(session, process)
    session.refresh(process)
    assert process.state == ProcessState.completed
    return dues(session), sorted(e.action for e in session.exec(select(Event)))


def test_waiblingen_on_postgres_matches_sqlite(pg, session):
    assert walk(pg) == walk(session)


def test_refused_transition_changes_nothing_on_postgres(pg):
    walk(pg)
    before = pg.exec(select(Event)).all()
    with pytest.raises(Refused, match="schon geschlossen"):
        services.decide_gate(pg, "waiblingen-2017", "vorlage", outcome="approve",
                           on=dt.date(2017, 12, 15), by="t", reference="BSV 21/2017")  # fmt: skip
    assert pg.exec(select(Event)).all() == before


def test_reminders_go_out_once_on_postgres(pg):
    """The outbox's insert-or-ignore and atomic claim, in PostgreSQL's dialect."""
    services.start(pg, load_scenario(WAIBLINGEN), actor="test")
    with SmtpServer() as server:
        settings = mail.settings_from({
            "LIFECYCLE_SMTP_HOST": "127.0.0.1", "LIFECYCLE_SMTP_PORT": str(server.port),
            "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example",
        })  # fmt: skip
        first = reminders.run_daily(pg, dt.date(2017, 11, 8), settings=settings)
        again = reminders.run_daily(pg, dt.date(2017, 11, 8), settings=settings)
        subjects = [str(m["Subject"]) for m in server.inbox.messages]
    assert first.sent > 0 and "Vorlagenschluss 22.11.2017 für BSV am 06.12.2017" in subjects
    assert (again.planned, again.sent) == (0, 0)
    assert len(subjects) == first.sent


def test_pending_runs_are_listed_oldest_first_whatever_order_the_rows_are_stored_in(pg):
    """PostgreSQL stores an updated row anew after the others and reads the processes in that
    order (a gate decision rewrites its process row); only the ORDER BY keeps the oldest
    request first. SQLite would keep rowid order either way."""
    services.start(pg, load_scenario(WAIBLINGEN), actor="test")
    services.start(pg, load_scenario(EXAMPLES / "voelklingen-2017.yaml"), actor="test")
    first, second = services.pending_runs(pg)
    assert (first.process_key, second.process_key) == ("waiblingen-2017", "voelklingen-2017")
    pg.execute(text("UPDATE fortschreibung SET partner = partner WHERE key = 'waiblingen-2017'"))
    services.note_run_failed(pg, first.id, "Prefect nicht erreichbar")  # commits both
    stored = pg.execute(text("SELECT key FROM fortschreibung")).scalars().all()
    assert stored == ["voelklingen-2017", "waiblingen-2017"]  # the premise: not in id order
    assert [r.id for r in services.pending_runs(pg)] == [first.id, second.id]


def test_a_test_database_is_dropped_while_a_connection_is_still_open():
    """The fixtures' teardown: a connection a test forgot must not leave the database behind."""
    admin_url, name = new_pg_database("lifecycle_test")
    forgotten = create_engine(database_url(admin_url, name)).connect()
    forgotten.execute(text("SELECT 1"))
    drop_database(admin_url, name, tries=2)
    admin = create_engine(admin_url)
    with admin.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar_one()  # fmt: skip
    admin.dispose()
    assert left == 0


def test_queue_rows_counts_what_it_queued_on_postgres(pg, session):
    """psycopg gives -1 as the rowcount of an upsert: the count comes from RETURNING, so the
    reports that read it (oparl sync's "Sitzung abgesagt" and "wieder angesetzt") agree on
    both databases: new rows counted, rows already there not, a row cancelled unsent again."""
    from lifecycle import outbox
    from lifecycle.models import Reminder, ReminderState

    counts = {}
    for name, s in (("postgres", pg), ("sqlite", session)):
        services.start(s, load_scenario(WAIBLINGEN), actor="test")
        planned = reminders.find_due(s, dt.date(2017, 11, 8))
        first = outbox.queue_rows(s, planned)
        again = outbox.queue_rows(s, planned)
        row = s.exec(select(Reminder)).first()
        row.state = ReminderState.cancelled
        s.add(row)
        s.flush()
        revived = outbox.queue_rows(s, planned)
        s.commit()
        counts[name] = (first, again, revived)
    assert counts["postgres"] == counts["sqlite"] == (len(planned), 0, 1)
