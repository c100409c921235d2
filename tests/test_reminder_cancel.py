"""Cancelling one reminder by hand (`services.cancel_reminder`, `lifecycle remind cancel`).

A reminder whose message cannot be built failed run after run until it became obsolete; now it
can be cancelled with a reason. Real SQLite, real SMTP on loopback, the CLI in-process.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest
from smtp_server import SmtpServer
from sqlmodel import select
from test_reminders import BSV_SUBJECT, NOV_8, settings_for, states, subjects
from web_support import dump

from lifecycle import outbox, reminders, services
from lifecycle.cli import run
from lifecycle.errors import InputError, NotFound, Refused
from lifecycle.models import Event, Gremium, Reminder, ReminderState


def _bsv_row(session) -> Reminder:
    """The Vorlagenschluss reminder of the BSV on 8.11.2017, queued."""
    services.plan_reminders(session, NOV_8)
    session.expire_all()
    return session.exec(select(Reminder).where(Reminder.kind == "vorlagenschluss")).one()


def _break_the_bsv_short_name(session) -> None:
    """A line break in the Gremium's short name (e.g. from the RIS): the Vorlagenschluss
    reminder's subject cannot be built, the row fails every run."""
    bsv = session.exec(select(Gremium).where(Gremium.key == "bsv")).one()
    bsv.short = "BSV\r\nBcc: evil@attacker.example"
    session.commit()


# --- the use case --------------------------------------------------------------------------------


def test_a_cancelled_reminder_is_not_sent_nor_planned_again(session, waiblingen):
    row = _bsv_row(session)
    done = services.cancel_reminder(session, row.id, reason="  Vorlage liegt schon vor ",
                                    actor="ute")  # fmt: skip
    assert done.state == ReminderState.cancelled
    assert done.last_error == "von Hand verworfen: Vorlage liegt schon vor (ute)"
    [event] = session.exec(select(Event).where(Event.action == "reminder_cancelled")).all()
    assert (event.actor, event.entity, event.entity_id) == ("ute", "Reminder", row.id)
    assert event.fortschreibung_id == waiblingen.id
    assert event.before["state"] == "planned"
    assert event.after == {"reason": "Vorlage liegt schon vor"}

    # the daily run finds it due again the same day: it stays cancelled and is not sent
    with SmtpServer() as server:
        report = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        again = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
    assert report.sent == len(server.inbox) > 0 and BSV_SUBJECT not in subjects(server)
    assert (again.planned, again.sent, again.failed, again.queued) == (0, 0, 0, 0)
    session.expire_all()
    kept = session.get(Reminder, row.id)
    assert kept.state == ReminderState.cancelled and kept.sent_at is None
    assert kept.last_error == done.last_error
    assert states(session) == Counter({"sent": report.sent, "cancelled": 1})


def test_a_reminder_that_keeps_failing_is_cancelled_and_stops_failing(session, waiblingen):
    _break_the_bsv_short_name(session)
    with SmtpServer() as server:
        first = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        [failing] = [r for r in first.rows if r.error]
        assert first.failed == 1 and failing.id is not None  # the listing names its number
        services.cancel_reminder(session, failing.id, reason="Kurzname aus dem RIS kaputt",
                                 actor="ute")  # fmt: skip
        sent = len(server.inbox)
        again = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        assert len(server.inbox) == sent
    assert (again.sent, again.failed, again.queued) == (0, 0, 0)
    assert not [r for r in again.rows if r.error]
    session.expire_all()
    row = session.get(Reminder, failing.id)
    assert row.state == ReminderState.cancelled and row.attempts == 1
    [event] = session.exec(select(Event).where(Event.action == "reminder_cancelled")).all()
    assert event.before["state"] == "failed"
    assert event.before["last_error"].startswith("Nachricht nicht erstellbar")


def test_a_reminder_sent_cancelled_or_being_sent_is_refused_and_nothing_changes(
    session, waiblingen, db_url
):
    services.plan_reminders(session, NOV_8)
    ids = outbox.deliverable_ids(session, NOV_8, dt.datetime.now(dt.UTC))
    sent, cancelled, claimed = ids[:3]
    session.connection().execute(
        Reminder.__table__.update().where(Reminder.__table__.c.id == sent)
        .values(state="sent", sent_at=dt.datetime(2017, 11, 8, 7, tzinfo=dt.UTC))
    )  # fmt: skip
    session.commit()
    services.cancel_reminder(session, cancelled, reason="doppelt", actor="ute")
    assert outbox.claim(session, claimed, "a-running-delivery", dt.datetime.now(dt.UTC))
    before = dump(db_url)
    cases = [
        (sent, Refused, f"Erinnerung {sent} ist schon gesendet (am 08.11.2017)"),
        (cancelled, Refused, f"Erinnerung {cancelled} ist schon verworfen"),
        (claimed, Refused, f"Erinnerung {claimed} wird gerade gesendet"),
        (10**6, NotFound, "keine Erinnerung mit der Nummer 1000000"),
    ]
    for rid, error, message in cases:
        with pytest.raises(error) as caught:
            services.cancel_reminder(session, rid, reason="nicht mehr nötig", actor="ute")
        assert str(caught.value).startswith(message), str(caught.value)
    for reason, problem in [("", "darf nicht leer sein"), ("   ", "darf nicht leer sein"),
                            ("zwei\nZeilen", "Zeilenumbruch"), ("\x1b[31m", "Steuerzeichen"),
                            ("x" * 501, "höchstens 500 Zeichen")]:  # fmt: skip
        with pytest.raises(InputError, match=problem):
            services.cancel_reminder(session, ids[3], reason=reason, actor="ute")
    assert dump(db_url) == before


