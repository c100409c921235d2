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


def _side(url: str, patches: list[tuple[object, str, object]], act) -> str:  # noqa: ANN001
    """One side of a race: ``act(session)`` with ``patches`` (owner, name, value) in place,
    undone afterwards (the test's own process races too); "ok" or "refused: …"."""
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    for owner, attr, value in patches:
        setattr(owner, attr, value)
    try:
        with Session(engine_for(url), expire_on_commit=False) as s:
            act(s)
    except LifecycleError as exc:
        return f"refused: {exc}"
    finally:
        for owner, attr, value in saved:
            setattr(owner, attr, value)
    return "ok"


def _at_lock(lock, folder: str, name: str):  # noqa: ANN001, ANN202
    """``lock`` wrapped: meet the other side before it, and try to meet it again after it.

    Holding the lock, wait a moment for the other side to get past its own: a lock that holds
    the other side back makes this wait run out (the other side then finds the row changed);
    a lock that does not lets both go on with what they read before."""
    def racing(*args):  # noqa: ANN002, ANN202
        barrier(Path(folder) / "before", name)
        result = lock(*args)
        meet(Path(folder) / "locked", name, timeout=1.0)
        return result

    return racing


def decide(url: str, folder: str, name: str) -> str:
    """Decide the first gate, meeting the other side at the gate's row lock."""
    return _side(url, [(engine, "_locked_stage", _at_lock(engine._locked_stage, folder, name))],
                 lambda s: services.decide_gate(
                     s, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                     on=dt.date(2017, 4, 27), by=name, reference="BSV 3/2017",
                     force_reason="Wettlauf"))  # fmt: skip


def reassign(url: str, folder: str, name: str) -> str:
    """Give task 1 to Markus Raible, meeting the other side at the task's row lock."""
    return _side(url, [(engine, "lock", _at_lock(engine.lock, folder, name))],
                 lambda s: services.reassign_task(s, "1", to="raible", actor=name))


def complete(url: str, folder: str, name: str) -> str:
    """Complete task 1. It takes its own lock, between finding the task's id and its checks:
    the sides meet before it (at the id) and again once the checks passed (at the snapshot
    the event is written from, just before the UPDATE)."""
    from lifecycle import events

    find, snapshot = engine.task_id_of, events.snapshot

    def first_find(session, ref):  # noqa: ANN001, ANN202
        barrier(Path(folder) / "before", name)
        return find(session, ref)

    def checked(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        meet(Path(folder) / "locked", name, timeout=1.0)
        return snapshot(*args, **kwargs)

    return _side(url, [(engine, "task_id_of", first_find), (events, "snapshot", checked)],
                 lambda s: services.complete_task(s, "1", on=dt.date(2017, 4, 20), actor=name))


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
