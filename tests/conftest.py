"""Shared fixtures: a fresh real SQLite database per test, the Waiblingen scenario started."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlmodel import Session

from lifecycle import engine, services
from lifecycle.db import engine_for
from lifecycle.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
WAIBLINGEN = EXAMPLES / "waiblingen-2017.yaml"


def require_real(reason: str) -> None:
    """Skip loudly when a system component is missing; fail instead under CI."""
    if os.environ.get("LIFECYCLE_REQUIRE_REAL") == "1":
        pytest.fail(f"LIFECYCLE_REQUIRE_REAL=1 but {reason}")
    pytest.skip(f"SKIPPED FOR MISSING SYSTEM COMPONENT: {reason}")


def needs_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        require_real(f"{name!r} is not installed")
    return path


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    monkeypatch.setenv("LIFECYCLE_DATABASE_URL", url)
    return url


@pytest.fixture
def session(db_url) -> Session:
    with Session(engine_for(db_url), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def waiblingen(session):
    """The Waiblingen 2017 Fortschreibung, started, nothing decided yet."""
    return services.start(session, load_scenario(WAIBLINGEN), actor="test")
