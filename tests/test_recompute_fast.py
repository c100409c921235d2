"""recompute_all (the bulk path) computes exactly what ``engine.recompute`` does per process.

On a generated database — Kommunen in several Bundesländer, with and without closing days,
plans of two kinds, Sitzungen moved and postponed, gates approved and sent back, tasks done and
open, due dates and planned starts overridden by hand, and for Waiblingen a family of clones
that each differ from an identical twin in exactly one input of the timeline (calendar, start,
a Sitzung's day, a Gremium's Vorlagenschluss, a Termin, an opened stage, a task's offset, unit
or anchor, the stored plan) — a holiday-calendar change is applied, then every process is
recomputed one by one with ``engine.recompute`` (the reference, rolled back) and all at once
with ``services.recompute_all``. Due dates, planned starts, the number of changes and the
logged events must be identical, down to the values stored in the database. The bulk path
shares one computed timeline among processes with equal inputs: a twin that differs in one
input would inherit a wrong result if that input were missing from the sharing key.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

import pytest
from conftest import EXAMPLES, ROOT
from sqlalchemy import func, text, update
from sqlmodel import Session, col, select

from lifecycle import engine, services
from lifecycle.db import engine_for
from lifecycle.deadlines import CycleError, MissingAnchor
from lifecycle.models import (
    Event,
    Fortschreibung,
    Gremium,
    Kommune,
    Sitzung,
    Stage,
    Task,
    TaskState,
    Termin,
)
from lifecycle.scenario import Scenario, load_scenario

D = dt.date
ACTOR, REASON = "kalender", "Feiertagskalender geändert"
KLIMA = ROOT / "tests" / "scenarios" / "musterstadt-klima.yaml"

# Waiblingen clones: (suffix, Bundesland, closing days, start shift) given at the start.
CLONES: list[tuple[str, str, list[str], int]] = [
    ("twin-a", "BW", [], 0), ("twin-b", "BW", [], 0),
    ("land", "BY", [], 0), ("closing", "BW", ["2017-11-27", "2017-11-28"], 0),
    ("started", "BW", [], 1),
    ("sitzung", "BW", [], 0), ("gremium", "BW", [], 0), ("termin", "BW", [], 0),
    ("opened", "BW", [], 0), ("sentback", "BW", [], 0), ("postponed", "BW", [], 0),
    ("offset", "BW", [], 0), ("unit", "BW", [], 0), ("anchor", "BW", [], 0), ("plan", "BW", [], 0),
    ("koeln", "NW", ["2018-02-12"], 0), ("leipzig", "SN", [], 3), ("erfurt", "TH", [], 0),
]  # fmt: skip
APPROVE = {"outcome": "approve", "on": D(2017, 4, 27), "by": "sitzungsdienst",
           "reference": "BSV 3/2017", "force_reason": "Test"}  # fmt: skip


def _clone(base: Scenario, suffix: str, land: str, closing: list[str], shift: int) -> Scenario:
    data = copy.deepcopy(base.data)
    data["key"] = f"wn-{suffix}-2017"
    data["kommune"].update(key=f"wn-{suffix}", name=f"Wn {suffix}", bundesland=land,
                           closing_days=closing)  # fmt: skip
    started = dt.date.fromisoformat(str(data["fortschreibung"]["started"]))
    data["fortschreibung"]["started"] = (started + dt.timedelta(days=shift)).isoformat()
    return Scenario(base.source, data, base.plan)


def _process_id(session: Session, key: str) -> int:
    return session.exec(select(Fortschreibung.id).where(Fortschreibung.key == key)).one()


def _task(session: Session, process: str, key: str) -> Task:
    pid = _process_id(session, process)
    return session.exec(select(Task).where(Task.fortschreibung_id == pid, Task.key == key)).one()


def build(session: Session, seed: int) -> None:
    """Start every process, take each clone away from its twin, scatter states and stored
    dates with ``seed``; then change the holiday calendar without recomputing anything."""
    rng = random.Random(seed)
    waiblingen = load_scenario(EXAMPLES / "waiblingen-2017.yaml")
    for scenario in [
        waiblingen,
        load_scenario(EXAMPLES / "voelklingen-2017.yaml"),
        load_scenario(EXAMPLES / "schwetzingen-2017.yaml"),
        load_scenario(KLIMA),
        *(_clone(waiblingen, *c) for c in CLONES),
    ]:
        services.start(session, scenario, actor="test")
    # Through the services: closing days, a moved Sitzung, decisions, done tasks.
    services.set_closing_days(session, "schwetzingen", [D(2017, 10, 30)], actor="test")
    services.move_sitzung(session, "waiblingen:bsv-2017-12-06", dt.datetime(2017, 12, 13, 17),
                          actor="test", force_reason="Test", today=D(2017, 10, 2))  # fmt: skip
    services.decide_gate(session, "wn-opened-2017", "ratsbeschluss", **APPROVE)
    services.decide_gate(session, "wn-sentback-2017", "ratsbeschluss", outcome="send_back",
                         on=D(2017, 4, 27), by="sitzungsdienst",
                         remarks="Zahlen fehlen")  # fmt: skip
    services.decide_gate(session, "wn-postponed-2017", "ratsbeschluss", outcome="postpone",
                         on=D(2017, 4, 27), by="sitzungsdienst",
                         postpone_to="gr-2017-12-14")  # fmt: skip
    services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", **APPROVE)
    for process, key in (("waiblingen-2017", "partner_beauftragen"),
                         ("wn-twin-a-2017", "foerderantrag_stellen")):  # fmt: skip
        services.complete_task(session, _task(session, process, key).id, on=D(2017, 5, 2))
    # By hand (no recompute): each clone leaves its twin in one input of the timeline.
    wn = {suffix: _process_id(session, f"wn-{suffix}-2017") for suffix, *_ in CLONES}
    kommune_of = dict(session.execute(select(Fortschreibung.id, Fortschreibung.kommune_id)).all())
    session.execute(update(Sitzung).where(col(Sitzung.kommune_id) == kommune_of[wn["sitzung"]],
                                          col(Sitzung.key) == "gr-2017-12-14")
                    .values(start=dt.datetime(2017, 12, 21, 18)))  # fmt: skip
    session.execute(update(Gremium).where(col(Gremium.kommune_id) == kommune_of[wn["gremium"]],
                    col(Gremium.key) == "bsv").values(vorlagenschluss_working_days=7))  # fmt: skip
    session.execute(update(Termin).where(col(Termin.fortschreibung_id) == wn["termin"])
                    .values(on=D(2017, 7, 14)))  # fmt: skip
    anchor = {"anchor_kind": "stage_start", "anchor_ref": ""}
    for suffix, values in (("offset", {"offset": -9}), ("anchor", anchor),
                           ("unit", {"offset_unit": "working_days"})):  # fmt: skip
        target = _task(session, f"wn-{suffix}-2017", "sitzungsvorlage_entwerfen")
        session.execute(update(Task).where(col(Task.id) == target.id).values(**values))
    plan = copy.deepcopy(session.get(Fortschreibung, wn["plan"]).plan)
    plan["stages"][0]["gate"]["sitzung"] = "vorlage_vorberatung"
    session.execute(update(Fortschreibung).where(col(Fortschreibung.id) == wn["plan"])
                    .values(plan=plan))  # fmt: skip
    session.commit()
    # Stored values overridden by hand; states of every kind (the twins only in the states:
    # they share a timeline, never their rows).
    span = (D(2018, 3, 1) - D(2017, 2, 1)).days
    for task_id, in session.execute(select(Task.id).order_by(col(Task.id))).all():
        values: dict[str, Any] = {}
        if rng.random() < 0.3:
            values["due"] = D(2017, 2, 1) + dt.timedelta(days=rng.randrange(span))
        elif rng.random() < 0.03:
            values["due"] = None
        if rng.random() < 0.3:
            values["state"] = TaskState.done.name
        if values:
            session.execute(update(Task).where(col(Task.id) == task_id).values(**values))
    for stage_id, in session.execute(select(Stage.id).order_by(col(Stage.id))).all():
        if rng.random() < 0.3:
            day = D(2017, 2, 1) + dt.timedelta(days=rng.randrange(span))
            session.execute(update(Stage).where(col(Stage.id) == stage_id).values(
                planned_start=None if rng.random() < 0.3 else day))  # fmt: skip
    session.commit()
    # The holiday-calendar change itself: new closing days here, another Bundesland there,
    # a Sitzung the RIS moved — nothing recomputed yet.
    for key, days in (("waiblingen", ["2017-11-27", "2017-12-27"]), ("wn-twin-a", ["2017-11-24"]),
                      ("wn-twin-b", ["2017-11-24"]), ("voelklingen", ["2017-11-20"]),
                      ("musterstadt", ["2024-10-31"]), ("wn-land", ["2017-11-30"])):  # fmt: skip
        session.execute(update(Kommune).where(col(Kommune.key) == key).values(closing_days=days))
    session.execute(update(Kommune).where(col(Kommune.key) == "wn-erfurt").values(bundesland="HE"))
    session.execute(update(Sitzung).where(col(Sitzung.kommune_id) == kommune_of[wn["leipzig"]],
                                          col(Sitzung.key) == "bsv-2017-12-06")
                    .values(start=dt.datetime(2017, 11, 29, 17)))  # fmt: skip
    session.commit()


def one_by_one(session: Session) -> int:
    processes = session.exec(select(Fortschreibung).order_by(col(Fortschreibung.id))).all()
    changed = sum(len(engine.recompute(session, p, actor=ACTOR, reason=REASON)) for p in processes)
    session.flush()
    return changed


def outcome(session: Session, first_event: int) -> dict[str, Any]:
    """What a recompute left: typed values and the values as stored (the driver's)."""
    session.expire_all()
    conn = session.connection()
    logged = session.exec(select(Event).where(col(Event.id) >= first_event)).all()
    raw = conn.execute(text("SELECT entity_id, CAST(before AS TEXT), CAST(after AS TEXT), at "
                            "FROM event WHERE id >= :first ORDER BY entity_id"),
                       {"first": first_event}).all()  # fmt: skip
    return {
        "dues": session.execute(select(Task.id, Task.due).order_by(col(Task.id))).all(),
        "starts": session.execute(
            select(Stage.id, Stage.planned_start).order_by(col(Stage.id))).all(),
        "stored dues": conn.execute(text("SELECT id, due FROM task ORDER BY id")).all(),
        "stored starts": conn.execute(
            text("SELECT id, planned_start FROM stage ORDER BY id")).all(),
        "events": sorted(
            (e.entity_id, e.fortschreibung_id, e.actor, e.action, e.entity, e.before, e.after)
            for e in logged
        ),
        "stored events": [(r[0], r[1], r[2], type(r[3]), len(str(r[3]))) for r in raw],
    }  # fmt: skip


def compare(session: Session) -> dict[str, Any]:
    first_event = (session.scalar(select(func.max(Event.id))) or 0) + 1
    expected_changed = one_by_one(session)
    expected = outcome(session, first_event)
    session.rollback()
    changed = services.recompute_all(session, actor=ACTOR, reason=REASON)
    got = outcome(session, first_event)
    assert changed == expected_changed
    for part in expected:
        assert got[part] == expected[part], part
    return expected | {"changed": changed}


def _check_meaningful(result: dict[str, Any], session: Session) -> None:
    assert result["changed"] > 300
    assert len(result["events"]) > 150
    # the closed tasks changed without an event, the open ones with one
    assert len(result["events"]) < result["changed"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Fortschreibung)) == 4 + len(CLONES)
    # a second run finds nothing left to change
    assert services.recompute_all(session, actor=ACTOR, reason=REASON) == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_recompute_all_equals_recompute_per_process_sqlite(session, seed):
    build(session, seed)
    _check_meaningful(compare(session), session)


