"""OParl sync, continued (issue 12): a cancelled Sitzung escalated to the project lead through
the outbox, binding a new Sitzung to a plan Sitzung, the hourly Prefect deployment.

The RIS is a loopback HTTP server with recorded answers (test_oparl_sync.recorded); mail goes
to the loopback SMTP server.
"""

from __future__ import annotations

import datetime as dt
import json

from smtp_server import SmtpServer
from sqlmodel import select
from test_oparl_sync import _system, recorded

from lifecycle import mail, services
from lifecycle.models import Person, Reminder, ReminderState
from lifecycle.oparl.sync import sync

TODAY = dt.date(2017, 11, 15)
J = "application/json"
MEETING = "https://schema.oparl.org/1.1/Meeting"
ORGS = [
    {"id": "{base}/org/gr", "type": "https://schema.oparl.org/1.1/Organization",
     "name": "Gemeinderat"},
    {"id": "{base}/org/bsv", "type": "https://schema.oparl.org/1.1/Organization",
     "name": "Ausschuss für Bildung, Soziales und Verwaltung", "shortName": "BSV"},
]  # fmt: skip


def ris(*meetings: dict) -> dict[str, tuple[int, str, str]]:
    """A RIS (the Body "Musterstadt" at /body/1) with the Waiblingen Gremien and ``meetings``."""
    page = {"pagination": {}, "links": {}}
    return _system() | {
        "/orgs": (200, J, json.dumps({"data": ORGS, **page})),
        "/meetings": (200, J, json.dumps({"data": list(meetings), **page})),
    }


def meeting(key: str, start: str, org: str, **more) -> dict:
    return {"id": f"{{base}}/meeting/{key}", "type": MEETING, "start": start,
            "organization": [f"{{base}}/org/{org}"], **more}  # fmt: skip


def settings_for(port: int) -> mail.MailSettings:
    return mail.settings_from({"LIFECYCLE_SMTP_HOST": "127.0.0.1",
                               "LIFECYCLE_SMTP_PORT": str(port),
                               "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example"})  # fmt: skip


def escalations(session) -> list[tuple[str, Reminder]]:
    session.expire_all()
    query = select(Reminder, Person).join(Person, Person.id == Reminder.person_id)
    rows = session.exec(query.where(Reminder.kind == "cancelled").order_by(Reminder.id)).all()
    return [(p.key, r) for r, p in rows]


# --- 1. a cancelled Sitzung a process depends on goes to the project lead -------------------


def test_a_cancelled_sitzung_is_escalated_to_the_project_lead_once_and_delivered(
    session, waiblingen
):
    cancelled = meeting("gr-2017-12-14", "2017-12-14T18:00:00+01:00", "gr", cancelled=True)
    with recorded(ris(cancelled)) as base:
        first = sync(session, f"{base}/system", "waiblingen", today=TODAY)
        again = sync(session, f"{base}/system", "waiblingen", today=TODAY, full=True)
    assert (first.escalated, again.escalated) == (1, 0)  # the outbox key: queued once
    [(lead, row)] = escalations(session)
    assert lead == "ortolf"  # the projektleitung of waiblingen-2017, nobody else
    assert (row.state, row.send_on, row.deadline) == (
        ReminderState.planned, TODAY, dt.date(2017, 12, 14))  # fmt: skip
    assert row.payload["names"] == ["vorlage_entscheidung"]
    assert row.payload["vorlagen"] == ["BSV 21/2017 (Entscheidung)"]

    with SmtpServer() as server:
        services.run_reminders(session, TODAY, settings=settings_for(server.port))
        sent = [m for m in server.inbox.messages
                if str(m["Subject"]).startswith("Sitzung abgesagt")]  # fmt: skip
        services.run_reminders(session, TODAY, settings=settings_for(server.port))
        assert len([m for m in server.inbox.messages
                    if str(m["Subject"]).startswith("Sitzung abgesagt")]) == 1  # fmt: skip
    [msg] = sent
    assert msg["To"].addresses[0].addr_spec == "ute.ortolf@waiblingen.example"
    assert msg["Subject"] == (
        "Sitzung abgesagt: GR am 14.12.2017 – bitte einen neuen Termin binden"
    )
    text = msg.get_body(("plain",)).get_content()
    assert "Donnerstag, 14. Dezember 2017, 18:00 Uhr, wurde im Ratsinformationssystem " \
           "abgesagt" in " ".join(text.split())  # fmt: skip
    assert "lifecycle oparl bind waiblingen-2017 vorlage_entscheidung NEUE-SITZUNG" in text
    assert "Beratung der Vorlage BSV 21/2017 (Entscheidung)" in text
    assert escalations(session)[0][1].state == ReminderState.sent


def test_a_deleted_sitzung_is_escalated_and_a_decided_one_is_not(session, waiblingen):
    services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                         on=dt.date(2017, 4, 27), by="sitzungsdienst", reference="BSV 3/2017",
                         force_reason="Test")  # fmt: skip
    deleted = {"id": "{base}/meeting/bsv-2017-12-06", "type": MEETING, "deleted": True,
               "created": "2017-01-01T00:00:00+01:00",
               "modified": "2017-11-14T00:00:00+01:00"}  # fmt: skip
    past = meeting("gr-2017-04-27", "2017-04-27T18:00:00+02:00", "gr", cancelled=True)
    with recorded(ris(deleted, past)) as base:
        report = sync(session, f"{base}/system", "waiblingen", today=TODAY)
    assert report.escalated == 1 and report.deleted == []  # it stays: a process needs it
    [(lead, row)] = escalations(session)
    assert lead == "ortolf" and row.payload["sitzung_key"] == "bsv-2017-12-06"
    assert row.payload["deleted"] is True and row.payload["names"] == ["vorlage_vorberatung"]
    # the Gemeinderat of April decided its gate already: no new date is needed for it
    assert any("gr-2017-04-27" in w and "schon entschieden" in w for w in report.warnings)
