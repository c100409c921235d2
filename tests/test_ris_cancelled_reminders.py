"""Vorlagenschluss reminders of a Sitzung the RIS cancelled (oparl sync).

While the RIS's last word on a Sitzung a process uses is a cancellation, its Vorlagenschluss
does not stand: the daily scan plans no Vorlagenschluss reminder for it, and one queued before
the cancellation is not sent ("hinfällig: Sitzung im RIS abgesagt"). The project lead has the
"Sitzung abgesagt" message. Once the RIS reinstates the Sitzung, or a new Sitzung is bound
(`lifecycle oparl bind`), the reminders come back by themselves: the engine's cancelled row is
planned again when it is due again. The due reminders of tasks anchored to the cancelled
Sitzung still go out: the tasks are still to be done.

The RIS is a loopback HTTP server with recorded answers (test_oparl_reinstated), mail goes to
a loopback SMTP server; Waiblingen's Gemeinderat of 14.12.2017 has its Vorlagenschluss on
30.11.2017 (reminders on 16.11., 23.11. and 29.11. to the project lead), the BSV of 06.12.2017
on 22.11.2017 (reminders on 08.11., 15.11. and 21.11. to the Sitzungsdienst).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import icalendar
import pytest
from smtp_server import SmtpServer, free_port
from sqlalchemy import event
from sqlmodel import select
from test_oparl_more import settings_for
from test_oparl_reinstated import CANCELLED, GR, NEW, Ris
from test_oparl_sync import recorded

from lifecycle import ical, outbox, reminders, services
from lifecycle.models import Reminder, ReminderState, Sitzung
from lifecycle.oparl.service import bind_sitzung

D = dt.date
GR_VS = "Vorlagenschluss 30.11.2017 für GR am 14.12.2017"
BSV_VS = "Vorlagenschluss 22.11.2017 für BSV am 06.12.2017"
NEW_VS = "Vorlagenschluss 11.01.2018 für GR am 25.01.2018"
OBSOLETE = "hinfällig: Sitzung im RIS abgesagt"


@pytest.fixture(autouse=True)
def _loopback_ris(monkeypatch) -> None:
    """The fake RIS listens on 127.0.0.1, which a real sync refuses."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")


@pytest.fixture
def ris_server(session, waiblingen) -> Iterator[Ris]:
    """One loopback RIS (syncs dated 15.11.2017) whose meeting list a test changes."""
    answers: dict = {}
    with recorded(answers) as base:
        yield Ris(session, base, answers)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def run(session, server: SmtpServer, day: dt.date):
    return services.run_reminders(session, day, settings=settings_for(server.port))


def subjects(server: SmtpServer, start: str = "") -> list[str]:
    return [str(m["Subject"]) for m in server.inbox.messages
            if str(m["Subject"]).startswith(start)]  # fmt: skip


def to(server: SmtpServer, subject: str) -> list[str]:
    return [m["To"].addresses[0].addr_spec for m in server.inbox.messages
            if str(m["Subject"]) == subject]  # fmt: skip


def gr_rows(session, key: str = "gr-2017-12-14") -> list[Reminder]:
    session.expire_all()
    sitzung = session.exec(select(Sitzung).where(Sitzung.key == key)).one()
    return list(session.exec(select(Reminder).where(
        Reminder.kind == "vorlagenschluss", Reminder.sitzung_id == sitzung.id,
    ).order_by(Reminder.id)).all())  # fmt: skip


def test_no_vorlagenschluss_reminder_while_cancelled_and_one_after_the_reinstatement(
    session, ris_server, smtp
):
    assert ris_server.lists(CANCELLED).escalated == 1
    run(session, smtp, D(2017, 11, 16))  # the day of the Gemeinderat's first reminder
    assert subjects(smtp, "Vorlagenschluss") == [BSV_VS]  # the BSV's still goes out
    assert to(smtp, BSV_VS) == ["sitzungsdienst@waiblingen.example"]
    assert len(subjects(smtp, "Sitzung abgesagt: GR am 14.12.2017")) == 1
    run(session, smtp, D(2017, 11, 23))  # its second
    assert subjects(smtp, "Vorlagenschluss") == [BSV_VS]
    assert gr_rows(session) == []  # not even planned

    assert ris_server.lists(GR).reinstated == 1
    run(session, smtp, D(2017, 11, 24))  # the next daily run catches up on the 23rd's
    run(session, smtp, D(2017, 11, 24))
    assert subjects(smtp, "Vorlagenschluss") == [BSV_VS, GR_VS]
    assert to(smtp, GR_VS) == ["ute.ortolf@waiblingen.example"]
    [row] = gr_rows(session)
    assert (row.state, row.offset, row.send_on) == (ReminderState.sent, 5, D(2017, 11, 23))