def test_recompute_all_equals_recompute_per_process_postgres(pg_url):
    with Session(engine_for(pg_url), expire_on_commit=False) as session:
        build(session, 3)
        _check_meaningful(compare(session), session)


def test_twins_share_a_timeline_and_keep_their_own_rows(session):
    """The two identical clones: the same computed dues, each written to its own rows."""
    build(session, 4)
    services.recompute_all(session, actor=ACTOR, reason=REASON)
    session.expire_all()

    def dues(suffix: str) -> list[tuple[str, dt.date | None]]:
        pid = _process_id(session, f"wn-{suffix}-2017")
        return sorted(session.execute(select(Task.key, Task.due).where(
            Task.fortschreibung_id == pid)).all())  # fmt: skip

    assert dues("twin-a") == dues("twin-b")
    for suffix in ("closing", "started", "sitzung", "gremium", "termin", "opened", "offset",
                   "unit", "anchor", "plan", "postponed"):  # fmt: skip
        assert dues(suffix) != dues("twin-a"), suffix


def _outcomes(session: Session) -> list[tuple[type, str]]:
    found = []
    for run in (one_by_one, lambda s: services.recompute_all(s, actor=ACTOR, reason=REASON)):
        session.expire_all()
        with pytest.raises((MissingAnchor, CycleError)) as info:
            run(session)
        session.rollback()
        found.append((info.type, str(info.value)))
    return found


