"""Benchmark (issue 15): recompute every deadline of N processes after a calendar change.

    .venv/bin/python bench/bench_recompute.py [--processes 10000] [--runs 5] [--vary]

Builds N processes on an SQLite file (one Waiblingen process started through the services,
then cloned N-1 times by SQL with every id offset, each clone with its own Kommune: the
approach of ``bench_core``). Each run changes a closing day of every Rathaus (27.11.2017 on,
then off again, alternating, so every run really moves due dates) and times
``services.recompute_all``. Prints the median and one ``ROW`` line; the issue's row has no
floor, only the goal of 3 s.

``--vary`` also times processes that differ (Bundesland per Kommune, Sitzungen shifted by
0..52 days, start dates by 0..10 days), so that hardly two share a timeline: every German
municipality with its own council calendar. Its figure is printed (not as a ROW line).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import clone  # noqa: E402
from sqlmodel import Session  # noqa: E402

from lifecycle import services  # noqa: E402
from lifecycle.calendar import BUNDESLAENDER  # noqa: E402
from lifecycle.db import engine_for  # noqa: E402
from lifecycle.scenario import load_scenario  # noqa: E402

GOAL_S = 3.0
CLOSING = ('["2017-11-27"]', "[]")  # on, off: in the count of the BSV's Vorlagenschluss


def build(db_path: Path, processes: int, vary: bool) -> None:
    url = f"sqlite:///{db_path}"
    with Session(engine_for(url)) as s:
        services.start(s, load_scenario(ROOT / "examples/waiblingen-2017.yaml"), actor="bench")
    clone(db_path, processes - 1)
    if vary:
        con = sqlite3.connect(db_path)
        codes = sorted(BUNDESLAENDER)
        for i, code in enumerate(codes):
            con.execute("UPDATE kommune SET bundesland = ? WHERE id % ? = ?",
                        (code, len(codes), i))  # fmt: skip
        # Each Kommune's council meets 0..52 days later than Waiblingen's, each process starts
        # 0..10 days later: hardly two processes share a timeline.
        con.execute("UPDATE sitzung SET start = datetime(start, "
                    "'+' || (kommune_id % 53) || ' days')")  # fmt: skip
        con.execute("UPDATE fortschreibung SET started_on = date(started_on, "
                    "'+' || (id % 11) || ' days')")  # fmt: skip
        con.commit()
        con.close()
        # Bring the stored due dates in line with the varied inputs before timing.
        with Session(engine_for(url)) as s:
            services.recompute_all(s, actor="bench", reason="bench setup")


def set_closing(db_path: Path, value: str) -> None:
    con = sqlite3.connect(db_path)
    con.execute("UPDATE kommune SET closing_days = ?", (value,))
    con.commit()
    con.close()


def measure(db_path: Path, runs: int) -> tuple[list[float], list[int]]:
    url = f"sqlite:///{db_path}"
    times, changed = [], []
    for i in range(runs):
        set_closing(db_path, CLOSING[i % 2])
        with Session(engine_for(url)) as s:
            t0 = time.perf_counter()
            changed.append(services.recompute_all(s, actor="bench", reason="calendar changed"))
            times.append(time.perf_counter() - t0)
    return times, changed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--vary", action="store_true", help="also time processes that differ")
    args = parser.parse_args()
    n = args.processes
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-bench-recompute-"))
    cases = [("cloned", False)] + ([("varied", True)] if args.vary else [])
    for name, vary in cases:
        db_path = tmp / f"{name}.db"
        t0 = time.perf_counter()
        build(db_path, n, vary)
        print(f"{n} {name} processes built in {time.perf_counter() - t0:.1f} s "
              f"({db_path.stat().st_size / 2**20:.0f} MiB)")  # fmt: skip
        times, changed = measure(db_path, args.runs)
        med = statistics.median(times)
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"  recompute_all: runs {runs} s; due dates changed per run {changed}")
        label = f"{n:,}".replace(",", " ")
        # Only the row (cloned, as bench_core builds them) is a ROW line for the summary.
        head = "ROW" if name == "cloned" else "   "
        suffix = "" if name == "cloned" else f" ({name})"
        print(f"{head} recompute all deadlines of {label} processes{suffix}: {med:.2f} s "
              f"({1000 * med / n:.3f} ms per process, {changed[0]} due dates changed) | "
              f"goal <= {GOAL_S:g} s | {'OK' if med <= GOAL_S else 'MISS'}")  # fmt: skip
        db_path.unlink()


if __name__ == "__main__":
    main()
