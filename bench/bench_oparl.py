"""Benchmark of OParl 1.1 (issue 12). Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_oparl.py [--processes 10000] [--meetings 1000]

1. `lifecycle oparl export` of N processes, one per municipality (the Waiblingen scenario
   cloned by SQL, as bench_core does): seconds and objects/s, split into building the objects
   from the database, validating them against the schema, and writing the files; the floor is
   `json.dumps` + write of the same payloads alone (what any exporter must pay)
   (the same compact `json.dumps`, one folder per 1 000 files).
2. `lifecycle oparl sync` of M Meetings from this project's own API served on loopback
   (uvicorn in a thread) into an empty database: seconds; the floor is reading the same list
   pages over HTTP with urllib and json.loads, nothing written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_core import clone  # noqa: E402
from sqlmodel import Session  # noqa: E402

from lifecycle import services  # noqa: E402
from lifecycle.db import engine_for  # noqa: E402
from lifecycle.oparl import service, validate  # noqa: E402
from lifecycle.oparl.objects import Urls, build_all  # noqa: E402
from lifecycle.oparl.sync import sync  # noqa: E402
from lifecycle.scenario import load_scenario  # noqa: E402

BASE = "https://ris.example.org/oparl/v1.1"


def export(tmp: Path, processes: int) -> None:
    db_path = tmp / "export.db"
    url = f"sqlite:///{db_path}"
    with Session(engine_for(url)) as s:
        services.start(s, load_scenario(ROOT / "examples/waiblingen-2017.yaml"), actor="bench")
    if processes > 1:
        clone(db_path, processes - 1)
    with Session(engine_for(url)) as s:
        t0 = time.perf_counter()
        result = service.export(s, tmp / "oparl", base_url=BASE)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        built = list(build_all(s, Urls(BASE)))
        build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in built:
        validate.check(b.body)
        for items in b.lists.values():
            for obj in items:
                validate.check(obj)
    checking = time.perf_counter() - t0
    files = sorted((tmp / "oparl").rglob("*.json"))
    payloads = [json.loads(p.read_text(encoding="utf-8")) for p in files]
    floor_dir = tmp / "floor"
    t0 = time.perf_counter()
    for i, payload in enumerate(payloads):
        target = floor_dir / f"{i // 1000}" / f"{i}.json"
        if i % 1000 == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(service.dumps(payload), encoding="utf-8")
    floor = time.perf_counter() - t0
    print(f"export of {processes} processes ({result.bodies} bodies): {result.objects} objects, "
          f"{result.pages} list pages, {len(files)} files")  # fmt: skip
    print(f"  total                       {total:7.2f} s   {result.objects / total:9.0f} objects/s")
    print(f"  of it: build from database  {build:7.2f} s")
    print(f"  of it: schema validation    {checking:7.2f} s")
    print(f"  floor: json.dumps + write   {floor:7.2f} s   ratio {total / floor:5.1f}")


def _serve(app):
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, server.servers[0].sockets[0].getsockname()[1]


def sync_meetings(tmp: Path, meetings: int) -> None:
    from lifecycle.web import create_app

    served = tmp / "ris.db"
    url = f"sqlite:///{served}"
    with Session(engine_for(url)) as s:
        services.start(s, load_scenario(ROOT / "examples/waiblingen-2017.yaml"), actor="bench")
    con = sqlite3.connect(served)
    kommune, gremium = con.execute("SELECT kommune_id, id FROM gremium WHERE key='gr'").fetchone()
    extra = max(0, meetings - 4)
    start = dt.datetime(2019, 1, 7, 18)
    con.executemany(
        "INSERT INTO sitzung (kommune_id, gremium_id, key, start, place, oeffentlich) "
        "VALUES (?, ?, ?, ?, ?, 1)",
        [(kommune, gremium, f"gr-extra-{i:05d}", (start + dt.timedelta(days=7 * i)).isoformat(
            sep=" "), "Rathaus") for i in range(extra)],
    )  # fmt: skip
    con.commit()
    con.close()
    server, thread, port = _serve(create_app(url, secret="bench-" + "x" * 32))
    system = f"http://127.0.0.1:{port}/oparl/v1.1/system"
    try:
        t0 = time.perf_counter()
        page = f"http://127.0.0.1:{port}/oparl/v1.1/body/waiblingen/meetings"
        pages = 0
        while page:
            with urlopen(page) as response:
                data = json.loads(response.read())
            page = data["links"].get("next")
            pages += 1
        floor = time.perf_counter() - t0
        with Session(engine_for(f"sqlite:///{tmp / 'local.db'}")) as s:
            t0 = time.perf_counter()
            report = sync(s, system, "waiblingen", bundesland="BW")
            total = time.perf_counter() - t0
    finally:
        server.should_exit = True
        thread.join(10)
    print(f"sync of {report.meetings} meetings ({report.pages} pages) from the local API: "
          f"{len(report.sitzungen_created)} Sitzungen created")  # fmt: skip
    rate = report.meetings / total
    print(f"  total                       {total:7.2f} s   {rate:9.0f} meetings/s")
    print(f"  floor: GET the {pages} meeting pages + json.loads  {floor:6.2f} s   "
          f"ratio {total / floor:5.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=10_000)
    parser.add_argument("--meetings", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-oparl-") as tmp:
        export(Path(tmp), args.processes)
        sync_meetings(Path(tmp), args.meetings)


if __name__ == "__main__":
    main()
