"""The outbox row by row: who may claim a row, what a finished row records, what waits.

Written against the survivors of mutation testing (``make mutate``): each test names the rule
it guards. Real SQLite through the services, a real SMTP server on loopback.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage

import pytest
from smtp_server import SmtpServer, free_port
from sqlmodel import Session, select

from lifecycle import mail, outbox, services
from lifecycle.db import engine_for
from lifecycle.models import Person, Reminder, ReminderState

NOV_6 = dt.date(2017, 11, 6)
NOV_8 = dt.date(2017, 11, 8)
T0 = dt.datetime(2017, 11, 8, 7, 0, tzinfo=dt.UTC)
STALE = T0 + outbox.STALE_CLAIM  # a claim taken at T0 is still fresh at exactly this moment
SECOND = dt.timedelta(seconds=1)


def settings_for(port: int) -> mail.MailSettings:
    return mail.settings_from(
        {
            "LIFECYCLE_SMTP_HOST": "127.0.0.1",
            "LIFECYCLE_SMTP_PORT": str(port),
            "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example",
        }
    )


def rows(session: Session) -> list[Reminder]:
    session.expire_all()
    return list(session.exec(select(Reminder).order_by(Reminder.id)))


@pytest.fixture
def queued(session, waiblingen) -> list[Reminder]:
    """What the Waiblingen process has queued by 08.11.2017: rows due 02.11. to 08.11."""
    assert services.plan_reminders(session, NOV_8) == 8
    found = rows(session)
    assert {r.send_on for r in found} == {
        dt.date(2017, 11, 2), NOV_6, dt.date(2017, 11, 7), NOV_8
    }  # fmt: skip
    return found


# --- claim: exactly one run takes a row ---------------------------------------------------------


def test_a_claim_takes_the_row_for_one_run(session, queued):
    rid = queued[0].id
    assert outbox.claim(session, rid, "run-a", T0) is True
    [row] = [r for r in rows(session) if r.id == rid]
    assert (row.state, row.claim_token, row.attempts) == (ReminderState.sending, "run-a", 1)
    assert row.claimed_at is not None and row.claimed_at.replace(tzinfo=dt.UTC) == T0
    # a second run, at once or up to STALE_CLAIM later, does not get it
    assert outbox.claim(session, rid, "run-b", T0) is False
    assert outbox.claim(session, rid, "run-b", STALE) is False
    [row] = [r for r in rows(session) if r.id == rid]
    assert (row.claim_token, row.attempts) == ("run-a", 1)


def test_a_claim_older_than_stale_claim_is_taken_over(session, queued):
    rid = queued[0].id
    assert outbox.claim(session, rid, "run-a", T0)
    assert outbox.claim(session, rid, "run-b", STALE + SECOND) is True
    [row] = [r for r in rows(session) if r.id == rid]
    assert (row.state, row.claim_token, row.attempts) == (ReminderState.sending, "run-b", 2)


def test_a_sent_or_cancelled_row_is_never_claimed_again(session, queued):
    with SmtpServer() as server:
        outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
    assert {r.state for r in rows(session)} == {ReminderState.sent}
    later = T0 + dt.timedelta(days=1)
    assert [outbox.claim(session, r.id, "late", later) for r in queued] == [False] * 8


def test_deliverable_are_the_queued_rows_due_and_the_stale_claims(session, queued):
    first = queued[0].id
    all_ids = [r.id for r in queued]
    assert outbox.deliverable_ids(session, NOV_8, T0) == all_ids
    assert outbox.claim(session, first, "run-a", T0)
    assert outbox.deliverable_ids(session, NOV_8, STALE) == all_ids[1:]  # fresh: someone has it
    abandoned = [*all_ids[1:], first]  # tried once: after the rows never tried
    assert outbox.deliverable_ids(session, NOV_8, STALE + SECOND) == abandoned
    with SmtpServer() as server:
        outbox.deliver(session, NOV_8, settings_for(server.port), now=STALE + SECOND)
    assert outbox.deliverable_ids(session, NOV_8, T0 + dt.timedelta(days=1)) == []
    # only rows whose day has come: on 06.11. the rows for 07.11. and 08.11. are not yet due
    session.execute(Reminder.__table__.update().values(state="planned", attempts=0))  # type: ignore[attr-defined]
    session.commit()
    due_by_nov_6 = [r.id for r in queued if r.send_on <= NOV_6]
    assert len(due_by_nov_6) == 5 and outbox.deliverable_ids(session, NOV_6, T0) == due_by_nov_6


# --- deliver ----------------------------------------------------------------------------------


def test_a_row_another_run_holds_is_skipped_and_the_rest_delivered(session, queued):
    held = queued[0].id
    assert outbox.claim(session, held, "other-run", T0)
    with SmtpServer() as server:
        done = outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
        assert len(server.inbox) == 7
    assert done.sent == [r.id for r in queued[1:]]
    states = {r.id: r.state for r in rows(session)}
    assert states.pop(held) == ReminderState.sending and set(states.values()) == {"sent"}


def test_rows_are_sent_only_from_their_day_on(session, queued):
    with SmtpServer() as server:
        done = outbox.deliver(session, NOV_6, settings_for(server.port), now=T0)
        assert len(server.inbox) == len(done.sent) == 5
    later = {r.id: r.state for r in rows(session) if r.send_on > NOV_6}
    assert later and set(later.values()) == {ReminderState.planned}


def test_a_sent_row_keeps_its_sent_time_and_no_error_of_an_earlier_failure(session, queued):
    down = outbox.deliver(session, NOV_8, settings_for(free_port()), now=T0)
    assert down.failed == [queued[0].id] and "nicht erreichbar" in down.server_error
    failed = rows(session)[0]
    assert failed.state == ReminderState.failed and failed.sent_at is None
    assert "nicht erreichbar" in failed.last_error
    with SmtpServer() as server:
        up = outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
    assert len(up.sent) == 8
    for row in rows(session):
        assert (row.state, row.last_error) == (ReminderState.sent, "")
        assert row.sent_at is not None


def test_a_server_outage_marks_the_rows_not_tried_as_waiting_and_only_those(session, queued):
    done = outbox.deliver(session, NOV_6, settings_for(free_port()), now=T0)
    assert done.failed == [queued[0].id]
    errors = {r.id: r.last_error for r in rows(session)}
    tried = errors.pop(queued[0].id)
    assert "nicht erreichbar" in tried and not tried.startswith("waiting")
    due = [r.id for r in queued if r.send_on <= NOV_6][1:]
    assert {errors.pop(rid) for rid in due} == {f"wartet: {done.server_error}"}
    assert set(errors.values()) == {""}  # rows due later were not waiting for anything


def test_a_run_that_hangs_past_stale_claim_does_not_undo_the_run_that_took_over(
    session, queued, db_url
):
    """Run A hangs in SMTP for longer than STALE_CLAIM; run B takes the rows over and sends
    them; then A's connection drops. A's late failure must not turn B's "sent" into "failed"
    (which would send the row a third time), nor mark B's rows as waiting."""

    with SmtpServer() as server:
        settings = settings_for(server.port)

        class HangsThenDrops(mail.Mailer):
            def send(self, msg: EmailMessage) -> None:
                with Session(engine_for(db_url), expire_on_commit=False) as other:
                    outbox.deliver(other, NOV_8, settings, now=STALE + SECOND)
                raise mail.ServerError("SMTP-Verbindung abgebrochen: timed out")

        a = outbox.deliver(session, NOV_8, settings, mailer=HangsThenDrops(settings), now=T0)
        assert a.failed == [queued[0].id] and a.sent == []
        assert len(server.inbox) == 8  # everything, once, by run B
    for row in rows(session):
        assert (row.state, row.last_error) == (ReminderState.sent, ""), row.id


