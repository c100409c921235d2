"""An operation on one process reads that process's rows, not the installation's.

A host with every German municipality keeps ~10 000 processes, their tasks, reminders and
event log in one database. Every statement the per-process operations send (start, complete,
reassign, decide, the Umsetzung's updates, status, a Sitzung's move, a paper's facts) is
explained by SQLite here; none may read a growing table from end to end, nor tasks through
their state alone (all open tasks of all processes). SQLite plans without statistics, so the
plans are the same on this small database as on a large one.

Found this way: a task's lock set its id to itself, and SQLite then read every reminder
(20 ms a completion at 200 000 reminders); a gate's open tasks came through ix_task_state.
Installation-wide reads (the Übersicht of all Kommunen, the daily scan, the OParl export) are
not per process and not checked here; the Übersicht of one Kommune is, and every page a user
of one Kommune opens in the web app.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from lifecycle import replay, services, status
from lifecycle.access import Scope
from lifecycle.doc_context import build_context
from lifecycle.sitzungsdienst import sitzungen_of
from lifecycle.tasks import find_tasks

GROWING = {"task", "stage", "event", "reminder", "sitzung", "sitzungbinding", "beratung",
           "vorlage", "gatedecision", "documentversion", "runrequest", "massnahme", "messung",
           "meilenstein", "person", "termin"}  # fmt: skip
FULL_READ = re.compile(r"^SCAN (\w+)(?! USING (COVERING )?INDEX ix_event_deleted\b)")  # partial
BY_STATE_ALONE = re.compile(r"^SEARCH ((task|reminder) USING (COVERING )?INDEX \w+ \(state=\?\)|"
                            r"event USING (COVERING )?INDEX ix_event_entity \(entity=\?\))$")
SRC = str(Path(__file__).resolve().parent.parent / "src")


@contextmanager
def explained(session: Session | type[Engine]) -> Iterator[dict[str, list[str]]]:
    """Each statement sent meanwhile from the package, with its query plan's lines; on the
    session's engine, or on every engine (``Engine``: the web app opens its own)."""
    plans: dict[str, list[str]] = {}

    def explain(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
        if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
            return
        if statement in plans or not _from_package():
            return
        first = params[0] if executemany and params else params
        rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, first).fetchall()
        plans[statement] = [row[-1] for row in rows]

    engine = session.get_bind() if isinstance(session, Session) else session
    event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        event.remove(engine, "before_cursor_execute", explain)


def _from_package() -> bool:
    import sys

    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(SRC):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def whole_table_reads(plans: dict[str, list[str]]) -> list[str]:
    found = []
    for statement, lines in plans.items():
        for line in lines:
            scan = FULL_READ.match(line)
            if (scan and scan.group(1) in GROWING) or BY_STATE_ALONE.match(line):
                found.append(f"{line}  <-  {' '.join(statement.split())[:200]}")
    return found


def test_per_process_operations_read_only_their_own_rows(session, waiblingen):
    with explained(session) as plans:
        services.reassign_task(session, "1", to="raible", actor="test")
        services.preview_move_sitzung(session, "bsv-2017-12-06", dt.date(2017, 12, 13),
                                      actor="sd")  # fmt: skip
        services.move_sitzung(session, "bsv-2017-12-06", dt.date(2017, 12, 13), actor="sd")
        status.process_status(session, waiblingen, dt.date(2017, 11, 8))
        # the Übersicht of a user who sees one Kommune, and of one filtered by its key
        status.overview(session, dt.date(2017, 11, 8), kommune_ids=frozenset({
            waiblingen.kommune_id}))  # fmt: skip
        status.overview(session, dt.date(2017, 11, 8), kommune="waiblingen")
        # ... of a project lead of one process, and of one with a Kommune besides
        for kommunen in (frozenset(), frozenset({waiblingen.kommune_id + 1})):
            status.overview(session, dt.date(2017, 11, 8),
                            scope=Scope(kommunen, frozenset({waiblingen.id})))  # fmt: skip
        replay.run(session, waiblingen)  # every completion and decision; the Umsetzung begins
        services.update_massnahme(session, waiblingen.key, "integrationslotsen",
                                  {"status": "erledigt"}, actor="test", on=dt.date(2018, 3, 1))
        sitzungen_of(session, [waiblingen.id])
        # `lifecycle tasks --person`: the person by key, then their tasks through their index
        find_tasks(session, today=dt.date(2017, 11, 8), person="ortolf", include_done=True)
        find_tasks(session, today=dt.date(2017, 11, 8), person="ortolf", overdue=True)
        # a stage run's note (flows): once per key, looked up in that stage's own history
        services.record_stage_run(session, waiblingen.key, "ratsbeschluss", "run-1")
        for kind in ("sitzungsvorlage", "abschlussbericht", "ag_protokoll"):
            build_context(session, waiblingen, kind)
    assert len(plans) > 40, sorted(plans)  # the listener saw the operations' statements
    assert whole_table_reads(plans) == []


