"""Transitions where a Kommune has more than one process, and what each one writes to the log.

Written against the survivors of mutation testing (``make mutate``): each test names the rule
it guards. The event log is what the Verlauf shows (words.ACTION_DE) and what iCal counts
(ical.changes_of), so its entries are asserted field by field. Real SQLite via the services.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from conftest import WAIBLINGEN
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from lifecycle import engine, ical, replay, services
from lifecycle.errors import NotFound, Refused
from lifecycle.models import (
    Beratung,
    Event,
    Fortschreibung,
    Kommune,
    Sitzung,
    SitzungBinding,
    Stage,
    Task,
    TaskState,
)
from lifecycle.scenario import load_scenario

D = dt.date
# The plan's titles of two tasks, as refusals name them (patterns: the parentheses escaped).
PARTNER_ANFRAGEN = "Externe wissenschaftliche Begleitung anfragen und Angebot einholen"
FOERDERANTRAG = re.escape("Förderantrag stellen (z. B. VwV Integration)")
TESTS = Path(__file__).parent
KLIMA = TESTS / "scenarios/musterstadt-klima.yaml"


def dump(session: Session) -> dict[str, list]:
    """Every row of every table: to prove a refused transition changed nothing."""
    session.expire_all()
    conn = session.connection()
    return {
        t: conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1')).fetchall()
        for t in SQLModel.metadata.tables
    }


def refused(session: Session, fn, *args, match: str, **kwargs) -> None:
    before = dump(session)
    with pytest.raises((Refused, NotFound), match=match):
        fn(session, *args, **kwargs)
    assert dump(session) == before


def events(session: Session, action: str) -> list[Event]:
    return list(session.exec(select(Event).where(Event.action == action).order_by(Event.id)))


def klima_copy(tmp_path: Path, name: str, *replace: tuple[str, str]):
    """The Musterstadt Klimaschutzkonzept with some text replaced, as its own scenario."""
    if not (tmp_path / "plans").exists():
        (tmp_path / "plans").mkdir()
        (tmp_path / "scenarios").mkdir()
        shutil.copy(TESTS / "plans/klimaschutzkonzept.yaml", tmp_path / "plans")
    text_ = KLIMA.read_text(encoding="utf-8")
    for old, new in replace:
        assert old in text_
        text_ = text_.replace(old, new)
    path = tmp_path / "scenarios" / f"{name}.yaml"
    path.write_text(text_, encoding="utf-8")
    return load_scenario(path)


@pytest.fixture
def three_klima(session, tmp_path) -> tuple[Fortschreibung, Fortschreibung, Fortschreibung]:
    """Nachbarstadt (started first: its Sitzungen have the same keys and the lower ids),
    then Musterstadt's process and a second process of Musterstadt on the same Sitzungen."""
    neighbour = services.start(session, klima_copy(
        tmp_path, "nachbarstadt",
        ("key: musterstadt-klima-2024", "key: nachbarstadt-klima-2024"),
        ("{key: musterstadt, name: Musterstadt", "{key: nachbarstadt, name: Nachbarstadt"),
    ))  # fmt: skip
    process = services.start(session, load_scenario(KLIMA))
    sibling = services.start(session, klima_copy(
        tmp_path, "sibling", ("key: musterstadt-klima-2024", "key: musterstadt-klima-2025")
    ))  # fmt: skip
    assert neighbour.kommune_id != process.kommune_id == sibling.kommune_id
    return neighbour, process, sibling


def bound_rat(session: Session, process: Fortschreibung) -> Sitzung:
    binding = session.exec(
        select(SitzungBinding).where(
            SitzungBinding.fortschreibung_id == process.id, SitzungBinding.name == "rat"
        )
    ).one()
    sitzung = session.get(Sitzung, binding.sitzung_id)
    assert sitzung is not None
    return sitzung


def beratungen(session: Session, process: Fortschreibung) -> set[str]:
    from lifecycle.models import Vorlage

    rows = session.exec(
        select(Sitzung.key)
        .join(Beratung, Beratung.sitzung_id == Sitzung.id)
        .join(Vorlage, Vorlage.id == Beratung.vorlage_id)
        .where(Vorlage.fortschreibung_id == process.id)
    )
    return set(rows)


# --- postpone ---------------------------------------------------------------------------------


