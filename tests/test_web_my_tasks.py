"""The web's "Meine Aufgaben": the most urgent open tasks of the user's persons or processes.

A project lead of several processes, or a person with a Person row in several Kommunen, sees
their open tasks merged by due date, process key and position. Each owner's tasks are read
through their own index; given all owners in one IN list, SQLite read every open task of the
installation in due order. Lists of processes, this one among them, leave each process's plan
and scenario unread.
"""

from __future__ import annotations

import copy
import datetime as dt
import re

import pytest
from sqlmodel import col, select
from test_query_plans import explained, whole_table_reads

from lifecycle import services
from lifecycle.access import Principal
from lifecycle.models import Fortschreibung, GrantRole, Person, Task, TaskState
from lifecycle.scenario import Scenario
from lifecycle.web import views

TODAY = dt.date(2017, 11, 8)


@pytest.fixture
def two(session, waiblingen, waiblingen_scenario) -> list[Fortschreibung]:
    """Waiblingen, and the same process for a second Kommune with the same people's keys;
    a few of its first tasks done, so the two lists differ."""
    data = copy.deepcopy(waiblingen_scenario.data)
    data["key"] = "zweite-2017"
    data["kommune"]["key"], data["kommune"]["name"] = "zweite", "Zweite Gemeinde"
    other = services.start(session, Scenario(waiblingen_scenario.source, data,
                                             waiblingen_scenario.plan), actor="test")  # fmt: skip
    first = session.exec(select(Task.id).where(Task.fortschreibung_id == other.id)
                         .order_by(col(Task.id)).limit(3)).all()  # fmt: skip
    for task_id in first:
        services.complete_task(session, str(task_id), on=dt.date(2017, 3, 14))
    return [waiblingen, other]


def lead_of(processes: list[Fortschreibung]) -> Principal:
    return Principal(
        user_id=1, name="leitung", display_name="Leitung",
        process_roles={p.id: frozenset({GrantRole.projektleitung}) for p in processes},
        process_kommune={p.id: p.kommune_id for p in processes},
    )  # fmt: skip


def person_in(processes: list[Fortschreibung], key: str) -> Principal:
    return Principal(user_id=2, name=key, display_name="",
                     kommune_roles={p.kommune_id: frozenset({GrantRole.viewer})
                                    for p in processes})  # fmt: skip


def expected(session, condition, limit: int) -> list[int]:
    """Every open task of the owners, sorted in Python: the reference for the merge."""
    rows = session.exec(
        select(Task.id, Task.due, Fortschreibung.key, Task.position)
        .join(Fortschreibung, col(Fortschreibung.id) == Task.fortschreibung_id)
        .where(Task.state == TaskState.open, condition)
    ).all()
    return [r[0] for r in sorted(rows, key=lambda r: (r[1], r[2], r[3]))][:limit]


@pytest.mark.parametrize("limit", [7, 45, 500])
def test_a_lead_of_two_processes_sees_their_most_urgent_tasks_merged(session, two, monkeypatch,
                                                                     limit):  # fmt: skip
    monkeypatch.setattr(views, "MY_TASKS_LIMIT", limit)
    mine = views.my_tasks(session, lead_of(two), TODAY)
    ids = [p.id for p in two]
    want = expected(session, col(Task.fortschreibung_id).in_(ids), limit + 1)
    assert [t.id for t in mine.tasks] == want[:limit]
    assert mine.more == (len(want) > limit)
    assert mine.led == sorted({t.process_key for t in mine.tasks})
    assert all(t.is_open for t in mine.tasks)


def test_a_person_in_two_kommunen_sees_the_tasks_of_both(session, two):
    me = person_in(two, "ortolf")
    mine = views.my_tasks(session, me, TODAY)
    persons = session.exec(select(Person.id).where(Person.key == "ortolf")).all()
    assert len(persons) == 2 and len(mine.persons) == 2
    assert [t.id for t in mine.tasks] == expected(
        session, col(Task.assignee_id).in_(persons), views.MY_TASKS_LIMIT)
    assert {t.process_key for t in mine.tasks} == {"waiblingen-2017", "zweite-2017"}


def test_my_tasks_read_each_owners_rows_not_every_open_task(session, two):
    with explained(session) as plans:
        led = views.my_tasks(session, lead_of(two), TODAY)
        own = views.my_tasks(session, person_in(two, "ortolf"), TODAY)
    assert led.tasks and own.tasks and plans
    assert whole_table_reads(plans) == []


def test_lists_of_processes_leave_plan_and_scenario_unread(session, two):
    """~30 KB of JSON a process: a list of 2 000 took 864 ms with them, 41 ms without."""
    from lifecycle import ical
    from lifecycle.models import RunRequest

    session.exec(RunRequest.__table__.delete())  # type: ignore[attr-defined]
    session.commit()
    session.expunge_all()
    with explained(session) as plans:
        views.my_tasks(session, lead_of(two), TODAY)
        assert services.request_missing_runs(session) == 2
        ical.export(session, ical.FeedOptions())
    read = [s for s in plans if re.search(r'fortschreibung\."?(plan|scenario)\b', s)]
    assert len(plans) > 10 and read == []