def test_nothing_due_plans_nothing(session, waiblingen):
    assert services.plan_reminders(session, dt.date(2017, 1, 2)) == 0
    assert rows(session) == []


def test_the_message_is_addressed_to_the_person_by_name(session, queued):
    with SmtpServer() as server:
        outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
        to = {m["To"].addresses[0].display_name for m in server.inbox.messages}
    assert "Ute Ortolf" in to and "" not in to


def test_an_address_beyond_ascii_is_sent_to_that_address_with_the_same_message(session, queued):
    person = session.exec(select(Person).where(Person.key == "ortolf")).one()
    person.email = "ute.örtolf@waiblingen.example"
    session.commit()
    settings = settings_for(2525)  # only its sender domain matters for the ids
    with SmtpServer(smtputf8=True) as server:
        report = outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
        envelopes = server.inbox.envelopes
        # SMTPUTF8: the headers travel as UTF-8 (RFC 6532), not encoded words
        messages = [email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
                    for raw in server.inbox.raw]  # fmt: skip
    assert len(report.sent) == 8 and not report.failed
    to_ute = [(env, m) for env, m in zip(envelopes, messages, strict=True)
              if env[1] == ["ute.örtolf@waiblingen.example"]]  # fmt: skip
    assert to_ute
    sent = {r.id: r for r in rows(session)}
    ids = {outbox.message_id(r, settings): r for r in sent.values() if r.person_id == person.id}
    for (sender, _), m in to_ute:
        assert sender == "fristen@waiblingen.example"
        [address] = m["To"].addresses
        assert (address.display_name, address.addr_spec) == (
            "Ute Ortolf", "ute.örtolf@waiblingen.example")  # fmt: skip
        row = ids[m["Message-ID"]]  # the row's own id, as on the ASCII path
        assert m["Subject"] and "Guten Tag" in m.get_body(("plain",)).get_content()
        assert row.state == ReminderState.sent


