"""Nothing lost, nothing twice: the demo killed with SIGKILL and run again ends where an
uninterrupted demo ends (stages, tasks, decisions, document versions, reminders, event log)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect_harness import ROOT, server_url, subprocess_env

pytestmark = pytest.mark.flows

# Lines of the demo's output after which it is killed: a decision just committed (next stage
# run not started), a stage run just finished (reminders next), the last gates.
# The Umsetzung too: after a Maßnahme's change, and after the second change of one Maßnahme
# (its re-run must not set the first change's values again).
# Each marker's run starts from the last one's kill, so the steps just after that kill may
# already be done and are then not printed again: two markers keep a stage run (seconds)
# between them, never only steps (milliseconds) — `make kill-hunt` covers every line.
KILL_AFTER = ["Gate der Phase „Ratsbeschluss“", "Phase „Arbeitsgruppen“",
              "Gate der Phase „Auswertung“",
              "Maßnahme „offener-treff“",
              "Maßnahme „runder-tisch-vielfalt“: 60 %"]  # fmt: skip

SNAPSHOT = {
    "stage": "key, state, opened_on, closed_on, planned_start",
    "task": "key, state, done_on, due, assignee_id, done_by_id",
    "gatedecision": "stage_id, outcome, decided_on, decided_by, reference, remarks",
    "documentversion": "stage_key, kind, version, inputs_sha256, template_sha256",
    "reminder": "person_id, subject, deadline, \"offset\", kind, send_on, state",
    "event": "fortschreibung_id, actor, action, entity, entity_id, before, after",
    "massnahme": "key, status, progress, target_date, public_text, responsible",
    "meilenstein": "massnahme_id, \"on\", title",
    "messung": "indikator_id, \"on\", value",
}


def _demo(base: Path, url: str, kill_after: str | None = None, seconds: float | None = None):
    """Run the demo in ``base``; SIGKILL it after a line containing ``kill_after``."""
    env = subprocess_env(url, LIFECYCLE_DEMO_DIR=str(base))
    env.pop("LIFECYCLE_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-u", "-m", "lifecycle.demo"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    output = []
    started = time.monotonic()
    for line in proc.stdout:
        output.append(line)
        due = seconds is not None and time.monotonic() - started > seconds
        if (kill_after and kill_after in line) or due:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return -signal.SIGKILL, "".join(output)
    return proc.wait(timeout=120), "".join(output)


def _neutral(value, base: Path):
    """Cells without what differs between two demo folders: the path and the db fingerprint."""
    if not isinstance(value, str):
        return value
    return re.sub(r"stage:[0-9a-f]{10}:", "stage:*:", value.replace(str(base), "<demo>"))


def _snapshot(base: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(base / "lifecycle.db")
    try:
        state = {
            table: sorted((tuple(_neutral(v, base) for v in row)
                           for row in con.execute(f"SELECT {cols} FROM {table}")), key=repr)
            for table, cols in SNAPSHOT.items()
        }  # fmt: skip
    finally:
        con.close()
    state["files"] = sorted(p.name for p in (base / "dokumente").glob("*") if p.is_file())
    return state


def test_killed_demo_reruns_to_the_same_state(request, tmp_path):
    url = server_url(request)
    plain, killed = tmp_path / "plain", tmp_path / "killed"

    code, out = _demo(plain, url)
    assert code == 0, out
    assert "Stand: abgeschlossen" in out
    # closed at the end: SQLite folded its log into the file, which alone holds everything
    assert not (plain / "lifecycle.db-wal").exists()

    for marker in KILL_AFTER:
        code, out = _demo(killed, url, kill_after=marker)
        assert code == -signal.SIGKILL, f"demo ended before {marker!r}:\n{out}"
    code, out = _demo(killed, url, seconds=1.0)  # somewhere in the middle of a step
    code, out = _demo(killed, url)
    assert code == 0, out

    expected, got = _snapshot(plain), _snapshot(killed)
    # five gates of the Fortschreibung, three of the Umsetzung 2018
    assert got["gatedecision"] and len(got["gatedecision"]) == 8
    assert len(got["massnahme"]) == 13 and len(got["messung"]) == 2
    for table in expected:
        assert got[table] == expected[table], f"{table} differs after kill and re-run"
