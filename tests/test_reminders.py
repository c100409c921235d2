"""Reminders end to end: real SQLite, real SMTP on loopback, real OS processes."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import WAIBLINGEN, child_env
from smtp_server import SmtpServer, free_port
from sqlmodel import Session, select

from lifecycle import engine, mail, outbox, reminders, services
from lifecycle.errors import InputError
from lifecycle.models import Person, Reminder, ReminderState, Stage, Task
from lifecycle.scenario import load_scenario

NOV_8 = dt.date(2017, 11, 8)
ROOT = Path(__file__).resolve().parent.parent
BSV_SUBJECT = "Vorlagenschluss 22.11.2017 für BSV am 06.12.2017"


def settings_for(port: int, **extra: str) -> mail.MailSettings:
    return mail.settings_from(
        {
            "LIFECYCLE_SMTP_HOST": "127.0.0.1",
            "LIFECYCLE_SMTP_PORT": str(port),
            "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example",
            **extra,
        }
    )


def subjects(server: SmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in server.inbox.messages]


def states(session: Session) -> Counter:
    session.expire_all()
    return Counter(str(r.state) for r in session.exec(select(Reminder)))


# --- the Waiblingen case -----------------------------------------------------------------------


def test_bsv_vorlagenschluss_reminder_goes_out_once(session, waiblingen):
    with SmtpServer() as server:
        first = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        assert BSV_SUBJECT in subjects(server)
        assert first.sent == len(server.inbox) and first.failed == 0
        second = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        assert (second.planned, second.sent) == (0, 0)
        assert len(server.inbox) == first.sent
    [msg] = [m for m in server.inbox.messages if m["Subject"] == BSV_SUBJECT]
    assert msg["To"].addresses[0].addr_spec == "sitzungsdienst@waiblingen.example"
    text = msg.get_body(("plain",)).get_content()
    assert "Mittwoch, 6. Dezember 2017, 17:00 Uhr" in text
    assert "Mittwoch, 22. November 2017" in text and "BSV 21/2017" in text


def test_cli_remind_sends_then_sends_nothing(db_url, waiblingen):
    with SmtpServer() as server:
        env = child_env() | server.env() | {"LIFECYCLE_DATABASE_URL": db_url, "COLUMNS": "200"}
        cmd = [sys.executable, "-m", "lifecycle", "remind", "--today", "2017-11-08"]
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert "22.11.2017" in first.stdout and "gesendet" in first.stdout
        assert BSV_SUBJECT in subjects(server)
        count = len(server.inbox)
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and "0 neu geplant, 0 gesendet" in again.stdout
        assert len(server.inbox) == count


def test_dry_run_changes_nothing(session, waiblingen):
    report = reminders.run_daily(session, NOV_8, dry_run=True)
    assert report.planned >= 1 and any(r.kind == "vorlagenschluss" for r in report.rows)
    assert states(session) == Counter()


# --- policy ------------------------------------------------------------------------------------


def _start_with(session, tmp_path, reminders_block) -> None:
    text = WAIBLINGEN.read_text(encoding="utf-8")
    anchor = "  plan: integrationskonzept\n"
    block = f"  reminders: {json.dumps(reminders_block)}\n"
    path = tmp_path / "waiblingen.yaml"
    path.write_text(text.replace(anchor, anchor + block), encoding="utf-8")
    services.start(session, load_scenario(path), actor="test")


def test_scenario_overrides_plan_policy(session, tmp_path):
    _start_with(session, tmp_path, {"before_vorlagenschluss": [3], "before_due": []})
    on_nov_8 = reminders.find_due(session, NOV_8)
    assert not [p for p in on_nov_8 if p.kind in ("vorlagenschluss", "due")]
    # 3 working days before 22.11.2017 is Friday, 17.11.2017
    on_nov_17 = [
        p for p in reminders.find_due(session, dt.date(2017, 11, 17)) if p.kind == "vorlagenschluss"
    ]
    assert {(p.deadline, p.offset) for p in on_nov_17} == {(dt.date(2017, 11, 22), 3)}


def test_invalid_policy_is_refused_on_load_with_the_line(session, tmp_path):
    with pytest.raises(
        InputError, match=r"waiblingen.yaml:\d+: fortschreibung.reminders: unbekannter Schlüssel"
    ):
        _start_with(session, tmp_path, {"before_vorlagenschlus": [3]})


def test_invalid_stored_policy_is_refused_by_the_scan(session, waiblingen):
    # a process stored before the schema was tightened still gets a clear error
    scenario = dict(waiblingen.scenario)
    scenario["fortschreibung"] = scenario["fortschreibung"] | {"reminders": {"digest_weekday": 6}}
    waiblingen.scenario = scenario
    session.add(waiblingen)
    session.commit()
    with pytest.raises(InputError, match="fortschreibung.reminders.digest_weekday: 6 ist größer"):
        reminders.find_due(session, NOV_8)


def test_escalation_to_project_lead_on_first_working_day_after(session, waiblingen):
    # sitzungsvorlage_einreichen was due 22.11.2017 (Wednesday) and is still open
    found = reminders.find_due(session, dt.date(2017, 11, 23))
    esc = [
        p
        for p in found
        if p.kind == "escalation" and p.payload["task_key"] == "sitzungsvorlage_einreichen"
    ]
    lead = session.exec(select(Person).where(Person.key == "ortolf")).one()
    assert [(p.person_id, p.send_on) for p in esc] == [(lead.id, dt.date(2017, 11, 23))]
    later = reminders.find_due(session, dt.date(2017, 12, 5))
    assert not [p for p in later if p.kind == "escalation" and p.deadline == dt.date(2017, 11, 22)]


def test_weekly_digest_lists_next_two_weeks(session, waiblingen):
    monday = dt.date(2017, 11, 20)
    with SmtpServer() as server:
        reminders.run_daily(session, monday, settings=settings_for(server.port))
        digests = [
            m for m in server.inbox.messages if str(m["Subject"]).startswith("Wochenübersicht")
        ]
    to_lead = [m for m in digests if m["To"].addresses[0].addr_spec.startswith("ute.ortolf")]
    assert len(to_lead) == 1
    text = to_lead[0].get_body(("plain",)).get_content()
    assert "Sitzungsvorlage entwerfen" in text and "bis Montag, 4. Dezember 2017" in text


def test_done_task_is_not_reminded(session, waiblingen):
    # foerderantrag_stellen is due 15.03.2017; its 5-day reminder falls on 08.03.2017
    before = {p.payload.get("task_key") for p in reminders.find_due(session, dt.date(2017, 3, 8))}
    assert "foerderantrag_stellen" in before
    services.complete_task(
        session, "waiblingen-2017:foerderantrag_stellen", on=dt.date(2017, 3, 7), by="ortolf"
    )
    after = {p.payload.get("task_key") for p in reminders.find_due(session, dt.date(2017, 3, 8))}
    assert "foerderantrag_stellen" not in after


# --- bad input: errors recorded, the rest delivered -------------------------------------------


def test_bad_addresses_are_recorded_and_the_rest_delivered(session, waiblingen):
    people = {p.key: p for p in session.exec(select(Person))}
    people["sitzungsdienst"].email = "sitzungsdienst-at-waiblingen"
    people["duerr"].email = None
    session.add_all(people.values())
    session.commit()
    with SmtpServer() as server:
        report = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        errors = {r.recipient: r.error for r in report.rows if r.error}
        assert "ist keine gültige E-Mail-Adresse" in errors["Sitzungsdienst"]
        assert errors["Christiane Dürr"] == "Christiane Dürr hat keine E-Mail-Adresse"
        assert report.sent == len(server.inbox) > 0 and report.failed == 2
        people["sitzungsdienst"].email = "sitzungsdienst@waiblingen.example"
        session.add(people["sitzungsdienst"])
        session.commit()
        retry = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        assert retry.sent == 1 and BSV_SUBJECT in subjects(server)



def test_a_message_that_cannot_be_built_fails_alone_and_stays_reported(session, waiblingen):
    """A line break in a Gremium's short name (e.g. from the RIS) would make the Subject a
    second header: that row fails with a German reason, the rest goes out, nothing is left
    in "sending", and the next run still reports the row."""
    from lifecycle.models import Gremium

    bsv = session.exec(select(Gremium).where(Gremium.key == "bsv")).one()
    bsv.short = "BSV\r\nBcc: evil@attacker.example"
    session.commit()
    with SmtpServer() as server:
        first = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        assert first.failed == 1 and first.sent == len(server.inbox) > 0
        assert not first.server_error and first.queued == 1
        assert all("evil" not in raw.decode("utf-8", "replace") for raw in server.inbox.raw)
        again = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        assert (again.sent, again.failed, again.queued) == (0, 1, 1)
    [row] = [r for r in again.rows if r.error]
    assert row.kind == "vorlagenschluss" and row.state == reminders.STATE_DE["failed"]
    assert row.subject == "BSV\\r\\nBcc: evil@attacker.example am 06.12.2017"  # not a line break
    assert row.error.startswith("Nachricht nicht erstellbar: der Betreff „Vorlagenschluss")
    shown = "für BSV\\r\\nBcc: evil@attacker.example am 06.12.2017“ enthält Steuerzeichen"
    assert shown in row.error
    assert states(session) == Counter({"sent": first.sent, "failed": 1})


def test_a_row_left_in_sending_by_a_crashed_run_is_reported_as_waiting(session, waiblingen):
    outbox.queue(session, reminders.find_due(session, NOV_8))
    [first, *_] = outbox.deliverable_ids(session, NOV_8, dt.datetime.now(dt.UTC))
    assert outbox.claim(session, first, "crashed-run", dt.datetime.now(dt.UTC))
    with SmtpServer() as server:
        report = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
    assert report.queued == 1 and report.sent == len(server.inbox)
    [stuck] = [r for r in report.rows if r.id == first]
    assert stuck.state == reminders.STATE_DE["sending"]


def test_an_internal_error_building_a_message_is_raised_and_the_row_not_left_sending(
    session, waiblingen
):
    """A bug (here: a payload without the field its text needs) stays visible, an exception;
    but its row is recorded as failed, not left in "sending", and the next run sends the
    other rows before it."""
    outbox.queue(session, reminders.find_due(session, NOV_8))
    [broken, *others] = outbox.deliverable_ids(session, NOV_8, dt.datetime.now(dt.UTC))
    row = session.get(Reminder, broken)
    row.payload = {}
    session.add(row)
    session.commit()
    with SmtpServer() as server:
        settings = settings_for(server.port)
        with pytest.raises(KeyError):
            outbox.deliver(session, NOV_8, settings)
        assert states(session) == Counter({"failed": 1, "planned": len(others)})
        failed = session.get(Reminder, broken)
        assert failed.last_error.startswith("interner Fehler beim Erstellen der Nachricht")
        with pytest.raises(KeyError):
            outbox.deliver(session, NOV_8, settings)
        assert len(server.inbox) == len(others)
    assert states(session) == Counter({"failed": 1, "sent": len(others)})

def test_a_database_error_while_a_message_is_built_is_the_databases_error(session, waiblingen):
    """The database failing under the delivery (here: the Kommune's table gone, which the
    readable process name is read from) is no bug of the message: the error is raised as it
    is, as the CLI reports a lost database, and nothing is recorded on the row, whose claim
    expires like a crashed run's (on PostgreSQL the dead connection could not record it:
    PendingRollbackError, a crash instead of the one line)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    outbox.queue(session, reminders.find_due(session, NOV_8))
    session.execute(text("PRAGMA foreign_keys=OFF"))
    session.execute(text("ALTER TABLE kommune RENAME TO kommune_gone"))
    session.commit()
    with SmtpServer() as server, pytest.raises(OperationalError, match="kommune"):
        outbox.deliver(session, NOV_8, settings_for(server.port))
    session.rollback()
    assert "interner Fehler" not in " ".join(
        r.last_error for r in session.exec(select(Reminder)).all())
    assert states(session)["failed"] == 0 and states(session)["sending"] == 1


