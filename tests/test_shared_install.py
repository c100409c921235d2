"""The shared installation, run for real, as README "Betrieb" describes it.

``prefect server start`` on PostgreSQL, a process work pool with the deployments
(``lifecycle deploy --pool``), two ``prefect worker`` processes, the project database on
PostgreSQL, decisions by the CLI. Started once for the module; every test has its own
project database and deploys to it (the run's environment names it), so tests run in any
order. Server and worker logs are written to the module's temp folder; a failing wait prints
their tails.

Faults: a worker killed with SIGKILL in the middle of a stage run, the Prefect server
stopped while a decision is made, PostgreSQL stopped under a reminder scan (on a throwaway
cluster of the test's own, never the shared one).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    ROOT,
    WAIBLINGEN,
    create_database,
    database_url,
    drop_database,
    needs_binary,
    new_pg_database,
    require_real,
)
from smtp_server import Inbox, SmtpServer
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.shared

BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy"
POOL = "lifecycle"
PROCESS = "waiblingen-2017"
WORKERS = ("worker-a", "worker-b")
CRASH_AFTER = 35  # seconds without heartbeat (runs send one every 30 s, the least Prefect allows)


def unit_command(unit: str, key: str = "ExecStart", **replace: str) -> list[str]:
    """The command a unit in deploy/ runs (README "Betrieb"), with this venv for
    /opt/lifecycle/venv; ``replace`` maps unit words (``%i``, ``4200``) to the test's."""
    for line in (DEPLOY / unit).read_text().splitlines():
        if line.startswith(f"{key}="):
            argv = shlex.split(line.split("=", 1)[1].lstrip("-"))
            argv = [replace.get(arg, arg) for arg in argv]
            return [str(BIN / Path(argv[0]).name), *argv[1:]]
    raise AssertionError(f"deploy/{unit} has no {key}=")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(kein Log)"


class Installation:
    """A Prefect server on PostgreSQL and two process workers, each in its own process group."""

    def __init__(self, root: Path, prefect_db_url: str, smtp_env: dict[str, str]):
        self.root = root
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.prefect_db_url = prefect_db_url
        self.smtp_env = smtp_env
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def env(self, **extra: str) -> dict[str, str]:
        """What README "Betrieb" puts in /etc/lifecycle/lifecycle.env, for this test."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PREFECT_", "LIFECYCLE_SMTP", "LIFECYCLE_DATABASE"))}
        env.update({
            "PREFECT_HOME": str(self.root / "prefect-home"),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "1",
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "LIFECYCLE_OUTPUT": str(self.root / "dokumente"),
            "PYTHONUNBUFFERED": "1",
            **self.smtp_env,
        })  # fmt: skip
        env.update(extra)
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = self.logs.setdefault(name, self.root / f"{name}.log")
        with open(log, "a") as out:
            out.write(f"\n--- start {dt.datetime.now():%H:%M:%S} ---\n")
            out.flush()
            self.procs[name] = subprocess.Popen(
                argv, env=env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill takes its runs too
            )  # fmt: skip

    def start_server(self) -> None:
        argv = unit_command("prefect-server.service", **{"0.0.0.0": "127.0.0.1",
                                                          "4200": str(self.port)})
        self._spawn("server", argv,
                    self.env(PREFECT_SERVER_DATABASE_CONNECTION_URL=self.prefect_db_url))
        self.wait(self.api_healthy, "the Prefect server to answer", timeout=90)

    def api_healthy(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def start_worker(self, name: str) -> None:
        argv = unit_command("prefect-worker@.service", **{"%H-%i": name})
        assert argv[argv.index("--pool") + 1] == POOL
        self._spawn(name, argv, self.env())
        self.wait(lambda: f"Worker '{name}' started" in self.logs[name].read_text(),
                  f"{name} to start", timeout=60)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def ensure_workers(self) -> None:
        """What systemd's Restart=always does for the worker units."""
        for name in WORKERS:
            if not self.alive(name):
                self.start_worker(name)

    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = 10) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        if sig == signal.SIGKILL:
            # The process worker starts each run in a session of its own: a kill of the
            # worker's group would leave them. A dying machine (or `systemctl kill`, which
            # signals the whole cgroup) takes them too.
            for pid in _descendants(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # children left in the group
            os.killpg(proc.pid, signal.SIGKILL)

    def close(self) -> None:
        for name in [*WORKERS, "server"]:
            self.stop(name, grace=5)

    def tails(self) -> str:
        return "\n".join(f"=== {name} ({path}) ===\n{_tail(path)}"
                         for name, path in self.logs.items())  # fmt: skip

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 60,
             every: float = 0.5) -> Any:  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}\n{self.tails()}")
            time.sleep(every)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def installation(tmp_path_factory, smtp) -> Iterator[Installation]:
    admin_url, name = new_pg_database("prefect_shared")
    asyncpg_url = database_url(admin_url.replace("+psycopg", "+asyncpg"), name)
    inst = Installation(tmp_path_factory.mktemp("shared"), asyncpg_url, smtp.env())
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        inst.start_server()
        # The pool exists before the workers start (README "Betrieb", step 3).
        deployed = subprocess.run([str(BIN / "lifecycle"), "deploy", "--pool", POOL,
                                   "--crash-after", str(CRASH_AFTER)],
                                  env=inst.env(), capture_output=True, text=True, timeout=120)
        assert deployed.returncode == 0, deployed.stderr + inst.tails()
        for worker in WORKERS:
            inst.start_worker(worker)
        with temporary_settings({PREFECT_API_URL: inst.api_url}):
            yield inst
    finally:
        inst.close()
        drop_database(admin_url, name)