POSTPONE = {"outcome": "postpone", "on": D(2024, 11, 21), "by": "kim", "reference": ""}


def test_postpone_moves_this_process_only_to_a_later_sitzung_of_its_own_kommune(
    session, three_klima
):
    neighbour, process, sibling = three_klima
    replay.run(session, process, until=D(2024, 9, 30))  # beschluss open, bound to rat-2024-11-21
    decide = services.decide_gate
    refused(session, decide, process.key, "beschluss", **POSTPONE, postpone_to=None,
            match="^wer vertagt, muss die Sitzung nennen, auf die vertagt wird$")  # fmt: skip
    refused(session, decide, process.key, "beschluss", **POSTPONE, postpone_to="rat-2024-11-21",
            match="nur auf eine spätere Sitzung desselben Gremiums")  # fmt: skip

    logged_before = len(events(session, "due_changed"))
    decide(session, process.key, "beschluss", **POSTPONE, postpone_to="rat-2024-12-12")
    new = bound_rat(session, process)
    assert (new.key, new.kommune_id) == ("rat-2024-12-12", process.kommune_id)
    assert beratungen(session, process) == {"uka-2024-11-05", "rat-2024-12-12"}
    # the other process of the Kommune still goes to the Sitzung it was bound to
    assert bound_rat(session, sibling).key == "rat-2024-11-21"
    assert beratungen(session, sibling) == {"uka-2024-11-05", "rat-2024-11-21"}
    # the Verlauf says why the deadlines moved
    moved = events(session, "due_changed")[logged_before:]
    assert moved and {e.fortschreibung_id for e in moved} == {process.id}
    assert {e.after["reason"] for e in moved} == {
        f"vertagt auf die Sitzung am {new.start:%d.%m.%Y}"}  # fmt: skip


# --- reassign ---------------------------------------------------------------------------------


def test_reassign_is_logged_with_who_had_the_task_before(session, waiblingen):
    task = engine.get_task(session, "waiblingen-2017:partner_anfragen")
    before, raible = task.assignee_id, engine.get_person(session, waiblingen.kommune_id, "raible")
    assert before is not None and before != raible.id
    services.reassign_task(session, task.id, to="raible", actor="sd")
    [ev] = events(session, "task_reassigned")
    assert (ev.actor, ev.entity, ev.entity_id, ev.fortschreibung_id) == (
        "sd", "Task", task.id, waiblingen.id
    )  # fmt: skip
    assert ev.before == {"assignee_id": before}
    assert ev.after == {"assignee_id": raible.id, "assignee": "raible"}


def test_reassign_refusals_name_the_task_and_the_person(session, waiblingen):
    task = engine.get_task(session, "waiblingen-2017:partner_anfragen")
    holder = engine.get_person(session, waiblingen.kommune_id, "ortolf")
    assert task.assignee_id == holder.id
    same = f"^die Aufgabe „{PARTNER_ANFRAGEN}“ ist schon {holder.name} zugewiesen$"
    refused(session, services.reassign_task, task.id, to="ortolf", actor="sd", match=same)
    services.complete_task(session, task.id, on=D(2017, 3, 14))
    refused(session, services.reassign_task, task.id, to="raible", actor="sd",
            match=f"^die Aufgabe „{PARTNER_ANFRAGEN}“ ist schon erledigt; "
                  "da gibt es nichts zuzuweisen$")  # fmt: skip


# --- closing days -----------------------------------------------------------------------------


def test_closing_days_recompute_every_process_of_the_kommune_and_count_all_changes(
    session, waiblingen, tmp_path
):
    text_ = WAIBLINGEN.read_text(encoding="utf-8")
    assert text_.count("\nkey: waiblingen-2017\n") == 1
    second = tmp_path / "waiblingen-2018.yaml"
    second.write_text(text_.replace("\nkey: waiblingen-2017\n", "\nkey: waiblingen-2018\n"))
    other = services.start(session, load_scenario(second), actor="t")
    assert other.kommune_id == waiblingen.kommune_id

    changed = services.set_closing_days(session, "waiblingen", [D(2017, 11, 27)], actor="sd")
    logged = [
        e
        for e in events(session, "due_changed")
        if e.after["reason"] == "Schließtage der Kommune geändert"
    ]
    per_process = {
        p: sum(e.fortschreibung_id == p for e in logged) for p in (waiblingen.id, other.id)
    }
    # every task is still open, so each changed deadline is logged once; both processes alike
    assert changed == len(logged) == 2 * per_process[waiblingen.id] == 2 * per_process[other.id]
    assert per_process[waiblingen.id] > 0