@pytest.mark.parametrize("broken", ["missing", "cycle"])
def test_a_broken_timeline_is_refused_by_both_alike(session, broken):
    build(session, 5)
    a = _task(session, "wn-anchor-2017", "grundsatzvorlage_einreichen")
    b = _task(session, "wn-anchor-2017", "grundsatzvorlage_mitzeichnen")
    if broken == "missing":
        changes = [(a.id, {"anchor_kind": "task", "anchor_ref": "gibt_es_nicht"})]
    else:
        changes = [(a.id, {"anchor_kind": "task", "anchor_ref": b.key}),
                   (b.id, {"anchor_kind": "task", "anchor_ref": a.key})]  # fmt: skip
    for task_id, values in changes:
        session.execute(update(Task).where(col(Task.id) == task_id).values(**values))
    session.commit()
    before = session.connection().execute(text("SELECT id, due FROM task ORDER BY id")).all()
    reference, bulk = _outcomes(session)
    assert bulk == reference
    assert reference == {  # naming the task whose deadline cannot be worked out
        "missing": (MissingAnchor, "Plan: grundsatzvorlage_einreichen: Frist bezieht sich auf "
                                   "task „gibt_es_nicht“, die es nicht gibt"),
        "cycle": (CycleError, "Plan: Fristen hängen im Kreis voneinander ab: "
                              "task:grundsatzvorlage_mitzeichnen -> "
                              "task:grundsatzvorlage_einreichen -> "
                              "task:grundsatzvorlage_mitzeichnen"),
    }[broken]  # fmt: skip
    # refused as a whole: nothing written
    after = session.connection().execute(text("SELECT id, due FROM task ORDER BY id")).all()
    assert after == before