class Case:
    """One test's project database, deployed to the pool; the CLI and queries on it."""

    def __init__(self, inst: Installation, db_url: str):
        self.inst, self.db_url = inst, db_url
        self.engine = create_engine(db_url)

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN / "lifecycle"), *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=180,
                              env=self.inst.env(LIFECYCLE_DATABASE_URL=self.db_url))  # fmt: skip
        if ok:
            assert done.returncode == 0, f"lifecycle {args}: {done.stderr}\n{self.inst.tails()}"
        return done

    def deploy(self) -> None:
        """`lifecycle deploy --pool` for this test's database (in this process: the module's
        setup has run the command itself)."""
        from lifecycle.flows.deploy import deploy_to_pool

        deploy_to_pool(POOL, self.db_url, crash_after=dt.timedelta(seconds=CRASH_AFTER))

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def run_requests(self) -> list[Any]:
        return self.rows("SELECT r.key, r.state, r.run_id, s.key AS stage FROM runrequest r "
                         "JOIN stage s ON s.id = r.stage_id ORDER BY r.id")  # fmt: skip

    def run_of(self, stage: str) -> str | None:
        for request in self.run_requests():
            if request.stage == stage and request.state == "started":
                return request.run_id
        return None

    def stage_runs_recorded(self) -> list[str]:
        """Keys of the stage runs that got to their end (event log, action stage_run)."""
        found = self.rows("SELECT after FROM event WHERE action = 'stage_run' ORDER BY id")
        return [after["key"] for (after,) in found]

    def assert_nothing_twice(self) -> None:
        """Every key of the project database at most once (decisions, documents, reminders,
        run requests, recorded stage runs)."""
        twice = {
            "decisions": "SELECT stage_id, decided_on, outcome FROM gatedecision "
                         "GROUP BY 1, 2, 3 HAVING count(*) > 1",
            "documents": "SELECT kind, stage_key, inputs_sha256 FROM documentversion "
                         "GROUP BY 1, 2, 3 HAVING count(*) > 1",
            "reminders": "SELECT person_id, subject, deadline, \"offset\" FROM reminder "
                         "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1",
            "run requests": "SELECT stage_id, decision_id FROM runrequest "
                            "GROUP BY 1, 2 HAVING count(*) > 1",
        }  # fmt: skip
        for what, sql in twice.items():
            assert self.rows(sql) == [], f"{what} twice"
        keys = self.stage_runs_recorded()
        assert len(keys) == len(set(keys)), f"a stage run recorded twice: {keys}"

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def case(installation, pg_url) -> Iterator[Case]:
    """A fresh project database on PostgreSQL, the deployments pointed at it, workers up."""
    installation.ensure_workers()
    c = Case(installation, pg_url)
    c.deploy()
    yield c
    c.close()


