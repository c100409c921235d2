"""A peer, side by side (issue 15): the engine against SpiffWorkflow on the same process.

    .venv/bin/python bench/bench_peer_spiff.py [--n 200] [--batches 4] [--reload]

The process: the five stages of the Integrationskonzept plan with the tasks the Waiblingen
scenario gives them (7, 7, 18, 3, 5 user tasks, in parallel within a stage), and a gate at the
end of each stage. Both sides run it for N instances, one instance after the other (create,
complete every task of a stage, pass its gate, next stage), and persist after every step:

- the engine through ``lifecycle.services`` on an SQLite file (``start``, ``complete_task``,
  ``decide_gate``; each step its own session and transaction, due dates, event log, run
  requests included);
- SpiffWorkflow 3.x with a generated BPMN (parallel gateway, user tasks, join, a user task for
  the gate), its state serialized to JSON (``BpmnWorkflowSerializer``) and upserted into an
  SQLite file after every step, committed (WAL, synchronous=NORMAL, as the engine's database).
  ``--reload`` also measures a stateless server: Spiff loads and deserializes the state
  before each step.

SpiffWorkflow is not a dependency of this project: it runs in its own virtualenv
(``make bench-peer-venv`` creates ``.venv-peer``; ``--peer-python`` names another), as a
subprocess of this script. The batches alternate between the two sides (noise on a shared
machine hits both). Prints the median ms per step kind for both and one ``ROW`` line each.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
KINDS = ("create", "complete", "gate")
ON = dt.date(2018, 6, 29)  # after every Sitzung of the scenario: each step is allowed
DECIDE = {"outcome": "approve", "on": ON, "by": "sitzungsdienst", "reference": "BSV 3/2017"}


# --- SpiffWorkflow (runs in the peer virtualenv: only the standard library up here) ---------


def bpmn(stages: list[tuple[str, int]]) -> str:
    """A BPMN process: per stage an embedded subprocess (a parallel split into its user tasks
    and their join), then a user task for the stage's gate.

    The subprocess per stage is how BPMN models a stage: one flat process of five parallel
    blocks makes Spiff predict every combination of branches (7·7·18·3·5 paths) on create.
    """
    nodes = ['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>']
    flows: list[tuple[str, str]] = []
    previous = "start"
    for key, count in stages:
        inner = [f'<bpmn:startEvent id="{key}_start"/>', f'<bpmn:endEvent id="{key}_end"/>',
                 f'<bpmn:parallelGateway id="{key}_split"/>',
                 f'<bpmn:parallelGateway id="{key}_join"/>']  # fmt: skip
        links = [(f"{key}_start", f"{key}_split"), (f"{key}_join", f"{key}_end")]
        for i in range(count):
            task = f"{key}_task_{i}"
            inner.append(f'<bpmn:userTask id="{task}" name="{key} {i}"/>')
            links += [(f"{key}_split", task), (task, f"{key}_join")]
        nodes.append(f'<bpmn:subProcess id="{key}" name="{key}">' + "".join(inner)
                     + _flows(links, key) + "</bpmn:subProcess>")  # fmt: skip
        gate = f"{key}_gate"
        nodes.append(f'<bpmn:userTask id="{gate}" name="Gate {key}"/>')
        flows += [(previous, key), (key, gate)]
        previous = gate
    flows.append((previous, "end"))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'id="defs" targetNamespace="http://example.org/lifecycle">'
        '<bpmn:process id="fortschreibung" isExecutable="true">'
        + "".join(nodes) + _flows(flows, "main")
        + "</bpmn:process></bpmn:definitions>"
    )


def _flows(pairs: list[tuple[str, str]], prefix: str) -> str:
    return "".join(f'<bpmn:sequenceFlow id="{prefix}_f{i}" sourceRef="{a}" targetRef="{b}"/>'
                   for i, (a, b) in enumerate(pairs))  # fmt: skip


def spiff_main(argv: list[str]) -> int:
    """The Spiff side: N instances, times per step kind as JSON on stdout."""
    import sqlite3

    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.util.task import TaskState

    stages = [(k, int(c)) for k, c in json.loads(argv[0])]
    n, db_path, first, reload = int(argv[1]), argv[2], int(argv[3]), argv[4] == "1"
    parser = BpmnParser()
    parser.add_bpmn_str(bpmn(stages).encode())
    spec = parser.get_spec("fortschreibung")
    subprocesses = parser.get_subprocess_specs("fortschreibung")  # the stages
    serializer = BpmnWorkflowSerializer()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS instance (id INTEGER PRIMARY KEY, state TEXT)")
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    sizes = []

    def save(i: int, wf: Any) -> None:
        state = serializer.serialize_json(wf)
        sizes.append(len(state))
        db.execute("BEGIN")
        db.execute("INSERT INTO instance (id, state) VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                   "SET state = excluded.state", (i, state))  # fmt: skip
        db.execute("COMMIT")

    def load(i: int) -> Any:
        (state,) = db.execute("SELECT state FROM instance WHERE id = ?", (i,)).fetchone()
        return serializer.deserialize_json(state)

    for i in range(first, first + n):
        t0 = time.perf_counter()
        wf = BpmnWorkflow(spec, subprocesses)
        wf.do_engine_steps()
        save(i, wf)
        times["create"].append(time.perf_counter() - t0)
        for key, _count in stages:
            gate = f"{key}_gate"
            while True:
                t0 = time.perf_counter()
                if reload:
                    wf = load(i)
                ready = wf.get_next_task(state=TaskState.READY, manual=True)
                kind = "gate" if ready.task_spec.name == gate else "complete"
                ready.run()
                wf.do_engine_steps()
                save(i, wf)
                times[kind].append(time.perf_counter() - t0)
                if kind == "gate":
                    break
        assert wf.is_completed(), "every instance runs to its end"
    print(json.dumps({"times": times, "state_bytes": statistics.median(sizes)}))
    return 0


# --- the engine --------------------------------------------------------------------------------


class Engine:
    def __init__(self, folder: Path):
        from lifecycle.db import engine_for
        from lifecycle.scenario import load_scenario

        self.engine = engine_for(f"sqlite:///{folder / 'engine.db'}")
        self.base = load_scenario(ROOT / "examples" / "waiblingen-2017.yaml")
        self.times: dict[str, list[float]] = {k: [] for k in KINDS}

    def scenario(self, i: int) -> Any:
        """Waiblingen under another name and Kommune (every row of a start is new)."""
        from lifecycle.scenario import Scenario

        data = copy.deepcopy(self.base.data)
        data["key"] = f"peer-{i:05d}-2017"
        data["kommune"]["key"], data["kommune"]["name"] = f"peer-{i:05d}", f"Peer {i}"
        return Scenario(self.base.source, data, self.base.plan)

    def stages(self) -> list[tuple[str, int]]:
        """(stage key, task count) of a started process: what the BPMN side gets."""
        from sqlmodel import Session, col, func, select

        from lifecycle.models import Stage, Task

        first = select(func.min(Stage.fortschreibung_id)).scalar_subquery()
        with Session(self.engine) as s:
            rows = s.exec(
                select(Stage.key, func.count(col(Task.id)))
                .join(Task, col(Task.stage_id) == Stage.id)
                .where(Stage.fortschreibung_id == first)
                .group_by(col(Stage.key), col(Stage.position))
                .order_by(col(Stage.position))
            ).all()
        return [(k, int(c)) for k, c in rows]

    def run(self, first: int, n: int) -> None:
        from sqlmodel import Session, col, select

        from lifecycle import services
        from lifecycle.models import Stage, Task, TaskState

        for i in range(first, first + n):
            sc = self.scenario(i)
            t0 = time.perf_counter()
            with Session(self.engine, expire_on_commit=False) as s:
                process = services.start(s, sc, actor="bench")
            self.times["create"].append(time.perf_counter() - t0)
            with Session(self.engine) as s:
                stages = s.exec(select(Stage.id, Stage.key)
                                .where(Stage.fortschreibung_id == process.id)
                                .order_by(col(Stage.position))).all()  # fmt: skip
            for stage_id, stage_key in stages:
                with Session(self.engine) as s:
                    ids = s.exec(select(Task.id).where(Task.stage_id == stage_id,
                                                       Task.state == TaskState.open)
                                 .order_by(col(Task.position))).all()  # fmt: skip
                for task_id in ids:
                    t0 = time.perf_counter()
                    with Session(self.engine, expire_on_commit=False) as s:
                        services.complete_task(s, str(task_id), on=ON)
                    self.times["complete"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                with Session(self.engine, expire_on_commit=False) as s:
                    services.decide_gate(s, sc.key, stage_key, **DECIDE)  # type: ignore[arg-type]
                self.times["gate"].append(time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="instances on each side")
    parser.add_argument("--batches", type=int, default=4, help="alternating batches")
    parser.add_argument("--reload", action="store_true",
                        help="Spiff deserializes its state before each step (stateless server)")
    parser.add_argument("--peer-python", default=str(PEER_PYTHON),
                        help="a Python with SpiffWorkflow 3.x (make bench-peer-venv)")  # fmt: skip
    args = parser.parse_args(argv)
    if not Path(args.peer_python).exists():
        print(f"no peer virtualenv at {args.peer_python}: run `make bench-peer-venv` first")
        return 2
    folder = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    engine = Engine(folder)
    engine.run(0, 1)  # warm-up: mapper configuration, statement caches; and the stage sizes
    stages = engine.stages()
    engine.times = {k: [] for k in KINDS}
    spiff: dict[str, list[float]] = {k: [] for k in KINDS}
    state_bytes = 0.0
    per_batch = max(1, args.n // args.batches)
    done = 0
    while done < args.n:
        size = min(per_batch, args.n - done)
        out = subprocess.run(
            [args.peer_python, __file__, "--spiff", json.dumps(stages), str(size),
             str(folder / "spiff.db"), str(done), "1" if args.reload else "0"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        result = json.loads(out.stdout)
        for k in KINDS:
            spiff[k] += result["times"][k]
        state_bytes = result["state_bytes"]
        engine.run(1 + done, size)
        done += size
    engine.engine.dispose()
    version = subprocess.run([args.peer_python, "-c", "import importlib.metadata as m; "
                              "print(m.version('SpiffWorkflow'))"],
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    print(f"N={args.n} instances per side, stages {', '.join(f'{k} {c}' for k, c in stages)} "
          f"(+ a gate each); SpiffWorkflow {version}"
          f"{' reloading its state before each step' if args.reload else ''}, "
          f"its state {state_bytes / 1024:.0f} KB; SQLite files, medians")  # fmt: skip
    total_e = sum(sum(v) for v in engine.times.values())
    total_s = sum(sum(v) for v in spiff.values())
    for kind in KINDS:
        e = statistics.median(engine.times[kind]) * 1000
        s = statistics.median(spiff[kind]) * 1000
        ratio = e / s
        print(f"ROW peer {kind}: engine {e:.2f} ms | Spiff {s:.2f} ms | ratio {ratio:.2f}x | "
              f"goal < 1x | {'OK' if ratio < 1 else 'MISS'}")  # fmt: skip
    print(f"whole workload: engine {total_e:.1f} s, Spiff {total_s:.1f} s "
          f"(ratio {total_e / total_s:.2f}x)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--spiff":
        sys.exit(spiff_main(sys.argv[2:]))
    sys.exit(main())
