"""The demo: Waiblingen 2017 through all five gates on Prefect with a simulated clock, then
the first year of its Umsetzung (2018) up to the Sachstandsbericht.

Runs on the ephemeral Prefect API (or the configured one) and the embedded SQLite database.
Each decision is given on the date the scenario names; the daily reminder run is called for
each simulated working day on which something is due. Stage runs are called in-process (no
runner on the ephemeral API), with the heartbeat off so a run costs ~0.1 s instead of ~1 s.

Killed at any point and run again, the demo continues where it stopped: each step has a key in
the database (task done, decision recorded, stage run noted, reminder day noted).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from lifecycle import events, lookups, replay, services
from lifecycle.dates import long_de, short_de
from lifecycle.examples import scenario as example_scenario
from lifecycle.models import (
    Event,
    Fortschreibung,
    GateDecision,
    StageState,
    Task,
    TaskState,
)  # fmt: skip
from lifecycle.scenario import load_scenario
from lifecycle.words import OUTCOME_DE

SCENARIO = example_scenario("waiblingen-2017.yaml")  # shipped with the package
# After the council's decision: the yearly evaluation of the Maßnahmen it adopted.
UMSETZUNG = example_scenario("waiblingen-umsetzung-2018.yaml")
DEFAULT_DIR = Path("out") / "demo"  # below the working directory; out/ is git-ignored
REMINDER_DAY = "demo_reminder_day"


@dataclass
class DemoResult:
    process_key: str
    timeline: str
    documents: list[dict] = field(default_factory=list)
    stage_runs: int = 0
    reminder_runs: int = 0
    decisions: int = 0
    seconds: float = 0.0


def demo_paths(base: Path | None = None) -> tuple[Path, str, Path]:
    base = Path(base or os.environ.get("LIFECYCLE_DEMO_DIR") or DEFAULT_DIR).resolve()
    base.mkdir(parents=True, exist_ok=True)
    return base, f"sqlite:///{base / 'lifecycle.db'}", base / "dokumente"


def run(base: Path | None = None, say: Callable[[str], None] = print) -> DemoResult:
    """Run (or continue) the demo in ``base``; returns what it did."""
    # Run logs still reach the Prefect UI; the terminal shows the demo's own lines. Read when
    # Prefect is first imported, hence before the import below.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    # The ephemeral server's telemetry write races the first run on its SQLite file.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import temporary_settings

    from lifecycle.flows.common import quiet_settings

    started = time.perf_counter()
    base, db_url, out_dir = demo_paths(base)
    os.environ["LIFECYCLE_DATABASE_URL"] = db_url
    os.environ["LIFECYCLE_FLOWS_DIRECT"] = "1"  # the demo's database is local: no runner
    with temporary_settings(quiet_settings()):
        result = _walk(db_url, str(out_dir), say)
    result.seconds = time.perf_counter() - started
    return result


def _walk(db_url: str, out_dir: str, say: Callable[[str], None]) -> DemoResult:
    result = DemoResult(load_scenario(SCENARIO).key, "")
    timelines = [_walk_one(db_url, out_dir, say, SCENARIO, result)]
    _adopted(db_url, result.process_key)
    timelines.append(_walk_one(db_url, out_dir, say, UMSETZUNG, result))
    result.timeline = "\n\n".join(timelines)
    return result


def _walk_one(db_url: str, out_dir: str, say: Callable[[str], None], path: Path,
              result: DemoResult) -> str:  # fmt: skip
    from lifecycle.db import session_scope
    from lifecycle.flows.gates import decide
    from lifecycle.flows.stages import drain_run_requests
    from lifecycle.plan_types import plan_of

    with session_scope(db_url) as session:
        process = _process(session, path)
        say("")
        say(f"{plan_of(process.plan).title}: {process.key}, begonnen am "
            f"{long_de(process.started_on)}")  # fmt: skip

        def stage_run() -> None:
            """Start what the start or the last decision requested (the run outbox)."""
            for summary in drain_run_requests(db_url=db_url, out_dir=out_dir,
                                              process_key=process.key):  # fmt: skip
                session.expire_all()
                current = session.get(Fortschreibung, process.id)
                result.stage_runs += 1
                result.documents.extend(summary["documents"])
                if current.current_stage_id is None:  # completed: the last stage's closing run
                    say(f"  Abschluss: Zeitleiste und {dokumente(len(summary['documents']))} "
                        "in Prefect veröffentlicht")  # fmt: skip
                    continue
                say(f"  Phase „{summary['title']}“: {len(summary['tasks'])} Aufgaben, "
                    f"{dokumente(len(summary['documents']))}")  # fmt: skip

        stage_run()
        last_day = process.started_on - dt.timedelta(days=1)
        for step in replay.steps(session, process):
            last_day = _reminders_until(session, process, last_day, step.on, db_url, result)
            if step.kind in ("done", "massnahme", "messung"):
                if replay.apply(session, process, step, actor="demo") and step.kind != "done":
                    what = "Maßnahme" if step.kind == "massnahme" else "Indikator"
                    say(f"{short_de(step.on)}  {what} „{step.task}“: "
                        f"{_umsetzung_words(step.raw or {})}")  # fmt: skip
                continue
            if not _already_decided(session, process, step):
                raw = step.raw or {}
                decide(process.key, step.stage, outcome=raw["outcome"], on=step.on, by=step.by,
                       reference=raw.get("reference", ""), remarks=raw.get("remarks", ""),
                       postpone_to=raw.get("postpone_to"), db_url=db_url,
                       start_next=False)  # fmt: skip
                result.decisions += 1
                title = plan_of(process.plan).stage(step.stage).title  # not the plan's key
                outcome = OUTCOME_DE[raw["outcome"]]
                say(f"{short_de(step.on)}  Gate der Phase „{title}“: {outcome} "
                    f"{raw.get('reference', '')}".rstrip())  # fmt: skip
            stage_run()
        from lifecycle.flows.stages import timeline_markdown

        session.expire_all()
        return timeline_markdown(session, session.get(Fortschreibung, process.id))


def _adopted(db_url: str, process_key: str) -> None:
    """A demo folder from before the Umsetzung existed: its Maßnahmen are adopted now."""
    from lifecycle.db import session_scope

    with session_scope(db_url) as session:
        services.begin_umsetzung(session, process_key, actor="demo")


def _umsetzung_words(raw: dict) -> str:
    if "value" in raw:
        return f"Messwert {raw['value']}"
    parts = [raw["status"]] if raw.get("status") else []
    parts += [f"{raw['progress']} %"] if "progress" in raw else []
    parts += [f"Meilenstein „{raw['meilenstein']}“"] if raw.get("meilenstein") else []
    return ", ".join(parts) or "Sachstand"



def dokumente(n: int) -> str:
    return f"{n} Dokument" if n == 1 else f"{n} Dokumente"

def _process(session: Session, path: Path) -> Fortschreibung:
    scenario = load_scenario(path)
    found = session.exec(select(Fortschreibung).where(Fortschreibung.key == scenario.key)).first()
    return found or services.start(session, scenario, actor="demo")


def _already_decided(session: Session, process: Fortschreibung, step: replay.Step) -> bool:
    session.expire_all()
    stage = lookups.get_stage(session, process, step.stage)
    raw = step.raw or {}
    if raw.get("outcome") == "approve" and stage.state == StageState.closed:
        return True
    return session.exec(select(GateDecision).where(
        GateDecision.stage_id == stage.id, GateDecision.decided_on == step.on,
        GateDecision.outcome == raw.get("outcome"))).first() is not None  # fmt: skip


def _reminders_until(session: Session, process: Fortschreibung, after: dt.date, until: dt.date,
                     db_url: str, result: DemoResult) -> dt.date:  # fmt: skip
    """Call the daily reminder run for each working day in (after, until] with something due."""
    from lifecycle.flows.reminders import daily_reminders

    calendar = lookups.calendar_of(session, process)
    day = after + dt.timedelta(days=1)
    while day <= until:
        if calendar.is_working_day(day) and _something_due(session, process, day) \
                and not _reminder_day_done(session, day):  # fmt: skip
            daily_reminders(today=day, db_url=db_url, mode="queue")
            _note_reminder_day(session, process, day)
            result.reminder_runs += 1
        day += dt.timedelta(days=1)
    return max(after, until)


def _something_due(session: Session, process: Fortschreibung, day: dt.date) -> bool:
    session.expire_all()
    return session.exec(select(Task.id).where(
        Task.fortschreibung_id == process.id, Task.state == TaskState.open, Task.due == day,
    )).first() is not None  # fmt: skip


def _reminder_day_done(session: Session, day: dt.date) -> bool:
    rows = session.exec(select(Event).where(Event.action == REMINDER_DAY)).all()
    return any((e.after or {}).get("day") == day.isoformat() for e in rows)


def _note_reminder_day(session: Session, process: Fortschreibung, day: dt.date) -> None:
    events.log(session, actor="demo", action=REMINDER_DAY, entity=process, process_id=process.id,
               after={"day": day.isoformat()})  # fmt: skip
    session.commit()


def report(result: DemoResult, base: Path, say: Callable[[str], None] = print) -> None:
    """The demo's closing words: timeline, documents and how to see the runs."""
    say("")
    say(result.timeline)
    say("")
    docs = sorted({d["path"] for d in result.documents})
    if docs:
        say(f"Dokumente ({len(docs)}) in {Path(docs[0]).parent}:")
        for path in docs:
            say(f"  {path}")
    else:
        say(f"Keine neuen Dokumente in diesem Lauf (Ordner: {base / 'dokumente'})")
    say("")
    say(f"{result.decisions} Entscheidungen, {result.stage_runs} Phasenläufe, "
        f"{result.reminder_runs} Erinnerungsläufe in {result.seconds:.1f} s; "
        f"Datenbank: {base / 'lifecycle.db'}")  # fmt: skip
    say("Den Stand mit der Kommandozeile ansehen (Stichtag im Jahr 2017 wählbar):")
    say(f"  LIFECYCLE_DATABASE_URL=sqlite:///{base / 'lifecycle.db'} \\")
    say("    .venv/bin/lifecycle status waiblingen-2017 --today 2017-11-08")
    say("Die Umsetzung 2018: welche Maßnahme wo steht, was überfällig ist:")
    say(f"  LIFECYCLE_DATABASE_URL=sqlite:///{base / 'lifecycle.db'} \\")
    say("    .venv/bin/lifecycle massnahmen list waiblingen-2017 --today 2018-11-28")
    say("Die Läufe in der Prefect-Oberfläche ansehen:")
    say("  .venv/bin/prefect server start    # dann http://127.0.0.1:4200/runs öffnen")
    say("  (Filter: Tag kommune:waiblingen; Artefakte: Aufgaben, Zeitleiste, Dokumente)")
    say("Noch einmal von vorn: make demo DEMO_FRESH=1 (oder den Ordner out/demo löschen)")


def main(argv: list[str] | None = None) -> int:
    import shutil

    argv = sys.argv[1:] if argv is None else argv
    base, _, _ = demo_paths()
    if "--fresh" in argv or os.environ.get("DEMO_FRESH") == "1":
        shutil.rmtree(base, ignore_errors=True)
        base, _, _ = demo_paths()
    result = run(base)
    report(result, base)
    _drain()
    return 0


def _drain() -> None:
    """Flush run logs and events to the API before the ephemeral server stops with us."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=10)
