"""The hourly OParl sync: a Ratsinformationssystem's Sitzungskalender read into the database.

Thin: the sync service (``lifecycle.oparl.sync.sync``) does everything — new Gremien and
Sitzungen, moves through the reschedule service, cancelled Sitzungen escalated to the project
lead through the outbox (and their reinstatement told to whoever was sent the cancellation) —
and writes nothing when the RIS does not answer properly (the run
then fails with the German reason and the next hour tries again).

Served as ``lifecycle-oparl-sync/hourly`` only where a RIS is configured:
``LIFECYCLE_OPARL_SYNC_URL`` (the OParl System, …/system) and ``LIFECYCLE_OPARL_SYNC_KOMMUNE``
(the Kommune's key here) when ``lifecycle serve`` or ``lifecycle deploy`` builds the
deployments (flows/serve.py).

Entry point: ``lifecycle.flows.oparl.oparl_sync_flow``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from prefect import flow, get_run_logger

from lifecycle.flows.common import db

OPARL_DEPLOYMENT = "lifecycle-oparl-sync/hourly"
URL_ENV, KOMMUNE_ENV = "LIFECYCLE_OPARL_SYNC_URL", "LIFECYCLE_OPARL_SYNC_KOMMUNE"
EVERY = dt.timedelta(hours=1)


def configured(env: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
    """(URL, Kommune) of the RIS to sync hourly, or None where none is configured."""
    url, kommune = env.get(URL_ENV, "").strip(), env.get(KOMMUNE_ENV, "").strip()
    return (url, kommune) if url and kommune else None


@flow(name="lifecycle-oparl-sync", flow_run_name="OParl-Abgleich {kommune}",
      persist_result=False)  # fmt: skip
def oparl_sync_flow(
    url: str, kommune: str, db_url: str | None = None, bundesland: str | None = None
) -> dict[str, Any]:
    """Read the RIS at ``url`` into the Kommune ``kommune`` (only what changed since the last
    run); a summary of what changed."""
    from lifecycle.oparl.sync import sync

    with db(db_url) as session:
        report = sync(session, url, kommune, bundesland=bundesland)
    logger = get_run_logger()
    for warning in report.warnings:
        logger.warning("%s", warning)
    logger.info(
        "%s: %d Sitzungen gelesen, %d neu, %d verlegt, %d gelöscht, %d Absagen gemeldet, "
        "%d Wiederansetzungen gemeldet",
        report.body, report.meetings, len(report.sitzungen_created), len(report.moved),
        len(report.deleted), report.escalated, report.reinstated,
    )  # fmt: skip
    return {
        "body": report.body,
        "since": report.since,
        "meetings": report.meetings,
        "created": report.sitzungen_created,
        "moved": [[key, old.isoformat(), new.isoformat()] for key, old, new in report.moved],
        "deleted": report.deleted,
        "escalated": report.escalated,
        "reinstated": report.reinstated,
        "warnings": report.warnings,
    }
