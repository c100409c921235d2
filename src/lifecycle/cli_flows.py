"""`lifecycle serve` and `lifecycle demo`. Prefect is imported inside the commands only."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

REPO = Path(__file__).resolve().parents[2]


def _flows_on_path() -> None:
    if not (REPO / "flows").is_dir():
        raise typer.BadParameter("flows/ not found: run from a clone of the repository")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def serve(
    database_url: str = typer.Option(
        None, "--database-url", envvar="LIFECYCLE_DATABASE_URL",
        help="Datenbank der Prozesse (Standard: LIFECYCLE_DATABASE_URL oder die SQLite-Datei)"),
    limit: int = typer.Option(None, help="höchstens so viele Läufe gleichzeitig"),
) -> None:
    """Stellt die Deployments (Phasen, Gates, Erinnerungen, Abgleich) an der Prefect-API bereit."""
    _flows_on_path()
    from flows.serve import main

    main(database_url, limit=limit)


def demo(fresh: bool = typer.Option(False, "--fresh", help="von vorn beginnen")) -> None:
    """Waiblingen 2017 durch alle fünf Gates (Prefect, simulierte Uhr)."""
    _flows_on_path()
    from flows.demo import main

    raise typer.Exit(main(["--fresh"] if fresh else []))


def after_decide(process_key: str, stage_key: str) -> str | None:
    """For `lifecycle decide`, after engine.decide_gate: start the next stage's run.

    Only with a Prefect API configured (shared installation): there the stage deployment
    starts with an idempotency key and a gate run still waiting on the closed gate is
    cancelled. Without one, nothing is started (an ephemeral server would cost ~10 s per
    decision); the next `lifecycle demo`/reconcile run picks the open stage up.
    """
    import os

    if not os.environ.get("PREFECT_API_URL"):
        return None
    _flows_on_path()
    from flows.gates import after_decision, release_waiting_gate

    release_waiting_gate(process_key, stage_key)
    stage, _run = after_decision(process_key)
    return stage


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