def test_smtp_down_then_up_delivers_everything_once(session, waiblingen):
    port = free_port()
    down = reminders.run_daily(session, NOV_8, settings=settings_for(port))
    assert down.sent == 0 and "nicht erreichbar" in down.server_error
    assert states(session)["failed"] == 1 and states(session)["planned"] == down.planned - 1
    assert all("nicht erreichbar" in r.error for r in down.rows)
    with SmtpServer(port=port) as server:
        up = reminders.run_daily(session, NOV_8, settings=settings_for(port))
        assert up.sent == down.planned == len(server.inbox)
        assert len({m["Message-ID"] for m in server.inbox.messages}) == up.sent
    assert states(session) == Counter({"sent": up.sent})


@pytest.mark.filterwarnings("ignore:Requiring AUTH")
def test_failed_authentication_keeps_reminders_queued(session, waiblingen):
    with SmtpServer(auth=("fristen", "geheim")) as server:
        wrong = settings_for(
            server.port, LIFECYCLE_SMTP_USER="fristen", LIFECYCLE_SMTP_PASSWORD="x"
        )
        report = reminders.run_daily(session, NOV_8, settings=wrong)
        assert report.sent == 0 and "Anmeldung als „fristen“ fehlgeschlagen" in report.server_error
        right = settings_for(
            server.port, LIFECYCLE_SMTP_USER="fristen", LIFECYCLE_SMTP_PASSWORD="geheim"
        )
        assert reminders.run_daily(session, NOV_8, settings=right).sent == report.planned


