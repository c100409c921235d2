"""``lifecycle deploy --pool NAME``: the deployments on a process work pool, run by workers.

The same four deployments ``lifecycle serve`` serves (``lifecycle.flows.serve.deployments``),
applied to a work pool instead: any number of ``prefect worker start --pool NAME`` processes,
on machines with the package installed, pick the runs up and import the flows by module path
(no checkout, no image, no ``from_source``).

Besides the deployments this sets up what a worker pool needs and ``serve`` does not:

- the work pool itself (type ``process``), if it does not exist yet;
- the project database for every run (job variable ``env``), when given;
- two automations for a worker that dies in the middle of a run (machine off, out of memory,
  ``systemctl kill``): a flow run whose heartbeats stop is marked **Crashed**
  (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` on the workers, at least 30 s), and a crashed stage
  run is **scheduled again** for the next worker. A stage run is harmless to repeat
  (documents are versioned by a hash of their inputs, the run is recorded once per key), and
  the run keeps its id, so the run outbox has nothing to redo.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lifecycle.flows.common import STAGE_DEPLOYMENT
from lifecycle.words import quoted

CRASH_AUTOMATION = "lifecycle: Lauf ohne Lebenszeichen gilt als abgestürzt"
RETRY_AUTOMATION = "lifecycle: abgestürzten Phasenlauf neu einplanen"
# How long after its last heartbeat a run counts as crashed: three heartbeats at the default
# worker setting of 30 s (deploy/lifecycle.env).
CRASH_AFTER = dt.timedelta(seconds=100)
# Events after which a run sends no more heartbeats without being lost.
_QUIET_STATES = ("Completed", "Failed", "Cancelled", "Crashed", "Suspended", "Paused")


class DeployError(Exception):
    """The deployments cannot be applied (API unreachable, pool of the wrong type)."""


def deploy_to_pool(
    pool: str,
    db_url: str | None = None,
    *,
    env: dict[str, str] | None = None,
    crash_after: dt.timedelta = CRASH_AFTER,
    reconcile_every: dt.timedelta | None = None,
) -> dict[str, str]:
    """Apply the deployments to ``pool`` (created if missing); returns {name: deployment id}.

    ``db_url`` is fixed for every run (parameter and ``LIFECYCLE_DATABASE_URL`` in the run's
    environment): a run started by ``lifecycle decide`` without a URL still finds it.
    Applying again updates everything in place (deployments, triggers, automations).
    """
    from lifecycle.flows.serve import deployments

    ensure_pool(pool)
    run_env = dict(env or {})
    if db_url:
        run_env["LIFECYCLE_DATABASE_URL"] = db_url
    extra: dict[str, Any] = {}
    if reconcile_every is not None:
        extra["reconcile_every"] = reconcile_every
    ids: dict[str, str] = {}
    for deployment in deployments(db_url, **extra):
        if run_env:
            deployment.job_variables = {**(deployment.job_variables or {}), "env": run_env}
        ids[f"{deployment.flow_name}/{deployment.name}"] = str(
            deployment.apply(work_pool_name=pool)
        )
    ensure_crash_automations(pool, ids[STAGE_DEPLOYMENT], crash_after=crash_after)
    return ids


def ensure_pool(pool: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            found = client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            return
    if found.type != "process":
        raise DeployError(
            f"Work-Pool {quoted(pool)} hat den Typ {quoted(found.type)}; lifecycle braucht "
            "„process“"
        )


def ensure_crash_automations(pool: str, stage_deployment_id: str, *,
                             crash_after: dt.timedelta = CRASH_AFTER) -> None:  # fmt: skip
    """The two automations (replaced if present): silent run → Crashed, crashed stage run →
    Scheduled again."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    in_pool = {"prefect.resource.role": "work-pool", "prefect.resource.name": pool}
    crash = Automation(
        name=f"{CRASH_AUTOMATION} ({pool})",
        description="Ein Lauf im Work-Pool sendet keine Heartbeats mehr: Worker ausgefallen.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat",
                    *(f"prefect.flow-run.{state}" for state in _QUIET_STATES)},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=in_pool,  # type: ignore[arg-type]
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=crash_after,
        ),  # fmt: skip
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED, force=True,
            message="Keine Heartbeats mehr: der Worker ist ausgefallen")],
    )  # fmt: skip
    retry = Automation(
        name=f"{RETRY_AUTOMATION} ({pool})",
        description="Ein abgestürzter Phasenlauf wird neu eingeplant (gleicher Lauf, gleiche ID).",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.id": f"prefect.deployment.{stage_deployment_id}"},  # type: ignore[arg-type]
            posture=Posture.Reactive,
            threshold=1,
        ),  # fmt: skip
        actions=[ChangeFlowRunState(
            state=StateType.SCHEDULED, force=True, name="Scheduled",
            message="Nach Absturz neu eingeplant (lifecycle)")],
    )  # fmt: skip
    for automation in (crash, retry):
        _replace(automation)


def _replace(automation: Any) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(automation.name):
            client.delete_automation(old.id)
    automation.create()
