"""The same engine on a real PostgreSQL server, through the same kind of URL.

Needs LIFECYCLE_TEST_POSTGRES_URL (an account that may create databases); `.ci/run` installs
and starts Debian's postgresql and sets it.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from conftest import WAIBLINGEN, require_real
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from lifecycle import engine, replay
from lifecycle.db import engine_for
from lifecycle.errors import Refused
from lifecycle.models import Event, ProcessState, Task
from lifecycle.scenario import load_scenario

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url():
    admin_url = os.environ.get("LIFECYCLE_TEST_POSTGRES_URL")
    if not admin_url:
        require_real("LIFECYCLE_TEST_POSTGRES_URL is not set (no PostgreSQL server)")
    name = f"lifecycle_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - server down: say so loudly
        require_real(f"PostgreSQL at {admin_url} is not reachable: {exc}")
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def dues(session) -> dict[str, dt.date]:
    return {t.key: t.due for t in session.exec(select(Task))}


def test_waiblingen_on_postgres_matches_sqlite(pg_url, tmp_path):
    results = {}
    for name, url in (("postgres", pg_url), ("sqlite", f"sqlite:///{tmp_path / 's.db'}")):
        with Session(engine_for(url), expire_on_commit=False) as s:
            process = engine.start(s, load_scenario(WAIBLINGEN), actor="test")
            engine.move_sitzung(s, "bsv-2017-12-06", dt.date(2017, 12, 13), actor="test")
            engine.move_sitzung(s, "bsv-2017-12-06", dt.date(2017, 12, 6), actor="test")
            replay.run(s, process)
            s.refresh(process)
            assert process.state == ProcessState.completed
            results[name] = (dues(s), sorted(e.action for e in s.exec(select(Event))))
    assert results["postgres"] == results["sqlite"]


def test_refused_transition_changes_nothing_on_postgres(pg_url):
    with Session(engine_for(pg_url), expire_on_commit=False) as s:
        if not s.exec(select(Task)).first():  # when run alone
            replay.run(s, engine.start(s, load_scenario(WAIBLINGEN), actor="test"))
        before = s.exec(select(Event)).all()
        with pytest.raises(Refused, match="already closed"):
            engine.decide_gate(
                s,
                "waiblingen-2017",
                "vorlage",
                outcome="approve",
                on=dt.date(2017, 12, 15),
                by="t",
                reference="BSV 21/2017",
            )
        assert s.exec(select(Event)).all() == before
