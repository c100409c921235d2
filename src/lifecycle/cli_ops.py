"""CLI for operating a shared installation: `deploy`, `doctor`, `config show`, `backup`.

The checks and the backup live in ``lifecycle.ops``; Prefect is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_core import console, err_console, fail

config_app = typer.Typer(no_args_is_help=True, help="Einstellungen anzeigen.")


def deploy(
    pool: Annotated[str, typer.Option("--pool", help="Work-Pool (Typ process), wird angelegt")],
    database_url: Annotated[str | None, typer.Option(
        "--database-url", envvar="LIFECYCLE_DATABASE_URL",
        help="Datenbank der Prozesse, fest für alle Läufe")] = None,
    crash_after: Annotated[int, typer.Option(
        "--crash-after", min=35, help="Sekunden ohne Heartbeat, bis ein Lauf als abgestürzt gilt",
    )] = 100,
    reconcile_every: Annotated[int, typer.Option(
        "--reconcile-every", min=5, help="Abgleich alle so viele Sekunden")] = 900,
) -> None:
    """Die Deployments (Phasen, Gates, Erinnerungen, Abgleich) in einem Work-Pool anlegen."""
    import datetime as dt

    from .ops import prefect_api_problem

    if problem := prefect_api_problem():
        fail(problem)
    from lifecycle.flows.deploy import DeployError, deploy_to_pool

    try:
        ids = deploy_to_pool(
            pool, database_url, crash_after=dt.timedelta(seconds=crash_after),
            reconcile_every=dt.timedelta(seconds=reconcile_every),
        )  # fmt: skip
    except DeployError as exc:
        fail(str(exc))
        return
    for name in sorted(ids):
        console.print(f"{name} → Work-Pool {pool}")
    console.print(f"Worker starten: prefect worker start --pool {pool}")


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)


__all__ = ["Path", "config_app", "err_console", "register"]
