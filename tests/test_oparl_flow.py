"""The hourly OParl sync as a Prefect flow and deployment (issue 12).

The flow runs for real on the session's Prefect test server against this project's own OParl
API served by uvicorn on loopback (the "RIS"); the deployment is inspected as built by
flows/serve.py, without starting a runner.
"""

from __future__ import annotations

import datetime as dt

import pytest
from prefect_harness import server_url
from sqlmodel import Session, select
from test_oparl_sync import serving
from web_support import make_app

from lifecycle import services
from lifecycle.db import engine_for
from lifecycle.models import Reminder, Sitzung, Task

pytestmark = pytest.mark.flows

SYNC = "lifecycle-oparl-sync"


@pytest.fixture(autouse=True)
def _loopback_ris(monkeypatch) -> None:
    """The fake RIS listens on 127.0.0.1, which a real sync refuses."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")


def test_the_hourly_sync_is_deployed_only_where_a_ris_is_configured(monkeypatch):
    from lifecycle.flows.serve import deployments

    monkeypatch.delenv("LIFECYCLE_OPARL_SYNC_URL", raising=False)
    monkeypatch.delenv("LIFECYCLE_OPARL_SYNC_KOMMUNE", raising=False)
    assert SYNC not in {d.flow_name for d in deployments()}
    monkeypatch.setenv("LIFECYCLE_OPARL_SYNC_URL", "https://ris.example.org/oparl/v1.1/system")
    assert SYNC not in {d.flow_name for d in deployments()}  # the Kommune is needed too
    monkeypatch.setenv("LIFECYCLE_OPARL_SYNC_KOMMUNE", "waiblingen")
    built = deployments("sqlite:////srv/lifecycle.db")
    [sync] = [d for d in built if d.flow_name == SYNC]
    assert len(built) == 5 and sync.name == "hourly"
    assert sync.entrypoint == "lifecycle.flows.oparl.oparl_sync_flow"
    assert sync.parameters == {"url": "https://ris.example.org/oparl/v1.1/system",
                               "kommune": "waiblingen",
                               "db_url": "sqlite:////srv/lifecycle.db"}  # fmt: skip
    [schedule] = sync.schedules
    assert schedule.schedule.interval == dt.timedelta(hours=1)


def test_the_flow_reads_a_move_from_the_served_api_and_the_deadlines_follow(
    request, tmp_path, session, waiblingen, db_url
):
    from prefect.client.orchestration import get_client

    from lifecycle.flows.oparl import oparl_sync_flow

    server_url(request)
    since = dt.datetime.now(dt.UTC)
    served_url = f"sqlite:///{tmp_path / 'ris.db'}"
    app = make_app(served_url)  # the RIS: the same Kommune and calendar
    task = session.exec(select(Task).where(Task.key == "sitzungsvorlage_einreichen")).one()
    assert task.due == dt.date(2017, 11, 22)
    with serving(app) as base:
        url = f"{base}/oparl/v1.1/system"
        first = oparl_sync_flow(url=url, kommune="waiblingen", db_url=db_url)
        with Session(engine_for(served_url)) as ris:
            services.move_sitzung(ris, "waiblingen:bsv-2017-12-06", dt.datetime(2017, 12, 5, 17),
                                  actor="ris")  # fmt: skip
        second = oparl_sync_flow(url=url, kommune="waiblingen", db_url=db_url)
    assert first["moved"] == [] and first["created"] == []
    assert second["since"] and second["moved"] == [
        ["bsv-2017-12-06", "2017-12-06T17:00:00", "2017-12-05T17:00:00"]]  # fmt: skip
    session.expire_all()
    assert session.get(Task, task.id).due == dt.date(2017, 11, 21)
    sitzung = session.exec(select(Sitzung).where(Sitzung.key == "bsv-2017-12-06")).one()
    assert sitzung.start == dt.datetime(2017, 12, 5, 17)
    assert session.exec(select(Reminder).where(Reminder.kind == "moved")).first()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(limit=10, sort="START_TIME_DESC")
    mine = [r for r in runs if r.name == "OParl-Abgleich waiblingen"
            and r.start_time is not None and r.start_time >= since]  # fmt: skip
    assert len(mine) == 2 and all(r.state.is_completed() for r in mine)