def test_closing_days_change_is_logged_with_the_days_before_and_after(session, waiblingen):
    kommune = session.exec(select(Kommune).where(Kommune.key == "waiblingen")).one()
    assert not kommune.closing_days
    services.set_closing_days(session, "waiblingen", [D(2017, 11, 27)], actor="sd")
    services.set_closing_days(session, "waiblingen", [D(2017, 12, 27), D(2017, 11, 27)], actor="sd")
    first, second = events(session, "closing_days_changed")
    assert (first.actor, first.entity, first.entity_id) == ("sd", "Kommune", kommune.id)
    assert (first.before, first.after) == ({"closing_days": []}, {"closing_days": ["2017-11-27"]})
    assert second.before == {"closing_days": ["2017-11-27"]}
    assert second.after == {"closing_days": ["2017-11-27", "2017-12-27"]}


def test_closing_days_of_an_unknown_kommune(session, waiblingen):
    refused(session, services.set_closing_days, "tuebingen", [D(2017, 11, 27)], actor="sd",
            match="^keine Kommune „tuebingen“$")  # fmt: skip


# --- recompute_all ----------------------------------------------------------------------------


def test_bulk_recompute_logs_each_changed_deadline_as_the_calendar_feed_reads_it(
    session, waiblingen
):
    kommune = session.exec(select(Kommune).where(Kommune.key == "waiblingen")).one()
    kommune.closing_days = ["2017-11-27"]  # as if the holiday calendar had changed
    session.add(kommune)
    session.commit()
    changed = services.recompute_all(session, actor="ops", reason="Feiertage 2017 ergänzt")
    logged = events(session, "due_changed")
    assert changed == len(logged) > 0
    for ev in logged:
        task = session.get(Task, ev.entity_id)
        assert task is not None and task.state == TaskState.open
        assert (ev.entity, ev.actor, ev.fortschreibung_id) == ("Task", "ops", waiblingen.id)
        assert ev.after == {"due": task.due.isoformat(), "reason": "Feiertage 2017 ergänzt"}
        assert ev.before["due"] != ev.after["due"]
        # iCal: the feed's SEQUENCE and LAST-MODIFIED of the task come from this entry
        assert ical.changes_of(session, "Task", task.id, "due_changed") == (1, ev.at)
        assert ev.at is not None


def test_bulk_recompute_takes_a_process_without_sitzungen_or_termine(session, tmp_path):
    """A plan whose deadlines hang on stage starts only: no Sitzung bound, no Termin."""
    (tmp_path / "plans").mkdir()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "plans/bilanz.yaml").write_text(BILANZ_PLAN, encoding="utf-8")
    (tmp_path / "scenarios/bilanz.yaml").write_text(BILANZ_SCENARIO, encoding="utf-8")
    process = services.start(session, load_scenario(tmp_path / "scenarios/bilanz.yaml"))
    task = engine.get_task(session, "daten_sammeln", process)
    assert task.due == D(2024, 2, 29)  # 20 working days after Thursday, 01.02.2024 (NW)
    kommune = session.get(Kommune, process.kommune_id)
    kommune.closing_days = ["2024-02-12"]  # Rosenmontag: the Rathaus is closed
    session.add(kommune)
    session.commit()
    assert services.recompute_all(session, actor="ops", reason="Rosenmontag") == 1
    session.refresh(task)
    assert task.due == D(2024, 3, 1)


BILANZ_PLAN = """\
name: bilanz
title: Energie- und CO2-Bilanz
version: 1
roles:
  klimaschutzmanagement: Klimaschutzmanagement
stages:
  - key: bilanz
    title: Energie- und CO2-Bilanz
    tasks:
      - key: daten_sammeln
        title: Verbrauchsdaten der Liegenschaften sammeln
        role: klimaschutzmanagement
        due: {anchor: stage_start, working_days: 20}
    gate:
      title: Bilanz liegt vor
      condition: Die Bilanz ist abgenommen.
"""

