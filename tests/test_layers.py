"""The rooms stay apart: the layer contracts of pyproject.toml, and the same rules for flows/.

import-linter checks the package under src/lifecycle. lifecycle.flows is mapped in from the
top-level flows/ folder, which import-linter's file scan does not see, so the rules for it are
checked here on its syntax tree.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "src" / "lifecycle"
# What the flows (an adapter) may not import: they change state through lifecycle.services.
WRITERS = {"lifecycle.engine", "lifecycle.recompute", "lifecycle.instantiate", "lifecycle.outbox",
           "lifecycle.reminders"}
ADAPTERS = {"lifecycle.flows", "lifecycle.cli", "lifecycle.cli_core", "lifecycle.cli_docs",
            "lifecycle.cli_remind", "lifecycle.cli_flows", "lifecycle.demo", "prefect", "typer"}


def imported(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports, relative imports resolved against ``package``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def test_import_linter_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a dev dependency (pip install -e '.[dev]')"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_flows_change_state_only_through_the_services():
    offenders = {
        f"{path.name}: {name}"
        for path in sorted((ROOT / "flows").glob("*.py"))
        for name in imported(path, "lifecycle.flows")
        if any(name == w or name.startswith(w + ".") for w in WRITERS)
    }
    assert offenders == set()


def test_the_core_never_imports_the_flows_or_the_cli():
    core = [p for p in CORE.glob("*.py") if not p.name.startswith(("cli", "demo", "__main__"))]
    offenders = {
        f"{path.name}: {name}"
        for path in core
        for name in imported(path, "lifecycle")
        if any(name == a or name.startswith(a + ".") for a in ADAPTERS)
    }
    assert offenders == set()


def test_the_scan_sees_a_forbidden_import(tmp_path):
    """The AST scan is not vacuous: a planted import is found."""
    planted = tmp_path / "bad.py"
    planted.write_text("from lifecycle import engine\nfrom ..outbox import queue\n")
    names = imported(planted, "lifecycle.flows")
    assert {"lifecycle.engine", "lifecycle.outbox"} <= names
