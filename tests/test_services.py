"""The services layer: one transaction per use case, row locks, the run outbox.

The races and kills run in real OS processes (tests/service_race.py) against a real SQLite
file and, where LIFECYCLE_TEST_POSTGRES_URL is set, a real PostgreSQL server.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WAIBLINGEN, child_env
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from lifecycle import engine, services
from lifecycle.db import engine_for
from lifecycle.errors import InputError, NotFound, Refused
from lifecycle.models import (
    Event,
    GateDecision,
    Reminder,
    RunRequest,
    RunRequestState,
    Sitzung,
    Stage,
    StageState,
    Task,
)
from lifecycle.scenario import load_scenario

RACE = Path(__file__).parent / "service_race.py"
D = dt.date


def dump(session: Session) -> dict[str, list]:
    session.expire_all()
    conn = session.connection()
    tables = {
        t: conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1')).fetchall()
        for t in SQLModel.metadata.tables
    }
    session.rollback()
    return tables


def child(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RACE), *args], capture_output=True, text=True, timeout=timeout,
        env=child_env(),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def any_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'race.db'}"
    return request.getfixturevalue("pg_url")


def started(url: str) -> Session:
    s = Session(engine_for(url), expire_on_commit=False)
    services.start(s, load_scenario(WAIBLINGEN), actor="test")
    return s


# --- two people, one gate ----------------------------------------------------------------------


def race(what: str, url: str, folder: Path) -> list[str]:
    """Both sides of a race: one in a child process, the other in this one, so that ``make
    mutate`` (which maps tests to the functions they call in-process) runs it against the lock.
    What each side said, sorted; they must have met at the lock."""
    import service_race

    other = subprocess.Popen(
        [sys.executable, str(RACE), what, url, str(folder), "web"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
    )  # fmt: skip
    here = getattr(service_race, what)(url, str(folder), "cli")
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, (out, err)
    assert sorted(p.name for p in (folder / "before").iterdir()) == ["cli", "web"]
    return sorted([out.strip(), here])


def test_two_concurrent_decisions_record_exactly_one(any_url, tmp_path):
    session = started(any_url)
    said = race("decide", any_url, tmp_path / "barrier")
    assert said[0] == "ok", said
    assert said[1].startswith("refused: das Gate der Phase „Ratsbeschluss“ ist schon geschlossen")
    decisions = session.exec(select(GateDecision)).all()
    assert len(decisions) == 1
    # ...and exactly one request for the run of the stage it opened
    requests = session.exec(select(RunRequest).where(RunRequest.decision_id.is_not(None))).all()
    assert [r.key for r in requests] == [f"waiblingen-2017:auftaktworkshop:{decisions[0].id}"]
    session.close()


def test_two_concurrent_reassignments_record_exactly_one(any_url, tmp_path):
    """``engine.lock`` (a task's, a Sitzung's, a Kommune's, a Vorlage's row) holds the second
    side back until the first has committed: it finds the task given away already."""
    session = started(any_url)
    said = race("reassign", any_url, tmp_path / "barrier")
    assert said == ["ok", "refused: die Aufgabe „Förderantrag stellen (z. B. VwV Integration)“ "
                    "ist schon Markus Raible zugewiesen"], said  # fmt: skip
    reassigned = session.exec(select(Event).where(Event.action == "task_reassigned")).all()
    assert len(reassigned) == 1
    session.close()


def test_two_concurrent_completions_record_exactly_one(any_url, tmp_path):
    """Completing a task takes its own lock (no ``engine.lock``, one query less)."""
    session = started(any_url)
    said = race("complete", any_url, tmp_path / "barrier")
    assert said == ["ok", "refused: die Aufgabe „Förderantrag stellen (z. B. VwV Integration)“ "
                    "ist schon erledigt (am 20.04.2017)"], said  # fmt: skip
    assert len(session.exec(select(Event).where(Event.action == "task_done")).all()) == 1
    session.close()


# --- a reschedule killed half-way ----------------------------------------------------------------


@pytest.mark.parametrize("kill_point", ["before", "after"])
def test_killed_reschedule_leaves_nothing_then_rerun_leaves_everything(tmp_path, kill_point):
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    session = started(url)
    before = dump(session)
    killed = child("reschedule", url, kill_point)
    assert killed.returncode == -9, killed.stderr
    assert dump(session) == before  # neither the move nor its messages

    again = child("reschedule", url, "none")
    assert again.returncode == 0, again.stderr
    notified = int(again.stdout.strip())
    session.expire_all()
    sitzung = session.exec(select(Sitzung).where(Sitzung.key == "bsv-2017-12-06")).one()
    assert sitzung.start == dt.datetime(2017, 12, 13, 17, 0)
    moved = session.exec(select(Reminder).where(Reminder.kind == "moved")).all()
    assert notified == len(moved) == 4  # lead, partner, Dezernat, Sitzungsdienst
    session.close()


def test_move_without_messages_is_rolled_back_in_process(session, waiblingen, monkeypatch):
    """A failing follow-up takes the transition with it: no moved Sitzung without messages."""
    from lifecycle import reminders

    def broken(*_args, **_kwargs):
        raise Refused("simulated failure while queueing")

    monkeypatch.setattr(reminders, "on_sitzung_moved", broken)
    before = dump(session)
    with pytest.raises(Refused, match="simulated"):
        services.move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 13), actor="t")
    assert dump(session) == before


# --- the run outbox ---------------------------------------------------------------------------


def test_start_and_each_decision_request_their_stage_run(session, waiblingen):
    [first] = services.pending_runs(session)
    assert (first.process_key, first.stage_key, first.key) == (
        "waiblingen-2017", "ratsbeschluss", "waiblingen-2017:ratsbeschluss:start"
    )  # fmt: skip
    assert services.mark_run_started(session, first.id, "run-1") is True
    assert services.mark_run_started(session, first.id, "run-2") is False  # once
    assert services.pending_runs(session) == []
    d = services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="send_back",
                             on=D(2017, 3, 20), by="raible", remarks="Geld klären")  # fmt: skip
    [again] = services.pending_runs(session)
    assert again.stage_key == "ratsbeschluss"
    assert again.key == f"waiblingen-2017:ratsbeschluss:{d.id}"
    row = session.get(RunRequest, first.id)
    assert (row.state, row.run_id) == (RunRequestState.started, "run-1")


def test_refused_decision_requests_nothing(session, waiblingen):
    before = dump(session)
    with pytest.raises(Refused):
        services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                             on=D(2017, 4, 27), by="sd", reference="BSV 3/2017")  # fmt: skip
    assert dump(session) == before


def test_an_approval_reads_its_stages_tasks_and_sitzungen_once(session, waiblingen):
    """The gate's checks (its Sitzung's day, the stage's open tasks, the next stage) and the
    recompute after the approval read the same rows: each table once, besides the locked
    stage. Each check used to send its own query first."""
    from sqlalchemy import event

    sent: list[str] = []
    listen = lambda *args: sent.append(" ".join(args[2].split()))  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                             on=D(2017, 4, 27), by="sd", reference="BSV 3/2017",
                             force_reason="Test")  # fmt: skip
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    reads = [s for s in sent if s.startswith("SELECT")]

    def reading(table: str) -> list[str]:
        return [s for s in reads if f" FROM {table} " in s or f" JOIN {table} " in s]

    assert len(reading("task")) == 1, reading("task")
    assert len(reading("sitzungbinding")) == 1, reading("sitzungbinding")
    assert len(reading("stage")) == 2, reading("stage")  # the locked one, then all in order
    stages = session.exec(select(Stage).where(Stage.fortschreibung_id == waiblingen.id)
                          .order_by(Stage.position)).all()  # fmt: skip
    assert [(s.key, s.state) for s in stages[:2]] == [
        ("ratsbeschluss", StageState.closed), ("auftaktworkshop", StageState.open)]


def test_request_missing_runs_fills_in_for_old_databases(session, waiblingen):
    session.exec(RunRequest.__table__.delete())  # type: ignore[attr-defined]
    session.commit()
    assert services.request_missing_runs(session) == 1
    assert services.request_missing_runs(session) == 0
    assert [r.stage_key for r in services.pending_runs(session)] == ["ratsbeschluss"]


# --- rules the services enforce -------------------------------------------------------------------


def test_sitzung_on_a_holiday_or_sunday_needs_a_reason(session, waiblingen):
    before = dump(session)
    with pytest.raises(Refused, match=r"25\.12\.2017 \(Erster Weihnachtstag\).*--force"):
        services.move_sitzung(session, "gr-2017-12-14", D(2017, 12, 25), actor="sd")
    with pytest.raises(Refused, match="ein Sonntag"):
        services.move_sitzung(session, "gr-2017-12-14", D(2017, 12, 17), actor="sd")
    assert dump(session) == before
    services.move_sitzung(session, "gr-2017-12-14", D(2017, 12, 17), actor="sd",
                          force_reason="Sondersitzung am Sonntag")  # fmt: skip
    logged = session.exec(select(Event).where(Event.action == "sitzung_moved")).all()
    assert {e.after["force"] for e in logged} == {"Sondersitzung am Sonntag"}


def test_scenario_sitzung_on_a_holiday_needs_a_reason(session, tmp_path):
    text_ = WAIBLINGEN.read_text().replace("2017-12-14 18:00", "2017-12-26 18:00")
    path = tmp_path / "feiertag.yaml"
    path.write_text(text_)
    with pytest.raises(Refused, match="Zweiter Weihnachtstag"):
        services.start(session, load_scenario(path), actor="t")
    assert session.exec(select(GateDecision)).all() == []
    process = services.start(session, load_scenario(path), actor="t", force_reason="so beschlossen")
    start = session.exec(select(Event).where(Event.action == "start")).one()
    assert (process.key, start.after["force"]) == ("waiblingen-2017", "so beschlossen")


def test_move_before_the_process_began_is_refused(session, waiblingen):
    with pytest.raises(Refused, match=r"vor dem Beginn der Fortschreibung „waiblingen-2017“"):
        services.move_sitzung(session, "bsv-2017-04-05", D(2017, 2, 15), actor="sd")


@pytest.mark.parametrize("zone", [dt.UTC, dt.timezone(dt.timedelta(hours=1))])
@pytest.mark.parametrize("move", [services.move_sitzung, services.preview_move_sitzung])
def test_a_time_with_a_zone_is_refused_and_changes_nothing(session, waiblingen, zone, move):
    """Stored times are the Kommune's local time: comparing an aware one with them fails."""
    before = dump(session)
    with pytest.raises(InputError, match="bitte ohne Zeitzone angeben"):
        move(session, "bsv-2017-12-06", dt.datetime(2017, 12, 7, 17, tzinfo=zone), actor="sd")
    assert dump(session) == before


