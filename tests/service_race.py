"""Child process for tests/test_services.py: one side of a race, or a kill half-way.

Usage: python service_race.py decide DB_URL BARRIER_DIR NAME
       python service_race.py reschedule DB_URL KILL_POINT   (KILL_POINT: before|after|none)

``decide`` waits at a file barrier just before the gate's row lock, so both sides have read
the gate as open before either locks it. ``reschedule`` SIGKILLs itself between the move and
its messages (before) or after the messages but before the commit (after).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import time
from pathlib import Path

from sqlmodel import Session

from lifecycle import engine, reminders, services
from lifecycle.db import engine_for
from lifecycle.errors import LifecycleError
from lifecycle.models import Stage


def barrier(folder: Path, name: str, parties: int = 2, timeout: float = 30.0) -> None:
    (folder / name).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < parties:
        if time.monotonic() > deadline:
            raise SystemExit("barrier timed out")
        time.sleep(0.005)


def decide(url: str, folder: str, name: str) -> None:
    original = engine.lock

    def racing_lock(session, row):
        if isinstance(row, Stage):
            barrier(Path(folder), name)
        original(session, row)

    engine.lock = racing_lock
    with Session(engine_for(url), expire_on_commit=False) as s:
        try:
            services.decide_gate(
                s, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                on=dt.date(2017, 4, 27), by=name, reference="BSV 3/2017",
                force_reason="Wettlauf",
            )  # fmt: skip
        except LifecycleError as exc:
            print(f"refused: {exc}")
            return
    print("ok")


def reschedule(url: str, kill_point: str) -> None:
    original = reminders.on_sitzung_moved

    def killing(session, move, **kwargs):
        if kill_point == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        count = original(session, move, **kwargs)
        if kill_point == "after":
            session.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return count

    reminders.on_sitzung_moved = killing
    with Session(engine_for(url), expire_on_commit=False) as s:
        done = services.move_sitzung(
            s, "bsv-2017-12-06", dt.date(2017, 12, 13), actor="test", today=dt.date(2017, 11, 8)
        )
    print(done.notified)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"decide": decide, "reschedule": reschedule}[command](*args)
