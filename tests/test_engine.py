"""Transitions: an allowed one changes state and writes the log; a refused one changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import WAIBLINGEN
from sqlalchemy import text
from sqlmodel import SQLModel, select

from lifecycle import engine, replay, services
from lifecycle.errors import NotFound, Refused
from lifecycle.models import (
    Beratung,
    Event,
    GateDecision,
    ProcessState,
    Sitzung,
    SitzungBinding,
    Stage,
    StageState,
    Task,
    TaskState,
)
from lifecycle.scenario import load_scenario

D = dt.date
KLIMA = Path(__file__).parent / "scenarios/musterstadt-klima.yaml"


def dump(session) -> dict[str, list]:
    """Every row of every table: to prove a refused transition changed nothing."""
    session.expire_all()
    conn = session.connection()
    return {
        t: conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1')).fetchall()
        for t in SQLModel.metadata.tables
    }


def task(session, process, key) -> Task:
    return engine.get_task(session, key, process)


def refused(session, fn, *args, match: str, **kwargs) -> None:
    before = dump(session)
    with pytest.raises((Refused, NotFound), match=match):
        fn(session, *args, **kwargs)
    assert dump(session) == before


def finish_stage(session, process, stage_key, on):
    stage = engine.get_stage(session, process, stage_key)
    for t in session.exec(
        select(Task).where(Task.stage_id == stage.id, Task.state == TaskState.open)
    ).all():
        services.complete_task(session, t.id, on=min(t.due, on))  # by the assignee


class TestStart:
    def test_creates_stages_tasks_and_due_dates(self, session, waiblingen):
        stages = session.exec(select(Stage).order_by(Stage.position)).all()
        assert [s.state for s in stages] == [StageState.open] + [StageState.pending] * 4
        assert task(session, waiblingen, "sitzungsvorlage_einreichen").due == D(2017, 11, 22)
        assert task(session, waiblingen, "grundsatzvorlage_einreichen").due == D(2017, 3, 22)
        assert task(session, waiblingen, "vorlage_beschluss").due == D(2017, 12, 14)
        # one task per Arbeitsgruppe for each per-group task of the plan (6 groups x 3)
        ag = session.exec(select(Task).where(Task.key.like("ag_%"))).all()
        assert len(ag) == 18
        assert task(session, waiblingen, "ag_sitzung__bildung").assignee_id is not None

    def test_logs_the_start(self, session, waiblingen):
        events = session.exec(select(Event).where(Event.action == "start")).all()
        assert len(events) == 1 and events[0].after["scenario"] == "waiblingen-2017"

    def test_second_start_is_refused(self, session, waiblingen):
        refused(session, services.start, load_scenario(WAIBLINGEN), match="gibt es schon")

    def test_plan_is_kept_with_the_process(self, session, waiblingen):
        assert waiblingen.plan["name"] == "integrationskonzept"
        assert waiblingen.funding_amount == 15000 and waiblingen.budget_amount == 5000


class TestTasks:
    def test_complete(self, session, waiblingen):
        t = services.complete_task(
            session,
            task(session, waiblingen, "foerderantrag_stellen").id,
            on=D(2017, 3, 14),
            by="ortolf",
        )
        assert t.state == TaskState.done and t.done_on == D(2017, 3, 14)
        ev = session.exec(select(Event).where(Event.action == "task_done")).one()
        assert ev.before == {"state": "open", "done_on": None}
        assert ev.after["state"] == "done" and ev.after["by"] == "ortolf"

    def test_complete_twice_is_refused(self, session, waiblingen):
        tid = task(session, waiblingen, "foerderantrag_stellen").id
        services.complete_task(session, tid, on=D(2017, 3, 14), by="ortolf")
        refused(
            session, services.complete_task, tid, on=D(2017, 3, 15), by="ortolf",
            match="schon erledigt",
        )  # fmt: skip

    def test_task_of_a_stage_not_started_is_refused(self, session, waiblingen):
        tid = task(session, waiblingen, "workshop_einladen").id
        refused(
            session,
            services.complete_task,
            tid,
            on=D(2017, 6, 1),
            by="ortolf",
            match="noch nicht begonnen",
        )

    def test_date_before_stage_opened_is_refused(self, session, waiblingen):
        tid = task(session, waiblingen, "foerderantrag_stellen").id
        refused(
            session, services.complete_task, tid, on=D(2017, 2, 1), by="ortolf",
            match="vor dem Beginn der Phase",
        )  # fmt: skip

    def test_unknown_task_is_refused(self, session, waiblingen):
        refused(
            session,
            services.complete_task,
            "waiblingen-2017:gibt_es_nicht",
            on=D(2017, 3, 1),
            by="ortolf",
            match="no task|keine Aufgabe",
        )

    def test_reassign(self, session, waiblingen):
        t = services.reassign_task(
            session, "waiblingen-2017:partner_anfragen", to="raible", actor="t"
        )
        assert t.assignee_id == engine.get_person(session, waiblingen.kommune_id, "raible").id
        ev = session.exec(select(Event).where(Event.action == "task_reassigned")).one()
        assert ev.after["assignee"] == "raible"

    def test_reassign_to_unknown_person_is_refused(self, session, waiblingen):
        refused(
            session,
            services.reassign_task,
            "waiblingen-2017:partner_anfragen",
            to="niemand",
            actor="t",
            match="keine Person „niemand“",
        )


APPROVE_BSV = {"outcome": "approve", "on": D(2017, 4, 27), "by": "sd", "reference": "BSV 3/2017"}


def decide(session, stage: str = "ratsbeschluss", process: str = "waiblingen-2017", **changes):
    """A gate decision with the Waiblingen Grundsatzbeschluss as default."""
    return services.decide_gate(session, process, stage, **(APPROVE_BSV | changes))


def refused_decision(session, match: str, **changes) -> None:
    refused(session, decide, match=match, **changes)


class TestGates:
    def test_approve_needs_required_tasks(self, session, waiblingen):
        refused_decision(session, "müssen erst diese Aufgaben erledigt sein")

    def test_approve_opens_next_stage_and_recomputes(self, session, waiblingen):
        finish_stage(session, waiblingen, "ratsbeschluss", D(2017, 4, 27))
        decide(session, on=D(2017, 5, 3))
        stages = {s.key: s for s in session.exec(select(Stage))}
        assert stages["ratsbeschluss"].state == StageState.closed
        assert stages["ratsbeschluss"].closed_on == D(2017, 5, 3)
        assert stages["auftaktworkshop"].state == StageState.open
        assert stages["auftaktworkshop"].opened_on == D(2017, 5, 3)
        # 21 days after the stage opened (a Wednesday)
        partner = task(session, waiblingen, "partner_beauftragen")
        assert partner.due == D(2017, 5, 24)
        assert session.exec(select(Event).where(Event.action == "gate_approve")).one()
        moved = session.exec(select(Event).where(Event.action == "due_changed")).all()
        assert {e.before["due"] for e in moved if e.entity_id == partner.id} == {"2017-05-18"}

    def test_force_with_reason_is_logged(self, session, waiblingen):
        d = decide(session, force_reason="Beschluss liegt vor, Aufgaben nachgetragen")
        assert d.forced_reason
        ev = session.exec(select(Event).where(Event.action == "gate_approve")).one()
        assert ev.after["forced_reason"] == "Beschluss liegt vor, Aufgaben nachgetragen"

    def test_reference_required(self, session, waiblingen):
        finish_stage(session, waiblingen, "ratsbeschluss", D(2017, 4, 27))
        refused_decision(session, "braucht ein Aktenzeichen", reference="")

    def test_reference_in_wrong_format(self, session, waiblingen):
        finish_stage(session, waiblingen, "ratsbeschluss", D(2017, 4, 27))
        refused_decision(session, "nicht die erwartete Form", reference="3-2017")

    def test_not_before_the_council_sitzung(self, session, waiblingen):
        finish_stage(session, waiblingen, "ratsbeschluss", D(2017, 4, 20))
        refused_decision(session, "entscheidet die Sitzung am", on=D(2017, 4, 20))

    def test_closed_gate_is_refused(self, session, waiblingen):
        finish_stage(session, waiblingen, "ratsbeschluss", D(2017, 4, 27))
        decide(session)
        refused_decision(session, "schon geschlossen", on=D(2017, 4, 28))

    def test_pending_gate_is_refused(self, session, waiblingen):
        refused_decision(
            session, "hat noch nicht begonnen", stage="vorlage", on=D(2017, 12, 14),
            reference="BSV 21/2017",
        )  # fmt: skip

    def test_date_before_stage_opened(self, session, waiblingen):
        refused_decision(
            session, "vor dem Beginn der Phase", outcome="send_back", on=D(2017, 1, 2), remarks="x"
        )

    def test_unknown_process_and_stage(self, session, waiblingen):
        refused_decision(session, "keine Fortschreibung „tuebingen-2017“", process="tuebingen-2017")
        refused_decision(session, "keine Phase „haushalt“", stage="haushalt")

    def test_send_back_needs_reason_and_reopens(self, session, waiblingen):
        t = task(session, waiblingen, "grundsatzvorlage_entwerfen")
        services.complete_task(session, t.id, on=D(2017, 3, 17), by="ortolf")
        send_back = {"outcome": "send_back", "on": D(2017, 3, 20), "by": "raible"}
        refused_decision(session, "muss einen Grund nennen", **send_back)
        decide(
            session,
            remarks="Finanzierung fehlt",
            reopen=("grundsatzvorlage_entwerfen",),
            **send_back,
        )
        session.refresh(t)
        assert t.state == TaskState.open
        assert engine.get_stage(session, waiblingen, "ratsbeschluss").state == StageState.open
        ev = session.exec(select(Event).where(Event.action == "task_reopened")).one()
        assert ev.entity_id == t.id
        assert ev.before == {"state": "done", "done_on": "2017-03-17"}
        assert ev.after == {"state": "open", "reason": "Finanzierung fehlt"}

    @pytest.mark.parametrize("key", ["gibtsnicht", "workshop_einladen"])  # the 2nd: next stage
    def test_send_back_reopens_only_tasks_of_its_stage(self, session, waiblingen, key):
        refused_decision(
            session, f"keine Aufgabe „{key}“ zum Wiedereröffnen", outcome="send_back",
            on=D(2017, 3, 20), by="raible", remarks="x", reopen=(key,),
        )  # fmt: skip

    def test_postpone_moves_the_binding_and_the_beratung(self, session):
        process = services.start(session, load_scenario(KLIMA))
        replay.run(session, process, until=D(2024, 9, 30))
        finish_stage(session, process, "beschluss", D(2024, 11, 21))
        decide(
            session,
            "beschluss",
            process.key,
            outcome="postpone",
            on=D(2024, 11, 21),
            postpone_to="rat-2024-12-12",
            reference="",
        )
        decision = session.exec(
            select(GateDecision).where(GateDecision.outcome == "postpone")
        ).one()
        assert decision.remarks == "vertagt von rat-2024-11-21 auf rat-2024-12-12"
        binding = session.exec(select(SitzungBinding).where(SitzungBinding.name == "rat")).one()
        assert session.get(Sitzung, binding.sitzung_id).key == "rat-2024-12-12"
        assert task(session, process, "ratsbeschluss").due == D(2024, 12, 12)
        keys = {session.get(Sitzung, b.sitzung_id).key for b in session.exec(select(Beratung))}
        assert keys == {"uka-2024-11-05", "rat-2024-12-12"}

    def test_postpone_refusals(self, session):
        process = services.start(session, load_scenario(KLIMA))
        postpone = {"process": process.key, "outcome": "postpone", "on": D(2024, 3, 1)}
        refused_decision(
            session, "hängt an keiner Sitzung; nichts zu vertagen", stage="bilanz",
            postpone_to="rat-2024-12-12", **postpone,
        )  # fmt: skip
        replay.run(session, process, until=D(2024, 9, 30))
        refused_decision(
            session, "keine Sitzung „gibtsnicht“", stage="beschluss", postpone_to="gibtsnicht",
            **(postpone | {"on": D(2024, 11, 21)}),
        )  # fmt: skip

    def test_postpone_to_earlier_sitzung_is_refused(self, session):
        process = services.start(session, load_scenario(KLIMA))
        replay.run(session, process, until=D(2024, 9, 30))
        refused_decision(
            session,
            "auf eine spätere Sitzung",
            stage="beschluss",
            process=process.key,
            outcome="postpone",
            on=D(2024, 10, 1),
            postpone_to="hfa-2024-10-01",
        )


class TestMoveSitzung:
    def test_dependent_deadlines_follow(self, session, waiblingen):
        move = services.move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 13), actor="sd")
        assert move.old == dt.datetime(2017, 12, 6, 17, 0)
        assert move.sitzung.start == dt.datetime(2017, 12, 13, 17, 0)
        assert task(session, waiblingen, "sitzungsvorlage_einreichen").due == D(2017, 11, 29)
        assert task(session, waiblingen, "vorlage_vorberatung").due == D(2017, 12, 13)
        changed = {c.task_key for c in move.changes[waiblingen.id]}
        assert {
            "sitzungsvorlage_einreichen",
            "sitzungsvorlage_entwerfen",
            "bericht_abnehmen",
        } <= changed
        logged = session.exec(select(Event).where(Event.action == "due_changed")).all()
        assert len(logged) == len(changed)
        assert session.exec(select(Event).where(Event.action == "sitzung_moved")).all()

    def test_vorberatung_after_entscheidung_is_refused(self, session, waiblingen):
        refused(
            session,
            services.move_sitzung,
            "bsv-2017-12-06",
            D(2017, 12, 15),
            actor="sd",
            match="bricht die",
        )

    def test_unknown_sitzung(self, session, waiblingen):
        refused(
            session,
            services.move_sitzung,
            "bsv-2099-01-01",
            D(2017, 12, 15),
            actor="sd",
            match="keine Sitzung",
        )

    def test_closing_days_recompute(self, session, waiblingen):
        changed = services.set_closing_days(session, "waiblingen", [D(2017, 11, 27)], actor="t")
        assert changed > 0
        assert task(session, waiblingen, "sitzungsvorlage_einreichen").due == D(2017, 11, 21)


class TestWholeProcesses:
    def test_waiblingen_through_all_five_gates(self, session, waiblingen):
        replay.run(session, waiblingen)
        session.refresh(waiblingen)
        assert waiblingen.state == ProcessState.completed
        decisions = session.exec(select(GateDecision).order_by(GateDecision.id)).all()
        assert [(d.decided_on, d.reference) for d in decisions][0] == (D(2017, 4, 27), "BSV 3/2017")
        assert decisions[-1].decided_on == D(2017, 12, 14)
        assert session.exec(select(Task).where(Task.state == TaskState.open)).all() == []

    def test_replay_is_idempotent(self, session, waiblingen):
        replay.run(session, waiblingen, until=D(2017, 7, 21))
        before = dump(session)
        assert replay.run(session, waiblingen, until=D(2017, 7, 21)) == []
        assert dump(session) == before

    def test_second_plan_runs_through_all_its_gates(self, session):
        process = services.start(session, load_scenario(KLIMA))
        steps = replay.run(session, process)
        session.refresh(process)
        assert process.state == ProcessState.completed
        outcomes = [s.raw["outcome"] for s in steps if s.kind == "decide"]
        assert outcomes == ["approve", "send_back", "approve", "approve", "postpone", "approve"]
        stages = session.exec(select(Stage).order_by(Stage.position)).all()
        assert [s.key for s in stages] == ["bilanz", "potenziale", "beteiligung", "beschluss"]
        assert all(s.state == StageState.closed for s in stages)
        # NW: Allerheiligen (01.11.) is skipped when counting the 8 working days of the UKA
        assert task(session, process, "vorlage_einreichen").due == D(2024, 10, 23)


def klima_with_gate(tmp_path, requires: str):
    """The Klimaschutzkonzept with the potenziale gate as planned (a list) or as ``all``.

    Its stage has one required task (potenziale_berechnen) and one optional (steckbriefe).
    """
    if requires == "list":
        return load_scenario(KLIMA)
    plan = (KLIMA.parent.parent / "plans/klimaschutzkonzept.yaml").read_text(encoding="utf-8")
    assert "      requires: [potenziale_berechnen]\n" in plan
    (tmp_path / "plans").mkdir()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "plans/klimaschutzkonzept.yaml").write_text(
        plan.replace("      requires: [potenziale_berechnen]\n", ""), encoding="utf-8"
    )
    (tmp_path / "scenarios" / KLIMA.name).write_text(KLIMA.read_text(encoding="utf-8"))
    scenario = load_scenario(tmp_path / "scenarios" / KLIMA.name)
    assert scenario.plan.stage("potenziale").gate.requires == "all"
    return scenario


class TestGateRequires:
    """Which open tasks keep a gate shut, at run time, for ``requires: all`` and a list."""

    APPROVE = {"outcome": "approve", "on": D(2024, 6, 28), "by": "kim", "reference": ""}

    def at_potenziale(self, session, tmp_path, requires):
        process = services.start(session, klima_with_gate(tmp_path, requires))
        replay.run(session, process, until=D(2024, 4, 15))  # bilanz approved, potenziale open
        assert engine.get_stage(session, process, "potenziale").state == StageState.open
        return process

    def complete(self, session, process, key):
        services.complete_task(session, task(session, process, key).id, on=D(2024, 5, 31))

    @pytest.mark.parametrize("requires", ["list", "all"])
    def test_open_optional_task_does_not_block(self, session, tmp_path, requires):
        process = self.at_potenziale(session, tmp_path, requires)
        self.complete(session, process, "potenziale_berechnen")
        decide(session, "potenziale", process.key, **self.APPROVE)
        assert engine.get_stage(session, process, "potenziale").state == StageState.closed
        assert engine.get_stage(session, process, "beteiligung").state == StageState.open
        # approved without forcing, while the optional task is still open
        assert task(session, process, "steckbriefe").state == TaskState.open
        approval = session.exec(select(GateDecision).where(GateDecision.outcome == "approve"))
        assert [d.forced_reason for d in approval] == ["", ""]

    @pytest.mark.parametrize("requires", ["list", "all"])
    def test_open_required_task_blocks(self, session, tmp_path, requires):
        process = self.at_potenziale(session, tmp_path, requires)
        self.complete(session, process, "steckbriefe")
        refused(
            session, decide, "potenziale", process.key, **self.APPROVE,
            match=r"erledigt sein: potenziale_berechnen \(",
        )  # fmt: skip


class TestRecomputeAll:
    """The bulk path for all processes computes exactly what `recompute` does one by one."""

    def run(self, url: str, bulk: bool):
        from sqlmodel import Session

        from lifecycle.db import engine_for
        from lifecycle.models import Fortschreibung, Kommune

        with Session(engine_for(url), expire_on_commit=False) as s:
            waiblingen = services.start(s, load_scenario(WAIBLINGEN))
            replay.run(s, waiblingen, until=D(2017, 7, 21))
            services.start(s, load_scenario(WAIBLINGEN.parent / "voelklingen-2017.yaml"))
            klima = services.start(s, load_scenario(KLIMA))
            replay.run(s, klima, until=D(2024, 6, 28))
            for kommune in s.exec(select(Kommune)).all():
                kommune.closing_days = ["2017-11-27", "2018-06-04", "2024-10-31"]
                s.add(kommune)
            s.commit()
            if bulk:
                changed = services.recompute_all(s, actor="t", reason="r")
            else:
                processes = s.exec(select(Fortschreibung)).all()
                changed = sum(len(engine.recompute(s, p, actor="t", reason="r")) for p in processes)
                s.commit()
            dues = sorted((t.fortschreibung_id, t.key, t.due) for t in s.exec(select(Task)))
            starts = sorted(
                (g.fortschreibung_id, g.key, g.planned_start) for g in s.exec(select(Stage))
            )
            logged = sorted(
                (e.fortschreibung_id, e.entity_id, e.before["due"], e.after["due"])
                for e in s.exec(select(Event).where(Event.actor == "t"))
            )
        return changed, dues, starts, logged

    def test_bulk_equals_one_by_one(self, tmp_path):
        bulk = self.run(f"sqlite:///{tmp_path / 'bulk.db'}", bulk=True)
        each = self.run(f"sqlite:///{tmp_path / 'each.db'}", bulk=False)
        assert bulk == each
        changed, dues, _, logged = bulk
        assert changed >= 3 and logged  # each Kommune's closing day moved something
        assert (1, "sitzungsvorlage_einreichen", D(2017, 11, 21)) in dues