def test_move_that_makes_tasks_due_before_their_stage_can_start_is_refused(session, waiblingen):
    """The final Vorberatung moved before the workshop: evaluation would fall due too early."""
    before = dump(session)
    with pytest.raises(Refused, match=r"dann wäre die Aufgabe „[^“]+“ .* vor dem frühesten Beginn "
                                      r"ihrer Phase „Auswertung“"):  # fmt: skip
        services.move_sitzung(session, "bsv-2017-12-06", D(2017, 6, 14), actor="sd")
    assert dump(session) == before
    # the ordinary move of the README tour stays allowed
    assert services.move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 13), actor="sd").changes


def test_done_by_someone_who_is_not_a_person_of_the_kommune(session, waiblingen):
    before = dump(session)
    with pytest.raises(NotFound, match="keine Person „niemand“"):
        services.complete_task(session, "waiblingen-2017:foerderantrag_stellen",
                               on=D(2017, 3, 14), by="niemand")  # fmt: skip
    assert dump(session) == before
    t = services.complete_task(session, "waiblingen-2017:foerderantrag_stellen", on=D(2017, 3, 14))
    assert t.done_by_id == t.assignee_id  # by default: the assignee


def test_reference_with_a_trailing_newline_is_refused(session, waiblingen):
    with pytest.raises(Refused, match="nicht die erwartete Form"):
        services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                             on=D(2017, 4, 27), by="sd", reference="BSV 3/2017\n",
                             force_reason="x")  # fmt: skip


