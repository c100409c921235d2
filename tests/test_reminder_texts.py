"""The German texts of reminder e-mails, rendered from real outbox rows of Waiblingen 2017."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, select

from lifecycle import mail, outbox, reminders
from lifecycle.models import Person, Reminder, Task
from lifecycle.reminder_messages import render

D = dt.date
SETTINGS = mail.settings_from(
    {
        "LIFECYCLE_SMTP_HOST": "127.0.0.1",
        "LIFECYCLE_SMTP_PORT": "25",
        "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example",
    }
)


def rendered(session: Session, day: dt.date, kind: str, person: str) -> list[tuple[str, str]]:
    """(subject, plain text) of the ``kind`` messages to ``person`` the scan of ``day`` queues."""
    outbox.queue(session, reminders.find_due(session, day))
    rows = session.exec(
        select(Reminder, Person)
        .join(Person, Person.id == Reminder.person_id)
        .where(Reminder.kind == kind, Reminder.send_on == day, Person.key == person)
        .order_by(Reminder.id)
    ).all()
    out = []
    for row, who in rows:
        content = render(session, row, who, SETTINGS)
        msg = mail.build_message(SETTINGS, who.name, who.email, content, "<test@waiblingen>")
        out.append((content.subject, msg.get_body(("plain",)).get_content()))
    return out


# --- Vorlagenschluss: "In 10 Arbeitstagen", not "In 10 arbeitstagen" ---------------------------


def test_vorlagenschluss_mail_starts_with_a_capital_and_keeps_the_noun(session, waiblingen):
    # BSV on 06.12.2017, Vorlagenschluss 22.11.2017; ten working days before: 08.11.2017
    [(subject, text)] = rendered(session, D(2017, 11, 8), "vorlagenschluss", "sitzungsdienst")
    assert subject == "Vorlagenschluss 22.11.2017 für BSV am 06.12.2017"
    assert "In 10 Arbeitstagen ist Vorlagenschluss für die Sitzung des Gremiums" in text
    assert "arbeitstagen" not in text


def test_vorlagenschluss_mail_one_day_before(session, waiblingen):
    [(_, text)] = rendered(session, D(2017, 11, 21), "vorlagenschluss", "sitzungsdienst")
    assert "In 1 Arbeitstag ist Vorlagenschluss" in text
    assert "bis Mittwoch, 22. November 2017 beim Sitzungsdienst" in text


# --- weekly digest: "bis Montag, 20. November" includes the 20th ------------------------------


def test_digest_lists_the_task_due_on_its_last_day(session, waiblingen):
    # Monday 06.11.2017, horizon 14 days: "bis Montag, 20. November 2017". Ute Ortolf's
    # "Sitzungsvorlage entwerfen" is due on exactly that Monday.
    [(subject, text)] = rendered(session, D(2017, 11, 6), "digest", "ortolf")
    assert subject == "Wochenübersicht: 2 Fristen bis 20.11.2017"
    assert "(bis Montag, 20. November 2017)" in text
    assert "Mo., 13.11.2017: Abschlussbericht durch die Projektleitung abnehmen" in text
    assert "Mo., 20.11.2017: Sitzungsvorlage entwerfen" in text


def test_digest_lists_every_open_task_up_to_the_day_it_names(session, waiblingen):
    monday = D(2017, 11, 6)
    planned = [p for p in reminders.find_due(session, monday) if p.kind == "digest"]
    assert planned
    for p in planned:
        until = D.fromisoformat(p.payload["until"])
        assert max(D.fromisoformat(i["due"]) for i in p.payload["items"]) <= until
    listed = {(p.person_id, i["key"]) for p in planned for i in p.payload["items"]}
    due = session.exec(
        select(Task).where(Task.fortschreibung_id == waiblingen.id, Task.state == "open")
    ).all()
    expected = {
        (t.assignee_id, t.key)
        for t in due
        if t.assignee_id and t.due and monday <= t.due <= monday + dt.timedelta(days=14)
    }
    assert expected <= listed