def test_unknown_time_zone_is_refused_before_the_database_is_touched(db_url, waiblingen, session):
    env = child_env() | {
        "LIFECYCLE_DATABASE_URL": db_url,
        "LIFECYCLE_SMTP_HOST": "127.0.0.1",
        "LIFECYCLE_TIMEZONE": "Europe/Waiblingen",
        "COLUMNS": "200",
    }
    cmd = [sys.executable, "-m", "lifecycle", "remind", "--today", "2017-11-08"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lifecycle: LIFECYCLE_TIMEZONE=„Europe/Waiblingen“ ist keine bekannte Zeitzone"
    ]
    assert session.exec(select(Reminder)).all() == []  # nothing planned: settings come first


# --- exactly once: concurrent scans, crash ----------------------------------------------------


def _add_tasks(session: Session, process, n: int) -> None:
    """n more people with a task due 22.11.2017 each: enough rows for two scans to race."""
    stage = session.exec(
        select(Stage).where(Stage.fortschreibung_id == process.id, Stage.key == "vorlage")
    ).one()
    for i in range(n):
        person = Person(
            kommune_id=process.kommune_id,
            key=f"p{i}",
            name=f"Person Nr. {i} (Ö)",
            email=f"p{i}@waiblingen.example",
        )
        session.add(person)
        session.flush()
        session.add(
            Task(
                fortschreibung_id=process.id,
                stage_id=stage.id,
                key=f"extra_{i}",
                title=f"Zuarbeit {i} für die Sitzungsvorlage",
                role="projektleitung",
                assignee_id=person.id,
                anchor_kind="sitzung",
                anchor_ref="vorlage_vorberatung",
                offset=-10,
                offset_unit="working_days",
                due=dt.date(2017, 11, 22),
            )
        )
    session.commit()


