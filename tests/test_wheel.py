"""The built wheel is self-contained: installed into a fresh venv outside the checkout, it works.

The wheel is built from a copy of the working tree (pip, PEP 517, build isolation) and
installed with ``--no-deps`` into a venv in a temporary folder. Its third-party dependencies
(prefect & co., minutes to install from the index) come from the checkout's venv through a
``.pth`` line naming that venv's site-packages. A ``.pth`` line only appends a folder to
sys.path; the ``.pth`` files *inside* it (the editable finder of the checkout's lifecycle) are
processed only for site directories, so the checkout's lifecycle stays invisible: every test
here asserts that ``lifecycle`` resolves to the new venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import docx
import pytest
from docx2python import docx2python

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "README.md", "src", "flows", "templates", "examples"]
SCENARIO = ROOT / "examples" / "waiblingen-2017.yaml"


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the working tree (no build/ or egg-info in the checkout)."""
    work = tmp_path_factory.mktemp("wheel-build")
    tree = work / "tree"
    tree.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=skip)
        else:
            shutil.copy2(source, tree / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"),
          str(tree)], env=os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"})  # fmt: skip
    (built,) = (work / "dist").glob("lifecycle-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv outside the checkout with the wheel installed (no deps, see module doc)."""
    home = tmp_path_factory.mktemp("wheel-venv")
    assert not home.resolve().is_relative_to(ROOT)
    base = home / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(base)])
    python = base / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          "--no-index", str(wheel)],
         env=os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"})  # fmt: skip
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.stdout.strip()) / "_checkout_dependencies.pth").write_text(
        "".join(f"{d}\n" for d in sorted(deps)), encoding="utf-8"
    )
    return base


