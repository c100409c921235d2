"""Benchmark: N gate decisions through the shared installation with two workers.

Starts what README "Betrieb" describes (``prefect server start`` on PostgreSQL, the
deployments in a process work pool, two ``prefect worker`` processes, the project database on
PostgreSQL; the commands of the units in deploy/), starts N Fortschreibungen (Waiblingen under
N names), then decides the first gate of each, one after the other, the way ``lifecycle decide``
does (``services.decide_gate``, then the run outbox is drained into ``run_deployment``).

Prints: stage runs completed per minute, median and p95 time from a decision's commit to its
stage run's Completed state (server time), the count of lost runs (a request never started or
a run that never completed) and of duplicated ones (two flow runs for one idempotency key, a
stage run recorded twice): both must be 0. The floor, measured in the same run: the same N
decisions without Prefect (engine and database only), per decision.

    LIFECYCLE_TEST_POSTGRES_URL=postgresql+psycopg://lifecycle:lifecycle@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/bench_shared.py --n 20

Each decision makes four flow runs (the start's stage run, the next stage's run, the gate run
that stage run starts, the reconcile run of the ``lifecycle.gate.decided`` automation), each a
fresh Python process on a worker: on a 2-core machine N=1000 takes hours, so N is a parameter.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

DECIDE = {"outcome": "approve", "on": dt.date(2017, 4, 27), "by": "sitzungsdienst",
          "reference": "BSV 3/2017", "force_reason": "Benchmark"}  # fmt: skip


def scenarios(n: int) -> list:
    from lifecycle.scenario import Scenario, load_scenario

    base = load_scenario(ROOT / "examples" / "waiblingen-2017.yaml")
    out = []
    for i in range(n):
        data = copy.deepcopy(base.data)
        data["key"] = f"bench-{i:04d}-2017"
        data["kommune"]["key"], data["kommune"]["name"] = f"bench-{i:04d}", f"Bench {i}"
        out.append(Scenario(base.source, data, base.plan))
    return out


def start_all(db_url: str, n: int) -> list[str]:
    from lifecycle import services
    from lifecycle.db import session_scope

    with session_scope(db_url) as s:
        return [services.start(s, sc, actor="bench").key for sc in scenarios(n)]


def floor(admin_url: str, n: int) -> float:
    """Seconds per decision without Prefect: decide_gate on PostgreSQL, nothing drained."""
    from test_shared_install import _create_database, _drop_database

    from lifecycle import services
    from lifecycle.db import engine_for, session_scope

    name = f"bench_floor_{uuid.uuid4().hex[:8]}"
    _create_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        keys = start_all(url, n)
        started = time.perf_counter()
        for key in keys:
            with session_scope(url) as s:
                services.decide_gate(s, key, "ratsbeschluss", **DECIDE)
        return (time.perf_counter() - started) / n
    finally:
        engine_for(url).dispose()
        _drop_database(admin_url, name)


def decide_all(db_url: str, keys: list[str]) -> dict[str, dt.datetime]:
    """Decide each first gate as `lifecycle decide` does; returns commit times (UTC)."""
    from lifecycle import services
    from lifecycle.db import session_scope
    from lifecycle.flows.gates import after_decision

    decided = {}
    for key in keys:
        with session_scope(db_url) as s:
            services.decide_gate(s, key, "ratsbeschluss", **DECIDE)
        decided[key] = dt.datetime.now(dt.UTC)
        after_decision(key, db_url=db_url)
    return decided


def outcome(db_url: str, decided: dict[str, dt.datetime], timeout: float) -> dict:
    from prefect.client.orchestration import get_client
    from sqlalchemy import text

    from lifecycle.db import engine_for

    engine = engine_for(db_url)
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            requests = conn.execute(text(
                "SELECT f.key, s.key, r.state, r.run_id FROM runrequest r "
                "JOIN fortschreibung f ON f.id = r.fortschreibung_id "
                "JOIN stage s ON s.id = r.stage_id")).all()  # fmt: skip
        run_ids = [r[3] for r in requests if r[2] == "started"]
        with get_client(sync_client=True) as client:
            runs = {str(r.id): r for r in _read_runs(client, run_ids)}
        done = [r for r in runs.values() if r.state.is_completed()]
        if len(done) == len(requests) or time.monotonic() > deadline:
            break
        time.sleep(2)
    latencies = []
    for process, stage, _state, run_id in requests:
        run = runs.get(str(run_id))
        if stage == "auftaktworkshop" and run is not None and run.state.is_completed():
            latencies.append((run.end_time - decided[process]).total_seconds())
    with engine.connect() as conn:
        recorded = conn.execute(text(
            "SELECT count(*), count(DISTINCT CAST(after AS TEXT)) FROM event "
            "WHERE action = 'stage_run'")).one()  # fmt: skip
    stage_runs = _all_stage_runs()
    keys = [r.idempotency_key for r in stage_runs]
    ends = [r.end_time for r in done if r.end_time]
    return {
        "requests": len(requests),
        "completed": len(done),
        "lost": len(requests) - len(done),
        "duplicated": (len(keys) - len(set(keys))) + (recorded[0] - recorded[1])
                      + max(0, len(stage_runs) - len(requests)),
        "latencies": sorted(latencies),
        "span": (max(ends) - min(decided.values())).total_seconds() if ends else float("nan"),
    }  # fmt: skip


def _all_stage_runs() -> list:
    """Every flow run of the stage deployment on the (fresh) server, page by page."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    wanted = DeploymentFilter(name=DeploymentFilterName(any_=["stage"]))
    found: list = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_flow_runs(deployment_filter=wanted, limit=200, offset=len(found))
            found += page
            if len(page) < 200:
                return found


