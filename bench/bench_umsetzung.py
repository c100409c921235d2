"""Benchmark: the Umsetzung's two hot spots, each against a floor measured in the same run.

Prints its figures; nothing here asserts a time. Run:

    .venv/bin/python bench/bench_umsetzung.py [--massnahmen 200] [--processes 10000]
        [--per-process 200] [--runs 20]

- Sachstandsbericht of a concept with --massnahmen Maßnahmen (Waiblingen replayed, the rest
  added): context from the database + render + save, median of --runs, against the floor:
  python-docx loading and saving the same template.
- "What is overdue today" across --processes processes with --per-process Maßnahmen each
  (10 000 x 200 = 2 000 000 rows, SQLite file): ``umsetzung.overdue_across`` (the count and the
  100 longest overdue, as ORM objects) against a bare indexed SELECT of the same through
  sqlite3. The rows are written with executemany (minutes for 2 000 000 rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from lifecycle import replay, services, umsetzung
from lifecycle.db import engine_for
from lifecycle.doc_context import KINDS, build_context
from lifecycle.documents import find_template, render
from lifecycle.models import Fortschreibung
from lifecycle.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2019, 6, 1)
STATES = ("offen", "in_umsetzung", "erledigt", "zurueckgestellt")


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def adopted(work: str) -> tuple[str, Session, Fortschreibung]:
    url = f"sqlite:///{work}/bench.db"
    session = Session(engine_for(url), expire_on_commit=False)
    process = services.start(session, load_scenario(ROOT / "examples/waiblingen-2017.yaml"))
    replay.run(session, process)
    return url, session, process


def more_massnahmen(db: str, process: Fortschreibung, n: int) -> None:
    rng = random.Random(2026)
    rows = [(process.konzept_id, process.kommune_id, process.id, f"m-{i}",
             f"Handlungsfeld {i % 6}", f"Maßnahme {i}", "Fachbereich", "",
             (dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(900))).isoformat(),
             f"Sachstand der Maßnahme {i}.", rng.choice(STATES), rng.randrange(101), "",
             "Import", i) for i in range(n)]  # fmt: skip
    with sqlite3.connect(db) as con:
        _insert(con, rows)


def sachstandsbericht(work: str, count: int, runs: int) -> None:
    import docx

    url, session, process = adopted(work)
    db = url.removeprefix("sqlite:///")
    have = len(umsetzung.of_konzept(session, process))
    more_massnahmen(db, process, max(count - have, 0))
    template = find_template(KINDS["sachstandsbericht"])
    out = Path(work) / "sachstandsbericht.docx"

    def floor() -> None:
        docx.Document(str(template)).save(str(out))

    def full() -> None:
        session.expire_all()
        render(template, build_context(session, process, "sachstandsbericht", "vorlage"), out)

    floor(), full()
    floor_ms, full_ms = median_ms(floor, runs), median_ms(full, runs)
    print(f"Sachstandsbericht, {len(umsetzung.of_konzept(session, process))} Maßnahmen, "
          f"median of {runs} ({out.stat().st_size // 1024} KiB):")  # fmt: skip
    print(f"  floor (python-docx load + save) : {floor_ms:8.1f} ms")
    print(f"  context + render + save         : {full_ms:8.1f} ms "
          f"= {full_ms / floor_ms:.2f} x floor")  # fmt: skip
    session.close()


def overdue(work: str, processes: int, per_process: int, runs: int) -> None:
    url, session, process = adopted(work)
    db = url.removeprefix("sqlite:///")
    started = time.perf_counter()
    rng = random.Random(7)
    with sqlite3.connect(db) as con:
        # the other processes' rows stand for 10 000 Kommunen: no parent rows for them
        con.execute("PRAGMA foreign_keys=OFF")
        batch = []
        for p in range(processes):
            for i in range(per_process):
                day = dt.date(2017, 1, 1) + dt.timedelta(days=rng.randrange(1500))
                batch.append((p + 1000, p + 1000, process.id, f"m-{p}-{i}", "Feld", "Maßnahme",
                              "", "", day.isoformat(), "", rng.choice(STATES), 0, "", "", i))
            if len(batch) >= 200_000:
                _insert(con, batch)
                batch = []
        _insert(con, batch)
        con.execute("ANALYZE")
    print(f"{processes * per_process:,} rows written in {time.perf_counter() - started:.0f} s")

    def ours() -> None:
        session.expire_all()
        umsetzung.overdue_across(session, TODAY)

    con = sqlite3.connect(db)

    def bare() -> None:
        args = ("offen", "in_umsetzung", TODAY.isoformat())
        con.execute("SELECT count(*) FROM massnahme WHERE status IN (?, ?) AND target_date < ?",
                    args).fetchone()  # fmt: skip
        con.execute("SELECT * FROM massnahme WHERE status IN (?, ?) AND target_date < ? "
                    "ORDER BY target_date, id LIMIT 100", args).fetchall()  # fmt: skip

    ours(), bare()
    ours_ms, bare_ms = median_ms(ours, runs), median_ms(bare, runs)
    total, _rows = umsetzung.overdue_across(session, TODAY)
    print(f"Overdue on {TODAY:%d.%m.%Y} across {processes:,} processes: {total:,} Maßnahmen, "
          f"median of {runs}:")  # fmt: skip
    print(f"  bare indexed SELECT (sqlite3)   : {bare_ms:8.1f} ms")
    print(f"  umsetzung.overdue_across        : {ours_ms:8.1f} ms "
          f"= {ours_ms / bare_ms:.2f} x floor")  # fmt: skip
    con.close()
    session.close()


def _insert(con: sqlite3.Connection, rows: list[tuple]) -> None:
    con.executemany(
        "INSERT INTO massnahme (konzept_id, kommune_id, fortschreibung_id, key, handlungsfeld, "
        "title, responsible, budget_line, target_date, public_text, status, progress, "
        "internal_note, source, position) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--massnahmen", type=int, default=200)
    parser.add_argument("--processes", type=int, default=10_000)
    parser.add_argument("--per-process", type=int, default=200)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        sachstandsbericht(work, args.massnahmen, args.runs)
    with tempfile.TemporaryDirectory() as work:
        overdue(work, args.processes, args.per_process, args.runs)


if __name__ == "__main__":
    main()
