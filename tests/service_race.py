"""Child process for tests/test_services.py: one side of a race, or a kill half-way.

Usage: python service_race.py decide|reassign|complete DB_URL BARRIER_DIR NAME
       python service_race.py reschedule DB_URL KILL_POINT   (KILL_POINT: before|after|none)

``decide`` waits at a file barrier just before the gate's row lock, so both sides have read
the gate as open before either locks it (the test runs the other side in its own process),
and at a second one just after it, which only a lock that does not exclude the other side lets
both pass. ``reschedule`` SIGKILLs itself between the move and
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


def meet(folder: Path, name: str, parties: int = 2, timeout: float = 30.0) -> bool:
    """Wait until ``parties`` names are in ``folder``; False if ``timeout`` passes first."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < parties:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def barrier(folder: Path, name: str, parties: int = 2, timeout: float = 30.0) -> None:
    """Wait until every party is here; a party that never comes ends this process."""
    if not meet(folder, name, parties, timeout):
        raise SystemExit("barrier timed out")


def decide(url: str, folder: str, name: str) -> str:
    """Decide the first gate, meeting the other side at the gate's row lock; what happened."""
    original = engine._locked_stage

    def racing(session, process, key):
        barrier(Path(folder) / "before", name)
        stage = original(session, process, key)
        # Holding the gate's lock, wait a moment for the other side to get past its own lock:
        # a lock that holds the other side back makes this wait run out (and the other side
        # then finds the gate closed); a lock that does not, lets both decide the open gate.
        meet(Path(folder) / "locked", name, timeout=1.0)
        return stage

    engine._locked_stage = racing
    try:
        with Session(engine_for(url), expire_on_commit=False) as s:
            services.decide_gate(
                s, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                on=dt.date(2017, 4, 27), by=name, reference="BSV 3/2017",
                force_reason="Wettlauf",
            )  # fmt: skip
    except LifecycleError as exc:
        return f"refused: {exc}"
    finally:
        engine._locked_stage = original  # the test's own process races too: leave it as it was
    return "ok"


def reassign(url: str, folder: str, name: str) -> str:
    """Give task 1 to Markus Raible, meeting the other side at the task's row lock."""
    original = engine.lock

    def racing(session, row):
        barrier(Path(folder) / "before", name)
        original(session, row)
        meet(Path(folder) / "locked", name, timeout=1.0)  # as in ``decide``

    engine.lock = racing
    try:
        with Session(engine_for(url), expire_on_commit=False) as s:
            services.reassign_task(s, "1", to="raible", actor=name)
    except LifecycleError as exc:
        return f"refused: {exc}"
    finally:
        engine.lock = original
    return "ok"


def complete(url: str, folder: str, name: str) -> str:
    """Complete task 1; the sides meet before its lock and again once it passed its checks."""
    from lifecycle import events

    find, snapshot = engine.task_id_of, events.snapshot

    def first_find(session, ref):
        barrier(Path(folder) / "before", name)
        return find(session, ref)

    def checked(*args, **kwargs):  # called after the checks, before the UPDATE
        meet(Path(folder) / "locked", name, timeout=1.0)  # as in ``decide``
        return snapshot(*args, **kwargs)

    engine.task_id_of, events.snapshot = first_find, checked
    try:
        with Session(engine_for(url), expire_on_commit=False) as s:
            services.complete_task(s, "1", on=dt.date(2017, 4, 20), actor=name)
    except LifecycleError as exc:
        return f"refused: {exc}"
    finally:
        engine.task_id_of, events.snapshot = find, snapshot
    return "ok"


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
    if command in ("decide", "reassign", "complete"):
        print({"decide": decide, "reassign": reassign, "complete": complete}[command](*args))
    else:
        reschedule(*args)
