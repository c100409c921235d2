"""OParl sync, continued (issue 12): a cancelled Sitzung escalated to the project lead through
the outbox, binding a new Sitzung to a plan Sitzung, the hourly Prefect deployment.

The RIS is a loopback HTTP server with recorded answers (test_oparl_sync.recorded); mail goes
to the loopback SMTP server.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import EXAMPLES
from smtp_server import SmtpServer
from sqlmodel import select
from test_oparl_sync import _system, recorded
from web_support import dump

from lifecycle import mail, services
from lifecycle.cli import run
from lifecycle.history import entries
from lifecycle.models import (
    Beratung,
    Event,
    Fortschreibung,
    Gremium,
    Person,
    Reminder,
    ReminderState,
    Sitzung,
    SitzungBinding,
    Task,
)
from lifecycle.oparl.sync import sync
from lifecycle.scenario import load_scenario
from lifecycle.words import ACTION_DE

TODAY = dt.date(2017, 11, 15)


@pytest.fixture(autouse=True)
def _loopback_ris(monkeypatch) -> None:
    """The fake RIS listens on 127.0.0.1, which a real sync refuses."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")
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
    query = query.where(Reminder.kind == "sitzung_cancelled").order_by(Reminder.id)
    rows = session.exec(query).all()
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
    assert "Plan-Sitzung „Beschluss über das fortgeschriebene Konzept im Gemeinderat“" in text
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


# --- 2. a new Sitzung bound to a plan Sitzung ------------------------------------------------


def _dues(session) -> dict[str, dt.date | None]:
    session.expire_all()
    return {t.key: t.due for t in session.exec(select(Task))}


def test_bind_a_new_sitzung_after_a_cancellation_deadlines_and_reminders_follow(
    session, waiblingen, capsys
):
    cancelled = meeting("gr-2017-12-14", "2017-12-14T18:00:00+01:00", "gr", cancelled=True)
    new = meeting("gr-2018-01-25", "2018-01-25T18:00:00+01:00", "gr")
    with recorded(ris(cancelled, new)) as base:
        report = sync(session, f"{base}/system", "waiblingen", today=TODAY)
    assert report.sitzungen_created == ["gr-2018-01-25"] and report.escalated == 1
    services.plan_reminders(session, dt.date(2017, 11, 30))  # a Vorlagenschluss of the GR
    before = _dues(session)

    code = run(["oparl", "bind", "waiblingen-2017", "vorlage_entscheidung", "gr-2018-01-25"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "vorlage_entscheidung von gr-2017-12-14 (14.12.2017 18:00) an gr-2018-01-25" in out
    session.expire_all()
    process = session.exec(select(Fortschreibung)).one()
    binding = session.exec(select(SitzungBinding).where(
        SitzungBinding.name == "vorlage_entscheidung")).one()  # fmt: skip
    new_row = session.exec(select(Sitzung).where(Sitzung.key == "gr-2018-01-25")).one()
    assert binding.sitzung_id == new_row.id
    entscheidung = session.exec(select(Beratung).where(Beratung.role == "Entscheidung")
                                .order_by(Beratung.id.desc())).first()  # fmt: skip
    assert entscheidung.sitzung_id == new_row.id  # the Beratungsfolge follows
    after = _dues(session)
    changed = {k for k in after if after[k] != before[k]}
    assert changed  # the deadlines anchored to the Entscheidung moved ...
    assert new_row.start.date() == dt.date(2018, 1, 25)  # the day the deadlines now count from
    logged = session.exec(select(Event).where(Event.action == "due_changed")).all()
    assert any(e.after["reason"] == "Plan-Sitzung „vorlage_entscheidung“ an die Sitzung am "
               "25.01.2018 gebunden" for e in logged)
    # ... the escalation and the old Sitzung's Vorlagenschluss are dropped, the lead is told
    kinds = ["sitzung_cancelled", "vorlagenschluss"]
    old_rows = session.exec(select(Reminder).where(Reminder.sitzung_id != new_row.id,
                                                   Reminder.kind.in_(kinds))).all()  # fmt: skip
    gr_old = [r for r in old_rows if r.payload.get("sitzung_key") == "gr-2017-12-14"]
    assert gr_old and all(r.state == ReminderState.cancelled for r in gr_old)
    told = [p for r, p in session.exec(select(Reminder, Person)
            .join(Person, Person.id == Reminder.person_id)
            .where(Reminder.kind == "moved")).all()]  # fmt: skip
    assert "ortolf" in {p.key for p in told}
    assert session.exec(select(Event).where(Event.action == "sitzung_bound")).one()
    # the Verlauf reads it in German, and every action the sync logged has its label
    [shown] = [e for e in entries(session, process, internal=True)
               if e.what == "Plan-Sitzung neu gebunden"]
    assert "Sitzung: gr-2017-12-14 → gr-2018-01-25" in shown.details
    logged_actions = {e.action for e in session.exec(select(Event))}
    assert {"oparl_created", "oparl_linked", "oparl_synced", "oparl_cancelled"} <= logged_actions
    assert logged_actions <= set(ACTION_DE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nix-2017", "vorlage_entscheidung", "gr-2018-01-25"], "keine Fortschreibung „nix-2017“"),
        (["waiblingen-2017", "gibt_es_nicht", "gr-2018-01-25"], "keine Plan-Sitzung"),
        (["waiblingen-2017", "vorlage_entscheidung", "gr-2099-01-01"], "keine Sitzung"),
        (["waiblingen-2017", "vorlage_entscheidung", "akjs-2018-06-12"],
         "gehört zur Kommune „voelklingen“"),
        (["waiblingen-2017", "vorlage_entscheidung", "voelklingen:akjs-2018-06-12"],
         "gehört zur Kommune „voelklingen“"),
        (["waiblingen-2017", "vorlage_entscheidung", "gr-2017-02-15"],
         "vor dem Beginn der Fortschreibung"),
        (["waiblingen-2017", "vorlage_entscheidung", "gr-2017-11-30"], "Beratungsfolge"),
        (["waiblingen-2017", "beschluss_entscheidung", "gr-2018-01-25"],
         "über die Phase „Ratsbeschluss“ an der Plan-Sitzung „beschluss_entscheidung“ ist schon "
         "entschieden"),  # the stage by its title, the plan's Sitzung by the name bind takes
        (["waiblingen-2017", "vorlage_entscheidung", "gr-2017-12-14"], "schon an die Sitzung"),
    ],
)
def test_bind_refuses_bad_input_with_one_german_line_and_changes_nothing(
    args, message, session, waiblingen, db_url, capsys
):
    services.start(session, load_scenario(EXAMPLES / "voelklingen-2017.yaml"), actor="test")
    services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                         on=dt.date(2017, 4, 27), by="sitzungsdienst", reference="BSV 3/2017",
                         force_reason="Test")  # fmt: skip
    gr = session.exec(select(Gremium).where(Gremium.key == "gr")).one()
    for key, start in (("gr-2017-02-15", dt.datetime(2017, 2, 15, 18)),
                       ("gr-2017-11-30", dt.datetime(2017, 11, 30, 18)),
                       ("gr-2018-01-25", dt.datetime(2018, 1, 25, 18))):  # fmt: skip
        session.add(Sitzung(kommune_id=gr.kommune_id, gremium_id=gr.id, key=key, start=start))
    session.commit()
    capsys.readouterr()
    before = dump(db_url)
    assert run(["oparl", "bind", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert dump(db_url) == before
