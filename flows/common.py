"""Helpers shared by the flows: database access, labels for runs, run-mode detection.

The flows are thin: the project's database holds the process state, Prefect keeps the run
history. Everything here is cheap and import-safe; Prefect itself is imported by the flow
modules that need it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlmodel import Session

from lifecycle import lookups
from lifecycle.db import session_scope
from lifecycle.models import Fortschreibung, Kommune, Stage

# Names of the served deployments: "<flow name>/<deployment name>".
STAGE_DEPLOYMENT = "lifecycle-stage/stage"
GATE_DEPLOYMENT = "lifecycle-gate/gate"
REMINDERS_DEPLOYMENT = "lifecycle-reminders/daily"
RECONCILE_DEPLOYMENT = "lifecycle-reconcile/reconcile"


def instance_key(db_url: str | None = None) -> str:
    """Short fingerprint of the project database, part of every idempotency key.

    Process keys are unique within one database; two installations (or test databases)
    sharing one Prefect server must not collide on "gate:waiblingen-2017:vorlage".
    """
    import hashlib

    from lifecycle.db import database_url

    return hashlib.sha256((db_url or database_url()).encode()).hexdigest()[:10]


@contextmanager
def db(db_url: str | None = None) -> Iterator[Session]:
    """A session on the project database (LIFECYCLE_DATABASE_URL unless given)."""
    with session_scope(db_url or None) as session:
        yield session


@dataclass(frozen=True)
class ProcessLabel:
    """What a run is named and tagged with: the Kommune and the process."""

    process_key: str
    kommune_key: str
    kommune_name: str

    def tags(self, *extra: str) -> list[str]:
        return [f"kommune:{self.kommune_key}", f"prozess:{self.process_key}", *extra]

    def run_name(self, what: str) -> str:
        return f"{self.kommune_name} · {self.process_key} · {what}"


def label_of(session: Session, process: Fortschreibung) -> ProcessLabel:
    kommune = session.get(Kommune, process.kommune_id)
    return ProcessLabel(process.key, kommune.key, kommune.name)


def label_for(process_key: str, db_url: str | None = None) -> ProcessLabel:
    with db(db_url) as session:
        return label_of(session, lookups.get_process(session, process_key))


def current_stage(session: Session, process: Fortschreibung) -> Stage | None:
    return session.get(Stage, process.current_stage_id) if process.current_stage_id else None


def parse_day(value: dt.date | str | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def quiet_settings() -> dict:
    """Settings for in-process runs: without the heartbeat a flow run costs ~0.1 s, not ~1 s."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    return {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}


def in_deployment_run() -> bool:
    """True inside a flow run that a runner or worker started from a deployment."""
    from prefect.runtime import flow_run

    return bool(flow_run.get_id()) and bool(_deployment_id())


def _deployment_id() -> str | None:
    from prefect.runtime import deployment

    return deployment.get_id()


def deployment_exists(name: str) -> bool:
    """Whether ``name`` is deployed on the configured API (never on the ephemeral one).

    LIFECYCLE_FLOWS_DIRECT=1 forces in-process runs (the demo sets it: no runner there).
    """
    if os.environ.get("LIFECYCLE_FLOWS_DIRECT") == "1":
        return False
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return False
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(name)
    except ObjectNotFound:
        return False
    return True