# --- Prefect queries ---------------------------------------------------------------------------


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _run(run_id: Any):
    with _client() as client:
        return client.read_flow_run(run_id)


def _state_types(run_id: Any) -> list[str]:
    with _client() as client:
        return [s.type.value for s in client.read_flow_run_states(run_id)]


def _workers_of(run_id: Any) -> list[str]:
    """Names of the workers that picked the run up (their submitted-flow-run events)."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    wanted = EventFilter(
        event=EventNameFilter(name=["prefect.worker.submitted-flow-run"]),
        related=EventRelatedFilter(id=[f"prefect.flow-run.{run_id}"]),
    )
    with _client() as client:
        page = client.read_events(filter=wanted, limit=20)
    return sorted(e.resource.get("prefect.resource.name") or "" for e in page.events)


def _completed(inst: Installation, run_id: Any, what: str, timeout: float = 90):
    def done():
        run = _run(run_id)
        if run.state.is_final() and not run.state.is_completed() and not run.state.is_crashed():
            pytest.fail(f"{what} ended {run.state.type.value}: {run.state.message}\n"
                        f"{inst.tails()}")  # fmt: skip
        return run if run.state.is_completed() else None

    return inst.wait(done, what, timeout=timeout)


def _deployment_runs(deployment: str, since: dt.datetime) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterStartTime,
    )  # fmt: skip

    with _client() as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
            limit=50,
        )  # fmt: skip
    return runs


def _waiting_gate(stage: str, db_url: str):
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )  # fmt: skip
    from prefect.client.schemas.objects import StateType

    from lifecycle.flows.common import instance_key

    wanted = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[f"gate:{stage}", f"db:{instance_key(db_url)}"]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
    )
    with _client() as client:
        runs = client.read_flow_runs(flow_run_filter=wanted, limit=5)
    return runs[0] if runs else None


def _decide_first_gate(c: Case) -> subprocess.CompletedProcess:
    return c.cli("decide", PROCESS, "ratsbeschluss", "approve", "--on", "2017-04-27",
                 "--by", "sitzungsdienst", "--reference", "BSV 3/2017", "--force", "Test")


def _finish_tasks(c: Case, stage: str, on: dt.date) -> None:
    from sqlmodel import Session

    from lifecycle import services
    from lifecycle.db import engine_for

    open_tasks = c.rows("SELECT t.id FROM task t JOIN stage s ON s.id = t.stage_id "
                        "WHERE s.key = :stage AND t.state = 'open'", stage=stage)  # fmt: skip
    with Session(engine_for(c.db_url)) as session:
        for (task_id,) in open_tasks:
            services.complete_task(session, task_id, on=on, by="ortolf")


# --- the shared installation, as it is meant to run ------------------------------------------


def test_decision_by_cli_runs_next_stage_on_a_worker_and_gate_form_resumes(case):
    from prefect.flow_runs import resume_flow_run

    from lifecycle.flows.common import RECONCILE_DEPLOYMENT

    inst, since = case.inst, dt.datetime.now(dt.UTC)
    case.cli("start", str(WAIBLINGEN))
    decided = _decide_first_gate(case)
    assert "Prefect-Lauf der Phase „Auftaktworkshop“ gestartet" in decided.stdout

    # The next stage's run: started by the CLI, executed by one of the two workers.
    run_id = case.run_of("auftaktworkshop")
    assert run_id, case.run_requests()
    run = _completed(inst, run_id, "the auftaktworkshop stage run")
    assert run.name == "Waiblingen · waiblingen-2017 · Phase auftaktworkshop"
    ran_on = inst.wait(lambda: _workers_of(run_id), "the worker's submitted event")
    assert len(ran_on) == 1 and ran_on[0] in WORKERS, ran_on
    assert any(":auftaktworkshop:" in k for k in case.stage_runs_recorded())

    # The reconcile automation fired on the server's lifecycle.gate.decided event.
    def by_automation():
        return [r for r in _deployment_runs(RECONCILE_DEPLOYMENT.split("/")[1], since)
                if r.created_by is not None and r.created_by.type == "AUTOMATION"
                and r.state.is_completed()]  # fmt: skip

    reconciled = inst.wait(by_automation, "the reconcile run of the automation", timeout=90)
    assert reconciled[0].parameters.get("db_url") == case.db_url

    # The gate form: the stage run started the gate run, which waits suspended (no process).
    gate = inst.wait(lambda: _waiting_gate("auftaktworkshop", case.db_url),
                     "the auftaktworkshop gate run to suspend", timeout=90)  # fmt: skip
    _finish_tasks(case, "auftaktworkshop", dt.date(2017, 7, 20))
    resume_flow_run(gate.id, run_input={"outcome": "approve", "decided_on": "2017-07-21",
                                        "by": "ortolf", "reference": ""})  # fmt: skip
    _completed(inst, gate.id, "the resumed gate run")
    # Picked up twice: at the start, and again after the resume (events are stored async).
    inst.wait(lambda: len(_workers_of(gate.id)) == 2, "the gate run's second submission")
    assert case.scalar("SELECT count(*) FROM gatedecision") == 2
    next_run = inst.wait(lambda: case.run_of("arbeitsgruppen"), "the arbeitsgruppen request")
    _completed(inst, next_run, "the arbeitsgruppen stage run")
    assert all(r.state == "started" for r in case.run_requests()), case.run_requests()
    case.assert_nothing_twice()


def test_reminder_run_from_its_deployment_delivers_by_smtp(case, smtp):
    from prefect.deployments import run_deployment

    from lifecycle.flows.common import REMINDERS_DEPLOYMENT

    case.cli("start", str(WAIBLINGEN))
    before = len(smtp.inbox)
    run = run_deployment(REMINDERS_DEPLOYMENT, parameters={"today": "2017-03-08"},
                         timeout=0, as_subflow=False)  # fmt: skip
    _completed(case.inst, run.id, "the reminder run")
    ran_on = case.inst.wait(lambda: _workers_of(run.id), "the worker's submitted event")
    assert ran_on[0] in WORKERS
    sent = case.scalar("SELECT count(*) FROM reminder WHERE state = 'sent'")
    assert sent > 0
    assert len(smtp.inbox) - before == sent
    subjects = [m["Subject"] for m in smtp.inbox.messages[before:]]
    assert all(s for s in subjects)
    case.assert_nothing_twice()


def test_doctor_on_the_shared_installation_finds_everything(case):
    """README "Betrieb", step 8: one line per part, all there, exit 0."""
    needs_binary("soffice")
    case.cli("start", str(WAIBLINGEN))  # migrates the project database
    done = case.cli("doctor")
    lines = done.stdout.splitlines()
    assert [line.split()[1].rstrip(":") for line in lines] == [
        "Datenbank", "Prefect-API", "Deployments", "Worker", "Mailserver", "Vorlagen",
        "LibreOffice"], done.stdout  # fmt: skip
    assert all(line.startswith("ok") for line in lines), done.stdout
    assert f"Work-Pool {POOL}" in lines[2] and "Code importierbar" in lines[2]
    assert "2 online" in lines[3] and all(w in lines[3] for w in WORKERS), lines[3]


def _sqlalchemy_21() -> bool:
    import sqlalchemy

    return tuple(int(p) for p in sqlalchemy.__version__.split(".")[:2]) >= (2, 1)


@pytest.mark.xfail(_sqlalchemy_21(), strict=True, reason=(
    "Prefect 3.8.8's scheduler inserts runs in bulk with the FlowRun.state hybrid, which "
    "SQLAlchemy 2.1 refuses ('Can't evaluate bulk DML statement'): no scheduled run is ever "
    "created (cron reminders, 15-minute reconcile); SQLAlchemy 2.0.x schedules them"))
def test_schedules_create_runs_on_the_server(case):
    """The daily reminder cron and the reconcile interval put runs on the server's calendar."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    def scheduled() -> set[str]:
        with _client() as client:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=["daily", "reconcile"])), limit=50)
            names = {str(d.id): d.name for d in client.read_deployments()}
        return {names.get(str(r.deployment_id), "") for r in runs if r.auto_scheduled}

    case.inst.wait(lambda: scheduled() >= {"daily", "reconcile"},
                   "the scheduler to create the scheduled runs", timeout=12)