BILANZ_SCENARIO = """\
key: musterstadt-bilanz-2024
kommune: {key: musterstadt, name: Musterstadt, bundesland: NW}
gremien:
  - {key: rat, name: Rat der Stadt, short: Rat, kind: gemeinderat}
sitzungen:
  - {key: rat-2024-11-21, gremium: rat, start: "2024-11-21 17:00"}
personen:
  - {key: kim, name: Kim Klima, email: kim.klima@musterstadt.example}
rollen:
  klimaschutzmanagement: [kim]
konzept: {title: Klimaschutzkonzept Musterstadt, kind: klimaschutzkonzept}
fortschreibung:
  plan: ../plans/bilanz.yaml
  started: 2024-02-01
"""


# --- send back, move --------------------------------------------------------------------------


def test_send_back_without_a_reason_says_so_and_the_reopened_task_is_in_the_process_log(
    session, waiblingen
):
    t = engine.get_task(session, "waiblingen-2017:grundsatzvorlage_entwerfen")
    services.complete_task(session, t.id, on=D(2017, 3, 17), by="ortolf")
    send_back = {"outcome": "send_back", "on": D(2017, 3, 20), "by": "raible"}
    decide = services.decide_gate
    refused(session, decide, "waiblingen-2017", "ratsbeschluss", **send_back, remarks="  ",
            match="^wer ein Gate zurückgibt, muss einen Grund nennen$")  # fmt: skip
    decide(session, "waiblingen-2017", "ratsbeschluss", **send_back, remarks="Finanzierung fehlt",
           reopen=("grundsatzvorlage_entwerfen",))  # fmt: skip
    [ev] = events(session, "task_reopened")
    assert (ev.entity_id, ev.fortschreibung_id) == (t.id, waiblingen.id)


def test_a_move_keeps_the_time_it_is_given_and_a_move_to_the_same_time_is_refused(
    session, waiblingen
):
    new = dt.datetime(2017, 12, 13, 18, 30)
    moved = services.move_sitzung(session, "bsv-2017-12-06", new, actor="sd")
    assert moved.sitzung.start == new
    # a date alone keeps the Sitzung's time
    moved = services.move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 12), actor="sd")
    assert moved.sitzung.start == dt.datetime(2017, 12, 12, 18, 30)
    refused(session, services.move_sitzung, "bsv-2017-12-06", D(2017, 12, 12), actor="sd",
            match=r"^die Sitzung „bsv-2017-12-06“ ist schon am 12\.12\.2017 18:30$")  # fmt: skip


def test_a_move_is_logged_once_for_the_calendar_and_once_per_bound_process(session, waiblingen):
    """The global entry feeds the Sitzung's SEQUENCE in iCal; the per-process entry the
    process's Verlauf; the deadlines that followed name the Sitzung as their reason."""
    move = services.move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 13), actor="sd")
    sitzung = move.sitzung
    logged = events(session, "sitzung_moved")
    assert [(e.actor, e.entity, e.entity_id, e.fortschreibung_id) for e in logged] == [
        ("sd", "Sitzung", sitzung.id, None), ("sd", "Sitzung", sitzung.id, waiblingen.id)
    ]  # fmt: skip
    for e in logged:
        assert (e.before, e.after) == (
            {"start": "2017-12-06T17:00:00"}, {"start": "2017-12-13T17:00:00"}
        )  # fmt: skip
    assert ical.changes_of(session, "Sitzung", sitzung.id, "sitzung_moved") == (1, logged[0].at)
    followed = [e for e in events(session, "due_changed") if e.id > logged[0].id]
    assert followed and {e.after["reason"] for e in followed} == {
        "Sitzung vom 06.12.2017 auf den 13.12.2017 verlegt"}  # fmt: skip


def test_a_sitzung_on_a_holiday_is_named_in_the_refusal(session, waiblingen):
    said = (
        r"^die Sitzung „gr-2017-12-14“ läge am 25\.12\.2017 \(Erster Weihnachtstag\); "
        r"wenn das so gewollt ist, mit Begründung erzwingen \(--force GRUND\)$"
    )
    refused(
        session, services.move_sitzung, "gr-2017-12-14", D(2017, 12, 25), actor="sd", match=said
    )
    sunday = said.replace(r"25\.12\.2017 \(Erster Weihnachtstag\)", r"10\.12\.2017 \(ein Sonntag\)")
    refused(
        session, services.move_sitzung, "gr-2017-12-14", D(2017, 12, 10), actor="sd", match=sunday
    )