def test_the_check_sees_a_whole_table_read(session, waiblingen):
    """The check itself: a task's lock that sets its id to itself reads every reminder."""
    with explained(session) as plans:
        session.connection().exec_driver_sql("UPDATE task SET id = id WHERE id = 1")
        status.process_status(session, waiblingen, dt.date(2017, 11, 8))
    session.rollback()
    assert not any("UPDATE task" in s for s in plans)  # sent from the test, not the package
    with explained(session) as plans:
        services.complete_task(session, "1", on=dt.date(2017, 4, 20))
    assert whole_table_reads(plans) == []
    plans = {"UPDATE task SET id=task.id WHERE task.id = ?": [
        "SEARCH task USING INTEGER PRIMARY KEY (rowid=?)", "SCAN reminder"]}  # fmt: skip
    assert whole_table_reads(plans) == [
        "SCAN reminder  <-  UPDATE task SET id=task.id WHERE task.id = ?"]


def test_the_pages_of_one_kommune_read_only_its_rows(db_url):
    """The web app as a project lead, the Sitzungsdienst and a viewer of Waiblingen use it."""
    from web_support import client_for, make_app

    app, process = make_app(db_url), "/prozess/waiblingen-2017"
    pages = {
        "ortolf": ["/", process, "/aufgaben", f"{process}/massnahmen",
                   f"{process}/vorlage/vorlage", f"{process}/massnahmen.csv"],
        "sd": ["/", "/sitzungsdienst", "/sitzungen/waiblingen/bsv-2017-12-06/verlegen"],
        "gast": ["/", process],
        None: [f"/oparl/v1.1/body/waiblingen{rest}" for rest in (  # the public API
            "", "/meetings", "/papers", "/organizations", "/people", "/legislative-terms")]
        + ["/oparl/v1.1/system", "/oparl/v1.1/bodies"],  # every Body, but none of its objects
    }  # fmt: skip
    for user, paths in pages.items():
        client = client_for(app, user)
        with explained(Engine) as plans:
            assert [client.get(path).status_code for path in paths] == [200] * len(paths)
        assert len(plans) > 5, (user, sorted(plans))
        assert whole_table_reads(plans) == [], user


def test_a_sync_from_a_ris_reads_only_its_kommunes_rows(tmp_path, session, waiblingen,
                                                        monkeypatch):  # fmt: skip
    """`oparl sync` of one Kommune: its links to the RIS come from its own rows' history."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")  # the RIS is on loopback
    from test_oparl_sync import serving
    from web_support import make_app

    from lifecycle.oparl.sync import sync

    ris = make_app(f"sqlite:///{tmp_path / 'ris.db'}")
    with serving(ris) as base, explained(session) as plans:
        sync(session, f"{base}/oparl/v1.1/system", "waiblingen", today=dt.date(2017, 11, 15))
    assert any("FROM event" in statement for statement in plans)
    assert whole_table_reads(plans) == []