# --- faults ------------------------------------------------------------------------------------


def test_worker_killed_mid_stage_run_is_crashed_then_finished_once(case):
    """SIGKILL to a worker's process group (the worker and its run, as when the machine or
    `systemctl kill` takes it) while the run waits on the database: the heartbeat automation
    marks the run Crashed, the retry automation schedules it again, the other worker runs it."""
    inst = case.inst
    case.cli("start", str(WAIBLINGEN))
    for name in WORKERS:
        inst.stop(name)
    _decide_first_gate(case)  # the runs are scheduled; no worker yet
    runs = {stage: case.run_of(stage) for stage in ("ratsbeschluss", "auftaktworkshop")}
    assert all(runs.values()), case.run_requests()

    lock = case.engine.connect()
    try:
        # Stage runs write the event log last (record_stage_run): hold them there.
        lock.execute(text("LOCK TABLE event IN EXCLUSIVE MODE"))
        inst.start_worker("worker-a")
        inst.wait(lambda: case.scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE NOT l.granted AND c.relname = 'event'") >= 2,
            "both stage runs to wait on the event log", timeout=90)  # fmt: skip
        assert all(_run(r).state.is_running() for r in runs.values())
        below = _descendants(inst.procs["worker-a"].pid)
        assert below, "the runs are processes of the worker"
        inst.stop("worker-a", signal.SIGKILL)
        inst.wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in below),
                  "the worker's run processes to die")  # fmt: skip
    finally:
        lock.rollback()
        lock.close()
    assert case.stage_runs_recorded() == []  # killed in the middle: nothing recorded yet

    inst.start_worker("worker-b")
    for stage, run_id in runs.items():
        _completed(inst, run_id, f"the {stage} run after the crash",
                   timeout=CRASH_AFTER + 120)  # fmt: skip
        history = _state_types(run_id)
        assert "CRASHED" in history, history
        inst.wait(lambda r=run_id: _workers_of(r) == ["worker-a", "worker-b"],
                  "submissions by worker-a (killed) and worker-b")  # fmt: skip
    assert len(case.stage_runs_recorded()) == 2
    assert case.scalar("SELECT count(*) FROM gatedecision") == 1
    assert case.scalar("SELECT count(*) FROM runrequest") == 2
    case.assert_nothing_twice()
    inst.ensure_workers()


