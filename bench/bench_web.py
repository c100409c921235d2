"""Benchmark of the web app (issue "The web app"). Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_web.py [--processes 10000] [--requests 60]

1. the Übersicht with N processes (cloned from Waiblingen, one Kommune each): p50 and p95
   server time of GET / for an administrator (sees all) against the floor: the same
   `status.overview` query alone; goal p95 < 200 ms;
2. the Prozess page of a process with about 200 tasks (Waiblingen with extra Arbeitsgruppen);
3. a login: the argon2 cost, against the floor of one `argon2.verify` alone.

Server time is measured in-process through FastAPI's TestClient (no network in the figure).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from lifecycle import passwords, services
from lifecycle.db import engine_for
from lifecycle.scenario import load_scenario
from lifecycle.status import overview
from lifecycle.web import create_app

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-passwort"


def _bench_core():
    spec = importlib.util.spec_from_file_location("bench_core", ROOT / "bench" / "bench_core.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t0))
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def logged_in(app) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/anmelden").text)
    assert token
    client.post("/anmelden", data={"csrf_token": token.group(1), "name": "admin",
                                   "passwort": PASSWORD})  # fmt: skip
    return client


def big_scenario(tmp: Path, groups: int) -> Path:
    """Waiblingen with more Arbeitsgruppen: every per-group task multiplies."""
    text = (ROOT / "examples" / "waiblingen-2017.yaml").read_text()
    extra = "".join(
        f"  - {{key: ag{i}, title: Arbeitsgruppe {i}, handlungsfeld: bildung}}\n"
        for i in range(groups)
    )
    text = text.replace("key: waiblingen-2017", "key: waiblingen-gross", 1)
    path = tmp / "gross.yaml"
    path.write_text(text.replace("arbeitsgruppen:\n", "arbeitsgruppen:\n" + extra, 1))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-bench-web-"))
    db_path = tmp / "web.db"
    url = f"sqlite:///{db_path}"
    with Session(engine_for(url)) as s:
        services.start(s, load_scenario(ROOT / "examples/waiblingen-2017.yaml"), actor="bench")
    t0 = time.perf_counter()
    _bench_core().clone(db_path, args.processes - 1)
    print(f"{args.processes} processes cloned in {time.perf_counter() - t0:.1f} s")
    with Session(engine_for(url)) as s:
        services.add_user(s, "admin", password=PASSWORD, admin=True, actor="bench")
    app = create_app(url, secret="bench-" + "z" * 40)
    client = logged_in(app)

    today = dt.date(2017, 11, 8)
    with Session(engine_for(url)) as s:
        floor = timed(lambda: overview(s, today, 50, kommune_ids=None), args.requests)
    page = timed(lambda: client.get("/"), args.requests)
    print(f"Übersicht, {args.processes} processes: p50 {p(page, 50):6.1f} ms  "
          f"p95 {p(page, 95):6.1f} ms  (goal p95 < 200 ms)")
    print(f"  floor: status.overview alone      p50 {p(floor, 50):6.1f} ms  "
          f"ratio p50 {p(page, 50) / p(floor, 50):4.2f}")

    with Session(engine_for(url)) as s:
        try:
            process = services.start(s, load_scenario(big_scenario(tmp, 50)), actor="bench")
            key = process.key
        except Exception as exc:  # noqa: BLE001 - a bench prints, it does not stop
            key = None
            print(f"Prozess page: the big scenario did not start ({exc})")
    if key:
        from sqlmodel import func, select

        from lifecycle.models import Task

        with Session(engine_for(url)) as s:
            n = s.exec(select(func.count()).select_from(Task).where(
                Task.fortschreibung_id == process.id)).one()  # fmt: skip
        response = client.get(f"/prozess/{key}")
        if response.status_code == 200:
            times = timed(lambda: client.get(f"/prozess/{key}"), max(10, args.requests // 3))
            print(f"Prozess page, {n} tasks: p50 {p(times, 50):6.1f} ms  "
                  f"p95 {p(times, 95):6.1f} ms")
        else:
            print(f"Prozess page: HTTP {response.status_code}")

    stored = passwords.hash_password(PASSWORD)
    verify = timed(lambda: passwords.verify(stored, PASSWORD), 10)

    def login() -> None:
        logged_in(app)

    logins = timed(login, 10)
    print(f"login: p50 {p(logins, 50):6.1f} ms; floor argon2 verify alone p50 "
          f"{p(verify, 50):6.1f} ms; ratio {p(logins, 50) / p(verify, 50):4.2f}")


if __name__ == "__main__":
    main()