# --- rows that became obsolete while queued ---------------------------------------------------


def test_rows_of_a_completed_process_are_cancelled_not_sent(session, queued, waiblingen):
    from lifecycle import replay

    replay.run(session, waiblingen)  # every task done, every gate decided
    with SmtpServer() as server:
        done = outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
        assert len(server.inbox) == 0
    assert done.cancelled == [r.id for r in queued]
    assert {r.last_error for r in rows(session)} == {"hinfällig: Fortschreibung abgeschlossen"}


def test_a_task_done_after_queueing_is_not_reminded_or_escalated(session, queued, waiblingen):
    from lifecycle import replay

    # the history up to 08.11.: the escalated task was done on 30.10., a task due 08.11. that day
    replay.run(session, waiblingen, until=NOV_8)
    with SmtpServer() as server:
        done = outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
        assert len(server.inbox) == len(done.sent) == 6
    cancelled = {r.kind: r for r in rows(session) if r.id in done.cancelled}
    assert sorted(cancelled) == ["due", "escalation"] and len(done.cancelled) == 2
    assert {r.last_error for r in cancelled.values()} == {"hinfällig: Aufgabe erledigt"}


def test_a_task_whose_deadline_moved_after_queueing_is_not_reminded_of_the_old_one(session, queued):
    from lifecycle import engine
    from lifecycle.models import Task

    # the engine's transition alone: no follow-up cancels the queued rows, delivery must see it
    engine.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0), actor="t")
    session.commit()
    moved = {}
    for row in queued:
        if row.kind == "due":
            task = session.get(Task, row.task_id)
            if task.due != row.deadline:
                moved[row.id] = task.due
    assert moved, "the move should shift a queued task's deadline"
    with SmtpServer() as server:
        done = outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
    errors = {r.id: r.last_error for r in rows(session)}
    for rid, due in moved.items():
        assert rid in done.cancelled
        assert errors[rid] == f"hinfällig: Frist verschoben auf den {due:%d.%m.%Y}"


