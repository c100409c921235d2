"""Benchmark of the reminder scan and of SMTP delivery. Prints figures; asserts nothing.

1. Finding what is due on one day among N tasks (default 1 000 000, SQLite): the full scan
   (``reminders.find_due``: policy, working-day ranges, joins on stage and process state,
   recipients) against a bare indexed SELECT of the same rows, as a ratio measured in one run.
2. M reminders (default 1 000) delivered to an aiosmtpd server on loopback: messages/second.

    .venv/bin/python bench/bench_reminders.py [--tasks 1000000] [--mails 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from lifecycle import mail, outbox, reminders
from lifecycle.calendar import for_bundesland
from lifecycle.db import engine_for
from lifecycle.plan import load_plan


def _test_helper(name: str):
    """A helper module of tests/ (the SMTP test server), loaded from its file."""
    path = Path(__file__).resolve().parent.parent / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


SmtpServer = _test_helper("smtp_server").SmtpServer

TODAY = dt.date(2024, 3, 13)  # a Wednesday
TASKS_PER_PROCESS = 1000


def populate(url: str, n_tasks: int) -> None:
    engine = engine_for(url)
    plan = json.dumps(_plan())
    n_proc = max(1, n_tasks // TASKS_PER_PROCESS)
    start = TODAY - dt.timedelta(days=365 * 2)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            "INSERT INTO kommune (id, key, name, bundesland, closing_days) "
            "VALUES (1, 'bench', 'Benchstadt', 'BW', '[]')"
        )
        cur.execute("INSERT INTO konzept (id, kommune_id, title, kind) VALUES (1, 1, 'K', 'k')")
        cur.executemany(
            "INSERT INTO person (id, kommune_id, key, name, email, fachbereich, funktion) "
            "VALUES (?, 1, ?, ?, ?, '', '')",
            [(i, f"p{i}", f"Person {i}", f"p{i}@bench.example") for i in range(1, n_proc + 1)],
        )
        cur.executemany(
            "INSERT INTO fortschreibung (id, key, kommune_id, konzept_id, plan_name, plan,"
            " scenario, started_on, state, partner, partner_contact, funding_source, budget_note)"
            " VALUES (?, ?, 1, 1, 'integrationskonzept', ?, '{}', ?, 'running', '', '', '', '')",
            [(i, f"proc-{i}", plan, start.isoformat()) for i in range(1, n_proc + 1)],
        )
        cur.executemany(
            "INSERT INTO role (fortschreibung_id, person_id, role) VALUES (?, ?, 'projektleitung')",
            [(i, i) for i in range(1, n_proc + 1)],
        )
        cur.executemany(
            "INSERT INTO stage (id, fortschreibung_id, key, title, position, state) "
            "VALUES (?, ?, 's', 'S', 0, 'open')",
            [(i, i) for i in range(1, n_proc + 1)],
        )
        cur.executemany(
            "INSERT INTO task (fortschreibung_id, stage_id, key, title, role, assignee_id,"
            " required, anchor_kind, anchor_ref, offset, offset_unit, due, state, position)"
            " VALUES (?, ?, ?, ?, 'projektleitung', ?, 1, 'stage_start', '', 0, 'days', ?, ?, 0)",
            _task_rows(n_tasks, n_proc, start),
        )
        raw.commit()
    finally:
        raw.close()


def _plan() -> dict:
    return dict(load_plan("integrationskonzept").data)


def _task_rows(n_tasks: int, n_proc: int, start: dt.date):
    span = 365 * 4  # due dates spread over four years around TODAY
    for i in range(n_tasks):
        proc = i % n_proc + 1
        due = start + dt.timedelta(days=(i * 7919) % span)
        state = "done" if i % 4 == 0 else "open"
        yield (proc, proc, f"t{i}", f"Aufgabe {i}", proc, due.isoformat(), state)


def bench_scan(url: str, repeat: int = 3) -> None:
    """Best of ``repeat`` for each side, alternating, so both see the same page cache."""
    ranges = _ranges()
    scans, bares = [], []
    with Session(engine_for(url)) as session:
        n = session.execute(text("SELECT count(*) FROM task")).scalar()
        # warm-up on another day: imports, holiday tables, schema compilation
        reminders.find_due(session, TODAY - dt.timedelta(days=7))
        for _ in range(repeat):
            session.expunge_all()
            t0 = time.perf_counter()
            found = reminders.find_due(session, TODAY)
            scans.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rows = sum(len(_bare(session, *r)) for r in ranges)
            bares.append(time.perf_counter() - t0)
    t_scan, t_bare = min(scans), min(bares)
    print(
        f"scan of {n:,} tasks for {TODAY}: {len(found):,} reminders in {t_scan * 1000:.1f} ms; "
        f"bare indexed SELECT of the same due ranges ({rows:,} rows) {t_bare * 1000:.1f} ms; "
        f"ratio {t_scan / t_bare:.1f}x (best of {repeat})"
    )


def _bare(session: Session, lo: str, hi: str, closed_lo: bool) -> list:
    op = ">=" if closed_lo else ">"
    sql = f"SELECT id, assignee_id, due FROM task WHERE due {op} :lo AND due <= :hi"
    return session.execute(text(sql), {"lo": lo, "hi": hi}).all()


def _ranges() -> list[tuple[str, str, bool]]:
    cal = for_bundesland("BW")
    window = reminders._window(cal, TODAY)
    out = []
    for offset in reminders.Policy().before_due:
        lo, hi = reminders._due_range(cal, window, offset)
        out.append((lo.isoformat(), hi.isoformat(), False))
    esc_lo = cal.add_working_days(window[0], -1)
    out.append((esc_lo.isoformat(), (window[-1] - dt.timedelta(days=1)).isoformat(), True))
    return out


def bench_delivery(url: str, n_mails: int) -> None:
    with Session(engine_for(url)) as session:
        session.execute(text("DELETE FROM reminder"))
        people = session.execute(text("SELECT count(*) FROM person")).scalar()
        payload = json.dumps(
            {
                "process": "proc-1",
                "kommune": "bench",
                "task_key": "t1",
                "task_title": "Aufgabe für Größenmessung",
                "due": "2024-03-27",
                "days": 10,
            }
        )
        session.execute(
            text(
                "INSERT INTO reminder (person_id, subject, deadline, offset, kind,"
                " fortschreibung_id, send_on, state, payload, attempts, last_error, created_at,"
                " message_uid) VALUES (:p, :s, '2024-03-27', 10, 'due', 1, :d, 'planned',"
                " :payload, 0, '', :now, :uid)"
            ),
            [
                {
                    "p": 1 + i % people,
                    "s": f"bench:{i}",
                    "d": TODAY.isoformat(),
                    "payload": payload,
                    "now": dt.datetime.now(dt.UTC).isoformat(),
                    "uid": f"bench{i:08d}",
                }
                for i in range(n_mails)
            ],
        )
        session.commit()
        with SmtpServer() as server:
            settings = mail.settings_from(server.env())
            t0 = time.perf_counter()
            done = outbox.deliver(session, TODAY, settings)
            elapsed = time.perf_counter() - t0
            arrived = len(server.inbox)
    print(
        f"delivery: {len(done.sent):,} reminders sent, {arrived:,} arrived at the loopback SMTP "
        f"server in {elapsed:.2f} s: {len(done.sent) / elapsed:.0f} messages/s "
        "(claim + render + .ics + SMTP + record, one connection)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--mails", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        populate(url, args.tasks)
        print(f"populated {args.tasks:,} tasks in {time.perf_counter() - t0:.1f} s")
        bench_scan(url)
        bench_delivery(url, args.mails)


if __name__ == "__main__":
    main()