def test_a_scenario_with_a_sitzung_on_a_holiday_is_refused_naming_it_unless_forced(
    session, waiblingen_scenario
):
    import copy

    scenario = copy.deepcopy(waiblingen_scenario)
    for sitzung in scenario.data["sitzungen"]:
        if sitzung["key"] == "gr-2017-12-14":
            sitzung["start"] = "2017-12-25 18:00"
    said = (
        r"^die Sitzung „gr-2017-12-14“ läge am 25\.12\.2017 \(Erster Weihnachtstag\); "
        r"wenn das so gewollt ist, mit Begründung erzwingen \(--force GRUND\)$"
    )
    refused(session, services.start, scenario, actor="test", match=said)
    process = services.start(session, scenario, actor="ute", force_reason="Sondersitzung")
    [logged] = events(session, "start")
    assert (logged.actor, logged.entity, logged.entity_id, logged.fortschreibung_id,
            logged.after) == ("ute", "Fortschreibung", process.id, process.id, {
                "scenario": "waiblingen-2017", "plan": "integrationskonzept",
                "started_on": "2017-03-01", "force": "Sondersitzung"})  # fmt: skip


def test_an_unforced_start_logs_no_reason(session, waiblingen):
    [logged] = events(session, "start")
    assert logged.after == {"scenario": "waiblingen-2017", "plan": "integrationskonzept",
                            "started_on": "2017-03-01"}  # fmt: skip


def test_bulk_recompute_takes_a_process_whose_plan_has_no_tasks(session, tmp_path):
    (tmp_path / "plans").mkdir()
    (tmp_path / "scenarios").mkdir()
    plan = BILANZ_PLAN.replace("    tasks:\n", "    tasks: []\n").split("      - key: daten")[0]
    plan += "    gate:\n      title: Bilanz liegt vor\n      condition: Abgenommen.\n"
    (tmp_path / "plans/bilanz.yaml").write_text(plan, encoding="utf-8")
    (tmp_path / "scenarios/bilanz.yaml").write_text(BILANZ_SCENARIO, encoding="utf-8")
    empty = services.start(session, load_scenario(tmp_path / "scenarios/bilanz.yaml"))
    assert session.exec(select(Task).where(Task.fortschreibung_id == empty.id)).all() == []
    waiblingen = services.start(session, load_scenario(WAIBLINGEN))
    kommune = session.exec(select(Kommune).where(Kommune.key == "waiblingen")).one()
    kommune.closing_days = ["2017-11-27"]
    session.add(kommune)
    session.commit()
    assert services.recompute_all(session, actor="ops", reason="Schließtag") > 0
    assert {e.fortschreibung_id for e in events(session, "due_changed")} == {waiblingen.id}


# --- a moved Sitzung and the start of the stage its deadlines belong to ----------------------


@pytest.fixture
def klima_at_beschluss(session) -> Fortschreibung:
    """Musterstadt with the beschluss stage open since 30.09.2024; its Vorlage is due 8 working
    days before the Umweltausschuss of 05.11.2024 (NW: 03.10. is a holiday)."""
    process = services.start(session, load_scenario(KLIMA))
    replay.run(session, process, until=D(2024, 10, 1))
    assert engine.get_task(session, "vorlage_einreichen", process).due == D(2024, 10, 23)
    return process


def test_a_deadline_may_fall_on_the_day_its_stage_began_not_before(session, klima_at_beschluss):
    refused(session, services.move_sitzung, "uka-2024-11-05", D(2024, 10, 10), actor="sd",
            match=r"am 27\.09\.2024 fällig, vor dem frühesten Beginn ihrer Phase "
                  r"„Beschluss des Maßnahmenkatalogs“ "
                  r"\(30\.09\.2024\)")  # fmt: skip
    services.move_sitzung(session, "uka-2024-11-05", D(2024, 10, 11), actor="sd")
    assert engine.get_task(session, "vorlage_einreichen", klima_at_beschluss).due == D(2024, 9, 30)


def test_a_done_task_does_not_stop_a_move(session, klima_at_beschluss):
    task = engine.get_task(session, "vorlage_einreichen", klima_at_beschluss)
    services.complete_task(session, task.id, on=D(2024, 10, 1))
    move = services.move_sitzung(session, "uka-2024-11-05", D(2024, 10, 8), actor="sd")
    assert [(c.task_key, c.new) for c in move.changes[klima_at_beschluss.id]] == [
        ("vorlage_einreichen", D(2024, 9, 25))
    ]


