"""The daily reminder run: finds what is due or overdue and hands it to the reminder service.

Served as a deployment with a cron schedule in Europe/Berlin (working days, 07:00). The
reminder service (``lifecycle.services.run_reminders``) keeps an outbox in the database, so a
run repeated for the same day sends nothing twice.

Entry point: ``lifecycle.flows.reminders.daily_reminders``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from sqlmodel import select

from lifecycle.dates import short_de
from lifecycle.flows.common import db, parse_day
from lifecycle.models import Fortschreibung, Person, ProcessState, Task, TaskState
from lifecycle.words import DUE_DE

BERLIN = ZoneInfo("Europe/Berlin")
CRON = "0 7 * * 1-5"  # working days at 07:00; holidays are the reminder service's business


def due_rows(session, today: dt.date) -> list[dict[str, str]]:
    """Open tasks of running processes due today or earlier, for the artifact table."""
    rows = session.exec(
        select(Task, Person, Fortschreibung)
        .join(Fortschreibung, Fortschreibung.id == Task.fortschreibung_id)
        .join(Person, Person.id == Task.assignee_id, isouter=True)
        .where(Task.state == TaskState.open, Task.due <= today,
               Fortschreibung.state == ProcessState.running)
        .order_by(Task.due)
    ).all()  # fmt: skip
    return [
        {"Prozess": f.key, "Aufgabe": t.title, "Zuständig": p.name if p else "–",
         "Fällig": short_de(t.due), "Status": DUE_DE["today" if t.due == today else "overdue"]}
        for t, p, f in rows
    ]  # fmt: skip


def _hand_over(session, today: dt.date, mode: str) -> dict[str, Any]:
    """mode: "deliver" (outbox, then SMTP), "queue" (outbox only), "dry_run" (nothing written)."""
    from lifecycle import services

    if mode == "queue":
        # The outbox without delivery: what the demo uses (no SMTP server, no mail from 2017).
        return {"queued": services.plan_reminders(session, today)}
    return _report_dict(services.run_reminders(session, today, dry_run=mode == "dry_run"))


def _report_dict(report: Any) -> dict[str, Any]:
    if hasattr(report, "model_dump"):
        return report.model_dump(mode="json")
    if hasattr(report, "__dataclass_fields__"):
        from dataclasses import asdict

        return {k: v if isinstance(v, int | str | bool | None) else str(v)
                for k, v in asdict(report).items()}  # fmt: skip
    return {"report": str(report)}


def _today_in_berlin() -> dt.date:
    return dt.datetime.now(BERLIN).date()


def _run_name() -> str:
    from prefect.runtime import flow_run

    return f"Erinnerungen {flow_run.parameters.get('today') or _today_in_berlin()}"


@flow(name="lifecycle-reminders", flow_run_name=_run_name, persist_result=False)
def daily_reminders(
    today: dt.date | str | None = None, db_url: str | None = None,
    mode: Literal["deliver", "queue", "dry_run"] = "deliver",
) -> dict[str, Any]:
    """One day's reminders. ``today`` defaults to the date in Berlin (the demo passes its own)."""
    day = parse_day(today) or _today_in_berlin()
    with db(db_url) as session:
        rows = due_rows(session, day)
        report = _hand_over(session, day, mode)
    if rows:
        description = f"Fällige und überfällige Aufgaben am {short_de(day)}"
        create_table_artifact(rows, key="erinnerungen", description=description)
    get_run_logger().info("%s: %d fällig oder überfällig", short_de(day), len(rows))
    return {"day": day.isoformat(), "due": len(rows), "report": report}
