"""Gates: a decision is recorded by the engine and starts the next stage's run.

Three ways reach the same gate, and the engine (one transaction, refuses a closed gate)
decides what counts:

- Python: ``lifecycle.flows.gates.decide(...)``;
- the CLI: ``lifecycle decide`` records through ``services.decide_gate`` and calls
  ``after_decision`` (or the reconcile deployment picks the open stage up);
- the Prefect UI: a gate run (``lifecycle.flows.gates.gate_flow``, served as a deployment) suspends
  with ``wait_for_input=GateDecisionInput``; the UI shows the generated form, and the resumed
  run calls ``decide``.

The months-long wait lives in the project's database (the open stage), not in a process: a
suspended gate run holds no process, and if it is lost the decision still works by CLI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field
from sqlmodel import select

from lifecycle import lookups, services
from lifecycle.dates import short_de
from lifecycle.errors import LifecycleError
from lifecycle.flows.common import (
    GATE_DEPLOYMENT,
    db,
    deployment_exists,
    instance_key,
    label_for,
    parse_day,
)  # fmt: skip
from lifecycle.models import GateDecision, Outcome, StageState
from lifecycle.words import quoted

REFERENCE_PATTERN = r"^$|" + services.REFERENCE.pattern


class GateDecisionInput(RunInput):
    """The form the Prefect UI shows on a waiting gate run."""

    outcome: Literal["approve", "send_back", "postpone"] = Field(
        description="approve = freigeben, send_back = zurückgeben, postpone = vertagen")
    decided_on: dt.date = Field(description="Datum der Entscheidung (Sitzung, Abnahme)")
    by: str = Field(min_length=1, description="Wer entscheidet (Personenkürzel)")
    reference: str = Field("", pattern=REFERENCE_PATTERN,
                           description="Beschluss- oder Vorlagennummer, z. B. 'BSV 3/2017'")
    remarks: str = Field("", description="Bemerkung; beim Zurückgeben: der Grund")
    postpone_to: str = Field("", description="beim Vertagen: Schlüssel der neuen Sitzung")


@dataclass(frozen=True)
class DecisionResult:
    process_key: str
    stage_key: str
    outcome: str
    decision_id: int
    next_stage: str | None  # the stage whose run was started (the same one after send back)
    stage_run: Any = None


def decide(
    process_key: str,
    stage_key: str,
    *,
    outcome: Outcome | str,
    on: dt.date | str,
    by: str,
    reference: str = "",
    remarks: str = "",
    postpone_to: str | None = None,
    force_reason: str = "",
    reopen: tuple[str, ...] = (),
    db_url: str | None = None,
    out_dir: str | None = None,
    start_next: bool = True,
) -> DecisionResult:
    """Record a gate decision (``services.decide_gate``), then start the run it requested.

    Raises ``NotFound`` or ``Refused`` (nothing changed) for an unknown process or stage, a
    closed gate, a date before the stage opened, or a reference in the wrong format.
    """
    with db(db_url) as session:
        decision = services.decide_gate(
            session, process_key, stage_key, outcome=outcome, on=parse_day(on), by=by,
            reference=reference, remarks=remarks, postpone_to=postpone_to or None,
            force_reason=force_reason, reopen=tuple(reopen),
        )  # fmt: skip
        decision_id = decision.id
    release_waiting_gate(process_key, stage_key, db_url=db_url)
    result = after_decision(process_key, db_url=db_url, out_dir=out_dir, start=start_next)
    return DecisionResult(process_key, stage_key, Outcome(outcome).value, decision_id,
                          result[0], result[1])  # fmt: skip


def after_decision(
    process_key: str, *, db_url: str | None = None, out_dir: str | None = None, start: bool = True
) -> tuple[str | None, Any]:
    """Start the runs the decision requested (the run outbox) and announce the decision.

    For the CLI: call this after ``services.decide_gate``. If it never runs (Prefect down, the
    process killed), the request stays in the outbox and the reconcile run starts it.
    """
    from lifecycle.flows.common import current_stage
    from lifecycle.flows.stages import drain_run_requests

    with db(db_url) as session:
        stage = current_stage(session, lookups.get_process(session, process_key))
        stage_key = stage.key if stage else None
    _announce(process_key, stage_key)
    if not start:
        return stage_key, None
    started = drain_run_requests(db_url=db_url, out_dir=out_dir, process_key=process_key)
    return stage_key, started[-1] if started else None


def release_waiting_gate(process_key: str, stage_key: str, *, db_url: str | None = None) -> int:
    """Cancel gate runs still waiting on a gate that a CLI or Python decision has closed.

    Call after ``services.decide_gate``; a no-op without a served gate deployment.
    """
    if gate_is_open(process_key, stage_key, db_url) or not deployment_exists(GATE_DEPLOYMENT):
        return 0
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )  # fmt: skip
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    wanted = FlowRunFilter(
        tags=FlowRunFilterTags(all_=_gate_tags(process_key, stage_key, db_url)),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
    )
    with get_client(sync_client=True) as client:
        waiting = client.read_flow_runs(flow_run_filter=wanted, limit=20)
        for run in waiting:
            client.set_flow_run_state(run.id, Cancelled(
                message="Gate anderweitig entschieden (CLI oder Python)"), force=True)  # fmt: skip
    return len(waiting)


def _gate_tags(process_key: str, stage_key: str, db_url: str | None) -> list[str]:
    return [f"prozess:{process_key}", f"gate:{stage_key}", f"db:{instance_key(db_url)}"]


def _announce(process_key: str, stage_key: str | None) -> None:
    """Emit ``lifecycle.gate.decided`` on a real API; its trigger runs the reconcile deployment."""
    import os

    from prefect.settings import PREFECT_API_URL

    if os.environ.get("LIFECYCLE_FLOWS_DIRECT") == "1" or not PREFECT_API_URL.value():
        return
    from prefect.events import emit_event

    emit_event(
        event="lifecycle.gate.decided",
        resource={"prefect.resource.id": f"lifecycle.process.{process_key}"},
        payload={"process_key": process_key, "stage_key": stage_key},
    )


def same_decision_exists(process_key: str, stage_key: str, given: GateDecisionInput,
                         db_url: str | None = None) -> bool:  # fmt: skip
    """A decision with these exact values is already recorded (a resumed run repeating it)."""
    with db(db_url) as session:
        process = lookups.get_process(session, process_key)
        stage = lookups.get_stage(session, process, stage_key)
        found = session.exec(select(GateDecision).where(
            GateDecision.stage_id == stage.id, GateDecision.outcome == given.outcome,
            GateDecision.decided_on == given.decided_on, GateDecision.decided_by == given.by,
            GateDecision.reference == given.reference,
        )).first()  # fmt: skip
    return found is not None


def gate_is_open(process_key: str, stage_key: str, db_url: str | None = None) -> bool:
    with db(db_url) as session:
        process = lookups.get_process(session, process_key)
        return lookups.get_stage(session, process, stage_key).state == StageState.open


def _gate_run_name() -> str:
    params = flow_run.parameters
    try:
        label = label_for(params["process_key"], params.get("db_url"))
        return label.run_name(f"Entscheidung {params['stage_key']}")
    except Exception:  # a name must never fail the run
        return f"{params.get('process_key')} · Entscheidung {params.get('stage_key')}"


@flow(name="lifecycle-gate", flow_run_name=_gate_run_name, persist_result=True)
def gate_flow(process_key: str, stage_key: str, db_url: str | None = None,
              max_rounds: int = 50) -> str:  # fmt: skip
    """Wait (suspended, no process held) for decisions until the gate is approved.

    Each round has its own suspend key: a resumed run runs again from the top, finds the
    rounds already answered (their outcome is stored as a flow-run input) and skips them. A
    refused decision is logged and the run suspends again: the gate keeps waiting.
    """
    from prefect.flow_runs import suspend_flow_run
    from prefect.input.actions import create_flow_run_input, read_flow_run_input

    logger = get_run_logger()
    for round_no in range(1, max_rounds + 1):
        if not gate_is_open(process_key, stage_key, db_url):
            return "geschlossen"
        key = f"{stage_key}-{round_no}"
        if read_flow_run_input(f"outcome-{key}") is not None:
            continue
        given = suspend_flow_run(
            wait_for_input=GateDecisionInput.with_initial_data(
                description=f"Entscheidung über die Phase {quoted(stage_key)} von {process_key}",
                decided_on=dt.date.today(), outcome="approve", by=""),
            timeout=None, key=key,
        )  # fmt: skip
        outcome = _apply_input(process_key, stage_key, given, db_url)
        logger.info("Runde %s: %s", round_no, outcome)
        create_flow_run_input(f"outcome-{key}", outcome)
    return "zu viele Runden"


def _apply_input(process_key: str, stage_key: str, given: GateDecisionInput,
                 db_url: str | None) -> str:  # fmt: skip
    if same_decision_exists(process_key, stage_key, given, db_url):
        return "bereits erfasst"
    try:
        result = decide(
            process_key, stage_key, outcome=given.outcome, on=given.decided_on, by=given.by,
            reference=given.reference, remarks=given.remarks, postpone_to=given.postpone_to,
            db_url=db_url,
        )  # fmt: skip
    except LifecycleError as exc:
        get_run_logger().error("Entscheidung abgelehnt, das Gate wartet weiter: %s", exc)
        return f"abgelehnt: {exc}"
    return f"{result.outcome} am {short_de(given.decided_on)}"


def start_gate_run(process_key: str, stage_key: str, *, db_url: str | None = None) -> Any:
    """Start the waiting gate run once per stage (idempotency key), if the gate is served."""
    if not deployment_exists(GATE_DEPLOYMENT):
        return None
    from prefect.deployments import run_deployment

    label = label_for(process_key, db_url)
    key = f"gate:{instance_key(db_url)}:{process_key}:{stage_key}"
    return run_deployment(
        GATE_DEPLOYMENT, parameters={"process_key": process_key, "stage_key": stage_key,
                                     "db_url": db_url},
        timeout=0, as_subflow=False, idempotency_key=key,
        tags=label.tags(*_gate_tags(process_key, stage_key, db_url)[1:]),
    ).id  # fmt: skip