@pytest.fixture
def place(venv, tmp_path) -> tuple[Path, dict[str, str]]:
    """A working folder outside the checkout and an environment that knows nothing of it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LIFECYCLE_", "PREFECT_", "PYTHON", "VIRTUAL_ENV"))}  # fmt: skip
    env.update({
        "LIFECYCLE_DATABASE_URL": f"sqlite:///{tmp_path / 'lifecycle.db'}",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "COLUMNS": "160",
    })  # fmt: skip
    return tmp_path, env


def test_the_wheel_carries_templates_plans_schemas_migrations_flows_and_the_demo(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"lifecycle/templates/docx/{p.name}"
                for p in (ROOT / "templates/docx").glob("*.docx")}  # fmt: skip
    expected |= {f"lifecycle/flows/{p.name}" for p in (ROOT / "flows").glob("*.py")}
    web = ROOT / "src/lifecycle/web"
    expected |= {f"lifecycle/web/{p.relative_to(web)}"
                 for p in [*web.glob("templates/*.html"), *web.glob("static/*")]}  # fmt: skip
    expected |= {f"lifecycle/migrations/versions/{p.name}"
                 for p in (ROOT / "src/lifecycle/migrations/versions").glob("*.py")}  # fmt: skip
    expected |= {
        "lifecycle/templates/__init__.py",
        "lifecycle/plans/integrationskonzept.yaml",
        "lifecycle/schemas/plan.json",
        "lifecycle/schemas/scenario.json",
        "lifecycle/migrations/env.py",
        "lifecycle/migrations/script.py.mako",
        "lifecycle/examples/waiblingen-2017.yaml",
    }
    assert len(expected) > 20
    assert expected <= names, sorted(expected - names)
    assert not [n for n in names if n.startswith(("flows/", "templates/", "examples/"))]


def test_the_installed_package_is_not_the_checkout(venv, place):
    cwd, env = place
    probe = (
        "import lifecycle, lifecycle.flows.demo, lifecycle.flows.stages, lifecycle.templates, sys\n"
        "print(lifecycle.__file__); print(lifecycle.flows.stages.__file__)\n"
        "print(lifecycle.templates.SHIPPED)\n"
        "print(lifecycle.flows.demo.SCENARIO)  # lifecycle demo's scenario, shipped\n"
        # the checkout's venv (sys.argv[2]) lends the dependencies; nothing else of the checkout
        "root, lent = sys.argv[1:3]\n"
        "print([p for p in sys.path if p.startswith(root) and not p.startswith(lent)])\n"
        "from lifecycle.flows.serve import deployments\n"
        "from prefect.flows import load_flow_from_entrypoint\n"
        "for d in deployments():\n"
        "    print(d.entrypoint, load_flow_from_entrypoint(d.entrypoint).name)\n"
    )
    out = _run([str(venv / "bin" / "python"), "-c", probe, str(ROOT), sys.prefix], cwd=cwd, env=env)
    lines = out.stdout.splitlines()
    site = venv.resolve()
    for line in lines[:4]:
        assert Path(line).resolve().is_relative_to(site) and Path(line).exists(), line
    assert lines[4] == "[]", "the checkout is on sys.path"
    # Module-path entrypoints: a worker with the package installed finds the flows.
    assert lines[5:] == [
        "lifecycle.flows.stages.stage_flow lifecycle-stage",
        "lifecycle.flows.gates.gate_flow lifecycle-gate",
        "lifecycle.flows.reminders.daily_reminders lifecycle-reminders",
        "lifecycle.flows.stages.reconcile_flow lifecycle-reconcile",
    ]


def test_the_cli_works_without_a_checkout(venv, place):
    cwd, env = place
    lifecycle = str(venv / "bin" / "lifecycle")
    shutil.copy(SCENARIO, cwd / "waiblingen.yaml")
    started = _run([lifecycle, "start", "waiblingen.yaml"], cwd=cwd, env=env)
    assert "waiblingen-2017 gestartet" in started.stdout

    _run([lifecycle, "docs", "generate", "sitzungsvorlage", "--out", "vorlagen"], cwd=cwd, env=env)
    (path,) = (cwd / "vorlagen").glob("sitzungsvorlage_v*.docx")
    assert docx.Document(str(path)).paragraphs
    with docx2python(path) as read:
        assert "Sitzungsvorlage" in read.text and "Waiblingen" in read.text

    reminded = _run([lifecycle, "remind", "--dry-run", "--today", "2017-11-08"], cwd=cwd, env=env)
    assert "Vorlagenschluss" in reminded.stdout

    served = _run([lifecycle, "serve", "--help"], cwd=cwd, env=env)
    assert "Prefect" in served.stdout

    # the web app's pages and styles come from the installed package
    script = ("from fastapi.testclient import TestClient\n"
              "from lifecycle.web import create_app\n"
              "c = TestClient(create_app(secret='w' * 40))\n"
              "page, css = c.get('/anmelden'), c.get('/static/style.css')\n"
              "print(page.status_code, css.status_code, 'Anmelden' in page.text)\n")  # fmt: skip
    web = _run([str(venv / "bin" / "python"), "-c", script], cwd=cwd, env=env)
    assert web.stdout.split() == ["200", "200", "True"]


def test_a_broken_templates_folder_is_one_clear_error(venv, place):
    cwd, env = place
    lifecycle = str(venv / "bin" / "lifecycle")
    shutil.copy(SCENARIO, cwd / "waiblingen.yaml")
    _run([lifecycle, "start", "waiblingen.yaml"], cwd=cwd, env=env)
    (cwd / "eine-datei").write_text("kein Ordner", encoding="utf-8")
    for folder, problem in (("fehlt", "existiert nicht"), ("eine-datei", "ist eine Datei")):
        proc = subprocess.run(
            [lifecycle, "docs", "generate", "sitzungsvorlage", "--out", "vorlagen"], cwd=cwd,
            env=env | {"LIFECYCLE_TEMPLATES": str(cwd / folder)}, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        message = (proc.stdout + proc.stderr).strip()
        assert proc.returncode == 2, message
        assert message.startswith("lifecycle: LIFECYCLE_TEMPLATES: Vorlagenordner „")
        assert problem in message
        assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert not (cwd / "vorlagen").exists()
