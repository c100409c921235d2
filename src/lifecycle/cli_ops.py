"""CLI for operating a shared installation: `deploy`, `doctor`, `config show`, `backup`.

The checks and the backup live in ``lifecycle.ops``; Prefect is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_core import console, err_console, fail

config_app = typer.Typer(no_args_is_help=True, help="Einstellungen anzeigen.")


def deploy(
    pool: Annotated[str, typer.Option("--pool", help="Work-Pool (Typ process), wird angelegt")],
    database_url: Annotated[str | None, typer.Option(
        "--database-url",
        help="Datenbank fest in jeden Lauf schreiben (steht dann samt Passwort in Prefect); "
             "sonst gilt LIFECYCLE_DATABASE_URL der Worker")] = None,
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


def reconcile(
    wait: Annotated[int, typer.Option(
        "--wait", min=0, help="so viele Sekunden auf die Prefect-API warten (nach ihrem Start)",
    )] = 0,
) -> None:
    """Den Abgleich jetzt anstoßen: startet jeden angeforderten, noch nicht gestarteten Phasenlauf.

    Nach einem Ausfall des Prefect-Servers (systemd: ExecStartPost der Server-Unit); sonst
    läuft der Abgleich alle 15 Minuten und nach jeder Entscheidung von selbst.
    """
    import time

    from .ops import prefect_api_problem

    deadline = time.monotonic() + wait
    while (problem := prefect_api_problem()) and time.monotonic() < deadline:
        time.sleep(1)
    if problem:
        fail(problem)
    from prefect.deployments import run_deployment

    from lifecycle.flows.common import RECONCILE_DEPLOYMENT

    run: Any = run_deployment(RECONCILE_DEPLOYMENT, timeout=0, as_subflow=False)
    console.print(f"Abgleich eingeplant: {run.name} ({run.id})", markup=False, soft_wrap=True)


def doctor() -> None:
    """Prüft Datenbank, Prefect-API, Mailserver, Vorlagen und LibreOffice (eine Zeile je Teil).

    Exit 0: alles da; 1: mindestens ein Teil fehlt oder ist nicht erreichbar.
    """
    from .ops import doctor as run_checks

    checks = run_checks()
    for check in checks:
        console.print(check.line, markup=False, soft_wrap=True)
    missing = [c.name for c in checks if not c.ok]
    if missing:
        err_console.print(f"lifecycle: es fehlt: {', '.join(missing)}", markup=False)
        raise typer.Exit(1)


def config_show() -> None:
    """Die wirksamen Einstellungen (Umgebung, Einstellungsdatei, Standard); Geheimnisse maskiert."""
    from .errors import LifecycleError
    from .ops import effective_settings

    try:
        settings = effective_settings()
    except LifecycleError as exc:
        fail(str(exc))
        return
    width = max(len(s.key) for s in settings)
    for s in settings:
        line = f"{s.key:<{width}}  {s.value or '–'}  ({s.source})"
        console.print(line, markup=False, soft_wrap=True)


def backup(
    target: Annotated[Path, typer.Argument(help="Zieldatei der Sicherung (darf nicht existieren)")],
) -> None:
    """Die SQLite-Datenbank im laufenden Betrieb sichern (PostgreSQL: nennt den pg_dump-Befehl)."""
    from .errors import LifecycleError
    from .ops import backup as run_backup

    try:
        done = run_backup(target)
    except LifecycleError as exc:
        fail(str(exc))
        return
    console.print(f"Gesichert: {done} (zurückspielen: Dienste anhalten, Datei an die Stelle "
                  "der Datenbank kopieren)", markup=False, soft_wrap=True)  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("reconcile")(reconcile)
    app.command("doctor")(doctor)
    app.command("backup")(backup)
    config_app.command("show")(config_show)
    app.add_typer(config_app, name="config")