SCAN = """
import datetime as dt, json, os, sys
from pathlib import Path
from sqlmodel import Session
from lifecycle import mail, reminders
from lifecycle.db import engine_for
sys.path.insert(0, sys.argv[3])
from service_race import barrier
folder, name = Path(sys.argv[1]), sys.argv[2]
find_due, deliver = reminders.find_due, reminders.deliver

def found_then_wait(*args, **kwargs):
    found = find_due(*args, **kwargs)
    barrier(folder / "found", name)  # both have read what is due before either queues it
    return found

def deliver_together(*args, **kwargs):
    barrier(folder / "queued", name)  # both have queued before either claims a row
    return deliver(*args, **kwargs)

reminders.find_due, reminders.deliver = found_then_wait, deliver_together
with Session(engine_for(os.environ["LIFECYCLE_DATABASE_URL"]), expire_on_commit=False) as s:
    r = reminders.run_daily(s, dt.date(2017, 11, 8), settings=mail.load_settings())
print(json.dumps({"planned": r.planned, "sent": r.sent, "failed": r.failed}))
"""


def test_two_concurrent_scans_send_each_reminder_once(session, waiblingen, db_url, tmp_path):
    """Two scans meet at two file barriers: after reading what is due (so both try to queue
    the same rows) and after queueing (so both try to claim the same rows)."""
    _add_tasks(session, waiblingen, 60)
    script = tmp_path / "scan.py"
    script.write_text(SCAN, encoding="utf-8")
    for name in ("found", "queued"):
        (tmp_path / "barriers" / name).mkdir(parents=True)
    tests = str(Path(__file__).parent)
    with SmtpServer() as server:
        env = child_env() | server.env() | {"LIFECYCLE_DATABASE_URL": db_url}
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), str(tmp_path / "barriers"), name, tests],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]
        outs = [p.communicate(timeout=180) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
        results = [json.loads(o) for o, _ in outs]
        ids = [m["Message-ID"] for m in server.inbox.messages]
    for name in ("found", "queued"):  # both scans reached both barriers
        assert sorted(p.name for p in (tmp_path / "barriers" / name).iterdir()) == ["a", "b"]
    total = states(session)
    assert total == Counter({"sent": total["sent"]}) and total["sent"] >= 61
    assert sum(r["planned"] for r in results) == total["sent"]  # each row inserted by one scan
    assert sum(r["sent"] for r in results) == total["sent"] == len(ids) == len(set(ids))


CRASH = """
import datetime as dt, os
from sqlmodel import Session
from lifecycle import mail, reminders
from lifecycle.db import engine_for

class CrashAfterSend(mail.Mailer):
    def send(self, msg):
        super().send(msg)
        os._exit(3)  # the SMTP server has the message; "sent" is never recorded

settings = mail.load_settings()
with Session(engine_for(os.environ["LIFECYCLE_DATABASE_URL"]), expire_on_commit=False) as s:
    reminders.run_daily(s, dt.date(2017, 11, 8), settings=settings, mailer=CrashAfterSend(settings))
"""


def test_crash_between_send_and_record_errs_towards_at_least_once(
    session, waiblingen, db_url, tmp_path
):
    script = tmp_path / "crash.py"
    script.write_text(CRASH, encoding="utf-8")
    with SmtpServer() as server:
        env = child_env() | server.env() | {"LIFECYCLE_DATABASE_URL": db_url}
        crashed = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, timeout=120
        )
        assert crashed.returncode == 3 and len(server.inbox) == 1
        [stuck] = session.exec(
            select(Reminder).where(Reminder.state == ReminderState.sending)
        ).all()
        # right away, the claim is fresh: another run leaves it alone and sends the rest
        rest = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        assert states(session)["sending"] == 1 and rest.sent == len(server.inbox) - 1
        # after STALE_CLAIM the row counts as abandoned and goes out again
        later = dt.datetime.now(dt.UTC) + outbox.STALE_CLAIM + dt.timedelta(minutes=1)
        retry = reminders.run_daily(session, NOV_8, settings=settings_for(server.port), now=later)
        assert retry.sent == 1
        ids = Counter(m["Message-ID"] for m in server.inbox.messages)
    assert states(session) == Counter({"sent": rest.sent + 1})
    # the duplicate carries the same Message-ID, so mail clients can fold it
    assert [mid for mid, n in ids.items() if n > 1] == [
        f"<reminder-{stuck.message_uid}@waiblingen.example>"
    ]


