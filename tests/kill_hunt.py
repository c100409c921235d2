"""Kill the demo after every line it prints and check the re-run ends where a plain demo ends.

    .venv/bin/python tests/kill_hunt.py [--first 1] [--last 37] [--delays 0 0.3]

test_demo_kill.py kills the demo at a few chosen lines, in CI; this walks all of them (about
30 s per kill point on a 2-core machine, so not part of ``make test``). For each line N of a
plain demo's output and each delay: run the demo in a fresh folder, SIGKILL it that long after
its N-th line, run it again to the end, and compare the folder with the plain demo's by the
test's own snapshot (stages, tasks, decisions, document versions, reminders, events, the
Umsetzung, the files). Prints one line per kill point; exits 1 if any differs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prefect_harness import ROOT, subprocess_env  # noqa: E402
from test_demo_kill import _snapshot  # noqa: E402


def demo(base: Path, url: str, kill_line: int | None = None, delay: float = 0.0) -> list[str]:
    """The demo's non-empty output lines; SIGKILLed ``delay`` s after line ``kill_line``."""
    env = subprocess_env(url, LIFECYCLE_DEMO_DIR=str(base))
    env.pop("LIFECYCLE_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-u", "-m", "lifecycle.demo"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        if line.strip():
            lines.append(line.strip())
        if kill_line is not None and len(lines) == kill_line:
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=120)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=1, help="first output line to kill after")
    parser.add_argument("--last", type=int, default=0, help="last one (default: every line)")
    parser.add_argument("--delays", type=float, nargs="+", default=[0.0, 0.3])
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    work = Path(tempfile.mkdtemp(prefix="kill-hunt-"))
    differing = 0
    try:
        with prefect_test_harness(server_startup_timeout=60):
            url = str(PREFECT_API_URL.value())
            lines = demo(work / "plain", url)
            expected = _snapshot(work / "plain")
            last = min(args.last or len(lines), len(lines))
            for n in range(args.first, last + 1):
                for delay in args.delays:
                    base = work / f"killed-{n}-{delay}"
                    demo(base, url, kill_line=n, delay=delay)
                    demo(base, url)
                    got = _snapshot(base)
                    tables = [t for t in expected if got[t] != expected[t]]
                    differing += bool(tables)
                    verdict = f"DIFFERS in {', '.join(tables)}" if tables else "same"
                    print(f"{n:3} +{delay:.1f}s {verdict:10} after: {lines[n - 1][:70]}",
                          flush=True)  # fmt: skip
                    if not tables:
                        shutil.rmtree(base)
    finally:
        if not differing:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{differing} kill point(s) ended elsewhere" + (f"; folders in {work}" if differing
                                                          else ""))  # fmt: skip
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
