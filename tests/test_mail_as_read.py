"""Reminder mails of Waiblingen 2017 as their recipients read them: delivered to a real SMTP
server on loopback and parsed with the email package (headers, German text)."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
from smtp_server import SmtpServer
from test_reminders import settings_for

from lifecycle import services
from lifecycle.dates import BERLIN

D = dt.date


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def deliver(session, server: SmtpServer, first: dt.date, last: dt.date | None = None) -> None:
    """The daily run on every day from ``first`` to ``last`` (or ``first`` alone)."""
    day = first
    while day <= (last or first):
        services.run_reminders(session, day, settings=settings_for(server.port))
        day += dt.timedelta(days=1)


def plain(msg) -> str:
    return " ".join(msg.get_body(("plain",)).get_content().split())


def html(msg) -> str:
    return " ".join(msg.get_body(("html",)).get_content().split())


def test_every_mail_says_it_is_german(session, waiblingen, smtp):
    deliver(session, smtp, D(2017, 11, 6))  # a Monday: due reminders and digests
    assert len(smtp.inbox) >= 2
    for msg in smtp.inbox.messages:
        assert msg["Content-Language"] == "de", msg["Subject"]


def test_every_mail_is_dated_in_the_rathaus_zone(session, waiblingen, smtp):
    deliver(session, smtp, D(2017, 11, 6))
    assert len(smtp.inbox) >= 2
    for msg in smtp.inbox.messages:
        # RFC 5322 3.3: "-0000" says the zone is unknown; a reader gets a naive time from it
        written = email.utils.parsedate_to_datetime(str(msg["Date"]))
        assert written.tzinfo is not None, msg["Date"]
        assert written.utcoffset() == written.astimezone(BERLIN).utcoffset(), msg["Date"]


PROCESS = "„Fortschreibung des Integrationskonzepts“ (Waiblingen)"


def test_the_digest_of_one_task_speaks_of_one_task(session, waiblingen, smtp):
    deliver(session, smtp, D(2017, 10, 2))  # a Monday: the digests of the AGs
    digests = {str(m["To"].addresses[0].display_name): m for m in smtp.inbox.messages
               if str(m["Subject"]).startswith("Wochenübersicht")}  # fmt: skip
    one = digests["Moderation AG Sprache und Bildung"]
    assert one["Subject"] == "Wochenübersicht: 1 Frist bis 16.10.2017"
    assert (f"in den nächsten zwei Wochen (bis Montag, 16. Oktober 2017) ist im Vorgang "
            f"{PROCESS} diese Aufgabe fällig:") in plain(one)  # fmt: skip
    assert "Aufgaben" not in plain(one) and "Aufgaben" not in html(one)
    two = digests["Moderation AG Kultur und Vereine"]
    assert two["Subject"] == "Wochenübersicht: 2 Fristen bis 16.10.2017"
    assert f"sind im Vorgang {PROCESS} diese Aufgaben fällig:" in plain(two)


def test_the_digest_names_the_horizon_the_policy_sets(session, tmp_path, smtp):
    from test_reminders import _start_with

    _start_with(session, tmp_path, {"digest_horizon_days": 7})
    deliver(session, smtp, D(2017, 11, 6))
    [digest] = [m for m in smtp.inbox.messages if str(m["Subject"]).startswith("Wochenübersicht")
                and m["To"].addresses[0].display_name == "Ute Ortolf"]  # fmt: skip
    assert digest["Subject"] == "Wochenübersicht: 1 Frist bis 13.11.2017"
    assert (f"in der nächsten Woche (bis Montag, 13. November 2017) ist im Vorgang {PROCESS} "
            "diese Aufgabe fällig:") in plain(digest)  # fmt: skip
    assert "zwei Wochen" not in plain(digest)


def test_the_lead_is_not_sent_to_herself_about_her_own_task(session, waiblingen, smtp):
    deliver(session, smtp, D(2017, 10, 30))  # ten working days before 13.11.2017
    due = [m for m in smtp.inbox.messages if str(m["Subject"]).startswith("Erinnerung:")]
    mine = [m for m in due if m["To"].addresses[0].display_name == "Ute Ortolf"]
    assert len(mine) == 2  # "Ergebnisse der Arbeitsgruppen auswerten" is hers too, due today
    for own in mine:
        assert "Bitte erledigen Sie sie rechtzeitig." in plain(own)
        assert "Projektleitung, falls" not in plain(own) and "melden Sie sich" not in html(own)
    others = [m for m in due if m["To"].addresses[0].display_name != "Ute Ortolf"]
    assert others  # whoever is not the lead still hears whom to tell
    for msg in others:
        assert ("oder melden Sie sich bei der Projektleitung, falls sich die Frist nicht halten "
                "lässt.") in plain(msg)  # fmt: skip


def test_the_escalation_of_a_task_nobody_holds_says_so_in_a_sentence(session, waiblingen, smtp):
    from sqlmodel import select

    from lifecycle.models import Task

    task = session.exec(select(Task).where(Task.title == "Ergebnisse der Arbeitsgruppen "
                                           "auswerten")).one()  # fmt: skip
    task.assignee_id = None
    session.add(task)
    session.commit()
    deliver(session, smtp, D(2017, 11, 2))  # due 30.10.2017; 31.10. and 1.11. are holidays
    [msg] = [m for m in smtp.inbox.messages if str(m["Subject"]).startswith("Frist versäumt")]
    assert msg["Subject"] == ("Frist versäumt: „Ergebnisse der Arbeitsgruppen auswerten“ "
                              "(fällig am 30.10.2017)")  # fmt: skip
    assert "Die Aufgabe ist niemandem zugewiesen." in plain(msg)
    assert "Zuständig:" not in plain(msg) and "Zuständig:" not in html(msg)


def test_the_moved_mails_calendar_entry_is_the_feeds_for_a_closed_sitzung(
    session, waiblingen, smtp
):
    import icalendar
    from sqlmodel import select

    from lifecycle.ical import FeedOptions, export
    from lifecycle.models import Sitzung

    bsv = session.exec(select(Sitzung).where(Sitzung.key == "bsv-2017-12-06")).one()
    bsv.oeffentlich = False
    session.add(bsv)
    session.commit()
    services.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0),
                          actor="test", today=D(2017, 11, 6))  # fmt: skip
    deliver(session, smtp, D(2017, 11, 6))
    [msg] = [m for m in smtp.inbox.messages if str(m["Subject"]).startswith("Sitzung verlegt")
             and m["To"].addresses[0].display_name == "Ute Ortolf"]  # fmt: skip
    [ics] = [p.get_content() for p in msg.iter_attachments()
             if p.get_content_type() == "text/calendar"]  # fmt: skip
    [ev] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    feed = icalendar.Calendar.from_ical(export(session, FeedOptions()))
    [same] = [e for e in feed.walk("VEVENT") if e["UID"] == ev["UID"]]
    assert int(ev["SEQUENCE"]) == int(same["SEQUENCE"]) == 1
    assert str(ev["SUMMARY"]) == str(same["SUMMARY"]) == (
        "BSV: Ausschuss für Bildung, Soziales und Verwaltung (nichtöffentlich)")
