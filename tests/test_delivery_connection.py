"""Reminder delivery keeps one SMTP connection per run, and reconnects when the server drops it.

A real aiosmtpd server on loopback (``smtp_server``) whose handler counts the connections it
sees (distinct client ports), and can close a connection after a number of messages: politely
(421 at the next MAIL FROM, as a server with a per-connection limit does), silently (the socket
closed after the reply to DATA, as an idle timeout does) or in the middle of DATA (the message
arrived, the reply never does). The claim-then-send rule of the outbox holds throughout: every
row is sent once, except the one whose DATA was cut off: that one goes again in the next run
with the same Message-ID (the at-least-once window the outbox documents).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from smtp_server import Inbox, free_port
from sqlmodel import Session, col, select

from lifecycle import mail, outbox
from lifecycle.models import Person, Reminder, ReminderState, Stage, StageState, Task, TaskState
from lifecycle.outbox import Planned

NOV_8 = dt.date(2017, 11, 8)
T0 = dt.datetime(2017, 11, 8, 7, 0, tzinfo=dt.UTC)


class Server(Inbox):
    """The test server's handler: keeps what arrived, counts connections, drops on request.

    ``drop``: None, "421" (refuse the MAIL FROM after ``every`` messages on a connection and
    close), "idle" (close the connection after the reply to every ``every``-th DATA) or
    "data" (abort the connection in the middle of the ``every``-th DATA, after storing it;
    once). ``refuse``: recipient addresses answered with 550 at RCPT TO.
    """

    def __init__(self, drop: str | None = None, every: int = 5, refuse: tuple[str, ...] = ()):
        super().__init__()
        self.drop, self.every, self.refuse = drop, every, set(refuse)
        self.peers: list[tuple[str, int]] = []  # one per connection that sent MAIL FROM
        self.on_connection: Counter[tuple[str, int]] = Counter()
        self.dropped = 0

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        if session.peer not in self.on_connection:
            self.peers.append(session.peer)
            self.on_connection[session.peer] = 0
        if self.drop == "421" and self.on_connection[session.peer] >= self.every:
            self.dropped += 1
            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 Too many messages on this connection, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        self.on_connection[session.peer] += 1
        nth = self.on_connection[session.peer]
        if self.drop == "idle" and nth % self.every == 0:
            self.dropped += 1
            asyncio.get_running_loop().call_soon(server.transport.close)  # after the reply
        if self.drop == "data" and nth == self.every and not self.dropped:
            self.dropped += 1
            server.transport.abort()  # the message is here; its reply is lost
        return reply


class Running:
    def __init__(self, handler: Server):
        self.handler = handler
        self.controller = Controller(handler, hostname="127.0.0.1", port=free_port())

    def __enter__(self) -> Server:
        self.controller.start()
        return self.handler

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def settings(self) -> mail.MailSettings:
        return mail.settings_from(
            {
                "LIFECYCLE_SMTP_HOST": "127.0.0.1",
                "LIFECYCLE_SMTP_PORT": str(self.controller.port),
                "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example",
            }
        )


def queue_rows(session: Session, n: int) -> list[int]:
    """``n`` due reminders of Waiblingen's open tasks (several offsets per task), queued."""
    tasks = session.exec(
        select(Task)
        .join(Stage, col(Stage.id) == Task.stage_id)
        .where(
            Task.state == TaskState.open,
            col(Task.assignee_id).is_not(None),
            col(Task.due).is_not(None),
            col(Stage.state).in_([StageState.open, StageState.pending]),
        )
        .order_by(col(Task.id))
    ).all()
    planned = [
        Planned(
            t.assignee_id,
            f"task:{t.id}",
            t.due,
            offset,
            "due",
            NOV_8,
            t.fortschreibung_id,
            t.id,
            payload={"process": "waiblingen-2017", "kommune": "waiblingen", "task_key": t.key,
                     "task_title": t.title, "due": t.due.isoformat(), "days": offset},
        )  # fmt: skip
        for offset in range(1, 30)
        for t in tasks
    ][:n]
    assert len(planned) == n
    assert outbox.queue(session, planned) == n
    return list(session.exec(select(Reminder.id).order_by(col(Reminder.id))))


def states(session: Session) -> Counter[str]:
    session.expire_all()
    return Counter(str(r.state) for r in session.exec(select(Reminder)))


def message_ids(handler: Server) -> Counter[str]:
    return Counter(str(m["Message-ID"]) for m in handler.messages)


