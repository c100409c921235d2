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


# --- Vorlagenschluss: "Guten Tag …," goes on in lower case, as every other mail -------------


def test_vorlagenschluss_mail_goes_on_in_lower_case_and_keeps_the_noun(session, waiblingen):
    # BSV on 06.12.2017, Vorlagenschluss 22.11.2017; ten working days before: 08.11.2017
    [(subject, text)] = rendered(session, D(2017, 11, 8), "vorlagenschluss", "sitzungsdienst")
    assert subject == "Vorlagenschluss 22.11.2017 für BSV am 06.12.2017"
    assert "Guten Tag Sitzungsdienst,\n\nin 10 Arbeitstagen ist Vorlagenschluss für die " \
           "Sitzung des Gremiums" in text  # fmt: skip
    assert "arbeitstagen" not in text


def test_vorlagenschluss_mail_one_day_before(session, waiblingen):
    [(_, text)] = rendered(session, D(2017, 11, 21), "vorlagenschluss", "sitzungsdienst")
    assert "\nin 1 Arbeitstag ist Vorlagenschluss" in text
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


# --- the process by its readable name, not its key ---------------------------------------------

PROCESS = "„Fortschreibung des Integrationskonzepts“ (Waiblingen)"


def test_every_mail_names_the_process_by_its_title_and_kommune(session, waiblingen):
    outbox.queue(session, reminders.find_due(session, D(2017, 11, 8)))
    rows = session.exec(select(Reminder).where(
        Reminder.kind.in_(["due", "escalation", "digest"]))).all()  # fmt: skip
    assert {r.kind for r in rows} == {"due", "escalation", "digest"}
    for row in rows:
        content = render(session, row, session.get(Person, row.person_id), SETTINGS)
        text = " ".join(content.paragraphs)
        assert f"im Vorgang {PROCESS}" in " ".join(text.split())
        assert "waiblingen-2017" not in text


# --- the digest's calendar says what the due reminder's says -----------------------------------


def test_the_digest_ics_has_the_sequence_of_the_due_reminder_ics(session, waiblingen):
    import icalendar

    from lifecycle import ical, services

    # moving the BSV changes due dates: each such task's event gets SEQUENCE 1
    services.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0),
                          actor="test", today=D(2017, 11, 6))  # fmt: skip
    outbox.queue(session, reminders.find_due(session, D(2017, 11, 13)))
    digests = session.exec(select(Reminder).where(Reminder.kind == "digest")).all()
    sequences = {}
    for row in digests:
        who = session.get(Person, row.person_id)
        content = render(session, row, who, SETTINGS)
        for ev in icalendar.Calendar.from_ical(content.ics).walk("VEVENT"):
            sequences[str(ev["UID"])] = int(ev["SEQUENCE"])
    tasks = session.exec(select(Task).where(Task.fortschreibung_id == waiblingen.id)).all()
    changes = {t.key: ical.changes_of(session, "Task", t.id, "due_changed")[0] for t in tasks}
    expected = {ical.uid_task("waiblingen-2017", key): n for key, n in changes.items()}
    assert sequences and 1 in sequences.values()
    assert sequences == {uid: expected[uid] for uid in sequences}


# --- a move within the day names the times ------------------------------------------------------


def test_a_move_within_the_day_names_the_old_and_the_new_time(session, waiblingen):
    from lifecycle import services

    services.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 6, 18, 30),
                          actor="test", today=D(2017, 11, 8))  # fmt: skip
    [(subject, text)] = rendered(session, D(2017, 11, 8), "moved", "ortolf")  # the lead
    assert subject == "Sitzung verlegt: BSV vom 06.12.2017, 17:00 Uhr auf 06.12.2017, 18:30 Uhr"
    assert "bisher Mittwoch, 6. Dezember 2017, 17:00 Uhr, neu Mittwoch, 6. Dezember 2017, " \
           "18:30 Uhr" in " ".join(text.split())  # fmt: skip


# --- a Sitzung cancelled or deleted in the RIS ---------------------------------------------------


def test_the_cancelled_mail_says_what_to_do_in_words_and_matches_its_subject(session, waiblingen):
    from lifecycle.models import Sitzung

    gr = session.exec(select(Sitzung).where(Sitzung.key == "gr-2017-12-14")).one()
    lead = session.exec(select(Person).where(Person.key == "ortolf")).one()
    payload = {"process": "waiblingen-2017", "kommune": "waiblingen", "sitzung_key": gr.key,
               "gremium": "Gemeinderat", "gremium_short": "GR", "start": gr.start.isoformat(),
               "names": ["vorlage_entscheidung"], "vorlagen": ["BSV 21/2017 (Entscheidung)"]}
    for deleted, how in ((False, "abgesagt"), (True, "gelöscht")):
        row = Reminder(person_id=lead.id, subject=f"sitzung_cancelled:{deleted}",
                       deadline=gr.start.date(), offset=0, kind="sitzung_cancelled",
                       send_on=D(2017, 11, 15), fortschreibung_id=waiblingen.id,
                       sitzung_id=gr.id, payload=payload | {"deleted": deleted})  # fmt: skip
        content = render(session, row, lead, SETTINGS)
        text = " ".join([*content.paragraphs, *content.items])
        assert content.subject == (
            f"Sitzung {how}: GR am 14.12.2017 – bitte einen neuen Termin binden")
        assert f"wurde im Ratsinformationssystem {how}." in text
        assert f"Der Vorgang {PROCESS} braucht diese Sitzung" in text
        assert ("Bitte lassen Sie die Plan-Sitzung „Beschluss über das fortgeschriebene Konzept "
                "im Gemeinderat“ an den neuen Termin des Gremiums Gemeinderat binden") in text
        for raw in ("waiblingen-2017", "vorlage_entscheidung", "NEUE-SITZUNG", "PLAN-SITZUNG"):
            assert raw not in text