def test_an_approval_without_reference_says_which_reference(session, waiblingen):
    refused(session, services.decide_gate, "waiblingen-2017", "ratsbeschluss", outcome="approve",
            on=D(2017, 4, 27), by="sd", reference="",
            match=r"^die Freigabe der Phase „Ratsbeschluss“ braucht ein Aktenzeichen "
                  r"\(Vorlagen- oder Beschlussnummer\)$")  # fmt: skip


def test_a_done_task_first_does_not_spare_the_tasks_after_it_the_check(session):
    """Völklingen's first task is done; moving the Vorberatung to 05.07.2017 would put the next
    task's deadline before the process began: refused, naming that task."""
    process = services.start(session, load_scenario(WAIBLINGEN.parent / "voelklingen-2017.yaml"))
    first = engine.get_task(session, "foerderantrag_stellen", process)
    services.complete_task(session, first.id, on=D(2017, 7, 4))
    refused(session, services.move_sitzung, "akjs-2017-08-29", D(2017, 7, 5), actor="sd",
            match=r"^dann wäre die Aufgabe „Externe wissenschaftliche Begleitung anfragen und "
                  r"Angebot einholen“ am 13\.06\.2017 fällig, vor dem frühesten Beginn ihrer "
                  r"Phase „Ratsbeschluss“ \(03\.07\.2017\)$")  # fmt: skip


def test_a_sitzung_moved_to_the_first_day_of_its_process_is_checked_like_any_other(session,
                                                                                  waiblingen):
    """01.03.2017 is the day Waiblingen began, not before it: what refuses is a deadline."""
    refused(session, services.move_sitzung, "bsv-2017-04-05", D(2017, 3, 1), actor="sd",
            match=rf"^dann wäre die Aufgabe „{FOERDERANTRAG}“ ")  # fmt: skip
    refused(session, services.move_sitzung, "bsv-2017-04-05", D(2017, 2, 28), actor="sd",
            match=r"^der 28\.02\.2017 liegt vor dem Beginn der Fortschreibung "
                  r"„waiblingen-2017“ \(01\.03\.2017\)$")  # fmt: skip


@pytest.mark.parametrize("sitzung, when, allowed", [
    ("bsv-2017-12-06", dt.datetime(2017, 12, 14, 18, 0), True),  # the Vorberatung at the hour
    ("bsv-2017-12-06", dt.datetime(2017, 12, 14, 18, 1), False),  # of the decision, not after
    ("gr-2017-12-14", dt.datetime(2017, 12, 6, 17, 0), True),  # the decision at the hour of
    ("gr-2017-12-14", dt.datetime(2017, 12, 6, 16, 59), False),  # the Vorberatung, not before
])  # fmt: skip
def test_the_beratungsfolge_allows_the_same_hour_not_a_minute_out_of_order(session, waiblingen,
                                                                          sitzung, when, allowed):
    if allowed:
        move = services.move_sitzung(session, sitzung, when, actor="sd")
        assert move.sitzung.start == when
    else:
        refused(session, services.move_sitzung, sitzung, when, actor="sd",
                match=rf"^die Verlegung von „{sitzung}“ auf den .* bricht die Beratungsfolge "
                      r"der Vorlage „BSV 21/2017“")  # fmt: skip


def test_an_approval_names_every_open_task_and_logs_the_moved_deadlines_with_why(session,
                                                                                 waiblingen):
    refused(session, services.decide_gate, "waiblingen-2017", "ratsbeschluss", outcome="approve",
            on=D(2017, 5, 4), by="sitzungsdienst", reference="GR 1/2017",
            match=r"^vor dem Gate der Phase „Ratsbeschluss“ müssen erst diese Aufgaben erledigt "
                  r"sein: foerderantrag_stellen, partner_anfragen, grundsatzvorlage_entwerfen, "
                  r"grundsatzvorlage_mitzeichnen, grundsatzvorlage_einreichen, "
                  r"grundsatz_vorberatung, grundsatz_beschluss \(oder mit Begründung "
                  r"erzwingen\)$")  # fmt: skip
    # a week after the Gemeinderat: the next stage starts later than planned
    services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                         on=D(2017, 5, 4), by="sitzungsdienst", reference="GR 1/2017",
                         force_reason="Beschluss erst am 04.05. ausgefertigt")  # fmt: skip
    moved = events(session, "due_changed")
    assert len(moved) == 2
    assert {(e.actor, e.after["reason"]) for e in moved} == {
        ("sitzungsdienst", "Gate der Phase „Ratsbeschluss“ freigegeben")}  # fmt: skip


