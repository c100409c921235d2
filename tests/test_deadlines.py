"""The deadline solver on its own: anchors, projected stage starts, cycles, missing anchors."""

from __future__ import annotations

import datetime as dt

import pytest

from lifecycle.calendar import WorkCalendar
from lifecycle.deadlines import CycleError, MissingAnchor, StageSpec, TaskSpec, Timeline

D = dt.date


def timeline(tasks: list[TaskSpec], sitzungen: dict[str, dt.date] | None = None) -> Timeline:
    """Two stages from Wednesday 01.03.2017 (BW); stage a's gate is decided by Sitzung "rat"."""
    return Timeline(
        calendar=WorkCalendar("BW"),
        started_on=D(2017, 3, 1),
        stages=[
            StageSpec("a", [t.key for t in tasks if t.stage == "a"], gate_sitzung="rat"),
            StageSpec("b", [t.key for t in tasks if t.stage == "b"]),
        ],
        tasks={t.key: t for t in tasks},
        sitzungen=sitzungen or {},
        vorlagenschluss_days={"rat": 5},
        termine={"buergerforum": D(2017, 4, 1)},
    )


TWO = [TaskSpec("t1", "a", "stage_start", offset=7), TaskSpec("t2", "b", "stage_start", offset=1)]


def test_stage_ends_at_its_gate_sitzung_when_bound():
    dues, starts = timeline(TWO, {"rat": D(2017, 3, 20)}).compute()
    assert starts == {"a": D(2017, 3, 1), "b": D(2017, 3, 20)}
    assert dues == {"t1": D(2017, 3, 8), "t2": D(2017, 3, 21)}


def test_stage_ends_at_its_last_task_when_the_gate_sitzung_is_not_bound():
    dues, starts = timeline(TWO).compute()
    assert starts == {"a": D(2017, 3, 1), "b": D(2017, 3, 8)}
    assert dues == {"t1": D(2017, 3, 8), "t2": D(2017, 3, 9)}


def test_termin_and_vorlagenschluss_anchors():
    tasks = [
        TaskSpec("einladen", "a", "termin", ref="buergerforum", offset=-14),
        TaskSpec("vorlage", "a", "vorlagenschluss", ref="rat", offset=0, unit="working_days"),
    ]
    dues, _ = timeline(tasks, {"rat": D(2017, 3, 20)}).compute()
    # 01.04.2017 minus 14 days = Saturday 18.03. -> rolled back to Friday 17.03.
    # 5 working days before Monday 20.03. = Monday 13.03.
    assert dues == {"einladen": D(2017, 3, 17), "vorlage": D(2017, 3, 13)}


def test_cycle_names_its_path():
    tasks = [TaskSpec("t1", "a", "task", ref="t2"), TaskSpec("t2", "a", "task", ref="t1")]
    with pytest.raises(CycleError) as caught:
        timeline(tasks).compute()
    assert caught.value.path == ["task:t1", "task:t2", "task:t1"]
    assert (caught.value.source, caught.value.field) == ("Plan", "")
    assert caught.value.problem == (
        "Fristen hängen im Kreis voneinander ab: task:t1 -> task:t2 -> task:t1"
    )


@pytest.mark.parametrize(
    ("anchor", "kind"), [("sitzung", "Sitzung"), ("termin", "Termin"), ("task", "task")]
)
def test_missing_anchor_is_named(anchor, kind):
    with pytest.raises(MissingAnchor) as caught:
        timeline([TaskSpec("t1", "a", anchor, ref="gibtsnicht")]).compute()
    err = caught.value
    assert (err.task, err.kind, err.ref, err.source, err.field) == (
        "t1",
        kind,
        "gibtsnicht",
        "Plan",
        "t1",
    )
    assert err.problem == f"Frist bezieht sich auf {kind} „gibtsnicht“, die es nicht gibt"


def test_a_stage_without_tasks_ends_where_it_starts():
    dues, starts = timeline([TaskSpec("t2", "b", "stage_start", offset=1)]).compute()
    assert starts == {"a": D(2017, 3, 1), "b": D(2017, 3, 1)}
    assert dues == {"t2": D(2017, 3, 2)}


class _CountingCalendar(WorkCalendar):
    """Counts the working-day questions (the calendar's own memo is a separate matter)."""

    def __init__(self) -> None:
        super().__init__("BW")
        self.asked = 0

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        self.asked += 1
        return super().add_working_days(day, n)


def test_each_task_and_stage_start_is_computed_once():
    """Many tasks anchored to one task and to a later stage's start: the solver's memo answers
    them, so each due date costs one question to the calendar."""
    tasks = [TaskSpec("root", "a", "stage_start", offset=3, unit="working_days")]
    tasks += [TaskSpec(f"a{i}", "a", "task", ref="root", offset=i, unit="working_days")
              for i in range(1, 6)]  # fmt: skip
    tasks += [TaskSpec(f"b{i}", "b", "stage_start", offset=i, unit="working_days")
              for i in range(1, 6)]  # fmt: skip
    cal = _CountingCalendar()
    tl = Timeline(calendar=cal, started_on=D(2017, 3, 1),
                  stages=[StageSpec("a", [t.key for t in tasks if t.stage == "a"]),
                          StageSpec("b", [t.key for t in tasks if t.stage == "b"]),
                          StageSpec("c", [])],
                  tasks={t.key: t for t in tasks}, sitzungen={},
                  vorlagenschluss_days={})  # fmt: skip
    dues, starts = tl.compute()
    assert cal.asked == len(tasks)
    assert dues["root"] == D(2017, 3, 6)  # Wednesday + 3 working days = Monday
    assert dues["a5"] == D(2017, 3, 13) and starts["b"] == D(2017, 3, 13)  # a's last task
    assert starts["c"] == dues["b5"] == D(2017, 3, 20)
    # asked again, from the same solver's memo: no new question
    again = tl.compute()
    assert again == (dues, starts) and cal.asked == 2 * len(tasks)
