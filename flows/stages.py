"""Stage runs: one short flow run per stage of a Fortschreibung.

A stage run checks that the engine has opened the stage, lists its tasks, renders the gate
documents and publishes the progress as artifacts. It changes no process state itself
(opening and closing stages is the engine's business, in ``services.decide_gate``), so running
it twice is harmless: documents are versioned by a hash of their inputs.

Entry points: ``lifecycle.flows.stages.stage_flow`` and
``lifecycle.flows.stages.reconcile_flow`` (module paths: the installed package, no checkout).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, tags, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.settings import temporary_settings
from sqlmodel import col, select

from lifecycle import lookups, services
from lifecycle.dates import long_de, short_de
from lifecycle.errors import Refused
from lifecycle.flows.common import (
    GATE_DEPLOYMENT,
    STAGE_DEPLOYMENT,
    db,
    deployment_exists,
    in_deployment_run,
    instance_key,
    label_for,
    label_of,
    quiet_settings,
)  # fmt: skip
from lifecycle.models import (
    Fortschreibung,
    GateDecision,
    Person,
    Stage,
    StageState,
    Task,
)  # fmt: skip
from lifecycle.words import OUTCOME_DE, STATE_DE, quoted


@dataclass
class StageSummary:
    process_key: str
    stage_key: str
    title: str
    state: str
    opened_on: str | None
    tasks: list[dict[str, str]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)


def artifact_key(*parts: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def _stage_run_name() -> str:
    params = flow_run.parameters
    try:
        label = label_for(params["process_key"], params.get("db_url"))
        return label.run_name(f"Phase {params['stage_key']}")
    except Exception:  # a name must never fail the run; the run itself reports the error
        return f"{params.get('process_key')} · Phase {params.get('stage_key')}"


# --- tasks ---------------------------------------------------------------------------------


@task(name="Phase prüfen", retries=2, retry_delay_seconds=1)
def open_stage(process_key: str, stage_key: str, db_url: str | None) -> StageSummary:
    """The stage must have been opened by the engine (start or an approved gate)."""
    with db(db_url) as session:
        process = lookups.get_process(session, process_key)
        stage = lookups.get_stage(session, process, stage_key)
        if stage.state == StageState.pending:
            raise Refused(f"die Phase {quoted(stage.title)} von {process_key} hat noch nicht "
                          "begonnen")
        return StageSummary(
            process_key, stage_key, stage.title, stage.state.value,
            stage.opened_on.isoformat() if stage.opened_on else None,
            tasks=_task_rows(session, stage),
        )  # fmt: skip


def _task_rows(session, stage: Stage) -> list[dict[str, str]]:
    rows = session.exec(
        select(Task, Person).join(Person, Person.id == Task.assignee_id, isouter=True)
        .where(Task.stage_id == stage.id).order_by(Task.position)
    ).all()  # fmt: skip
    return [
        {
            "Aufgabe": t.title,
            "Zuständig": p.name if p else "–",
            "Fällig": short_de(t.due) if t.due else "–",
            "Status": STATE_DE[t.state.value],
            "Erledigt am": short_de(t.done_on) if t.done_on else "",
        }
        for t, p in rows
    ]


@task(name="Dokumente erzeugen", retries=2, retry_delay_seconds=1)
def render_documents(
    process_key: str, stage_key: str, db_url: str | None, out_dir: str | None
) -> list[dict[str, Any]]:
    with db(db_url) as session:
        results = services.generate_stage_run_documents(
            session, process_key, stage_key, out_dir=Path(out_dir) if out_dir else None
        )
        return [
            {"path": str(Path(r.path).resolve()), "version": r.version, "created": r.created}
            for r in results
        ]


@task(name="Fortschritt veröffentlichen")
def publish(summary: StageSummary, db_url: str | None) -> None:
    key = artifact_key(summary.process_key, summary.stage_key)
    create_table_artifact(
        summary.tasks or [{"Aufgabe": "–"}], key=f"{key}-aufgaben",
        description=f"Aufgaben der Phase „{summary.title}“ ({summary.process_key})",
    )  # fmt: skip
    with db(db_url) as session:
        timeline = timeline_markdown(session, lookups.get_process(session, summary.process_key))
    create_markdown_artifact(timeline, key=artifact_key(summary.process_key, "zeitleiste"),
                             description=f"Zeitleiste {summary.process_key}")  # fmt: skip
    if summary.documents:
        create_markdown_artifact(documents_markdown(summary), key=f"{key}-dokumente",
                                 description=f"Dokumente der Phase „{summary.title}“")  # fmt: skip


def documents_markdown(summary: StageSummary) -> str:
    lines = [f"## Dokumente: {summary.title}", ""]
    for d in summary.documents:
        path = Path(d["path"])
        state = "neu" if d["created"] else "unverändert"
        lines.append(f"- [{path.name}]({path.as_uri()}) — Version {d['version']} ({state})")
    return "\n".join(lines)


def timeline_markdown(session, process: Fortschreibung) -> str:
    """The process as a German markdown timeline: stages, their dates and gate decisions."""
    label = label_of(session, process)
    stages = session.exec(
        select(Stage).where(Stage.fortschreibung_id == process.id).order_by(Stage.position)
    ).all()  # fmt: skip
    decisions = session.exec(
        select(GateDecision).where(GateDecision.fortschreibung_id == process.id)
        .order_by(col(GateDecision.id))
    ).all()  # fmt: skip
    by_stage: dict[int, list[GateDecision]] = {}
    for d in decisions:
        by_stage.setdefault(d.stage_id, []).append(d)
    state = STATE_DE[process.state.value]
    lines = [f"# {label.kommune_name}: {process.key}", "",
             f"Begonnen am {long_de(process.started_on)} · Stand: {state}", ""]  # fmt: skip
    for i, stage in enumerate(stages, 1):
        dates = _stage_dates(stage)
        lines.append(f"{i}. **{stage.title}** — {STATE_DE[stage.state.value]}{dates}")
        for d in by_stage.get(stage.id, []):
            ref = f", {d.reference}" if d.reference else ""
            note = f": {d.remarks}" if d.remarks else ""
            lines.append(f"    - {short_de(d.decided_on)} {OUTCOME_DE[d.outcome.value]} "
                         f"({d.decided_by}{ref}){note}")  # fmt: skip
    return "\n".join(lines)


def _stage_dates(stage: Stage) -> str:
    if stage.closed_on:
        return f" ({short_de(stage.opened_on)} – {short_de(stage.closed_on)})"
    if stage.opened_on:
        return f" (seit {short_de(stage.opened_on)})"
    if stage.planned_start:
        return f" (geplant ab {short_de(stage.planned_start)})"
    return ""


@task(name="Lauf vermerken")
def record_stage_run(process_key: str, stage_key: str, db_url: str | None) -> None:
    """Note in the event log that the stage run for its opening key is done (once per key)."""
    key = opening_key(process_key, stage_key, db_url)
    with db(db_url) as session:
        services.record_stage_run(session, process_key, stage_key, key)


# --- flows ---------------------------------------------------------------------------------


@flow(name="lifecycle-stage", flow_run_name=_stage_run_name, persist_result=False)
def stage_flow(
    process_key: str, stage_key: str, db_url: str | None = None, out_dir: str | None = None
) -> dict[str, Any]:
    """Open a stage's run: tasks, gate documents, artifacts; then wait at the gate if served."""
    summary = open_stage(process_key, stage_key, db_url)
    summary.documents = render_documents(process_key, stage_key, db_url, out_dir)
    publish(summary, db_url)
    record_stage_run(process_key, stage_key, db_url)
    if in_deployment_run() and summary.state == StageState.open.value:
        from lifecycle.flows.gates import start_gate_run

        start_gate_run(process_key, stage_key, db_url=db_url)
    return asdict(summary)