def _read_runs(client, run_ids: list[str]) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    found = []
    for i in range(0, len(run_ids), 100):
        chunk = [uuid.UUID(r) for r in run_ids[i:i + 100]]
        found += client.read_flow_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=chunk)), limit=len(chunk))  # fmt: skip
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="Fortschreibungen (decisions)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for runs")
    args = parser.parse_args(argv)
    admin_url = os.environ.get("LIFECYCLE_TEST_POSTGRES_URL")
    if not admin_url:
        print("LIFECYCLE_TEST_POSTGRES_URL is not set (a PostgreSQL server is needed)")
        return 2

    from prefect.settings import PREFECT_API_URL, temporary_settings
    from smtp_server import SmtpServer
    from test_shared_install import (
        POOL,
        WORKERS,
        Installation,
        _create_database,
        _drop_database,
    )  # fmt: skip

    from lifecycle.db import engine_for
    from lifecycle.flows.deploy import deploy_to_pool

    per_decision_floor = floor(admin_url, args.n)
    prefect_db, project_db = (f"bench_{w}_{uuid.uuid4().hex[:8]}" for w in ("prefect", "lc"))
    for name in (prefect_db, project_db):
        _create_database(admin_url, name)
    base = admin_url.rsplit("/", 1)[0]
    db_url = f"{base}/{project_db}"
    root = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    inst = Installation(root, f"{base}/{prefect_db}".replace("+psycopg", "+asyncpg"), {})
    try:
        with SmtpServer() as smtp:
            inst.smtp_env = smtp.env()
            inst.start_server()
            with temporary_settings({PREFECT_API_URL: inst.api_url}):
                deploy_to_pool(POOL, db_url)
                for worker in WORKERS:
                    inst.start_worker(worker)
                keys = start_all(db_url, args.n)
                started = time.perf_counter()
                decided = decide_all(db_url, keys)
                deciding = time.perf_counter() - started
                result = outcome(db_url, decided, args.timeout)
    finally:
        inst.close()
        engine_for(db_url).dispose()
        for name in (prefect_db, project_db):
            _drop_database(admin_url, name)

    lat = result["latencies"]
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
    per_minute = result["completed"] / result["span"] * 60 if result["span"] else 0.0
    print(f"N={args.n} decisions, 2 workers, Prefect server and project database on PostgreSQL")
    print(f"  stage runs completed: {result['completed']}/{result['requests']} "
          f"({per_minute:.1f} per minute, {result['span']:.0f} s from first decision)")
    print(f"  decision -> stage run completed: median {statistics.median(lat) if lat else 0:.1f} s,"
          f" p95 {p95:.1f} s")
    print(f"  deciding (decide_gate + run_deployment): {deciding / args.n * 1000:.0f} ms each; "
          f"floor without Prefect {per_decision_floor * 1000:.0f} ms "
          f"(ratio {deciding / args.n / per_decision_floor:.1f}x)")
    print(f"  lost: {result['lost']}, duplicated: {result['duplicated']}")
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