def test_decision_while_prefect_server_is_down_runs_once_it_is_back(case):
    """The project database is the truth: the CLI records the decision without Prefect; the
    request waits in the run outbox, and the reconcile run the server's unit starts after it
    is up again (``lifecycle reconcile --wait``, README "Betrieb") starts it. A short outage of
    a few seconds; workers that give up after a longer one are restarted by systemd."""
    inst = case.inst
    case.cli("start", str(WAIBLINGEN))
    inst.stop("server")
    assert not inst.api_healthy()
    try:
        decided = _decide_first_gate(case)
        assert "Phasenlauf nicht gestartet" in decided.stderr, decided.stderr
        assert case.scalar("SELECT count(*) FROM gatedecision") == 1
        assert {r.state for r in case.run_requests()} == {"pending"}
        doctor = case.cli("doctor", ok=False)
        assert doctor.returncode != 0 and "Prefect-API" in doctor.stdout
    finally:
        inst.start_server()
    after_start = unit_command("prefect-server.service", "ExecStartPost")
    assert after_start[1:3] == ["reconcile", "--wait"]
    case.cli(*after_start[1:])  # what systemd runs once the server is up
    inst.ensure_workers()
    run_id = inst.wait(lambda: case.run_of("auftaktworkshop"),
                       "the reconcile run to drain the outbox", timeout=120)  # fmt: skip
    _completed(inst, run_id, "the auftaktworkshop run after the outage")
    assert {r.state for r in case.run_requests()} == {"started"}
    assert case.scalar("SELECT count(*) FROM gatedecision") == 1
    case.assert_nothing_twice()


# --- PostgreSQL stopped under a reminder scan (a throwaway cluster of this test's own) -------