@flow(name="lifecycle-reconcile", persist_result=False)
def reconcile_flow(db_url: str | None = None) -> list[str]:
    """Drain the run outbox: start every stage run a start or decision requested.

    Idempotency keys make this safe to run often and beside the CLI: a request already started
    returns the same run. Open stages that never had a request (databases from before the
    outbox) get one first.
    """
    with db(db_url) as session:
        services.request_missing_runs(session)
    return [str(run) for run in drain_run_requests(db_url=db_url, keys=True)]


# --- starting a stage run ----------------------------------------------------------------


def opening_key(process_key: str, stage_key: str, db_url: str | None = None) -> str:
    """What opened the stage's current round: the last decision on the process, or the start.

    Used as idempotency key: one stage run per (stage, decision), however often requested.
    """
    with db(db_url) as session:
        process = lookups.get_process(session, process_key)
        last = session.exec(
            select(GateDecision.id).where(GateDecision.fortschreibung_id == process.id)
            .order_by(col(GateDecision.id).desc())
        ).first()  # fmt: skip
    return f"stage:{instance_key(db_url)}:{process_key}:{stage_key}:{last or 'start'}"


def drain_run_requests(
    *,
    db_url: str | None = None,
    out_dir: str | None = None,
    process_key: str | None = None,
    keys: bool = False,
) -> list[Any]:
    """Start the requested stage runs, oldest first; returns the runs (or their keys).

    Each run starts with the request's key as idempotency key and only then is the request
    marked started: a crash in between starts it again, which Prefect answers with the same
    run (and an in-process stage run is harmless to repeat). A run that cannot be started
    stays requested, with the error noted, for the next drain.
    """
    with db(db_url) as session:
        todo = services.pending_runs(session, process_key=process_key)
    started = []
    for request in todo:
        try:
            run = start_stage_run(request.process_key, request.stage_key, db_url=db_url,
                                  out_dir=out_dir, key=request.key)  # fmt: skip
        except Exception as exc:
            with db(db_url) as session:
                services.note_run_failed(session, request.id, f"{type(exc).__name__}: {exc}")
            raise
        with db(db_url) as session:
            services.mark_run_started(session, request.id, _run_id(run))
        started.append(request.key if keys else run)
    return started


def _run_id(run: Any) -> str:
    """A deployment run's id, or "lokal" for a run in this process."""
    return str(run) if not isinstance(run, dict) else "lokal"


def start_stage_run(
    process_key: str,
    stage_key: str,
    *,
    db_url: str | None = None,
    out_dir: str | None = None,
    key: str | None = None,
) -> Any:
    """Start the stage run: by its deployment when one is served, else in this process."""
    label = label_for(process_key, db_url)
    params = {"process_key": process_key, "stage_key": stage_key, "db_url": db_url,
              "out_dir": out_dir}  # fmt: skip
    if deployment_exists(STAGE_DEPLOYMENT):
        from prefect.deployments import run_deployment

        return run_deployment(
            STAGE_DEPLOYMENT, parameters=params, timeout=0, as_subflow=False,
            idempotency_key=(f"stage:{instance_key(db_url)}:{key}" if key
                             else opening_key(process_key, stage_key, db_url)),
            tags=label.tags(f"phase:{stage_key}"),
        ).id  # fmt: skip
    with tags(*label.tags(f"phase:{stage_key}")), temporary_settings(quiet_settings()):
        return stage_flow(**params)


__all__ = ["GATE_DEPLOYMENT", "reconcile_flow", "stage_flow", "start_stage_run"]
