"""A Sitzung the RIS cancelled and then lists as taking place again (oparl sync).

Whoever was sent "Sitzung abgesagt" for that cancellation gets "Sitzung wieder angesetzt"
through the outbox, once; whoever was not (the message taken back unsent) gets neither. The
RIS is a loopback HTTP server with recorded answers, mail goes to a loopback SMTP server.
"""

from __future__ import annotations

import datetime as dt

import pytest
from smtp_server import SmtpServer
from sqlmodel import col, select
from test_oparl_more import meeting, ris, settings_for
from test_oparl_sync import recorded

from lifecycle import services
from lifecycle.models import Person, Reminder, ReminderState
from lifecycle.oparl.service import bind_sitzung
from lifecycle.oparl.sync import sync

TODAY = dt.date(2017, 11, 15)
GR = meeting("gr-2017-12-14", "2017-12-14T18:00:00+01:00", "gr")
CANCELLED = GR | {"cancelled": True}
NEW = meeting("gr-2018-01-25", "2018-01-25T18:00:00+01:00", "gr")
ABGESAGT = "Sitzung abgesagt: GR am 14.12.2017"
WIEDER = "Sitzung wieder angesetzt: GR am 14.12.2017 – bitte die Bindungen prüfen"


@pytest.fixture(autouse=True)
def _loopback_ris(monkeypatch) -> None:
    """The fake RIS listens on 127.0.0.1, which a real sync refuses."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")


class Ris:
    """One loopback RIS whose meeting list the test changes between syncs."""

    def __init__(self, session, base: str, answers: dict):
        self.session, self.base, self.answers = session, base, answers

    def lists(self, *meetings: dict):
        self.answers.update(ris(*meetings))
        return sync(self.session, f"{self.base}/system", "waiblingen", today=TODAY, full=True)


@pytest.fixture
def ris_server(session, waiblingen):
    answers: dict = {}
    with recorded(answers) as base:  # one server: the RIS ids (with its port) stay the same
        yield Ris(session, base, answers)


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def deliver(session, server: SmtpServer) -> None:
    services.run_reminders(session, TODAY, settings=settings_for(server.port))


def mails(server: SmtpServer, start: str) -> list:
    return [m for m in server.inbox.messages if str(m["Subject"]).startswith(start)]


def rows(session, kind: str) -> list[Reminder]:
    session.expire_all()
    return list(session.exec(select(Reminder).where(Reminder.kind == kind)
                             .order_by(Reminder.id)).all())  # fmt: skip


def mailed_and_fed(session, msg) -> tuple:
    """The calendar entry a mail carries, and the internal feed's entry of the same UID."""
    import icalendar

    from lifecycle.ical import FeedOptions, export

    [ics] = [part.get_content() for part in msg.walk()
             if part.get_content_type() == "text/calendar"]  # fmt: skip
    [ev] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    feed = icalendar.Calendar.from_ical(export(session, FeedOptions()))
    [same] = [e for e in feed.walk("VEVENT") if e["UID"] == ev["UID"]]
    return ev, same


def plain(msg) -> str:
    return " ".join(msg.get_body(("plain",)).get_content().split())