def test_a_move_without_a_reason_logs_none(session, waiblingen):
    engine.move_sitzung(session, "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0), actor="sd")
    session.flush()
    assert [e.after for e in events(session, "sitzung_moved")] == [
        {"start": "2017-12-13T17:00:00"}] * 2  # fmt: skip
    session.rollback()


def test_a_closed_gate_names_its_last_decision_and_a_gate_may_be_decided_the_day_it_opened(
    session, waiblingen
):
    decide = {"on": D(2017, 4, 27), "reference": "GR 1/2017", "force_reason": "Test"}
    services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="send_back",
                         on=D(2017, 3, 20), by="raible", remarks="Förderung erst klären")
    services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                         by="sitzungsdienst", **decide)  # fmt: skip
    # the next stage opened on 27.04.2017 and is decided that same day (by someone else)
    services.decide_gate(session, "waiblingen-2017", "auftaktworkshop", outcome="approve",
                         by="ortolf", **decide)  # fmt: skip
    refused(session, services.decide_gate, "waiblingen-2017", "ratsbeschluss",
            outcome="approve", by="ortolf", **decide,
            match=r"^das Gate der Phase „Ratsbeschluss“ ist schon geschlossen \(freigegeben am "
                  r"27\.04\.2017 von sitzungsdienst\)$")  # fmt: skip


def test_a_decision_is_logged_with_every_field_the_verlauf_shows(session, waiblingen):
    decision = services.decide_gate(
        session, "waiblingen-2017", "ratsbeschluss", outcome="approve", on=D(2017, 4, 27),
        by="sitzungsdienst", reference="GR 1/2017", remarks="einstimmig",
        force_reason="Aufgaben im Nachgang erledigt",
    )  # fmt: skip
    [logged] = events(session, "gate_approve")
    assert (logged.actor, logged.entity, logged.entity_id, logged.fortschreibung_id) == (
        "sitzungsdienst", "GateDecision", decision.id, waiblingen.id)  # fmt: skip
    assert logged.before is None
    assert logged.after == {
        "outcome": "approve", "decided_on": "2017-04-27", "reference": "GR 1/2017",
        "remarks": "einstimmig", "forced_reason": "Aufgaben im Nachgang erledigt",
        "stage": "ratsbeschluss",
    }  # fmt: skip


def test_completing_a_task_refuses_in_full_sentences_and_logs_who_and_when(session, waiblingen):
    refused(session, services.complete_task, 99999, on=D(2017, 3, 1),
            match=r"^keine Aufgabe „99999“$")  # fmt: skip
    w = "waiblingen-2017:"
    refused(session, services.complete_task, w + "partner_beauftragen", on=D(2017, 3, 1),
            match=r"^die Aufgabe „Externe Begleitung beauftragen“ gehört zur Phase "
                  r"„Auftaktworkshop“, und "
                  r"die ist noch nicht begonnen$")  # fmt: skip
    refused(session, services.complete_task, w + "foerderantrag_stellen", on=D(2017, 2, 28),
            match=r"^der 28\.02\.2017 liegt vor dem Beginn der Phase „Ratsbeschluss“ "
                  r"\(01\.03\.2017\)$")  # fmt: skip
    task = services.complete_task(session, w + "foerderantrag_stellen", on=D(2017, 3, 1))  # day 1
    [logged] = events(session, "task_done")
    assert (logged.actor, logged.entity, logged.entity_id, logged.fortschreibung_id) == (
        "ortolf", "Task", task.id, waiblingen.id)  # fmt: skip
    assert (logged.before, logged.after) == (
        {"state": "open", "done_on": None},
        {"state": "done", "done_on": "2017-03-01", "by": "ortolf"},
    )  # fmt: skip
    services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                         on=D(2017, 4, 27), by="sitzungsdienst", reference="GR 1/2017",
                         force_reason="Test")  # fmt: skip
    refused(session, services.complete_task, w + "partner_anfragen", on=D(2017, 4, 28),
            match=rf"^die Aufgabe „{PARTNER_ANFRAGEN}“ gehört zur Phase „Ratsbeschluss“, und "
                  r"die ist abgeschlossen$")  # fmt: skip