def test_a_row_a_concurrent_run_takes_meanwhile_is_skipped_and_the_rest_delivered(
    session, queued, db_url
):
    """Between listing the deliverable rows and claiming them, another run claims one."""
    taken = queued[1].id

    with SmtpServer() as server:
        settings = settings_for(server.port)

        class AnotherRunClaimsMeanwhile(mail.Mailer):
            claimed = False

            def send(self, msg: EmailMessage) -> None:
                super().send(msg)
                if not self.claimed:
                    with Session(engine_for(db_url)) as other:
                        self.claimed = outbox.claim(other, taken, "other-run", T0)

        mailer = AnotherRunClaimsMeanwhile(settings)
        done = outbox.deliver(session, NOV_8, settings, mailer=mailer, now=T0)
        assert mailer.claimed and len(server.inbox) == 7
    assert done.sent == [r.id for r in queued if r.id != taken]
    [row] = [r for r in rows(session) if r.id == taken]
    assert (row.state, row.claim_token) == (ReminderState.sending, "other-run")


# --- an address the server cannot take fails its own rows only ---------------------------------


def test_an_address_the_server_cannot_take_fails_its_rows_and_the_rest_goes_out(session, queued):
    """No SMTPUTF8 on the server: a local part beyond ASCII fails that person's rows with a
    German reason naming the address; an IDN domain goes out IDNA-encoded; nobody waits."""
    people = {p.key: p for p in session.exec(select(Person))}
    people["ortolf"].email = "ute.örtolf@waiblingen.example"
    people["duerr"].email = "christiane@dürr.example"
    session.commit()
    by_person = {r.id: r.person_id for r in queued}
    ortolf = [rid for rid, pid in by_person.items() if pid == people["ortolf"].id]
    duerr = [rid for rid, pid in by_person.items() if pid == people["duerr"].id]
    assert ortolf and duerr and len(ortolf) < len(queued)
    with SmtpServer() as server:  # aiosmtpd without SMTPUTF8
        done = outbox.deliver(session, NOV_8, settings_for(server.port), now=T0)
        recipients = [to for _, [to] in server.inbox.envelopes]
    assert done.server_error == "" and done.failed == ortolf
    assert done.sent == [r.id for r in queued if r.id not in ortolf]
    assert recipients.count("christiane@xn--drr-hoa.example") == len(duerr)
    for row in rows(session):
        if row.id in ortolf:
            assert row.state == ReminderState.failed
            assert "„ute.örtolf@waiblingen.example“" in row.last_error
            assert "SMTPUTF8" in row.last_error and "support" not in row.last_error
        else:
            assert (row.state, row.last_error) == (ReminderState.sent, "")


def test_an_idn_domain_is_encoded_and_a_broken_one_refused_in_german():
    assert mail.check_address("A", "x@müller.de") == "x@xn--mller-kva.de"
    assert mail.check_address("A", "x@Müller.example") == "x@xn--mller-kva.example"
    # IDNA 2008, as DENIC registers German domains: ß is a letter of its own, not "ss"
    assert mail.check_address("A", "x@straße.de") == "x@xn--strae-oqa.de"
    with pytest.raises(mail.AddressError, match="„x@" + "ü" * 64 + r"\.de“"):
        mail.check_address("A", "x@" + "ü" * 64 + ".de")


def test_rows_that_failed_before_go_after_the_fresh_ones(session, queued):
    """A row that fails again and again (and might stop the batch) is not tried first every
    run: the rows never tried go before it."""
    down = outbox.deliver(session, NOV_8, settings_for(free_port()), now=T0)
    assert down.failed == [queued[0].id]
    ids = [r.id for r in queued]
    assert outbox.deliverable_ids(session, NOV_8, T0) == [*ids[1:], ids[0]]
