"""Benchmark: the demo with Prefect against the same engine calls without it.

Prints, from one run: the demo's wall time (fresh process, as `make demo` runs it), the
in-process demo with Prefect vs the same engine calls without Prefect (ratio), and Prefect's
overhead per flow run and per task run in ms (heartbeat off, as the demo runs).

    .venv/bin/python bench/bench_flows.py
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

N_FLOWS, N_TASKS = 20, 50


def demo_wall_time(base: Path) -> float:
    env = dict(os.environ, LIFECYCLE_DEMO_DIR=str(base))
    env.pop("LIFECYCLE_DATABASE_URL", None)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lifecycle.demo"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def demo_with_prefect(base: Path) -> float:
    from lifecycle.flows import demo

    started = time.perf_counter()
    demo.run(base, say=lambda _line: None)
    return time.perf_counter() - started


def demo_without_prefect(base: Path) -> float:
    """The demo's engine calls in the same order, without flows, tasks or artifacts."""
    from sqlmodel import select

    from lifecycle import documents, lookups, outbox, reminders, replay, services
    from lifecycle.db import session_scope
    from lifecycle.flows.demo import SCENARIO
    from lifecycle.flows.stages import timeline_markdown
    from lifecycle.models import Fortschreibung, Stage, Task, TaskState
    from lifecycle.scenario import load_scenario

    base.mkdir(parents=True, exist_ok=True)
    url, out = f"sqlite:///{base / 'lifecycle.db'}", base / "dokumente"
    started = time.perf_counter()
    with session_scope(url) as s:
        process = services.start(s, load_scenario(SCENARIO), actor="bench")
        calendar = lookups.calendar_of(s, process)

        def stage_work() -> None:
            s.expire_all()
            p = s.get(Fortschreibung, process.id)
            stage = s.get(Stage, p.current_stage_id) if p.current_stage_id else None
            if stage:
                documents.generate_gate_documents(s, p, stage.key, out_dir=out)
            timeline_markdown(s, p)

        stage_work()
        last = process.started_on
        for step in replay.steps(s, process):
            day = last + dt.timedelta(days=1)
            while day <= step.on:
                due = s.exec(select(Task.id).where(Task.state == TaskState.open,
                                                   Task.due == day)).first()  # fmt: skip
                if calendar.is_working_day(day) and due:
                    outbox.queue(s, reminders.find_due(s, day))
                day += dt.timedelta(days=1)
            last = max(last, step.on)
            replay.apply(s, process, step, actor="bench")
            if step.kind == "decide":
                s.expire_all()
                stage_work()
    return time.perf_counter() - started


def prefect_overhead_ms() -> tuple[float, float]:
    from prefect import flow, task
    from prefect.settings import temporary_settings

    from lifecycle.flows.common import quiet_settings

    @task
    def nothing(i: int) -> int:
        return i

    @flow
    def empty() -> None:
        return None

    @flow
    def many_tasks() -> None:
        for i in range(N_TASKS):
            nothing(i)

    with temporary_settings(quiet_settings()):
        empty()  # warm-up: server start, first registration
        many_tasks()
        started = time.perf_counter()
        for _ in range(N_FLOWS):
            empty()
        per_flow = (time.perf_counter() - started) / N_FLOWS
        started = time.perf_counter()
        many_tasks()
        per_task = (time.perf_counter() - started - per_flow) / N_TASKS
    return per_flow * 1000, per_task * 1000


def _drain() -> None:
    """Flush logs and events before the ephemeral server stops (else noisy, slow exit)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=10)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-flows-") as tmp:
        tmp_path = Path(tmp)
        wall = demo_wall_time(tmp_path / "wall")
        plain = demo_without_prefect(tmp_path / "plain")
        with_prefect = demo_with_prefect(tmp_path / "prefect")
        per_flow, per_task = prefect_overhead_ms()
        _drain()
    print(f"demo wall time (fresh process, `python -m lifecycle.demo`): {wall:.1f} s")
    print(f"demo in-process with Prefect: {with_prefect:.2f} s; same engine calls without "
          f"Prefect: {plain:.2f} s; ratio {with_prefect / plain:.1f}x")  # fmt: skip
    print(f"Prefect overhead: {per_flow:.0f} ms per flow run, {per_task:.1f} ms per task run "
          f"(heartbeat off; {N_FLOWS} flow runs, {N_TASKS} task runs)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