def test_one_connection_for_every_message_of_a_run(session, waiblingen):
    ids = queue_rows(session, 60)
    server = Running(Server())
    with server as handler:
        done = outbox.deliver(session, NOV_8, server.settings, now=T0)
        assert len(handler.peers) == 1  # one connection, counted by the server
        assert done.sent == ids and len(handler) == 60
        assert set(message_ids(handler).values()) == {1}  # each row once
    assert states(session) == Counter({"sent": 60})


def test_a_second_run_opens_its_own_connection(session, waiblingen):
    queue_rows(session, 10)
    server = Running(Server())
    with server as handler:
        outbox.deliver(session, NOV_8, server.settings, now=T0)
        queue_rows_again = session.exec(select(Reminder)).all()
        session.execute(
            Reminder.__table__.update().values(state="planned")  # type: ignore[attr-defined]
        )
        session.commit()
        outbox.deliver(session, NOV_8, server.settings, now=T0)
        assert len(handler.peers) == 2 and len(handler) == 2 * len(queue_rows_again)


@pytest.mark.parametrize("drop", ["421", "idle"])
def test_a_connection_the_server_closes_between_messages_is_reopened(session, waiblingen, drop):
    """Closed after every 7th message: the run reconnects and sends the rest, each once."""
    ids = queue_rows(session, 30)
    server = Running(Server(drop=drop, every=7))
    with server as handler:
        done = outbox.deliver(session, NOV_8, server.settings, now=T0)
        assert handler.dropped == 4  # after messages 7, 14, 21 and 28
        assert len(handler.peers) == 5
        assert done.sent == ids and done.failed == [] and done.server_error == ""
        assert len(handler) == 30 and set(message_ids(handler).values()) == {1}
    assert states(session) == Counter({"sent": 30})


def test_a_connection_lost_during_data_errs_towards_at_least_once_for_that_row_only(
    session, waiblingen
):
    """The 5th message arrives but its reply is lost: that row failed (the server may have
    it), the run stops and the rest waits; the next run sends the rest once and that row
    again (after the rows never tried), with the same Message-ID."""
    ids = queue_rows(session, 12)
    server = Running(Server(drop="data", every=5))
    with server as handler:
        first = outbox.deliver(session, NOV_8, server.settings, now=T0)
        assert first.sent == ids[:4] and first.failed == [ids[4]]
        assert "SMTP-Verbindung abgebrochen" in first.server_error
        assert len(handler) == 5
        second = outbox.deliver(session, NOV_8, server.settings, now=T0)
        assert second.sent == [*ids[5:], ids[4]]
        counts = message_ids(handler)
    [twice] = [mid for mid, n in counts.items() if n == 2]
    assert len(counts) == 12 and sum(counts.values()) == 13
    row = session.get(Reminder, ids[4])
    assert twice == outbox.message_id(row, server.settings)
    assert states(session) == Counter({"sent": 12})


def test_a_refused_recipient_fails_alone_and_the_connection_carries_on(session, waiblingen):
    ids = queue_rows(session, 40)
    session.expire_all()
    rows = {r.id: r for r in session.exec(select(Reminder))}
    refused_person = rows[ids[0]].person_id
    address = session.get(Person, refused_person).email
    refused = [rid for rid in ids if rows[rid].person_id == refused_person]
    assert 0 < len(refused) < len(ids)
    server = Running(Server(refuse=(address,)))
    with server as handler:
        done = outbox.deliver(session, NOV_8, server.settings, now=T0)
        assert len(handler.peers) == 1
        assert done.failed == refused and done.server_error == ""
        assert done.sent == [rid for rid in ids if rid not in refused]
        assert len(handler) == len(done.sent)
    session.expire_all()
    for rid in refused:
        row = session.get(Reminder, rid)
        assert row.state == ReminderState.failed
        assert row.last_error.startswith("vom Mailserver abgelehnt:") and address in row.last_error


def test_the_mailer_counts_its_connections(session, waiblingen):
    """The Mailer itself: one connect for a batch, one more after the server closed it."""
    server = Running(Server(drop="idle", every=3))
    with server as handler:
        settings = server.settings
        with mail.Mailer(settings) as mailer:
            for i in range(7):
                content = mail.Content(f"Test {i} – Größe", "Hallo", ["Text"])
                msg = mail.outgoing(settings, "Ute Ortolf", "ute@example.org", content, f"<t{i}@x>")
                assert msg is not None
                mailer.send(msg)
            assert mailer.connections == 3  # after messages 3 and 6 the server closed it
        assert len(handler) == 7 and len(handler.peers) == 3
