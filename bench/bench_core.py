"""Benchmark of the engine core (issue "Engine core"). Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_core.py [--processes 10000]

1. `python -c "import sqlmodel"` as the baseline of any process that touches the database;
2. `lifecycle status PROCESS` wall time with 1 process in the database;
3. `lifecycle status` (overview) and `lifecycle status PROCESS` with N processes, one per
   municipality, ~50 tasks each (cloned from the Waiblingen scenario by SQL, ids offset);
4. recomputing every deadline of those N processes after a holiday-calendar change;
5. decide and reschedule through the services (one transaction with the run request and the
   "Sitzung verlegt" messages) against the same transitions the way they ran before the
   services layer (the engine's transition committed alone, the messages in a second commit):
   for one process, and for one Sitzung shared by 1 000 processes.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, SQLModel, select  # noqa: E402

from lifecycle import engine, lookups, models, reminders, services  # noqa: E402
from lifecycle.db import engine_for  # noqa: E402
from lifecycle.models import Task  # noqa: E402
from lifecycle.scenario import load_scenario  # noqa: E402

SKIP = {"event", "gatedecision", "alembic_version"}
UNIQUE_TEXT = {"kommune": "key", "fortschreibung": "key", "runrequest": "key"}


def wall(cmd: list[str], env: dict, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(label: str, seconds: float) -> None:
    print(f"{label:<48} {seconds:6.2f} s")


def clone(db_path: Path, copies: int) -> None:
    """Copy process 1 (and its Kommune) ``copies`` times with every id offset by a stride."""
    con = sqlite3.connect(db_path)
    models.load_all()
    # the tables of a process's rows: keyed by id (not the login failures, keyed by name)
    tables = [t for t in SQLModel.metadata.sorted_tables
              if t.name not in SKIP and "id" in t.columns]
    stride = {
        t.name: con.execute(f'SELECT coalesce(max(id), 0) FROM "{t.name}"').fetchone()[0]
        for t in tables
    }
    for table in tables:
        cols = [c.name for c in table.columns]
        refs = {
            c.name: next(iter(c.foreign_keys)).column.table.name
            for c in table.columns
            if c.foreign_keys
        }
        if table.name == "fortschreibung":
            refs["current_stage_id"] = "stage"
        quoted = ", ".join(f'"{c}"' for c in cols)
        rows = con.execute(f'SELECT {quoted} FROM "{table.name}"').fetchall()
        batch = []
        for i in range(1, copies + 1):
            for row in rows:
                values = list(row)
                for j, name in enumerate(cols):
                    if name == "id":
                        values[j] += i * stride[table.name]
                    elif name in refs and values[j] is not None:
                        values[j] += i * stride[refs[name]]
                    elif UNIQUE_TEXT.get(table.name) == name:
                        values[j] = f"{values[j]}-{i:05d}"
                batch.append(values)
        marks = ", ".join("?" * len(cols))
        con.executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', batch)
    con.commit()
    con.close()


D = __import__("datetime").date
SHARED = "waiblingen:bsv-2017-12-06"  # the clones have a Sitzung of that key each


def median_ms(fn, runs: int) -> float:
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def decide_and_reschedule(tmp: Path, processes: int, runs: int = 15) -> None:
    """Services vs the old two-step path, on a database of ``processes`` processes."""
    db_path = tmp / f"services-{processes}.db"
    url = f"sqlite:///{db_path}"
    with Session(engine_for(url)) as s:
        services.start(s, load_scenario(ROOT / "examples/waiblingen-2017.yaml"), actor="bench")
    clone(db_path, max(processes - 1, 2 * runs))
    # One BSV Sitzung for all: every process's Vorberatung is bound to the first one.
    con = sqlite3.connect(db_path)
    first = con.execute("SELECT id FROM sitzung WHERE key = 'bsv-2017-12-06' "
                        "ORDER BY id LIMIT 1").fetchone()[0]  # fmt: skip
    con.execute("UPDATE sitzungbinding SET sitzung_id = ? WHERE name = 'vorlage_vorberatung' "
                f"AND fortschreibung_id <= {processes}", (first,))  # fmt: skip
    con.commit()
    con.close()
    keys = [f"waiblingen-2017-{i:05d}" for i in range(1, 2 * runs + 1)]
    approve = dict(outcome="approve", on=D(2017, 4, 27), by="sitzungsdienst",
                   reference="BSV 3/2017", force_reason="bench")  # fmt: skip
    days = [D(2017, 12, 13), D(2017, 12, 6)]
    moves = iter(range(10**6))  # alternate the day across both paths: each move is a real move

    with Session(engine_for(url), expire_on_commit=False) as s:
        def decide_services(i: int) -> None:
            services.decide_gate(s, keys[2 * i], "ratsbeschluss", **approve)

        def decide_before(i: int) -> None:
            process = lookups.get_process(s, keys[2 * i + 1], scenario=False)
            engine.decide_gate(s, process, "ratsbeschluss", reference="BSV 3/2017", remarks="",
                               force_reason="bench", postpone_to=None, reopen=(),
                               outcome="approve", on=D(2017, 4, 27), by="sitzungsdienst")
            s.commit()

        def move_services(i: int) -> None:
            services.move_sitzung(s, SHARED, days[next(moves) % 2], actor="bench",
                                  today=D(2017, 11, 8))  # fmt: skip

        def move_before(i: int) -> None:
            move = engine.move_sitzung(s, SHARED, days[next(moves) % 2], actor="bench")
            s.commit()
            reminders.on_sitzung_moved(s, move, today=D(2017, 11, 8))
            s.commit()

        label = "1 process" if processes == 1 else f"1 Sitzung shared by {processes} processes"
        print(f"decide and reschedule, {label} (median of {runs}):")
        for name, new, old, n in (("decide a gate", decide_services, decide_before, runs),
                                  ("reschedule the Sitzung", move_services, move_before,
                                   runs if processes == 1 else 4)):  # fmt: skip
            after_ms, before_ms = median_ms(new, n), median_ms(old, n)
            print(f"  {name:<28} services {after_ms:8.1f} ms   before {before_ms:8.1f} ms   "
                  f"ratio {after_ms / before_ms:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=10_000)
    parser.add_argument("--only-services", action="store_true", help="only part 5")
    args = parser.parse_args()
    if args.only_services:
        tmp = Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
        decide_and_reschedule(tmp, 1)
        decide_and_reschedule(tmp, 1000)
        return
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
    db_path = tmp / "bench.db"
    url = f"sqlite:///{db_path}"
    env = os.environ | {"LIFECYCLE_DATABASE_URL": url, "COLUMNS": "120"}
    py = sys.executable
    status = [py, "-m", "lifecycle", "status", "--today", "2017-11-08"]

    report("baseline  python -c 'import sqlmodel'", wall([py, "-c", "import sqlmodel"], env))
    report("baseline  python -c 'import prefect'", wall([py, "-c", "import prefect"], env, 3))
    with Session(engine_for(url)) as s:
        services.start(s, load_scenario(ROOT / "examples/waiblingen-2017.yaml"), actor="bench")
        tasks_per_process = s.exec(select(func.count()).select_from(Task)).one()
    print(f"1 process ({tasks_per_process} tasks)")
    report("  lifecycle status waiblingen-2017", wall([*status, "waiblingen-2017"], env))

    t0 = time.perf_counter()
    clone(db_path, args.processes - 1)
    print(
        f"{args.processes} processes, {args.processes * tasks_per_process} tasks "
        f"(cloned in {time.perf_counter() - t0:.1f} s, {db_path.stat().st_size / 2**20:.0f} MiB)"
    )
    report("  lifecycle status (overview)", wall(status, env))
    middle = f"waiblingen-2017-{args.processes // 2:05d}"
    report(f"  lifecycle status {middle}", wall([*status, middle], env))

    # A holiday-calendar change: every Rathaus closes on 27.11.2017 (in the BSV's count).
    con = sqlite3.connect(db_path)
    con.execute("""UPDATE kommune SET closing_days = '["2017-11-27"]'""")
    con.commit()
    con.close()
    with Session(engine_for(url)) as s:
        t0 = time.perf_counter()
        changed = services.recompute_all(s, actor="bench", reason="holiday calendar changed")
        elapsed = time.perf_counter() - t0
    print(
        f"  recompute all deadlines after a holiday change {elapsed:6.2f} s "
        f"({changed} due dates changed, {1000 * elapsed / args.processes:.2f} ms per process)"
    )
    decide_and_reschedule(tmp, 1)
    decide_and_reschedule(tmp, 1000)


if __name__ == "__main__":
    main()
