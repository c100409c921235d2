"""Benchmark of the write path (issue 15): start, complete, decide through the services.

    .venv/bin/python bench/bench_write.py [--n 25] [--tasks 7]

On an SQLite file database, each operation runs through ``lifecycle.services`` in its own
session, as the CLI does. The floor is measured in the same run, interleaved with the
operation: the very rows the operation wrote (read back from the database: new rows and
changed columns) are written into a mirror database of the same schema with plain
``sqlite3`` executemany in one transaction and committed.

- start one Waiblingen process (``examples/waiblingen-2017.yaml``, a new Kommune each time, so
  every row is new): floor = the same rows inserted with executemany, one transaction;
- complete a task: floor = the same task UPDATE + event INSERT + commit;
- decide a gate (approve the first stage, which opens the next and moves its deadlines):
  floor = the same rows written directly (inserts and updates), one transaction.

Prints medians and one ``ROW`` line per row of the issue's table.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

GOALS = {"start": 5.0, "complete": 10.0, "decide": 10.0}
LABELS = {
    "start": "start one Waiblingen process",
    "complete": "complete a task",
    "decide": "decide a gate",
}
DECIDE = {"outcome": "approve", "on": dt.date(2017, 4, 27), "by": "sitzungsdienst",
          "reference": "BSV 3/2017", "force_reason": "Benchmark"}  # fmt: skip


def scenario(base: Any, i: int) -> Any:
    from lifecycle.scenario import Scenario

    data = copy.deepcopy(base.data)
    data["key"] = f"bench-{i:04d}-2017"
    data["kommune"]["key"], data["kommune"]["name"] = f"bench-{i:04d}", f"Bench {i}"
    return Scenario(base.source, data, base.plan)


class Mirror:
    """Reads what an operation wrote to the engine's database and writes it to the floor's."""

    def __init__(self, engine_db: Path, floor_db: Path):
        self.src = sqlite3.connect(engine_db, isolation_level=None)
        self.dst = sqlite3.connect(floor_db, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self.dst.execute(f"PRAGMA {pragma}")
        names = [r[0] for r in self.src.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'alembic_version'")]  # fmt: skip
        from sqlmodel import SQLModel

        import lifecycle.models

        lifecycle.models.load_all()  # every table, for their dependency order

        order = [t.name for t in SQLModel.metadata.sorted_tables if t.name in names]
        self.tables = order + [n for n in names if n not in order]
        self.columns = {
            t: [r[1] for r in self.src.execute(f'PRAGMA table_info("{t}")')] for t in self.tables
        }
        # the rows an operation writes are found by id; a table without one (the login
        # failures, keyed by name) is no part of start, complete or decide
        self.tables = [t for t in self.tables if "id" in self.columns[t]]

    def max_ids(self) -> dict[str, int]:
        return {
            t: self.src.execute(f'SELECT coalesce(max(id), 0) FROM "{t}"').fetchone()[0]
            for t in self.tables
        }

    def rows_from(self, first: dict[str, int]) -> dict[str, dict[int, tuple]]:
        """Every row with an id above ``first`` (the rows of the processes started after)."""
        out = {}
        for t in self.tables:
            cols = ", ".join(f'"{c}"' for c in self.columns[t])
            rows = self.src.execute(f'SELECT {cols} FROM "{t}" WHERE id > ?', (first[t],))
            out[t] = {r[0]: r for r in rows}
        return out

    def diff(
        self, before: dict[str, dict[int, tuple]], after: dict[str, dict[int, tuple]]
    ) -> list[tuple[str, list[tuple]]]:
        """The statements that turn ``before`` into ``after``: (SQL, parameter rows)."""
        work: list[tuple[str, list[tuple]]] = []
        for t in self.tables:
            cols = self.columns[t]
            new = [r for i, r in after[t].items() if i not in before[t]]
            if new:
                marks = ", ".join("?" * len(cols))
                quoted = ", ".join(f'"{c}"' for c in cols)
                work.append((f'INSERT INTO "{t}" ({quoted}) VALUES ({marks})', new))
            changed: dict[tuple[str, ...], list[tuple]] = {}
            for i, row in after[t].items():
                old = before[t].get(i)
                if old is None or old == row:
                    continue
                names = tuple(c for c, a, b in zip(cols, old, row, strict=True) if a != b)
                values = tuple(v for c, v in zip(cols, row, strict=True) if c in names)
                changed.setdefault(names, []).append((*values, i))
            for names, params in changed.items():
                sets = ", ".join(f'"{c}" = ?' for c in names)
                work.append((f'UPDATE "{t}" SET {sets} WHERE id = ?', params))
        return work

    def write(self, work: list[tuple[str, list[tuple]]]) -> float:
        """Seconds to write ``work`` in one transaction with executemany, commit included."""
        t0 = time.perf_counter()
        self.dst.execute("BEGIN")
        for sql, params in work:
            self.dst.executemany(sql, params)
        self.dst.execute("COMMIT")
        return time.perf_counter() - t0


def run(n: int, tasks_per_process: int) -> dict[str, tuple[list[float], list[float]]]:
    from sqlmodel import Session, select

    from lifecycle import services
    from lifecycle.db import engine_for
    from lifecycle.models import Stage, Task
    from lifecycle.scenario import load_scenario

    tmp = Path(tempfile.mkdtemp(prefix="bench-write-"))
    engine_db, floor_db = tmp / "engine.db", tmp / "floor.db"
    engine = engine_for(f"sqlite:///{engine_db}")
    engine.dispose()
    shutil.copy(engine_db, floor_db)  # the same schema, empty
    mirror = Mirror(engine_db, floor_db)
    base = load_scenario(ROOT / "examples" / "waiblingen-2017.yaml")
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in GOALS}
    rows_written: dict[str, list[int]] = {k: [] for k in GOALS}

    def measured(kind: str, first: dict[str, int], action: Any) -> Any:
        before = mirror.rows_from(first)
        t0 = time.perf_counter()
        result = action()
        times[kind][0].append(time.perf_counter() - t0)
        work = mirror.diff(before, mirror.rows_from(first))
        rows_written[kind].append(sum(len(p) for _, p in work))
        times[kind][1].append(mirror.write(work))
        return result

    try:
        scenarios = [scenario(base, i) for i in range(n)]
        for i, sc in enumerate(scenarios):
            first = mirror.max_ids()

            def start(sc: Any = sc) -> None:
                with Session(engine, expire_on_commit=False) as s:
                    services.start(s, sc, actor="bench")

            measured("start", first, start)
            with Session(engine) as s:
                stage = s.exec(select(Stage).where(Stage.key == "ratsbeschluss",
                                                   Stage.id > first["stage"])).one()  # fmt: skip
                ids = s.exec(select(Task.id).where(Task.stage_id == stage.id)
                             .order_by(Task.position)).all()  # fmt: skip
            for task_id in ids[:tasks_per_process]:

                def complete(task_id: int | None = task_id) -> None:
                    with Session(engine, expire_on_commit=False) as s:
                        services.complete_task(s, str(task_id), on=dt.date(2017, 4, 20))

                measured("complete", first, complete)

            def decide(key: str = sc.key) -> None:
                with Session(engine, expire_on_commit=False) as s:
                    services.decide_gate(s, key, "ratsbeschluss", **DECIDE)

            measured("decide", first, decide)
            if i == 0:
                print("rows written: " + ", ".join(
                    f"{k} {v[0]}" for k, v in rows_written.items()))  # fmt: skip
    finally:
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=25, help="processes started (one Kommune each)")
    parser.add_argument("--tasks", type=int, default=7,
                        help="tasks completed per process (of the first stage)")  # fmt: skip
    args = parser.parse_args(argv)
    times = run(args.n, args.tasks)
    print(f"n={args.n} processes, {args.tasks} completions each, SQLite file, medians")
    for kind, goal in GOALS.items():
        measured, floor = times[kind]
        # the first start pays SQLAlchemy's mapper configuration and statement compilation
        if kind == "start" and len(measured) > 3:
            measured, floor = measured[1:], floor[1:]
        m, f = statistics.median(measured) * 1000, statistics.median(floor) * 1000
        ratio = m / f
        verdict = "OK" if ratio <= goal else "MISS"
        print(f"ROW {LABELS[kind]}: {m:.2f} ms | floor {f:.3f} ms | ratio {ratio:.2f}x | "
              f"goal <= {goal:g}x | {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