def test_message_ids_differ_between_databases_with_the_same_rows(tmp_path):
    """Two installations sending from one domain must not reuse each other's Message-IDs."""
    from sqlmodel import Session

    from lifecycle.db import engine_for
    from lifecycle.scenario import load_scenario

    settings = settings_for(25)
    ids = []
    for name in ("a", "b"):
        with Session(engine_for(f"sqlite:///{tmp_path / name}.db")) as s:
            services.start(s, load_scenario(WAIBLINGEN), actor="test")
            outbox.queue(s, reminders.find_due(s, NOV_8))
            s.commit()
            rows = s.exec(select(Reminder).order_by(Reminder.id)).all()
            ids.append([outbox.message_id(r, settings) for r in rows])
    assert len(ids[0]) == len(ids[1]) > 0
    assert not set(ids[0]) & set(ids[1])
    # stable per row: asking again gives the same id
    with Session(engine_for(f"sqlite:///{tmp_path / 'a'}.db")) as s:
        rows = s.exec(select(Reminder).order_by(Reminder.id)).all()
        assert [outbox.message_id(r, settings) for r in rows] == ids[0]


# --- a Sitzung moves --------------------------------------------------------------------------


def test_moved_sitzung_replans_and_tells_each_person_once(session, waiblingen):
    queued = reminders.run_daily(session, NOV_8, settings=settings_for(free_port()))
    assert queued.sent == 0  # SMTP down: the BSV Vorlagenschluss reminder waits in the outbox
    move = services.move_sitzung(
        session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0), actor="test", today=NOV_8
    )
    n = move.notified
    assert n == 4  # Ortolf (lead), Roß, Dürr, Sitzungsdienst have open deadlines that moved
    stale = session.exec(select(Reminder).where(Reminder.kind == "vorlagenschluss")).one()
    assert stale.state == ReminderState.cancelled
    assert reminders.on_sitzung_moved(session, move, today=NOV_8) == 0  # idempotent
    with SmtpServer() as server:
        reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        moved = [
            m for m in server.inbox.messages if str(m["Subject"]).startswith("Sitzung verlegt")
        ]
        assert BSV_SUBJECT not in subjects(server)
    recipients = Counter(m["To"].addresses[0].addr_spec for m in moved)
    assert len(recipients) == 4 and set(recipients.values()) == {1}
    [to_sd] = [m for m in moved if m["To"].addresses[0].addr_spec.startswith("sitzungsdienst")]
    assert to_sd["Subject"] == "Sitzung verlegt: BSV vom 06.12.2017 auf 13.12.2017"
    text = to_sd.get_body(("plain",)).get_content()
    assert "bisher Mittwoch, 6. Dezember 2017, 17:00 Uhr, neu Mittwoch, 13. Dezember 2017" in text
    assert "bisher 22.11.2017, neu 29.11.2017" in text



