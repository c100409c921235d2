"""The read commands' fast path: same output as through typer, and a lean import set.

`lifecycle status`, `tasks` and `sitzungen` on a plain command line skip typer and the
command tree (lifecycle.cli_fast). Every command line here runs both ways — the fast path
through ``cli.run`` and the typer path through ``cli._run_typer`` — and must print the same
and exit the same; what the fast path does not recognise must go to typer.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest
from conftest import WAIBLINGEN, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from lifecycle import cli, cli_fast, cli_read, services
from lifecycle.db import engine_for
from lifecycle.scenario import load_scenario


@pytest.fixture
def started(db_url, monkeypatch):
    with Session(engine_for(db_url)) as s:
        services.start(s, load_scenario(WAIBLINGEN), actor="test")
    monkeypatch.setenv("LIFECYCLE_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "120")
    return db_url


def both_ways(capsys, args: list[str]) -> tuple[tuple, tuple]:
    fast = (cli.run(args), *capsys.readouterr())
    slow = (cli._run_typer(args), *capsys.readouterr())
    return fast, slow


PLAIN = [
    ["status"],
    ["status", "waiblingen-2017", "--today", "2017-11-08"],
    ["status", "--today=2017-03-01", "waiblingen-2017"],
    ["status", "nicht-da"],
    ["status", "--today", "2017-02-30"],
    ["status", "--today", "1800-01-01"],
    ["tasks", "--today", "2017-11-08"],
    ["tasks", "--overdue", "--process", "waiblingen-2017", "--today", "2017-11-08", "--limit", "3"],
    ["tasks", "--all", "--person", "ortolf", "--today", "2017-06-01"],
    ["tasks", "--person", "niemand"],
    ["tasks", "--limit=+5", "--today", "2017-11-08"],
    ["sitzungen", "--today", "2017-11-01", "--days", "60"],
    ["sitzungen", "--today", "2017-11-01", "--kommune", "waiblingen"],
    ["sitzungen", "--days", "0"],
    ["sitzungen", "--days", "99999", "--today", "nein"],
    ["sitzungen", "--kommune", "gibt-es-nicht", "--today", "2017-11-01"],
]


@pytest.mark.parametrize("args", PLAIN, ids=" ".join)
def test_fast_path_prints_what_typer_prints(started, capsys, args):
    assert cli_fast.match(args) is not None, "a plain read command line takes the fast path"
    fast, slow = both_ways(capsys, args)
    assert fast == slow
    assert fast[1] or fast[2], "something was printed"


UNUSUAL = [
    ["status", "--help"],
    ["status", "a", "b"],
    ["status", "--today"],
    ["status", "--today", "2017-01-01", "--today", "2017-01-02"],
    ["status", "--", "waiblingen-2017"],
    ["tasks", "--limit", "abc"],
    ["tasks", "--limit", "-1"],
    ["tasks", "--overdue=yes"],
    ["tasks", "--no-overdue"],
    ["tasks", "extra"],
    ["sitzungen", "--days", "1.5"],
    ["sitzungen", "--tage", "5"],
    ["start"],
    [],
]


@pytest.mark.parametrize("args", UNUSUAL, ids=lambda a: " ".join(a) or "(nothing)")
def test_anything_else_goes_through_typer(args):
    assert cli_fast.match(args) is None


TOKENS = st.sampled_from(
    ["status", "tasks", "sitzungen", "waiblingen-2017", "--today", "2017-11-08", "--limit",
     "7", "--overdue", "--all", "--days", "30", "--kommune", "waiblingen", "--person",
     "ortolf", "--process", "x", "-", "--", "", "--today=2017-12-24", "abc", "--limit=0"]
)  # fmt: skip


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(tail=st.lists(TOKENS, max_size=5), head=st.sampled_from(["status", "tasks", "sitzungen"]))
def test_generated_command_lines_agree(started, capsys, head, tail):
    """Whatever the fast path accepts, typer accepts and prints the same way."""
    args = [head, *tail]
    if cli_fast.match(args) is None:
        return
    fast, slow = both_ways(capsys, args)
    assert fast == slow


def test_read_commands_import_nothing_heavy(started):
    """status, tasks and sitzungen run without typer, Prefect, jsonschema, docxtpl, LibreOffice,
    and declare only the core tables (lifecycle.models._core), none of the other parts."""
    code = (
        "import sys\nimport lifecycle.models\nfrom lifecycle.cli import run\n"
        "for args in (['status', 'waiblingen-2017', '--today', '2017-11-08'],\n"
        "             ['tasks', '--overdue', '--today', '2017-11-08'],\n"
        "             ['sitzungen', '--today', '2017-11-01']):\n"
        "    assert run(args) == 0, args\n"
        "heavy = {'prefect', 'jsonschema', 'docxtpl', 'docx', 'typer', 'click', 'alembic',\n"
        "         'yaml', 'fastapi', 'lifecycle.pdf', 'lifecycle.engine', 'lifecycle.services',\n"
        "         *(f'lifecycle.models.{part}' for part in lifecycle.models._LAZY_PARTS)}\n"
        "loaded = {m for m in sys.modules if m in heavy or m.split('.')[0] in heavy}\n"
        "print('LOADED', sorted(loaded))\n"
    )
    proc = run_python(code, started)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LOADED []"


@pytest.mark.parametrize("limit", ["99999999999999999999", "-1", "1000001"])
def test_a_limit_out_of_range_is_one_german_line(started, capsys, limit):
    """Through typer (too long or negative for the fast path) or not: exit 2, one line."""
    code = cli.run(["tasks", "--limit", limit])
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert err.strip() == f"lifecycle: --limit: {int(limit)} liegt nicht zwischen 0 und 1000000"


def test_a_read_command_runs_without_the_cyclic_collector(started, capsys, monkeypatch):
    """The fast path pauses the collector for its command (the ORM's and pydantic's imports
    would otherwise be traced several times over) and resumes it after, also on a refusal."""
    collections: list[int] = []
    during: list[tuple[bool, int]] = []  # per command: collector on?, collections while it ran

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    def watched(*args, **kwargs) -> None:
        before = len(collections)
        try:
            cli_read.show_status(*args, **kwargs)
        finally:
            during.append((gc.isenabled(), len(collections) - before))

    monkeypatch.setitem(cli_fast._TARGETS, "status", watched)
    gc.callbacks.append(seen)
    try:
        assert cli.run(["status", "waiblingen-2017", "--today", "2017-11-08"]) == 0
        assert cli.run(["status", "nicht-da"]) == 2
        assert gc.isenabled()
        before = len(collections)
        cli_read.show_status("waiblingen-2017", today="2017-11-08")  # the same, collector on
        unpaused = len(collections) - before
    finally:
        gc.callbacks.remove(seen)
    capsys.readouterr()
    assert during == [(False, 0), (False, 0)]
    assert unpaused > 0, "without the pause the same command collects"


def test_the_process_entry_leaves_nothing_for_the_shutdown_collector(started):
    """``main`` freezes what is alive before the interpreter exits, so the shutdown does not
    trace the ORM's object graphs; exit code and output stay those of ``run``."""
    code = (
        "import atexit, gc\nfrom lifecycle.cli import main\n"
        "atexit.register(lambda: print('FROZEN', gc.get_freeze_count() > 10_000))\n"
        "main(['status', 'waiblingen-2017', '--today', '2017-11-08'])\n"
    )
    proc = run_python(code, started)
    assert proc.returncode == 0, proc.stderr
    assert "Offenes Gate: Ratsbeschluss" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "FROZEN True"
    refused = subprocess.run(
        [sys.executable, "-m", "lifecycle", "status", "nicht-da"],
        capture_output=True, text=True, env=os.environ | {"LIFECYCLE_DATABASE_URL": started},
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
