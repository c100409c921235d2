"""Benchmark of the engine core (issue "Engine core"). Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_core.py [--processes 10000]

1. `python -c "import sqlmodel"` as the baseline of any process that touches the database;
2. `lifecycle status PROCESS` wall time with 1 process in the database;
3. `lifecycle status` (overview) and `lifecycle status PROCESS` with N processes, one per
   municipality, ~50 tasks each (cloned from the Waiblingen scenario by SQL, ids offset);
4. recomputing every deadline of those N processes after a holiday-calendar change.
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

from lifecycle import engine  # noqa: E402
from lifecycle.db import engine_for  # noqa: E402
from lifecycle.models import Task  # noqa: E402
from lifecycle.scenario import load_scenario  # noqa: E402

SKIP = {"event", "gatedecision", "alembic_version"}
UNIQUE_TEXT = {"kommune": "key", "fortschreibung": "key"}


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
    tables = [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIP]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
    db_path = tmp / "bench.db"
    url = f"sqlite:///{db_path}"
    env = os.environ | {"LIFECYCLE_DATABASE_URL": url, "COLUMNS": "120"}
    py = sys.executable
    status = [py, "-m", "lifecycle", "status", "--today", "2017-11-08"]

    report("baseline  python -c 'import sqlmodel'", wall([py, "-c", "import sqlmodel"], env))
    report("baseline  python -c 'import prefect'", wall([py, "-c", "import prefect"], env, 3))
    with Session(engine_for(url)) as s:
        engine.start(s, load_scenario(ROOT / "examples/waiblingen-2017.yaml"), actor="bench")
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
        changed = engine.recompute_all(s, actor="bench", reason="holiday calendar changed")
        elapsed = time.perf_counter() - t0
    print(
        f"  recompute all deadlines after a holiday change {elapsed:6.2f} s "
        f"({changed} due dates changed, {1000 * elapsed / args.processes:.2f} ms per process)"
    )


if __name__ == "__main__":
    main()