def test_a_delivery_that_claimed_the_row_first_wins(session, waiblingen):
    """Cancelling is one conditional UPDATE, as the claim is: a row claimed between reading
    and cancelling is refused, not cancelled under the delivery's feet."""
    row = _bsv_row(session)
    assert outbox.claim(session, row.id, "a-running-delivery", dt.datetime.now(dt.UTC))
    assert outbox.cancel_by_hand(session, row.id, "zu spät", "ute") is False
    session.rollback()
    session.expire_all()
    assert session.get(Reminder, row.id).state == ReminderState.sending


# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def smtp(monkeypatch):
    with SmtpServer() as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("COLUMNS", "200")
        yield server


def test_cli_lists_the_failing_row_by_number_and_cancels_it(
    session, waiblingen, smtp, capsys, db_url
):
    _break_the_bsv_short_name(session)
    assert run(["remind", "--today", "2017-11-08"]) == 3  # one reminder failed
    out = capsys.readouterr().out
    assert "Nr." in out
    session.expire_all()
    failing = session.exec(select(Reminder).where(Reminder.state == ReminderState.failed)).one()
    [line] = [ln for ln in out.splitlines() if "fehlgeschlagen" in ln and "│" in ln]
    assert re.match(rf"│ {failing.id} +│ ", line), line  # the number to cancel it by
    sent = len(smtp.inbox)

    code = run(["remind", "cancel", str(failing.id), "--reason", "Kurzname aus dem RIS kaputt"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip() == (
        f"Erinnerung {failing.id} verworfen (Vorlagenschluss an Sitzungsdienst); sie wird "
        "nicht gesendet."
    )

    assert run(["remind", "--today", "2017-11-08"]) == 0  # nothing fails any more
    out = capsys.readouterr().out
    assert "0 neu geplant, 0 gesendet, 0 fehlgeschlagen" in out and "fehlgeschlagen │" not in out
    assert len(smtp.inbox) == sent
    session.expire_all()
    row = session.get(Reminder, failing.id)
    assert row.state == ReminderState.cancelled
    assert row.last_error.startswith("von Hand verworfen: Kurzname aus dem RIS kaputt (")
    assert session.exec(select(Event).where(Event.action == "reminder_cancelled")).one()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999", "--reason", "x"], "keine Erinnerung mit der Nummer 999"),
        (["abc", "--reason", "x"], "NR: „abc“ ist keine Nummer einer Erinnerung"),
        (["1.5", "--reason", "x"], "NR: „1.5“ ist keine Nummer einer Erinnerung"),
        (["0", "--reason", "x"], "NR: „0“ ist keine Nummer einer Erinnerung"),
        ([str(10**30), "--reason", "x"], "ist keine Nummer einer Erinnerung"),
        (["-3", "--reason", "x"], "unbekannte Option -3"),
        (["{first}", "--reason", ""], "--reason: darf nicht leer sein"),
        (["{first}", "--reason", "   "], "--reason: darf nicht leer sein"),
        (["{first}", "--reason", "zwei\nZeilen"], "--reason: Zeilenumbruch"),
        (["{first}"], "Aufruf: --reason fehlt"),
        ([], "Aufruf: NR fehlt"),
        (["{sent}", "--reason", "x"], "ist schon gesendet"),
    ],
)
def test_cli_refuses_bad_input_with_one_german_line_and_changes_nothing(
    args, message, session, waiblingen, db_url, capsys
):
    services.plan_reminders(session, NOV_8)
    first, sent = outbox.deliverable_ids(session, NOV_8, dt.datetime.now(dt.UTC))[:2]
    session.connection().execute(
        Reminder.__table__.update().where(Reminder.__table__.c.id == sent)
        .values(state="sent", sent_at=dt.datetime(2017, 11, 8, 7, tzinfo=dt.UTC))
    )  # fmt: skip
    session.commit()
    capsys.readouterr()
    before = dump(db_url)
    argv = [a.format(first=first, sent=sent) for a in args]
    assert run(["remind", "cancel", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lifecycle: ") and "\n" not in err, err
    assert message in err, err
    assert dump(db_url) == before


def test_cli_the_daily_run_options_do_not_apply_to_cancel(session, waiblingen, db_url, capsys):
    before = dump(db_url)
    assert run(["remind", "--dry-run", "cancel", "1", "--reason", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "lifecycle: Aufruf: --dry-run gilt nicht für „lifecycle remind cancel“"
    assert dump(db_url) == before
