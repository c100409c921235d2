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
from sqlmodel import func, select

from lifecycle.dates import short_de
from lifecycle.flows.common import db, parse_day
from lifecycle.models import Fortschreibung, Person, ProcessState, Task, TaskState
from lifecycle.words import DUE_DE

BERLIN = ZoneInfo("Europe/Berlin")
CRON = "0 7 * * 1-5"  # working days at 07:00; holidays are the reminder service's business


# The artifact lists the most overdue; a host with every Kommune has more than anyone reads.
ARTIFACT_ROWS = 500


def due_rows(session, today: dt.date,
             limit: int = ARTIFACT_ROWS) -> tuple[list[dict[str, str]], int]:  # fmt: skip
    """Open tasks of running processes due today or earlier, for the artifact table: the
    ``limit`` longest due, and how many there are (the columns shown, not whole rows)."""
    where = (Task.state == TaskState.open, Task.due <= today,
             Fortschreibung.state == ProcessState.running)  # fmt: skip
    total = session.exec(
        select(func.count()).select_from(Task)
        .join(Fortschreibung, Fortschreibung.id == Task.fortschreibung_id).where(*where)
    ).one()  # fmt: skip
    rows = session.exec(
        select(Fortschreibung.key, Task.title, Person.name, Task.due)
        .join(Fortschreibung, Fortschreibung.id == Task.fortschreibung_id)
        .join(Person, Person.id == Task.assignee_id, isouter=True)
        .where(*where).order_by(Task.due, Task.id).limit(limit)
    ).all()  # fmt: skip
    return [
        {"Prozess": key, "Aufgabe": title, "Zuständig": name or "–", "Fällig": short_de(due),
         "Status": DUE_DE["today" if due == today else "overdue"]}
        for key, title, name, due in rows
    ], total  # fmt: skip


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
        rows, total = due_rows(session, day)
        report = _hand_over(session, day, mode)
    if rows:
        description = f"Fällige und überfällige Aufgaben am {short_de(day)}"
        if total > len(rows):
            description += f" (die {len(rows)} am längsten fälligen von {total})"
        create_table_artifact(rows, key="erinnerungen", description=description)
    get_run_logger().info("%s: %d fällig oder überfällig", short_de(day), total)
    return {"day": day.isoformat(), "due": total, "report": report}
