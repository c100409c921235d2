"""Plans are data: the shipped plan follows the seeds; broken plans are refused clearly."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from lifecycle.errors import InputError
from lifecycle.plan import load_plan

ROOT = Path(__file__).resolve().parent.parent
BUILTIN_TEXT = resources.files("lifecycle.plans").joinpath("integrationskonzept.yaml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_plan(write(tmp_path, text))
    return info.value


class TestShippedPlan:
    def test_stages_follow_the_seeds(self):
        plan = load_plan("integrationskonzept")
        assert [s.key for s in plan.stages] == [
            "ratsbeschluss",
            "auftaktworkshop",
            "arbeitsgruppen",
            "auswertung",
            "vorlage",
        ]

    def test_tasks_the_seeds_describe(self):
        plan = load_plan("integrationskonzept")
        titles = " | ".join(t.title for s in plan.stages for t in s.tasks)
        for words in (
            "Förderantrag",
            "Externe",
            "Steuerungsgruppe",
            "Einladungen",
            "Moderatorinnen und Moderatoren schulen",
            "Arbeitsgruppensitzung",
            "auswerten",
            "Sitzungsvorlage",
            "Vorberatung",
        ):
            assert words in titles

    def test_gates_name_their_documents(self):
        plan = load_plan("integrationskonzept")
        docs = {s.key: s.gate.documents for s in plan.stages}
        assert docs["ratsbeschluss"] == ("beschlussvorlage",)
        assert docs["vorlage"] == ("sitzungsvorlage",)

    def test_second_plan_is_different(self):
        plan = load_plan(ROOT / "tests/plans/klimaschutzkonzept.yaml")
        assert len(plan.stages) == 4 and plan.name == "klimaschutzkonzept"
        # a gate that requires only some tasks, and an optional task, typed as such
        assert any(s.gate.requires != "all" for s in plan.stages)
        assert any(not t.required for t in plan.tasks.values())


class TestBadPlans:
    def test_unknown_key(self, tmp_path):
        text = BUILTIN_TEXT.replace(
            "  - key: ratsbeschluss\n", "  - key: ratsbeschluss\n    colour: red\n"
        )
        err = error_for(tmp_path, text)
        assert err.field == "stages[0]" and "unbekannter Schlüssel „colour“" in err.problem

    def test_missing_required(self, tmp_path):
        text = BUILTIN_TEXT.replace("title: Fortschreibung des Integrationskonzepts\n", "")
        err = error_for(tmp_path, text)
        assert "„title“ fehlt" in err.problem

    def test_anchor_to_undeclared_sitzung(self, tmp_path):
        text = BUILTIN_TEXT.replace("ref: vorlage_entscheidung}", "ref: haushaltsberatung}")
        err = error_for(tmp_path, text)
        assert err.field.endswith("due.ref") and "Sitzung „haushaltsberatung“" in err.problem
        assert err.line and "haushaltsberatung" in text.splitlines()[err.line - 1]

    def test_unknown_role(self, tmp_path):
        text = BUILTIN_TEXT.replace("role: partner\n", "role: hausmeister\n", 1)
        err = error_for(tmp_path, text)
        assert err.field.endswith(".role") and "unbekannte Rolle „hausmeister“" in err.problem

    def test_dependency_cycle(self, tmp_path):
        text = BUILTIN_TEXT.replace(
            "due: {anchor: vorlagenschluss, ref: beschluss_vorberatung, working_days: -5}",
            "due: {anchor: task, ref: partner_anfragen, days: -1}",
            1,
        ).replace(
            "due: {anchor: vorlagenschluss, ref: beschluss_vorberatung, working_days: -5}",
            "due: {anchor: task, ref: foerderantrag_stellen, days: -1}",
            1,
        )
        err = error_for(tmp_path, text)
        assert "im Kreis" in err.problem
        assert "foerderantrag_stellen" in err.problem and "partner_anfragen" in err.problem

    def test_cycle_through_stage_start(self, tmp_path):
        # a stage-1 task anchored to a stage-2 task whose stage starts when stage 1 ends
        text = BUILTIN_TEXT.replace(
            "due: {anchor: vorlagenschluss, ref: beschluss_vorberatung, working_days: -5}",
            "due: {anchor: task, ref: partner_beauftragen, days: -1}",
            1,
        ).replace("      sitzung: beschluss_entscheidung\n", "")
        err = error_for(tmp_path, text)
        assert "im Kreis" in err.problem

    def test_both_days_and_working_days(self, tmp_path):
        text = BUILTIN_TEXT.replace(
            "due: {anchor: stage_start, days: 21}",
            "due: {anchor: stage_start, days: 21, working_days: 3}",
            1,
        )
        err = error_for(tmp_path, text)
        assert "nicht beides" in err.problem

    def test_duplicate_task_key(self, tmp_path):
        text = BUILTIN_TEXT.replace("key: partner_anfragen", "key: foerderantrag_stellen")
        err = error_for(tmp_path, text)
        assert "Aufgaben-Schlüssel „foerderantrag_stellen“ doppelt" in err.problem

    def test_gate_requires_unknown_task(self, tmp_path):
        text = (
            (ROOT / "tests/plans/klimaschutzkonzept.yaml")
            .read_text()
            .replace("requires: [potenziale_berechnen]", "requires: [gibt_es_nicht]")
        )
        err = error_for(tmp_path, text)
        assert err.field == "stages[1].gate.requires" and "gibt_es_nicht" in err.problem

    def test_a_task_sends_a_document_no_gate_names(self, tmp_path):
        text = BUILTIN_TEXT.replace("sends: workshop_einladung", "sends: rundbrief")
        err = error_for(tmp_path, text)
        assert err.field.endswith(".sends") and "Dokument „rundbrief“" in err.problem
        assert err.line and "rundbrief" in text.splitlines()[err.line - 1]

    def test_a_stage_tells_its_verlauf_only_in_known_ways(self, tmp_path):
        text = BUILTIN_TEXT.replace("verlauf: workshop", "verlauf: feier")
        err = error_for(tmp_path, text)
        assert err.field.endswith("verlauf") and "feier" in err.problem


class TestTypedPlan:
    def test_a_plan_loads_into_frozen_typed_objects(self):
        import dataclasses

        from lifecycle.plan_types import Due, Gate, Plan, StageDef, TaskDef

        plan = load_plan("integrationskonzept")
        assert isinstance(plan, Plan)
        stage = plan.stage("vorlage")
        assert isinstance(stage, StageDef) and isinstance(stage.gate, Gate)
        assert stage.gate.reference_required and stage.gate.sitzung == "vorlage_entscheidung"
        task = plan.tasks["sitzungsvorlage_einreichen"]
        assert isinstance(task, TaskDef)
        assert task.due == Due("vorlagenschluss", "vorlage_vorberatung", 0, "days")
        assert plan.tasks["ergebnisse_auswerten"].due.unit == "working_days"
        with pytest.raises(dataclasses.FrozenInstanceError):
            stage.key = "anders"  # type: ignore[misc]

    def test_the_stored_plan_comes_back_as_the_same_objects(self):
        import json

        from lifecycle.plan_types import plan_of

        plan = load_plan("integrationskonzept")
        stored = json.loads(json.dumps(dict(plan.data)))  # as Fortschreibung.plan keeps it
        assert plan_of(stored) == plan
        assert plan_of(stored) is plan_of(stored)  # parsed once