class SlowInbox(Inbox):
    """Accepts each message after a pause: the scan is still running when PostgreSQL stops."""

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        await asyncio.sleep(0.7)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def own_postgres() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """initdb + pg_ctl in tmp: (url, stop, start). Never the shared cluster on 5432."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")) if Path(
        "/usr/lib/postgresql").is_dir() else []  # fmt: skip
    pg_ctl = str(versions[-1]) if versions else shutil.which("pg_ctl")
    if not pg_ctl:
        require_real("pg_ctl/initdb (PostgreSQL server binaries) not found")
    bindir = Path(pg_ctl).parent
    # PostgreSQL refuses to run as root: then its tools run as "postgres" (or "nobody"), in a
    # folder of their own that this user can reach (pytest's temp folders are 0700).
    user = None
    if os.geteuid() == 0:
        import pwd

        names = [u.pw_name for u in pwd.getpwall()]
        user = "postgres" if "postgres" in names else "nobody"
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="lifecycle-pg-"))
    home.chmod(0o777)
    data, port = home / "pgdata", _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}

    def as_user(argv: list[str]) -> list[str]:
        return ["runuser", "-u", user, "--", *argv] if user else argv

    init = subprocess.run(as_user([str(bindir / "initdb"), "-D", str(data), "-U", "lifecycle",
                                   "--auth=trust", "-E", "UTF8"]),
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    if init.returncode != 0:
        require_real(f"initdb failed: {init.stderr.strip()[-300:]}")
    log = home / "pg.log"

    def start() -> None:
        subprocess.run(as_user([pg_ctl, "-D", str(data), "-l", str(log), "-w", "-o",
                                f"-p {port} -k {home} -c listen_addresses=127.0.0.1",
                                "start"]), check=True, capture_output=True, env=env,
                       timeout=60)  # fmt: skip

    def stop() -> None:
        subprocess.run(as_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, env=env, timeout=60)  # fmt: skip

    start()
    admin = f"postgresql+psycopg://lifecycle@127.0.0.1:{port}/postgres"
    create_database(admin, "lifecycle")
    try:
        yield f"postgresql+psycopg://lifecycle@127.0.0.1:{port}/lifecycle", stop, start
    finally:
        stop()
        shutil.rmtree(home, ignore_errors=True)


def test_postgres_stopped_under_reminder_scan_leaves_no_half_state(own_postgres):
    url, stop, start = own_postgres
    server = SmtpServer()
    server.inbox = SlowInbox()
    server.controller.handler = server.inbox
    env = {**os.environ, "LIFECYCLE_DATABASE_URL": url, **server.env()}
    env.pop("PREFECT_API_URL", None)

    def lifecycle(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "lifecycle"), *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=180)  # fmt: skip

    assert lifecycle("start", str(WAIBLINGEN)).returncode == 0
    with server:
        scan = subprocess.Popen([str(BIN / "lifecycle"), "remind", "--today", "2017-03-08"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while len(server.inbox) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.inbox) >= 1, scan.stderr.read() if scan.poll() is not None else ""
        stop()  # under the running scan
        out, err = scan.communicate(timeout=120)
        delivered_first = len(server.inbox)

        assert scan.returncode not in (0, 70), (scan.returncode, out, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Datenbank" in lines[0], err
        assert "Traceback" not in err

        start()
        engine = create_engine(url)
        with engine.connect() as conn:
            states = dict(conn.execute(text(
                "SELECT state, count(*) FROM reminder GROUP BY state")).all())  # fmt: skip
        # Each row is planned (untouched), sent (and delivered) or the one in flight.
        assert states.get("sending", 0) <= 1, states
        assert states.get("sent", 0) <= delivered_first <= states.get("sent", 0) + 1, states

        again = lifecycle("remind", "--today", "2017-03-08")
        assert again.returncode in (0, 3), again.stderr
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM reminder")).scalar()
            sent = conn.execute(text("SELECT count(*) FROM reminder WHERE state = 'sent'"))
            sent = sent.scalar()
        engine.dispose()
        stuck = total - sent  # the in-flight row waits for its stale claim (15 min)
        assert stuck <= 1
        assert len(server.inbox) == sent + (1 if delivered_first > states.get("sent", 0) else 0)