BSV_KEY = "bsv-2017-12-06"
DEC_6, DEC_13 = dt.datetime(2017, 12, 6, 17, 0), dt.datetime(2017, 12, 13, 17, 0)


def test_a_sitzung_moved_and_moved_back_has_its_reminders_due_again(session, waiblingen):
    """The move cancelled the queued Vorlagenschluss reminder; the move back makes the same
    reminder due again, and it goes out, once. One already sent is never sent again."""
    assert services.plan_reminders(session, NOV_8) > 0
    services.move_sitzung(session, BSV_KEY, DEC_13, actor="test", today=NOV_8)
    services.move_sitzung(session, BSV_KEY, DEC_6, actor="test", today=NOV_8)
    with SmtpServer() as server:
        settings = settings_for(server.port)
        reminders.run_daily(session, NOV_8, settings=settings)
        assert subjects(server).count(BSV_SUBJECT) == 1
        reminders.run_daily(session, NOV_8, settings=settings)
        services.move_sitzung(session, BSV_KEY, DEC_13, actor="test", today=NOV_8)
        services.move_sitzung(session, BSV_KEY, DEC_6, actor="test", today=NOV_8)
        reminders.run_daily(session, NOV_8, settings=settings)
        assert subjects(server).count(BSV_SUBJECT) == 1
    [row] = session.exec(select(Reminder).where(Reminder.kind == "vorlagenschluss")).all()
    assert (row.state, row.last_error) == (ReminderState.sent, "")


def test_each_move_of_a_sitzung_is_told_with_its_own_direction(session, waiblingen):
    """A to B, B to A, A to B: three "Sitzung verlegt" mails, each with its direction; the
    follow-up of one move run again adds nothing."""
    told = []
    with SmtpServer() as server:
        settings = settings_for(server.port)
        for day, to in ((NOV_8, DEC_13), (NOV_8 + dt.timedelta(days=1), DEC_6),
                        (NOV_8 + dt.timedelta(days=2), DEC_13)):  # fmt: skip
            move = services.move_sitzung(session, BSV_KEY, to, actor="test", today=day)
            assert move.notified == 4
            assert reminders.on_sitzung_moved(session, move, today=day) == 0  # idempotent
            session.commit()
            n = len(server.inbox)
            reminders.run_daily(session, day, settings=settings)
            told += [(str(m["To"].addresses[0].addr_spec), str(m["Subject"]))
                     for m in server.inbox.messages[n:]
                     if str(m["Subject"]).startswith("Sitzung verlegt")]  # fmt: skip
    to_sd = [subject for to, subject in told if to.startswith("sitzungsdienst")]
    assert to_sd == [
        "Sitzung verlegt: BSV vom 06.12.2017 auf 13.12.2017",
        "Sitzung verlegt: BSV vom 13.12.2017 auf 06.12.2017",
        "Sitzung verlegt: BSV vom 06.12.2017 auf 13.12.2017",
    ]
    assert len(told) == 12

def test_reminder_planned_before_a_move_is_not_sent_after_it(session, waiblingen):
    """Even without on_sitzung_moved, delivery re-checks the deadline of a queued row."""
    outbox.queue(session, reminders.find_due(session, NOV_8))
    # the engine's transition alone, as a move from before the services layer would have been
    engine.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0), actor="test")
    session.commit()
    with SmtpServer() as server:
        report = reminders.run_daily(session, NOV_8, settings=settings_for(server.port))
        assert BSV_SUBJECT not in subjects(server) and report.cancelled >= 1
    cancelled = session.exec(
        select(Reminder).where(Reminder.state == ReminderState.cancelled)
    ).all()
    assert any("Sitzung verlegt auf den 13.12.2017" in r.last_error for r in cancelled)


def test_outbox_key_is_unique(session, waiblingen):
    planned = reminders.find_due(session, NOV_8)
    assert outbox.queue(session, planned) == len(planned)
    assert outbox.queue(session, planned) == 0