def test_a_task_named_with_its_process_is_that_process_s_task(session, waiblingen):
    """Both Kommunen's plans have a task 'foerderantrag_stellen': 'PROCESS:TASK' is one."""
    voelklingen = services.start(session, load_scenario(WAIBLINGEN.parent /
                                                        "voelklingen-2017.yaml"))  # fmt: skip
    done = services.complete_task(session, "voelklingen-2017:foerderantrag_stellen",
                                  on=D(2017, 7, 4))  # fmt: skip
    assert (done.fortschreibung_id, done.key, done.state) == (
        voelklingen.id, "foerderantrag_stellen", TaskState.done)  # fmt: skip
    same_key = session.exec(select(Task).where(Task.key == "foerderantrag_stellen")).all()
    assert {(t.fortschreibung_id, t.state) for t in same_key} == {
        (voelklingen.id, TaskState.done), (waiblingen.id, TaskState.open)}  # fmt: skip


def test_moving_a_gate_sitzung_moves_the_projected_start_of_the_stages_after_it(session,
                                                                                 waiblingen):
    """A stage not yet begun is projected to start when the one before it ends: at its gate's
    Sitzung where the plan binds one (the Gemeinderat's Grundsatzbeschluss ends the first).
    The stage objects the session holds show the new start too, as the database does."""
    stages = {s.key: s for s in session.exec(
        select(Stage).where(Stage.fortschreibung_id == waiblingen.id))}  # fmt: skip
    assert stages["auftaktworkshop"].planned_start == D(2017, 4, 27)
    projected = {k: s.planned_start for k, s in stages.items()}
    services.move_sitzung(session, "gr-2017-04-27", D(2017, 5, 4), actor="sitzungsdienst")
    assert stages["auftaktworkshop"].planned_start == D(2017, 5, 4)  # the session's own object
    assert stages["ratsbeschluss"].planned_start == projected["ratsbeschluss"]  # begun already
    session.expire_all()
    stored = dict(session.exec(select(Stage.key, Stage.planned_start).where(
        Stage.fortschreibung_id == waiblingen.id)).all())  # fmt: skip
    assert stored == {k: s.planned_start for k, s in stages.items()}
    assert stored["auftaktworkshop"] == D(2017, 5, 4)


def _changed_by_someone_else(session: Session, process: Fortschreibung) -> tuple[Stage, Task]:
    """The first gate and its first task as this session holds them, then completed and
    decided through another session: this session's objects are stale."""
    def own(model, key):  # noqa: ANN001, ANN202
        return session.exec(select(model).where(model.fortschreibung_id == process.id,
                                                model.key == key)).one()  # fmt: skip

    stage, task = own(Stage, "ratsbeschluss"), own(Task, "foerderantrag_stellen")
    with Session(session.get_bind(), expire_on_commit=False) as other:
        services.complete_task(other, str(task.id), on=D(2017, 3, 14))
        services.decide_gate(other, process.key, "ratsbeschluss", outcome="approve",
                             on=D(2017, 4, 27), by="sitzungsdienst", reference="GR 1/2017",
                             force_reason="Test")  # fmt: skip
    assert stage.state == "open" and task.state == TaskState.open  # what this session holds
    return stage, task


def test_a_gate_the_session_holds_from_before_is_read_anew_under_its_lock(session, waiblingen):
    stage, _ = _changed_by_someone_else(session, waiblingen)
    with pytest.raises(Refused, match="^das Gate der Phase „Ratsbeschluss“ ist schon geschlossen"):
        services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                             on=D(2017, 4, 28), by="ortolf", reference="GR 2/2017",
                             force_reason="Test")  # fmt: skip
    assert len(events(session, "gate_approve")) == 1


def test_a_task_the_session_holds_from_before_is_read_anew_under_its_lock(session, waiblingen):
    _, task = _changed_by_someone_else(session, waiblingen)
    with pytest.raises(Refused, match=f"^die Aufgabe „{FOERDERANTRAG}“ ist schon erledigt"):
        services.complete_task(session, str(task.id), on=D(2017, 3, 15))
    assert len(events(session, "task_done")) == 1