def test_the_lead_who_was_sent_abgesagt_is_told_once_that_it_takes_place_again(
    session, ris_server, smtp
):
    assert ris_server.lists(CANCELLED).escalated == 1
    deliver(session, smtp)
    [abgesagt] = mails(smtp, ABGESAGT)
    # what to do, in words a lead who uses the web can act on: no command line
    assert ("Bitte lassen Sie die Plan-Sitzung „Beschluss über das fortgeschriebene Konzept im "
            "Gemeinderat“ an den neuen Termin des Gremiums Gemeinderat binden, sobald er im "
            "Ratsinformationssystem steht; das übernimmt die Betreuung dieser Anwendung.") \
        in plain(abgesagt)  # fmt: skip
    assert "lifecycle" not in plain(abgesagt) and "Befehl" not in plain(abgesagt)

    back = ris_server.lists(GR)
    assert back.reinstated == 1
    [warning] = [w for w in back.warnings if "wieder angesetzt" in w]
    assert warning == (
        "gr-2017-12-14: im RIS wieder angesetzt (Absage aufgehoben); 1 Nachricht(en) „Sitzung "
        "wieder angesetzt“ an die Projektleitung vorgemerkt, der die Absage geschickt wurde; "
        "Bindungen prüfen (lifecycle oparl bind)"
    )
    again = ris_server.lists(GR)  # a second sync: nothing queued twice
    assert again.reinstated == 0 and not [w for w in again.warnings if "wieder angesetzt" in w]
    [row] = rows(session, "sitzung_reinstated")
    lead = session.get(Person, row.person_id)
    assert lead.key == "ortolf" and row.state == ReminderState.planned

    deliver(session, smtp)
    deliver(session, smtp)  # the outbox sends it once
    [msg] = mails(smtp, "Sitzung wieder angesetzt")
    assert msg["Subject"] == WIEDER
    assert msg["To"].addresses[0].addr_spec == "ute.ortolf@waiblingen.example"
    text = plain(msg)
    assert ("die Sitzung des Gremiums Gemeinderat am Donnerstag, 14. Dezember 2017, 18:00 Uhr, "
            "die wir Ihnen als abgesagt gemeldet haben, ist im Ratsinformationssystem wieder "
            "angesetzt: sie findet nun doch statt.") in text  # fmt: skip
    assert "Bitte prüfen Sie die Bindungen des Vorgangs „" in text
    assert ("Eine Plan-Sitzung, die inzwischen an einen anderen Termin gebunden wurde, bleibt "
            "dort, mit ihren Fristen und Erinnerungen. Soll sie wieder an diese Sitzung gebunden "
            "werden, bitten Sie die Betreuung dieser Anwendung darum.") in text  # fmt: skip
    assert "lifecycle" not in text and "Befehl" not in text
    assert ("Plan-Sitzung „Beschluss über das fortgeschriebene Konzept im Gemeinderat“: weiter "
            "an dieser Sitzung") in text  # fmt: skip
    assert "Beratung der Vorlage BSV 21/2017 (Entscheidung): weiter an dieser Sitzung" in text
    assert rows(session, "sitzung_reinstated")[0].state == ReminderState.sent
    assert len(mails(smtp, ABGESAGT)) == 1


def test_no_reinstated_mail_when_the_abgesagt_mail_was_taken_back_unsent(
    session, ris_server, smtp
):
    assert ris_server.lists(CANCELLED).escalated == 1
    back = ris_server.lists(GR)  # before any delivery
    assert back.reinstated == 0
    [warning] = [w for w in back.warnings if "wieder angesetzt" in w]
    assert "1 noch nicht verschickte Absage-Nachricht(en) zurückgenommen" in warning
    assert "keine Nachricht an die Projektleitung (ihr wurde keine Absage geschickt)" in warning
    deliver(session, smtp)
    assert mails(smtp, "Sitzung abgesagt") == mails(smtp, "Sitzung wieder angesetzt") == []
    assert rows(session, "sitzung_reinstated") == []
    assert [r.state for r in rows(session, "sitzung_cancelled")] == [ReminderState.cancelled]


def test_cancelled_again_before_delivery_the_reinstated_mail_is_obsolete(
    session, ris_server, smtp
):
    ris_server.lists(CANCELLED)
    deliver(session, smtp)
    assert ris_server.lists(GR).reinstated == 1
    assert ris_server.lists(CANCELLED).escalated == 1  # the second cancellation, its own message
    deliver(session, smtp)
    assert len(mails(smtp, ABGESAGT)) == 2 and mails(smtp, "Sitzung wieder angesetzt") == []
    [stale] = rows(session, "sitzung_reinstated")
    assert stale.state == ReminderState.cancelled and stale.sent_at is None
    assert stale.last_error == "hinfällig: Sitzung im RIS wieder abgesagt"

    # the second reinstatement is told to whoever was sent the second cancellation
    assert ris_server.lists(GR).reinstated == 1
    deliver(session, smtp)
    assert [m["Subject"] for m in mails(smtp, "Sitzung wieder angesetzt")] == [WIEDER]
    assert [r.state for r in rows(session, "sitzung_reinstated")] == [
        ReminderState.cancelled, ReminderState.sent]  # fmt: skip