def test_reassign_drops_reminders_queued_for_the_previous_assignee(session, waiblingen):
    from lifecycle import outbox, reminders

    outbox.queue(session, reminders.find_due(session, D(2017, 3, 1)))
    task = engine.get_task(session, "waiblingen-2017:foerderantrag_stellen")
    queued = session.exec(select(Reminder).where(Reminder.task_id == task.id,
                                                 Reminder.kind == "due")).all()  # fmt: skip
    assert queued, "the scan should have planned a reminder for the assignee"
    services.reassign_task(session, task.id, to="raible", actor="t")
    session.expire_all()
    states = {r.state for r in session.exec(select(Reminder).where(Reminder.task_id == task.id))}
    assert states == {"cancelled"}
    assert session.get(Task, task.id).assignee_id != queued[0].person_id


def test_a_vorlage_section_emptied_goes_back_to_the_generated_draft(session, waiblingen):
    def save(**sections):
        return services.save_vorlage_text(
            session, "waiblingen-2017", "vorlage", betreff="Fortschreibung",
            beschlussvorschlag="Der Gemeinderat stimmt zu.", begruendung=sections, actor="t")

    save(Rückblick="Eigener Rückblick.", Fazit="Eigenes Fazit.")
    second = save(Rückblick="")  # emptied: back to the draft; Fazit not given: kept
    session.expire_all()
    from lifecycle.models import Vorlage

    vorlage = session.exec(select(Vorlage).where(Vorlage.stage_key == "vorlage")).one()
    assert "Rückblick" not in vorlage.begruendung
    assert vorlage.begruendung["Fazit"] == "Eigenes Fazit."
    assert second.version == 2 and second.begruendung == {}


