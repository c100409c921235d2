"""Benchmark: does a per-process operation cost more in a large installation?

Prints its figures; asserts nothing. Run:

    .venv/bin/python bench/bench_scale.py [--large 2000] [--reminders 200000] [--events 200000]

Two SQLite files built the same way: a small installation (50 Waiblingen processes, no
reminders) and a large one (``--large`` processes, ``--reminders`` sent reminders spread over
their tasks, as years of daily runs leave them, and ``--events`` more entries in the event
log). In each, the web's Übersicht of a user who sees 5 Kommunen, "Meine Aufgaben" of the lead
of their 5 processes, the OParl list of one Body's meetings and the Sitzungsdienst's list of
those 5 Kommunen (every Kommune has Sitzungen of the same keys) are read 40 times; 40 tasks are
completed, 40 first gates decided and 40 stage runs noted (the log holds one for every tenth
logged completion) through the services; the medians are compared. The
small installation is the floor: an operation on one process (or Kommune) should not read the
others' rows, so the ratio should stay near 1. tests/test_query_plans.py checks the plans
behind it. Printed beside them, not compared: the reconcile pass
(``services.request_missing_runs``), which looks at every running process, and OParl's
``/system``, which reads the stamps of every Body.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_write import DECIDE, scenario  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = 40
LED = 5  # processes led by the user of "Meine Aufgaben"


def build(folder: Path, processes: int, reminders: int, events: int = 0) -> tuple[str, list[str]]:
    from sqlmodel import Session

    from lifecycle import services
    from lifecycle.db import engine_for
    from lifecycle.scenario import load_scenario

    url = f"sqlite:///{folder / 'lifecycle.db'}"
    engine = engine_for(url)
    base = load_scenario(ROOT / "examples" / "waiblingen-2017.yaml")
    keys = []
    for i in range(processes):
        sc = scenario(base, i)
        with Session(engine, expire_on_commit=False) as s:
            services.start(s, sc, actor="bench")
        keys.append(sc.key)
    engine.dispose()
    if reminders:
        _sent_reminders(folder / "lifecycle.db", reminders)
    if events:
        _logged_events(folder / "lifecycle.db", events, processes)
    return url, keys


def _logged_events(path: Path, n: int, processes: int) -> None:
    """``n`` completions in the event log, and a Sitzung moved for every tenth."""
    con = sqlite3.connect(path)
    rows = [(1 + i % processes, "2017-05-01 08:00:00", "bench", "task_done", "Task", 1 + i)
            for i in range(n)]  # fmt: skip
    rows += [(1 + i % processes, "2017-05-02 08:00:00", "bench", "sitzung_moved", "Sitzung",
              1 + i % (4 * processes)) for i in range(n // 10)]  # fmt: skip
    con.executemany("INSERT INTO event (fortschreibung_id, at, actor, action, entity, entity_id) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows)  # fmt: skip
    # and a stage run noted by the flows for every tenth: one per stage, as years leave them
    runs = [(1 + i % processes, "2017-05-03 08:00:00", "flows", "stage_run", "Stage",
             1 + i % (5 * processes), f'{{"key": "bench-run-{i}"}}') for i in range(n // 10)]
    con.executemany("INSERT INTO event (fortschreibung_id, at, actor, action, entity, entity_id, "
                    '"after") VALUES (?, ?, ?, ?, ?, ?, ?)', runs)  # fmt: skip
    con.commit()
    con.close()


def _sent_reminders(path: Path, n: int) -> None:
    """``n`` reminders already sent, over the tasks that have an assignee."""
    con = sqlite3.connect(path)
    tasks = con.execute("SELECT id, fortschreibung_id, assignee_id FROM task "
                        "WHERE assignee_id IS NOT NULL").fetchall()  # fmt: skip
    rows = [(pid, f"Erinnerung {j}", "2017-05-01", j, "due", fid, tid, "2017-04-28", "sent",
             "{}", 1, "", "2017-04-28 08:00:00", f"bench-{j}")
            for j, (tid, fid, pid) in ((j, tasks[j % len(tasks)]) for j in range(n))]  # fmt: skip
    con.executemany(
        'INSERT INTO reminder (person_id, subject, deadline, "offset", kind, fortschreibung_id, '
        "task_id, send_on, state, payload, attempts, last_error, created_at, message_uid) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.commit()
    con.close()


def measure(url: str, keys: list[str]) -> dict[str, float]:
    from sqlmodel import Session, col, select

    from lifecycle import services, status
    from lifecycle.db import engine_for
    from lifecycle.models import Fortschreibung, Task
    from lifecycle.oparl.service import Site
    from lifecycle.sitzungsdienst import upcoming_sitzungen
    from lifecycle.web import views

    engine = engine_for(url)
    times: dict[str, list[float]] = {"overview": [], "my_tasks": [], "oparl": [], "complete": [],
                                     "decide": [], "sitzungsdienst": [], "stage_run": [],
                                     "system": []}  # fmt: skip
    body = keys[-1].removesuffix("-2017")  # the Kommune's key (bench_write.scenario)
    with Session(engine) as s:
        lead = _lead_of(s, keys[-LED:])
        own = frozenset(lead.process_kommune.values())
        for _ in range(SAMPLES):
            t0 = time.perf_counter()
            Site(s, "http://localhost/oparl/v1.1").answer(f"body/{body}/meetings", {})
            times["oparl"].append(time.perf_counter() - t0)
            s.expunge_all()
            t0 = time.perf_counter()
            status.overview(s, dt.date(2017, 11, 8), kommune_ids=own)
            times["overview"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            views.my_tasks(s, lead, dt.date(2017, 11, 8))
            times["my_tasks"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()  # every Kommune has Sitzungen of the same keys
            upcoming_sitzungen(s, dt.date(2017, 11, 1), kommune_ids=own)
            times["sitzungsdienst"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()  # installation-wide: printed, not a ROW
            Site(s, "http://localhost/oparl/v1.1").answer("system", {})
            times["system"].append(time.perf_counter() - t0)
    with Session(engine) as s:  # installation-wide, every 15 minutes: printed, not a ROW
        t0 = time.perf_counter()
        services.request_missing_runs(s)
        times["reconcile"] = [time.perf_counter() - t0]
    for key in keys[-SAMPLES:]:
        with Session(engine) as s:
            task_id = s.exec(select(Task.id).join(Fortschreibung).where(
                Fortschreibung.key == key).order_by(col(Task.id))).first()  # fmt: skip
        with Session(engine, expire_on_commit=False) as s:
            t0 = time.perf_counter()
            services.complete_task(s, str(task_id), on=dt.date(2017, 4, 20))
            times["complete"].append(time.perf_counter() - t0)
        with Session(engine, expire_on_commit=False) as s:
            t0 = time.perf_counter()
            services.decide_gate(s, key, "ratsbeschluss", **DECIDE)
            times["decide"].append(time.perf_counter() - t0)
        with Session(engine, expire_on_commit=False) as s:
            t0 = time.perf_counter()
            services.record_stage_run(s, key, "auftaktworkshop", f"{key}:auftaktworkshop:1")
            times["stage_run"].append(time.perf_counter() - t0)
    engine.dispose()
    return {kind: 1000 * statistics.median(t) for kind, t in times.items()}


def _lead_of(session: Any, keys: list[str]) -> Any:
    """A project lead of the processes ``keys`` without a Person row: the web's "Meine
    Aufgaben" then lists the open tasks of those processes."""
    from sqlmodel import col, select

    from lifecycle.access import Principal
    from lifecycle.models import Fortschreibung, GrantRole

    led = session.exec(select(Fortschreibung).where(col(Fortschreibung.key).in_(keys))).all()
    return Principal(user_id=0, name="leitung", display_name="", is_admin=True,
                     process_roles={f.id: frozenset({GrantRole.projektleitung}) for f in led},
                     process_kommune={f.id: f.kommune_id for f in led})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=2000, help="processes, large installation")
    parser.add_argument("--reminders", type=int, default=200_000, help="sent reminders in it")
    parser.add_argument("--events", type=int, default=200_000, help="logged completions in it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as small_dir, tempfile.TemporaryDirectory() as large_dir:
        small = measure(*build(Path(small_dir), SAMPLES + 10, 0))
        large = measure(*build(Path(large_dir), args.large, args.reminders, args.events))
    print(f"small: {SAMPLES + 10} processes, no reminders; large: {args.large} processes, "
          f"{args.reminders} reminders, {args.events} more events; medians of {SAMPLES}")
    print(f"reconcile (a run for every open stage without one): large "
          f"{large['reconcile']:.1f} ms, small {small['reconcile']:.1f} ms")
    print(f"OParl /system (the stamps of every Body): large {large['system']:.1f} ms, "
          f"small {small['system']:.1f} ms")
    for kind, label in (("overview", f"Übersicht of a user who sees {LED} Kommunen (web)"),
                        ("my_tasks", f"Meine Aufgaben of a lead of {LED} processes (web)"),
                        ("oparl", "OParl: one Body's meetings"),
                        ("sitzungsdienst", f"Sitzungsdienst of {LED} Kommunen"),
                        ("complete", "complete a task"), ("decide", "decide a gate"),
                        ("stage_run", "note a stage run (flows)")):
        ratio = large[kind] / small[kind]
        verdict = "OK" if ratio <= 1.5 else "MISS"
        print(f"ROW {label} in the large installation: {large[kind]:.2f} ms | floor (small) "
              f"{small[kind]:.2f} ms | ratio {ratio:.2f}x | goal <= 1.5x | {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