def test_reinstated_at_another_time_both_the_reinstatement_and_the_move_are_told(
    session, ris_server, smtp
):
    ris_server.lists(CANCELLED)
    deliver(session, smtp)
    later = GR | {"start": "2017-12-21T18:00:00+01:00"}
    back = ris_server.lists(later)  # listed again, a week later: reinstated and moved
    assert back.reinstated == 1 and [m[0] for m in back.moved] == ["gr-2017-12-14"]
    deliver(session, smtp)
    [msg] = mails(smtp, "Sitzung wieder angesetzt")  # the move does not take it back
    assert msg["Subject"] == (
        "Sitzung wieder angesetzt: GR am 21.12.2017 – bitte die Bindungen prüfen"
    )
    assert ("die Sitzung des Gremiums Gemeinderat am Donnerstag, 14. Dezember 2017, 18:00 Uhr, "
            "die wir Ihnen als abgesagt gemeldet haben, ist im Ratsinformationssystem wieder "
            "angesetzt: sie findet nun doch statt, und zwar am Donnerstag, 21. Dezember 2017, "
            "18:00 Uhr.") in plain(msg)  # fmt: skip
    [moved] = [m for m in mails(smtp, "Sitzung verlegt") if "ortolf" in str(m["To"])]
    assert moved["Subject"] == "Sitzung verlegt: GR vom 14.12.2017 auf 21.12.2017"
    # its calendar entry is newer than the "Abgesagt" one the feed had: cancelled,
    # reinstated, moved make SEQUENCE 3, as in the feed (else a client keeps the cancellation)
    ev, same = mailed_and_fed(session, moved)
    assert int(ev["SEQUENCE"]) == int(same["SEQUENCE"]) == 3
    assert str(ev["STATUS"]) == str(same["STATUS"]) == "CONFIRMED"
    # the "wieder angesetzt" mail's entry is the same: at the new time, taking place
    ev, same = mailed_and_fed(session, msg)
    assert int(ev["SEQUENCE"]) == int(same["SEQUENCE"]) == 3
    assert str(ev["STATUS"]) == str(same["STATUS"]) == "CONFIRMED"
    assert ev.decoded("DTSTART") == same.decoded("DTSTART")
    assert ev.decoded("DTSTART").isoformat() == "2017-12-21T18:00:00+01:00"


def test_the_abgesagt_mail_carries_the_sitzungs_entry_cancelled_as_the_feed_has_it(
    session, ris_server, smtp
):
    """A lead who keeps the Sitzung in her own calendar, without the feed, sees it cancelled:
    the "abgesagt" mail's entry is the feed's, at the same SEQUENCE."""
    ris_server.lists(CANCELLED)
    deliver(session, smtp)
    [msg] = mails(smtp, ABGESAGT)
    [name] = [part.get_filename() for part in msg.iter_attachments()
              if part.get_content_type() == "text/calendar"]  # fmt: skip
    assert name == "sitzung.ics"
    ev, same = mailed_and_fed(session, msg)
    assert str(ev["STATUS"]) == str(same["STATUS"]) == "CANCELLED"
    assert int(ev["SEQUENCE"]) == int(same["SEQUENCE"]) == 1
    assert str(ev["SUMMARY"]) == str(same["SUMMARY"]) == "Abgesagt: GR: Gemeinderat"
    assert str(ev["TRANSP"]) == str(same["TRANSP"]) == "TRANSPARENT"
    assert ev.decoded("DTSTART") == same.decoded("DTSTART")


def test_the_reinstated_mail_and_the_feed_say_confirmed_over_the_cancelled_entry(
    session, ris_server, smtp
):
    """A client that stored the feed's CANCELLED entry may keep that status when an update
    omits STATUS (Outlook, some CalDAV clients): the entry of a reinstated Sitzung, in the
    feed and in the "wieder angesetzt" mail, says CONFIRMED, at a higher SEQUENCE."""
    import icalendar

    from lifecycle.ical import FeedOptions, export, uid_sitzung

    ris_server.lists(CANCELLED)
    deliver(session, smtp)
    uid = uid_sitzung("waiblingen", "gr-2017-12-14")
    [off] = [e for e in icalendar.Calendar.from_ical(export(session, FeedOptions()))
             .walk("VEVENT") if str(e["UID"]) == uid]  # fmt: skip
    assert str(off["STATUS"]) == "CANCELLED" and int(off["SEQUENCE"]) == 1

    assert ris_server.lists(GR).reinstated == 1
    deliver(session, smtp)
    [msg] = mails(smtp, "Sitzung wieder angesetzt")
    [name] = [part.get_filename() for part in msg.iter_attachments()
              if part.get_content_type() == "text/calendar"]  # fmt: skip
    assert name == "sitzung.ics"
    ev, same = mailed_and_fed(session, msg)
    assert str(ev["UID"]) == uid
    assert str(ev["STATUS"]) == str(same["STATUS"]) == "CONFIRMED"
    assert int(ev["SEQUENCE"]) == int(same["SEQUENCE"]) == 2 > int(off["SEQUENCE"])
    assert str(ev["SUMMARY"]) == str(same["SUMMARY"]) == "GR: Gemeinderat"
    assert ev.decoded("DTSTART") == same.decoded("DTSTART") == off.decoded("DTSTART")
    assert "TRANSP" not in ev and "TRANSP" not in same  # the evening is busy again


