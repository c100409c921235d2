"""Benchmark: `lifecycle status PROCESS` as a project lead runs it, against two floors.

Prints its figures; asserts nothing. Run:

    .venv/bin/python bench/bench_status.py [--runs 15]

One Waiblingen process in a SQLite file. Each command is a fresh interpreter, as typed in a
terminal; the three are run in turn round after round (so load on the machine hits all alike)
and the medians compared:

- floor 1: ``python -c "import sqlmodel"`` — any process that touches the database;
- floor 2: the project's models, one ORM query and a print — the least a status can do;
- ``python -m lifecycle status waiblingen-2017`` (also ``tasks --overdue`` and ``sitzungen``).

The CLI pauses the cyclic collector for a read command and freezes it before the process
exits (lifecycle.cli); the floors, as the issue defines them, do neither. For reference, the
script also runs floor 2 with the same two settings and prints status against it (no goal).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from lifecycle import services
from lifecycle.db import engine_for
from lifecycle.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
TODAY = "2017-11-08"

FLOOR_2 = (
    "import os\n"
    "from sqlmodel import Session, create_engine, select\n"
    "from lifecycle.models import Fortschreibung\n"
    "with Session(create_engine(os.environ['LIFECYCLE_DATABASE_URL'])) as s:\n"
    "    print(s.exec(select(Fortschreibung)).first().key)\n"
)
# floor 2 as the CLI runs a read command: collector paused, frozen before the exit
FLOOR_2_SAME_GC = "import gc\ngc.disable()\n" + FLOOR_2 + "gc.freeze()\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite:///{work}/status.db"
        with Session(engine_for(url)) as s:
            services.start(s, load_scenario(ROOT / "examples/waiblingen-2017.yaml"), actor="bench")
        env = os.environ | {"LIFECYCLE_DATABASE_URL": url, "COLUMNS": "120"}
        commands = {
            "import sqlmodel": [py, "-c", "import sqlmodel"],
            "models + ORM query + print": [py, "-c", FLOOR_2],
            "floor 2, the CLI's gc": [py, "-c", FLOOR_2_SAME_GC],
            "status": [py, "-m", "lifecycle", "status", "waiblingen-2017", "--today", TODAY],
            "tasks": [py, "-m", "lifecycle", "tasks", "--overdue", "--today", TODAY],
            "sitzungen": [py, "-m", "lifecycle", "sitzungen", "--today", TODAY],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():  # warm the file cache and the bytecode
            subprocess.run(cmd, env=env, check=True, capture_output=True)
        for _ in range(args.runs):
            for name, cmd in commands.items():
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                times[name].append(time.perf_counter() - t0)
    ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
    print(f"Fresh interpreters, median of {args.runs}, interleaved:")
    for name, value in ms.items():
        print(f"  {name:<28} {value:7.0f} ms")
    status = ms["status"]
    for floor, goal in (("import sqlmodel", 1.5), ("models + ORM query + print", 1.15)):
        ratio = status / ms[floor]
        print(f"ROW lifecycle status PROCESS vs {floor}: {status:.0f} ms | floor {ms[floor]:.0f} ms"
              f" | ratio {ratio:.2f}x | goal <= {goal}x | {'OK' if ratio <= goal else 'MISS'}")
    same = ms["floor 2, the CLI's gc"]
    print(f"  for reference: status vs floor 2 with the CLI's collector settings: "
          f"{status / same:.2f}x (no goal; the floors as defined run without them)")


if __name__ == "__main__":
    main()