def test_a_reminder_queued_before_the_cancellation_is_not_sent_and_comes_back(
    session, ris_server, smtp
):
    down = services.run_reminders(session, D(2017, 11, 16), settings=settings_for(free_port()))
    assert down.server_error and down.sent == 0  # the mail server was down: all still queued
    [queued] = gr_rows(session)
    assert queued.state in (ReminderState.planned, ReminderState.failed)

    ris_server.lists(CANCELLED)
    report = run(session, smtp, D(2017, 11, 16))
    assert subjects(smtp, "Vorlagenschluss") == [BSV_VS]
    [stale] = gr_rows(session)
    assert (stale.id, stale.state, stale.sent_at) == (queued.id, ReminderState.cancelled, None)
    assert stale.last_error == OBSOLETE and stale.cancelled_by == ""
    assert report.cancelled == 1 and report.sent == len(smtp.inbox)
    run(session, smtp, D(2017, 11, 17))  # stays cancelled while the RIS says so
    assert [r.state for r in gr_rows(session)] == [ReminderState.cancelled]

    ris_server.lists(GR)
    run(session, smtp, D(2017, 11, 17))
    run(session, smtp, D(2017, 11, 17))
    assert subjects(smtp, "Vorlagenschluss") == [BSV_VS, GR_VS]  # once
    [again] = gr_rows(session)  # the same row, planned again and sent
    assert (again.id, again.state, again.last_error) == (queued.id, ReminderState.sent, "")
    # its calendar entry outranks the feed's "Abgesagt" one: the cancellation and the
    # reinstatement count in the SEQUENCE, as in the feed
    [msg] = [m for m in smtp.inbox.messages if str(m["Subject"]) == GR_VS]
    [ics] = [part for part in msg.iter_attachments()
             if part.get_content_type() == "text/calendar"]  # fmt: skip
    [ev] = icalendar.Calendar.from_ical(ics.get_content()).walk("VEVENT")
    assert str(ev["uid"]) == ical.uid_vorlagenschluss("waiblingen", "gr-2017-12-14")
    assert int(ev["sequence"]) == 2 and str(ev["status"]) == "CONFIRMED"
    assert str(ev["summary"]) == "Vorlagenschluss GR (Sitzung am 14.12.2017)"
    feed = icalendar.Calendar.from_ical(ical.export(session, ical.FeedOptions(
        process="waiblingen-2017")))  # fmt: skip
    [in_feed] = [e for e in feed.walk("VEVENT") if e["uid"] == ev["uid"]]
    assert int(in_feed["sequence"]) == 2 and str(in_feed["status"]) == "CONFIRMED"


def test_after_binding_a_new_sitzung_its_vorlagenschluss_is_reminded(
    session, ris_server, smtp
):
    ris_server.lists(CANCELLED, NEW)
    run(session, smtp, D(2017, 11, 16))
    assert subjects(smtp, "Vorlagenschluss") == [BSV_VS]
    bind_sitzung(session, "waiblingen-2017", "vorlage_entscheidung", "gr-2018-01-25",
                 actor="ute", today=D(2017, 11, 16))  # fmt: skip
    run(session, smtp, D(2017, 12, 27))  # ten working days before 11.01.2018
    assert subjects(smtp, "Vorlagenschluss") == [BSV_VS, NEW_VS]
    assert to(smtp, NEW_VS) == ["ute.ortolf@waiblingen.example"]
    assert gr_rows(session) == []


def test_due_reminders_of_tasks_anchored_to_the_cancelled_sitzung_still_go_out(
    session, ris_server, smtp
):
    ris_server.lists(CANCELLED)
    run(session, smtp, D(2017, 11, 30))  # the Vorlagenschluss itself; its last reminder: 29.11.
    assert GR_VS not in subjects(smtp) and gr_rows(session) == []
    # the Beschluss to be recorded, due on the day of the cancelled Sitzung: still to be done
    beschluss = "Erinnerung: „Beschluss des Gemeinderats protokolliert“"
    assert subjects(smtp, beschluss) == [f"{beschluss} fällig am 14.12.2017"]


@contextmanager
def statements(session) -> Iterator[list[str]]:
    sent: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(session.get_bind(), "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", note)


def test_one_question_to_the_event_log_per_scan_and_none_of_its_own_per_delivered_row(
    session, ris_server, smtp
):
    asks = "GROUP BY event.entity_id"  # lifecycle.cancellations.cancelled_sitzungen
    services.run_reminders(session, D(2017, 11, 16), settings=settings_for(free_port()))
    ris_server.lists(CANCELLED)  # the Gemeinderat's reminder is queued already
    with statements(session) as scan:
        found = reminders.find_due(session, D(2017, 11, 16))
    assert {p.subject for p in found if p.kind == "vorlagenschluss"} == {"vorlagenschluss:1:3"}
    [ask] = [s for s in scan if asks in s]
    assert "event.entity_id IN (?, ?)" in ask  # the BSV and the Gemeinderat, asked together

    with statements(session) as delivery:
        done = outbox.deliver(session, D(2017, 11, 16), settings_for(smtp.port))
    assert len(done.cancelled) == 1 and len(done.sent) == len(smtp.inbox) > 3
    loads = [s for s in delivery if "sitzung_last_word" in s]
    assert len(loads) == len(done.sent) + 1  # read with each row, in its one load statement
    assert not [s for s in delivery if asks in s]
    assert [r.last_error for r in gr_rows(session)] == [OBSOLETE]