def test_a_plan_sitzung_bound_elsewhere_meanwhile_is_named_as_bound_there(
    session, ris_server, smtp
):
    ris_server.lists(CANCELLED, NEW)
    deliver(session, smtp)
    bind_sitzung(session, "waiblingen-2017", "vorlage_entscheidung", "gr-2018-01-25",
                 actor="ute")  # fmt: skip
    assert ris_server.lists(GR, NEW).reinstated == 1
    deliver(session, smtp)
    [msg] = mails(smtp, "Sitzung wieder angesetzt")
    assert msg["Subject"] == WIEDER
    text = plain(msg)
    assert ("Plan-Sitzung „Beschluss über das fortgeschriebene Konzept im Gemeinderat“: "
            "inzwischen an die Sitzung des Gremiums Gemeinderat am 25.01.2018, 18:00 Uhr, "
            "gebunden") in text  # fmt: skip
    assert "gr-2018-01-25" not in text and "gr-2018-01-25" not in " ".join(
        msg.get_body(("html",)).get_content().split())  # the Sitzung's key is no name
    assert ("Beratung der Vorlage BSV 21/2017 (Entscheidung): inzwischen an einer anderen "
            "Sitzung") in text  # fmt: skip


def test_the_cli_says_what_the_sync_queued(session, ris_server, smtp, capsys):
    from lifecycle.cli import run

    ris_server.lists(CANCELLED)
    deliver(session, smtp)
    ris_server.answers.update(ris(GR))
    capsys.readouterr()
    assert run(["oparl", "sync", f"{ris_server.base}/system", "--kommune", "waiblingen",
                "--alles"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "wieder angesetzte Sitzungen: 1 Nachricht(en) an die Projektleitung eingeplant" in out
    assert ("Warnung: gr-2017-12-14: im RIS wieder angesetzt (Absage aufgehoben); 1 Nachricht(en) "
            "„Sitzung wieder angesetzt“ an die Projektleitung vorgemerkt") in out  # fmt: skip
    assert [r.state for r in rows(session, "sitzung_reinstated")] == [ReminderState.planned]


def test_an_abgesagt_mail_claimed_when_the_ris_reinstates_is_not_sent_after_it(
    session, ris_server, smtp
):
    """A delivery held the "abgesagt" row (a run that crashed after claiming it) when the RIS
    listed the Sitzung again: the row may have gone out, so the lead is told it takes place;
    taken up again by the next delivery, it is dropped, never sent after the reinstatement."""
    from sqlalchemy import update

    assert ris_server.lists(CANCELLED).escalated == 1
    [row] = rows(session, "sitzung_cancelled")
    session.execute(update(Reminder).where(col(Reminder.id) == row.id).values(
        state=ReminderState.sending.name, claim_token="crashed",
        claimed_at=dt.datetime(2017, 11, 1, tzinfo=dt.UTC)))  # fmt: skip
    session.commit()
    assert ris_server.lists(GR).reinstated == 1
    deliver(session, smtp)
    assert mails(smtp, ABGESAGT) == []
    assert [str(m["Subject"]) for m in mails(smtp, "Sitzung wieder angesetzt")] == [WIEDER]
    [row] = rows(session, "sitzung_cancelled")
    assert (row.state, row.last_error) == (ReminderState.cancelled,
                                           "hinfällig: Sitzung im RIS wieder angesetzt")


def test_a_cancelled_sitzung_moved_by_the_clerk_stays_cancelled_in_the_moved_mails_calendar(
    session, ris_server, smtp
):
    """The "Sitzung verlegt" mail's entry has the feed's SEQUENCE: for a Sitzung the RIS
    has cancelled it says so too (else a calendar would show it taking place after all)."""
    ris_server.lists(CANCELLED)
    services.move_sitzung(session, "gr-2017-12-14", dt.datetime(2017, 12, 21, 18, 0),
                          actor="sitzungsdienst", today=TODAY)  # fmt: skip
    deliver(session, smtp)
    [moved] = [m for m in mails(smtp, "Sitzung verlegt") if "ortolf" in str(m["To"])]
    ev, same = mailed_and_fed(session, moved)
    assert int(ev["SEQUENCE"]) == int(same["SEQUENCE"]) == 2
    assert str(ev["STATUS"]) == str(same["STATUS"]) == "CANCELLED"
    assert str(ev["SUMMARY"]) == str(same["SUMMARY"]) == "Abgesagt: GR: Gemeinderat"
