"""``lifecycle serve``: serve the deployments against the configured Prefect API.

- ``lifecycle-stage/stage``: one run per stage (started by a decision, idempotency key);
- ``lifecycle-gate/gate``: the waiting gate run with the decision form (suspended, no process);
- ``lifecycle-reminders/daily``: cron ``0 7 * * 1-5`` in Europe/Berlin;
- ``lifecycle-reconcile/reconcile``: every 15 minutes and triggered by the event
  ``lifecycle.gate.decided``: starts the run of every open stage that has none yet (so a
  decision recorded by the CLI without Prefect still starts the next stage);
- ``lifecycle-oparl-sync/hourly``: every hour, only where a Ratsinformationssystem is
  configured (``LIFECYCLE_OPARL_SYNC_URL`` and ``LIFECYCLE_OPARL_SYNC_KOMMUNE``, flows/oparl.py).

Schedules and triggers fire only on a real server (``prefect server start``), not on the
ephemeral API.

The entrypoints are module paths (``lifecycle.flows.stages.stage_flow``, Prefect's
``EntrypointType.MODULE_PATH``): a run imports the flow from the installed package, so neither
the runner nor a worker needs a checkout or a particular working directory.
"""

from __future__ import annotations

import datetime as dt
import os

from prefect import serve
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.events import DeploymentEventTrigger
from prefect.types.entrypoint import EntrypointType

from lifecycle.flows import oparl
from lifecycle.flows.gates import gate_flow
from lifecycle.flows.reminders import CRON, daily_reminders
from lifecycle.flows.stages import reconcile_flow, stage_flow

DECIDED_EVENT = "lifecycle.gate.decided"


def deployments(
    db_url: str | None = None, reconcile_every: dt.timedelta = dt.timedelta(minutes=15)
) -> list:
    """The RunnerDeployments ``lifecycle serve`` serves (db_url: fixed for all runs, optional).

    ``lifecycle deploy --pool`` applies the same ones to a work pool (flows/deploy.py).
    """
    fixed = {"db_url": db_url} if db_url else {}
    # Module-path entrypoints ("lifecycle.flows.stages.stage_flow"): found in the installed
    # package wherever the run starts, instead of a file path relative to a checkout.
    common = {"parameters": fixed, "tags": ["lifecycle"],
              "entrypoint_type": EntrypointType.MODULE_PATH}
    found = [
        stage_flow.to_deployment("stage", **common),
        gate_flow.to_deployment("gate", **common),
        daily_reminders.to_deployment(
            "daily", **common,
            schedules=[CronSchedule(cron=CRON, timezone="Europe/Berlin")],
        ),
        reconcile_flow.to_deployment(
            "reconcile", **common,
            schedules=[IntervalSchedule(interval=reconcile_every)],
            triggers=[DeploymentEventTrigger(expect={DECIDED_EVENT}, parameters=fixed)],
        ),
    ]  # fmt: skip
    ris = oparl.configured()
    if ris is not None:  # most installations have no Ratsinformationssystem to read
        found.append(oparl.oparl_sync_flow.to_deployment(
            "hourly", **(common | {"parameters": {"url": ris[0], "kommune": ris[1], **fixed}}),
            schedules=[IntervalSchedule(interval=oparl.EVERY)]))  # fmt: skip
    return found


def main(db_url: str | None = None, limit: int | None = None) -> None:
    serve(*deployments(db_url), limit=limit)


if __name__ == "__main__":
    main(os.environ.get("LIFECYCLE_DATABASE_URL"))
