"""`lifecycle serve` and `lifecycle demo`. Prefect is imported inside the commands only."""

from __future__ import annotations

import typer


def serve(
    database_url: str = typer.Option(
        None, "--database-url", envvar="LIFECYCLE_DATABASE_URL",
        help="Datenbank der Prozesse (Standard: LIFECYCLE_DATABASE_URL oder die SQLite-Datei)"),
    limit: int = typer.Option(None, help="höchstens so viele Läufe gleichzeitig"),
) -> None:
    """Stellt die Deployments (Phasen, Gates, Erinnerungen, Abgleich) an der Prefect-API bereit."""
    from lifecycle.flows.serve import main

    main(database_url, limit=limit)


def demo(fresh: bool = typer.Option(False, "--fresh", help="von vorn beginnen")) -> None:
    """Waiblingen 2017 durch alle fünf Gates (Prefect, simulierte Uhr)."""
    from lifecycle.flows.demo import main

    raise typer.Exit(main(["--fresh"] if fresh else []))


def after_decide(process_key: str, stage_key: str) -> str | None:
    """For `lifecycle decide`, after services.decide_gate: start the next stage's run.

    Only with a Prefect API configured (shared installation): there the stage deployment
    starts with an idempotency key and a gate run still waiting on the closed gate is
    cancelled. Without one, nothing is started (an ephemeral server would cost ~10 s per
    decision); the next `lifecycle demo`/reconcile run picks the open stage up.
    """
    import os

    if not os.environ.get("PREFECT_API_URL"):
        return None
    from lifecycle.flows.gates import after_decision, release_waiting_gate

    release_waiting_gate(process_key, stage_key)
    stage, _run = after_decision(process_key)
    return stage


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
