"""Stage runs and gates, run for real on a Prefect test server (one per session)."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys

import pytest
from prefect_harness import ROOT, server_url, subprocess_env, wait_for
from sqlmodel import Session, func, select

from lifecycle import engine, lookups, services
from lifecycle.db import engine_for
from lifecycle.errors import NotFound, Refused
from lifecycle.models import GateDecision, Stage, StageState

pytestmark = pytest.mark.flows


@pytest.fixture
def prefect_api(request) -> str:
    return server_url(request)


@pytest.fixture
def direct(monkeypatch) -> None:
    """Stage runs in this process, even if an earlier test left deployments on the server."""
    monkeypatch.setenv("LIFECYCLE_FLOWS_DIRECT", "1")


@pytest.fixture
def opened(waiblingen, db_url) -> str:
    """Waiblingen started (stage 1 open); the database URL."""
    return db_url


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


@pytest.fixture
def since() -> dt.datetime:
    """When the test began: the Prefect server is shared by the session, and an earlier test
    (test_demo_kill.py, another test here) may have published the same artifact keys."""
    return dt.datetime.now(dt.UTC)


def _has_artifact(key: str, since: dt.datetime) -> bool:
    """An artifact ``key`` was published after ``since`` (not merely at some time)."""
    from prefect.artifacts import Artifact

    artifact = Artifact.get(key)
    return artifact is not None and artifact.created is not None and artifact.created >= since


def _decisions(db_url: str) -> int:
    with Session(engine_for(db_url)) as s:
        return s.exec(select(func.count()).select_from(GateDecision)).one()


def _stage(db_url: str, key: str) -> Stage:
    with Session(engine_for(db_url)) as s:
        process = lookups.get_process(s, "waiblingen-2017")
        return engine.get_stage(s, process, key)


def test_stage_run_publishes_tasks_timeline_and_documents(prefect_api, direct, waiblingen, db_url,
                                                           tmp_path, since):  # fmt: skip
    from lifecycle.flows.stages import start_stage_run

    summary = start_stage_run("waiblingen-2017", "ratsbeschluss", db_url=db_url,
                              out_dir=str(tmp_path / "docs"))  # fmt: skip

    assert summary["state"] == "open"
    assert {"Aufgabe", "Zuständig", "Fällig"} <= set(summary["tasks"][0])
    assert all(row["Fällig"].count(".") == 2 for row in summary["tasks"])  # German dates
    assert summary["documents"], "the gate's Beschlussvorlage is rendered"
    assert _has_artifact("waiblingen-2017-ratsbeschluss-aufgaben", since)
    assert _has_artifact("waiblingen-2017-zeitleiste", since)
    assert _has_artifact("waiblingen-2017-ratsbeschluss-dokumente", since)
    with _client() as client:
        runs = client.read_flow_runs(limit=5, sort="START_TIME_DESC")
    run = next(r for r in runs if "Phase ratsbeschluss" in r.name)
    assert run.start_time is not None and run.start_time >= since  # this test's run
    assert run.name.startswith("Waiblingen · waiblingen-2017")
    assert {"kommune:waiblingen", "prozess:waiblingen-2017"} <= set(run.tags)


def test_send_back_keeps_gate_open_and_reruns_stage(prefect_api, direct, opened, tmp_path):
    from lifecycle.flows.gates import decide

    db_url, out = opened, str(tmp_path / "docs")
    result = decide("waiblingen-2017", "ratsbeschluss", outcome="send_back", on="2017-03-20",
                    by="ortolf", remarks="Förderantrag fehlt", db_url=db_url, out_dir=out)

    assert result.next_stage == "ratsbeschluss"  # the same stage runs again
    assert result.stage_run["stage_key"] == "ratsbeschluss"
    assert _stage(db_url, "ratsbeschluss").state == StageState.open


def test_approve_starts_next_stage_and_second_decision_is_refused(prefect_api, direct, opened,
                                                                  tmp_path, since):
    from lifecycle.flows.gates import decide

    db_url, out = opened, str(tmp_path / "docs")
    result = decide("waiblingen-2017", "ratsbeschluss", outcome="approve", on="2017-04-27",
                    by="sitzungsdienst", reference="BSV 3/2017", force_reason="Test",
                    db_url=db_url, out_dir=out)  # fmt: skip

    assert result.next_stage == "auftaktworkshop"
    assert result.stage_run["state"] == "open"
    assert _has_artifact("waiblingen-2017-auftaktworkshop-aufgaben", since)
    with pytest.raises(Refused, match="schon geschlossen"):
        decide("waiblingen-2017", "ratsbeschluss", outcome="approve", on="2017-04-28",
               by="sitzungsdienst", reference="BSV 3/2017", db_url=db_url, out_dir=out)
    assert _decisions(db_url) == 1


@pytest.mark.parametrize(("process", "stage", "on", "reference", "message"), [
    ("nirgendwo-2017", "ratsbeschluss", "2017-04-27", "BSV 3/2017", "keine Fortschreibung"),
    ("waiblingen-2017", "gibtsnicht", "2017-04-27", "BSV 3/2017", "keine Phase"),
    ("waiblingen-2017", "ratsbeschluss", "2017-02-01", "BSV 3/2017", "vor dem Beginn der Phase"),
    ("waiblingen-2017", "ratsbeschluss", "2017-04-27", "Drucksache drei", "erwartete Form"),
    ("waiblingen-2017", "vorlage", "2017-12-14", "BSV 21/2017", "nicht offen"),
])  # fmt: skip
def test_bad_decisions_are_refused_and_change_nothing(prefect_api, direct, opened, process, stage,
                                                       on, reference, message):  # fmt: skip
    from lifecycle.flows.gates import decide

    before = _stage(opened, "ratsbeschluss")
    with pytest.raises((Refused, NotFound), match=message):
        decide(process, stage, outcome="approve", on=on, by="sitzungsdienst",
               reference=reference, force_reason="Test", db_url=opened)  # fmt: skip
    assert _decisions(opened) == 0
    assert _stage(opened, "ratsbeschluss") == before


def test_a_decision_whose_run_never_started_is_run_by_reconcile(prefect_api, direct, opened,
                                                                 tmp_path, since):  # fmt: skip
    """The CLI died after the decision: the run request waits in the outbox for reconcile."""
    from lifecycle.flows.stages import reconcile_flow
    from lifecycle.models import RunRequest, RunRequestState

    with Session(engine_for(opened)) as s:
        services.decide_gate(s, "waiblingen-2017", "ratsbeschluss", outcome="approve",
                             on=dt.date(2017, 4, 27), by="sitzungsdienst",
                             reference="BSV 3/2017", force_reason="Test")  # fmt: skip
        assert [r.stage_key for r in services.pending_runs(s)] == [
            "ratsbeschluss", "auftaktworkshop"]  # the start's and the decision's

    started = reconcile_flow(db_url=opened)
    assert [k.split(":")[1] for k in started] == ["ratsbeschluss", "auftaktworkshop"]
    assert _has_artifact("waiblingen-2017-auftaktworkshop-aufgaben", since)
    with Session(engine_for(opened)) as s:
        states = {r.state for r in s.exec(select(RunRequest))}
        assert states == {RunRequestState.started}
    assert reconcile_flow(db_url=opened) == []  # nothing twice


# --- the served path: gate run waiting for a RunInput, restart while waiting ---------------


def _serve(url: str, db_url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lifecycle", "serve"], cwd=ROOT,
        env=subprocess_env(url, LIFECYCLE_DATABASE_URL=db_url),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)  # a kill, not a shutdown: the worst case for a waiting run
    proc.wait(timeout=30)


def _state(run_id):
    with _client() as client:
        return client.read_flow_run(run_id).state


def test_gate_waits_for_input_survives_restart_and_refuses_bad_input(prefect_api, opened, since):
    from prefect.deployments import run_deployment
    from prefect.flow_runs import resume_flow_run

    from lifecycle.flows.common import GATE_DEPLOYMENT, STAGE_DEPLOYMENT, deployment_exists
    from lifecycle.flows.gates import decide

    db_url = opened
    server = _serve(prefect_api, db_url)
    try:
        wait_for(lambda: deployment_exists(GATE_DEPLOYMENT) and deployment_exists(
            STAGE_DEPLOYMENT), "lifecycle serve to register its deployments")  # fmt: skip
        run = run_deployment(GATE_DEPLOYMENT, timeout=0, as_subflow=False, parameters={
            "process_key": "waiblingen-2017", "stage_key": "ratsbeschluss", "db_url": db_url})
        wait_for(lambda: _state(run.id).is_paused(), "the gate run to suspend", timeout=90)

        _stop(server)  # every process goes away while the gate waits
        server = _serve(prefect_api, db_url)

        # A decision dated before the stage opened: refused, nothing recorded, still waiting.
        resume_flow_run(run.id, run_input={"outcome": "approve", "decided_on": "2017-01-02",
                                           "by": "sitzungsdienst", "reference": "BSV 3/2017"})
        wait_for(lambda: _state(run.id).is_paused() and _round_count(run.id) >= 2,
                 "the refused run to wait again", timeout=90)  # fmt: skip
        assert _decisions(db_url) == 0

        # A reference in the wrong format never reaches the run: the form's schema refuses it.
        with pytest.raises(RuntimeError, match="reference"):
            resume_flow_run(run.id, run_input={
                "outcome": "approve", "decided_on": "2017-04-27", "by": "sitzungsdienst",
                "reference": "Drucksache drei"})  # fmt: skip
        assert _state(run.id).is_paused()

        _finish_stage_tasks(db_url)
        resume_flow_run(run.id, run_input={"outcome": "approve", "decided_on": "2017-04-27",
                                           "by": "sitzungsdienst", "reference": "BSV 3/2017"})
        wait_for(lambda: _state(run.id).is_completed(), "the gate run to complete", timeout=90)
        assert _stage(db_url, "ratsbeschluss").state == StageState.closed
        assert _stage(db_url, "auftaktworkshop").state == StageState.open
        wait_for(lambda: _has_artifact("waiblingen-2017-auftaktworkshop-aufgaben", since),
                 "the next stage's run", timeout=90)
        assert _decisions(db_url) == 1

        # The next stage's run waits at its gate; a Python decision closes it: the waiting
        # run is cancelled, not left suspended for ever.
        waiting = wait_for(lambda: _waiting_gate_run("auftaktworkshop"),
                           "the next gate run to wait", timeout=90)  # fmt: skip
        decide("waiblingen-2017", "auftaktworkshop", outcome="approve", on="2017-07-21",
               by="ortolf", force_reason="Test", db_url=db_url)  # fmt: skip
        assert _state(waiting).is_cancelled()
        assert _decisions(db_url) == 2
    finally:
        _stop(server)


def _waiting_gate_run(stage_key: str):
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )  # fmt: skip
    from prefect.client.schemas.objects import StateType

    wanted = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[f"gate:{stage_key}"]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
    )
    with _client() as client:
        runs = client.read_flow_runs(flow_run_filter=wanted, limit=5)
    return runs[0].id if runs else None


def _round_count(run_id) -> int:
    """How many suspend rounds the gate run has opened (keys of its inputs)."""
    from prefect.input.actions import filter_flow_run_input

    inputs = filter_flow_run_input("", limit=100, flow_run_id=run_id)
    return 1 + sum(1 for i in inputs if i.key.startswith("outcome-"))


def _finish_stage_tasks(db_url: str) -> None:
    from lifecycle.models import Task, TaskState

    with Session(engine_for(db_url)) as s:
        stage = _stage(db_url, "ratsbeschluss")
        for task in s.exec(select(Task).where(Task.stage_id == stage.id,
                                              Task.state == TaskState.open)):  # fmt: skip
            services.complete_task(s, task.id, on=dt.date(2017, 4, 27), by="ortolf")


def test_the_reminder_runs_table_shows_the_longest_due_and_counts_them_all(session, waiblingen):
    """The daily run's artifact: the ``limit`` longest-due open tasks (by due date, then id),
    and the number of all of them, not only of those shown."""
    from lifecycle.flows.reminders import due_rows
    from lifecycle.models import Task, TaskState

    day = dt.date(2017, 11, 8)
    due = session.exec(select(Task).where(Task.state == TaskState.open, Task.due <= day)
                       .order_by(Task.due, Task.id)).all()  # fmt: skip
    assert len(due) > 3
    rows, total = due_rows(session, day, limit=3)
    assert total == len(due)
    assert [(r["Aufgabe"], r["Fällig"]) for r in rows] == [
        (t.title, f"{t.due:%d.%m.%Y}") for t in due[:3]]
    assert due_rows(session, day, limit=1000)[0][-1]["Status"] in {"heute fällig", "überfällig"}
