"""The README's CLI tour is a script: its lines run in order on a fresh database."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from conftest import ROOT
from sqlmodel import select

from lifecycle.db import session_scope
from lifecycle.models import GateDecision

TOUR = re.compile(r"<!-- tour:.*?-->\n```sh\n(.*?)```", re.S)


def tour_lines() -> list[list[str]]:
    block = TOUR.search((ROOT / "README.md").read_text(encoding="utf-8")).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_tour_runs(tmp_path, db_url):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = os.environ | {"LIFECYCLE_DATABASE_URL": db_url, "COLUMNS": "160",
                        "LIFECYCLE_OUTPUT": str(tmp_path / "out")}  # fmt: skip
    outputs = []
    for argv in tour_lines():
        assert argv[0] == "lifecycle"
        proc = subprocess.run([sys.executable, "-m", "lifecycle", *argv[1:]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, f"{shlex.join(argv)}\n{proc.stdout}\n{proc.stderr}"
        outputs.append(proc.stdout)
    text = "\n".join(outputs)
    assert "zurückgegeben" in text and "freigegeben 27.04.2017 (BSV 3/2017)" in text
    assert "Mittwoch, 13. Dezember 2017" in text
    assert list((tmp_path / "vorlagen").glob("beschlussvorlage_v1.docx"))
    assert (tmp_path / "waiblingen.ics").read_text().startswith("BEGIN:VCALENDAR")


def test_the_python_example_runs(db_url, monkeypatch):
    block = re.search(
        r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S
    )
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    with session_scope() as s:
        assert s.exec(select(GateDecision)).one().reference == "BSV 3/2017"
