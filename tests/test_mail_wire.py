"""The delivery's direct wire bytes are the message the email package builds.

``mail.outgoing`` writes a reminder's bytes without the email package's header objects, and
``reminder_messages`` writes a due reminder's .ics without icalendar where nothing needs
escaping or folding. Here both are compared with the slow paths on every message the Waiblingen
scan queues over two months (every kind, names and titles with umlauts), on awkward
texts, and the SEQUENCE of a task's .ics with ``ical.changes_of``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import random
from email.generator import BytesGenerator

import pytest
from sqlmodel import Session, select

from lifecycle import ical, mail, outbox, reminder_messages, reminders, services
from lifecycle.models import Person, Reminder

SETTINGS = mail.settings_from(
    {
        "LIFECYCLE_SMTP_HOST": "127.0.0.1",
        "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example",
        "LIFECYCLE_DASHBOARD_URL": "https://fristen.example",
    }
)
DATE = "Wed, 08 Nov 2017 07:00:00 -0000"
BOUNDARIES = ("===============1234567890123456789==", "===============9876543210987654321==")


def slow_wire(to_name: str, to_addr: str, content: mail.Content, mid: str) -> bytes:
    """What the email package sends (smtplib.send_message), with the same Date and boundaries."""
    msg = mail.build_message(SETTINGS, to_name, to_addr, content, mid)
    msg.replace_header("Date", DATE)
    if content.ics:
        msg.set_boundary(BOUNDARIES[0])
        msg.get_payload()[0].set_boundary(BOUNDARIES[1])
    else:
        msg.set_boundary(BOUNDARIES[1])
    buffer = io.BytesIO()
    BytesGenerator(buffer).flatten(msg, linesep="\r\n")
    return buffer.getvalue()


def assert_same_message(to_name: str, to_addr: str, content: mail.Content, mid: str) -> None:
    fast = mail.outgoing(SETTINGS, to_name, to_addr, content, mid, date=DATE,
                         boundaries=BOUNDARIES)  # fmt: skip
    assert fast is not None
    slow = slow_wire(to_name, to_addr, content, mid)
    # the bodies byte for byte, the headers as a mail client reads them
    assert fast.data.split(b"\r\n\r\n", 1)[1] == slow.split(b"\r\n\r\n", 1)[1]
    parse = email.policy.default
    got = email.message_from_bytes(fast.data, policy=parse)
    expected = email.message_from_bytes(slow, policy=parse)
    # the Subject as written: the email package's own folding can lose a blank between
    # encoded words (it printed "Schlüsselprojektefesthalten" for a Waiblingen task)
    if content.subject.isascii():  # written by the email package on both paths
        assert str(got["Subject"]) == str(expected["Subject"])
    else:
        assert str(got["Subject"]) == content.subject
    assert [(k, str(v)) for k, v in got.items() if k != "Subject"] == [
        (k, str(v)) for k, v in expected.items() if k != "Subject"
    ]
    assert [a.display_name for a in got["To"].addresses] == [to_name]
    assert got["To"].addresses[0].addr_spec == to_addr
    assert all(len(line) <= 78 for line in fast.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"))
    assert fast.data.isascii() or b"8bit" in fast.data  # 8bit only where the package uses it
    assert (fast.sender, fast.recipient) == ("fristen@waiblingen.example", to_addr)
    assert fast["Message-ID"] == mid


def test_every_reminder_of_two_months_is_the_same_message(session: Session, waiblingen):
    day, kinds = dt.date(2017, 10, 2), set()
    services.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0),
                          actor="test", today=day)  # fmt: skip
    while day <= dt.date(2017, 12, 1):
        outbox.queue(session, reminders.find_due(session, day))
        day += dt.timedelta(days=1)
    rows = session.exec(select(Reminder, Person).join(Person, Person.id == Reminder.person_id))
    for row, person in rows.all():
        content = reminder_messages.render(session, row, person, SETTINGS)
        assert_same_message(person.name, person.email, content, outbox.message_id(row, SETTINGS))
        kinds.add(row.kind)
    assert {"due", "escalation", "vorlagenschluss", "digest", "moved"} <= kinds


AWKWARD = [
    "Größe – „prüfen“ & <senden>",
    "Sitzung verlegt: BSV vom 06.12.2017 auf 13.12.2017",
    "x" * 200,
    "ä" * 100,
    "Emoji 😀 and 𝔘nicode",
    "  leading and trailing blanks  ",
    "a, b; c: (d) \"e\" \\ f",
    "=?utf-8?q?looks_encoded?=",
    "Tab\there",
]


@pytest.mark.parametrize("subject", AWKWARD)
@pytest.mark.parametrize(
    "name", ["Ute Ortolf", "Christiane Dürr", "Prof. Dr. Paul-Stefan Roß", "Dürr, Christiane",
             "=?utf-8?q?evil=40x=2Ede?="]  # fmt: skip
)
def test_awkward_subjects_and_names_give_the_same_message(subject, name):
    ics = reminder_messages._ics(
        [ical.all_day_event("uid-1@x", dt.date(2017, 11, 22), f"Frist: {subject}")]
    )
    for with_ics in (None, ics):
        content = mail.Content(subject, f"Guten Tag {name},", [subject * 3, "Zweiter Absatz."],
                               [subject, "b"], "https://fristen.example/p", with_ics)  # fmt: skip
        assert_same_message(name, "ute.ortolf@waiblingen.example", content, "<r-1@waiblingen>")


def test_an_address_beyond_ascii_takes_the_email_package(session):
    content = mail.Content("Betreff", "Hallo", ["Text"])
    assert mail.outgoing(SETTINGS, "Jürgen", "jürgen@example.org", content, "<x@y>") is None


def test_the_ics_written_directly_is_what_icalendar_writes():
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzäöüßÄÖÜ ,;:\\–„“-_.0123456789"
    stamp = dt.datetime(2017, 11, 8, 6, 59, 58, 123456, tzinfo=dt.UTC)
    used = 0
    for _ in range(400):
        title = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 90)))
        summary = f"Frist: {title}"
        uid = ical.uid_task("waiblingen-2017", f"task_{rng.randrange(1000)}")
        day = dt.date(2017, 1, 1) + dt.timedelta(days=rng.randrange(800))
        seq = rng.randrange(4)
        fast = reminder_messages._task_ics_text(uid, day, summary, seq, stamp)
        slow = reminder_messages._ics([ical.all_day_event(uid, day, summary, sequence=seq,
                                                         stamp=stamp)])  # fmt: skip
        if fast is not None:
            used += 1
            assert fast == slow, summary
    assert used > 50  # the direct path is taken for the ordinary titles


def test_the_sequence_of_a_task_counts_its_due_changes(session, waiblingen):
    from lifecycle import engine
    from lifecycle.models import Task

    engine.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0), actor="t")
    engine.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 6, 17, 0), actor="t")
    session.commit()
    counts = set()
    for task in session.exec(select(Task)).all():
        seq = reminder_messages._due_changes(session, task.id)
        assert seq == ical.changes_of(session, "Task", task.id, "due_changed")[0]
        counts.add(seq)
    assert {0, 2} <= counts


def test_delivered_due_reminders_carry_their_tasks_sequence(session, waiblingen):
    """The delivery reads the count with the row (not through ``_due_changes``): what arrives
    is the SEQUENCE ``ical.changes_of`` gives, for tasks whose due date moved once and twice."""
    import icalendar
    from smtp_server import SmtpServer

    from lifecycle.models import Task

    day = dt.date(2017, 11, 13)
    for new in (dt.datetime(2017, 12, 13, 17, 0), dt.datetime(2017, 12, 12, 17, 0)):
        services.move_sitzung(session, "bsv-2017-12-06", new, actor="test",
                              today=dt.date(2017, 11, 6))  # fmt: skip
    tasks = session.exec(select(Task).where(Task.fortschreibung_id == waiblingen.id)).all()
    expected = {
        ical.uid_task("waiblingen-2017", t.key): ical.changes_of(session, "Task", t.id,
                                                                 "due_changed")[0]
        for t in tasks
    }  # fmt: skip
    outbox.queue(session, reminders.find_due(session, day))
    with SmtpServer() as server:
        report = outbox.deliver(session, day, mail.settings_from(server.env()))
        arrived = server.inbox.messages
    seen: dict[str, int] = {}
    for msg in arrived:
        for part in msg.walk():
            if part.get_content_type() == "text/calendar":
                for ev in icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT"):
                    if str(ev["SUMMARY"]).startswith("Frist:"):
                        seen[str(ev["UID"])] = int(ev["SEQUENCE"])
    assert report.sent and seen
    assert seen == {uid: expected[uid] for uid in seen}
    assert 2 in seen.values(), "a task moved twice is among the messages"