def test_the_move_preview_counts_the_reminders_it_would_drop_and_stores_nothing(
    session, waiblingen
):
    from lifecycle import outbox, reminders

    outbox.queue(session, reminders.find_due(session, D(2017, 11, 8)))
    before = dump(session)
    preview = services.preview_move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 13),
                                            actor="sd", today=D(2017, 11, 8))  # fmt: skip
    assert preview.cancelled_reminders >= 1  # the queued Vorlagenschluss reminder, at least
    assert len(preview.messages) == 4 and preview.deadlines
    assert dump(session) == before


def test_a_move_reads_the_rows_it_touches_together_not_one_by_one(session, waiblingen,
                                                                   waiblingen_scenario):
    """The preview and the move of a Sitzung bound to two processes: the changed tasks, their
    stages, the processes and the Beratungen come in a query each, not a row at a time (a
    Sitzung with many bound processes and anchored tasks was dozens of statements each)."""
    import copy
    import re

    from sqlalchemy import event

    second = copy.deepcopy(waiblingen_scenario)
    second.data["key"] = "waiblingen-2018"
    services.start(session, second, actor="test")
    sent: list[str] = []
    listen = lambda *args: sent.append(" ".join(args[2].split()))  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        preview = services.preview_move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 13),
                                                 actor="sd")  # fmt: skip
        moved = services.move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 13), actor="sd")
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    assert len(moved.changes) == 2 and len(preview.deadlines) == moved.due_changes > 2
    one_by_one = re.compile(r"FROM (task|stage|fortschreibung|beratung) WHERE \1\.(id|vorlage_id)"
                            r" = \?")  # fmt: skip
    assert [s for s in sent if one_by_one.search(s)] == []
