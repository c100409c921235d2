"""Benchmark of the reminder scan and of SMTP delivery (issue 15). Prints figures and ROW lines.

1. Finding what is due on one day among N tasks (default 1 000 000 on SQLite, populated in
   ~35-60 s): the full scan (``reminders.find_due``: policies, working-day windows, joins on
   stage and process state, recipients, payloads) against its floor, a bare indexed SELECT of
   the same due ranges; medians of 5 interleaved runs of each, the ratio from the same run.
2. M reminders (default 2 000) of open tasks delivered to an aiosmtpd server on loopback,
   running in its own process as a mail server would: messages/second for the whole delivery
   (claim, obsolete check, render, .ics, SMTP, record), and the connections the server saw.

    .venv/bin/python bench/bench_reminders.py [--tasks 1000000] [--mails 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
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


def bench_scan(url: str, repeat: int = 5) -> None:
    """Medians of ``repeat`` runs of each side, interleaved, so both see the same page cache."""
    ranges = _ranges()
    scans, bares = [], []
    with Session(engine_for(url)) as session:
        n = session.execute(text("SELECT count(*) FROM task")).scalar()
        # warm-up on another day: imports, holiday tables, schema compilation
        reminders.find_due(session, TODAY - dt.timedelta(days=7))
        for i in range(repeat):
            for side in ("scan", "bare") if i % 2 == 0 else ("bare", "scan"):
                session.expunge_all()
                t0 = time.perf_counter()
                if side == "scan":
                    found = reminders.find_due(session, TODAY)
                    scans.append(time.perf_counter() - t0)
                else:
                    rows = sum(len(_bare(session, *r)) for r in ranges)
                    bares.append(time.perf_counter() - t0)
    t_scan, t_bare = statistics.median(scans), statistics.median(bares)
    ratio = t_scan / t_bare
    print(
        f"scan of {n:,} tasks for {TODAY}: {len(found):,} reminders in {t_scan * 1000:.1f} ms; "
        f"bare indexed SELECT of the same due ranges ({rows:,} rows) {t_bare * 1000:.1f} ms "
        f"(medians of {repeat}, interleaved)"
    )
    print(
        f"ROW reminder scan ({n:,} tasks".replace(",", " ")
        + f", one day): {t_scan * 1000:.1f} ms | floor {t_bare * 1000:.1f} ms | "
        f"ratio {ratio:.2f}x | goal <= 2x | {'OK' if ratio <= 2 else 'MISS'}"
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


# The loopback server runs in its own process, as a mail server does: in this process it
# would compete with the delivery for the interpreter lock. It prints its port, then, for
# every line on stdin, "messages connections" (connections: distinct client ports).
SERVER = """
import sys
from aiosmtpd.controller import Controller
sys.path.insert(0, sys.argv[1])
from smtp_server import free_port

class Handler:
    def __init__(self):
        self.count, self.peers = 0, set()

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        self.peers.add(session.peer)
        return "250 Message accepted for delivery"

handler = Handler()
controller = Controller(handler, hostname="127.0.0.1", port=free_port())
controller.start()
print(controller.port, flush=True)
for _ in sys.stdin:
    print(handler.count, len(handler.peers), flush=True)
controller.stop()
"""


class LoopbackServer:
    def __enter__(self) -> LoopbackServer:
        tests = str(Path(__file__).resolve().parent.parent / "tests")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, tests],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def counts(self) -> tuple[int, int]:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        messages, connections = self.proc.stdout.readline().split()
        return int(messages), int(connections)

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)

    def env(self) -> dict[str, str]:
        return {
            "LIFECYCLE_SMTP_HOST": "127.0.0.1",
            "LIFECYCLE_SMTP_PORT": str(self.port),
            "LIFECYCLE_SMTP_SECURITY": "none",
            "LIFECYCLE_MAIL_FROM": "fristen@bench.example",
        }


def bench_delivery(url: str, n_mails: int) -> None:
    with Session(engine_for(url)) as session:
        session.execute(text("DELETE FROM reminder"))
        people = session.execute(text("SELECT count(*) FROM person")).scalar()
        # open tasks due in the coming weeks: the rows stay deliverable (not obsolete)
        tasks = session.execute(
            text(
                "SELECT id, fortschreibung_id, assignee_id, title, key, due FROM task"
                " WHERE state = 'open' AND due > :lo AND assignee_id IS NOT NULL"
                " ORDER BY due LIMIT :n"
            ),
            {"lo": (TODAY + dt.timedelta(days=10)).isoformat(), "n": n_mails},
        ).all()
        assert tasks and people
        rows = []
        for i in range(n_mails):
            tid, pid, person, title, key, due = tasks[i % len(tasks)]
            payload = {"process": f"proc-{pid}", "kommune": "bench", "task_key": key,
                       "task_title": f"{title}: Größe prüfen", "due": due,
                       "days": 10}  # fmt: skip
            rows.append({"p": person, "s": f"task:{tid}:{i}", "t": tid, "f": pid,
                         "due": due, "d": TODAY.isoformat(),
                         "payload": json.dumps(payload), "uid": f"bench{i:08d}",
                         "now": dt.datetime.now(dt.UTC).isoformat()})  # fmt: skip
        session.execute(
            text(
                "INSERT INTO reminder (person_id, subject, deadline, offset, kind, task_id,"
                " fortschreibung_id, send_on, state, payload, attempts, last_error, created_at,"
                " message_uid) VALUES (:p, :s, :due, 10, 'due', :t, :f, :d, 'planned',"
                " :payload, 0, '', :now, :uid)"
            ),
            rows,
        )
        session.commit()
        with LoopbackServer() as server:
            settings = mail.settings_from(server.env())
            t0 = time.perf_counter()
            done = outbox.deliver(session, TODAY, settings)
            elapsed = time.perf_counter() - t0
            arrived, connections = server.counts()
    rate = len(done.sent) / elapsed
    print(
        f"delivery: {len(done.sent):,} reminders sent ({len(done.failed)} failed,"
        f" {len(done.cancelled)} cancelled), {arrived:,} arrived at the loopback SMTP server"
        f" over {connections} connection(s) in {elapsed:.2f} s"
        " (claim + obsolete check + render + .ics + SMTP + record, each row committed)"
    )
    print(
        f"ROW reminder delivery (loopback SMTP): {rate:.0f} msg/s | goal >= 500 msg/s | "
        f"{'OK' if rate >= 500 else 'MISS'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--mails", type=int, default=2_000)
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
