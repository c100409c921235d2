"""``lifecycle serve``: serve the deployments against the configured Prefect API.

- ``lifecycle-stage/stage``: one run per stage (started by a decision, idempotency key);
- ``lifecycle-gate/gate``: the waiting gate run with the decision form (suspended, no process);
- ``lifecycle-reminders/daily``: cron ``0 7 * * 1-5`` in Europe/Berlin;
- ``lifecycle-reconcile/reconcile``: every 15 minutes and triggered by the event
  ``lifecycle.gate.decided``: starts the run of every open stage that has none yet (so a
  decision recorded by the CLI without Prefect still starts the next stage).

Schedules and triggers fire only on a real server (``prefect server start``), not on the
ephemeral API.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # loaded by path when served
    sys.path.insert(0, str(REPO))

from prefect import serve  # noqa: E402
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule  # noqa: E402
from prefect.events import DeploymentEventTrigger  # noqa: E402

from flows.gates import gate_flow  # noqa: E402
from flows.reminders import CRON, daily_reminders  # noqa: E402
from flows.stages import reconcile_flow, stage_flow  # noqa: E402

DECIDED_EVENT = "lifecycle.gate.decided"


def deployments(db_url: str | None = None) -> list:
    """The RunnerDeployments ``lifecycle serve`` serves (db_url: fixed for all runs, optional)."""
    fixed = {"db_url": db_url} if db_url else {}
    return [
        stage_flow.to_deployment("stage", parameters=fixed, tags=["lifecycle"]),
        gate_flow.to_deployment("gate", parameters=fixed, tags=["lifecycle"]),
        daily_reminders.to_deployment(
            "daily", parameters=fixed, tags=["lifecycle"],
            schedules=[CronSchedule(cron=CRON, timezone="Europe/Berlin")],
        ),
        reconcile_flow.to_deployment(
            "reconcile", parameters=fixed, tags=["lifecycle"],
            schedules=[IntervalSchedule(interval=dt.timedelta(minutes=15))],
            triggers=[DeploymentEventTrigger(expect={DECIDED_EVENT}, parameters=fixed)],
        ),
    ]  # fmt: skip


def main(db_url: str | None = None, limit: int | None = None) -> None:
    # Entry points are paths relative to the working directory: serve from the repo root.
    os.chdir(REPO)
    serve(*deployments(db_url), limit=limit)


if __name__ == "__main__":
    main(os.environ.get("LIFECYCLE_DATABASE_URL"))
