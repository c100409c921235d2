"""`lifecycle oparl sync` (issue 12): reading a RIS's Sitzungskalender back.

Against this project's own API served on loopback by uvicorn (a round trip; a move on the
served side that moves the Vorlagenschluss and the reminders here) and against recorded
responses of quirky and broken servers served by a small HTTP server on loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, select
from web_support import dump, make_app

from lifecycle import services
from lifecycle.cli import run
from lifecycle.db import engine_for
from lifecycle.models import Gremium, Kommune, Reminder, ReminderState, Sitzung, Task
from lifecycle.oparl.sync import SyncFailed, sync

TODAY = dt.date(2017, 11, 15)


@pytest.fixture(autouse=True)
def _loopback_ris(monkeypatch) -> None:
    """The fake RIS listens on 127.0.0.1, which a real sync refuses."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")


@contextmanager
def serving(app) -> Iterator[str]:
    """The web app on a free loopback port, in a thread; its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def answering(handle) -> Iterator[str]:
    """A loopback HTTP server whose GET is ``handle(handler, base)``; its base URL."""
    holder: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            handle(self, holder["base"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["base"] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["base"]
    finally:
        server.shutdown()
        server.server_close()


def reply(handler: BaseHTTPRequestHandler, status: int, kind: str, data: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def recorded(responses: dict[str, tuple[int, str, str]]) -> Iterator[str]:
    """A loopback HTTP server answering each path (with query) with (status, type, body);
    ``{base}`` in a body is the server's own address."""

    def handle(h: BaseHTTPRequestHandler, base: str) -> None:
        status, kind, body = responses.get(h.path, (404, "application/json", "{}"))
        reply(h, status, kind, body.replace("{base}", base).encode())

    with answering(handle) as base:
        yield base


def _calendar(session, kommune: str) -> dict[str, tuple[str, dt.datetime, str]]:
    k = session.exec(select(Kommune).where(Kommune.key == kommune)).one()
    gremien = {g.id: g.short for g in session.exec(select(Gremium)).all()}
    rows = session.exec(select(Sitzung).where(Sitzung.kommune_id == k.id)).all()
    return {s.key: (gremien[s.gremium_id], s.start, s.place) for s in rows}


def test_round_trip_export_waiblingen_and_sync_into_an_empty_database(tmp_path, session):
    served_url = f"sqlite:///{tmp_path / 'ris.db'}"
    app = make_app(served_url)
    with serving(app) as base:
        report = sync(session, f"{base}/oparl/v1.1/system", "waiblingen", bundesland="BW")
        again = sync(session, f"{base}/oparl/v1.1/system", "waiblingen")
    with Session(engine_for(served_url)) as ris:
        expected = _calendar(ris, "waiblingen")
    assert _calendar(session, "waiblingen") == expected
    assert sorted(report.sitzungen_created) == sorted(expected) and report.moved == []
    assert sorted(report.gremien_created) == ["bsv", "gr"] and report.warnings == []
    k = session.exec(select(Kommune).where(Kommune.key == "waiblingen")).one()
    assert (k.name, k.bundesland) == ("Waiblingen", "BW")
    gremien = {g.key: (g.name, g.kind) for g in session.exec(select(Gremium)).all()}
    assert gremien["gr"] == ("Gemeinderat", "gemeinderat")
    assert again.since and again.sitzungen_created == [] and again.moved == []


def test_a_sitzung_moved_in_the_ris_moves_the_vorlagenschluss_and_the_reminders_here(
    tmp_path, session, waiblingen
):
    served_url = f"sqlite:///{tmp_path / 'ris.db'}"
    app = make_app(served_url)  # the RIS: the same Kommune, its calendar
    services.plan_reminders(session, TODAY)
    vorlagenschluss = session.exec(select(Reminder).where(Reminder.kind == "vorlagenschluss")).one()
    assert vorlagenschluss.deadline == dt.date(2017, 11, 22)
    task = session.exec(select(Task).where(Task.key == "sitzungsvorlage_einreichen")).one()
    assert task.due == dt.date(2017, 11, 22)
    with serving(app) as base:
        url = f"{base}/oparl/v1.1/system"
        first = sync(session, url, "waiblingen", today=TODAY)
        assert first.moved == [] and first.sitzungen_created == []  # the same calendar
        with Session(engine_for(served_url)) as ris:
            services.move_sitzung(ris, "waiblingen:bsv-2017-12-06", dt.datetime(2017, 12, 5, 17),
                                  actor="ris")  # fmt: skip
        second = sync(session, url, "waiblingen", today=TODAY)
    assert second.since  # asked only for what changed
    assert second.moved == [("bsv-2017-12-06", dt.datetime(2017, 12, 6, 17),
                             dt.datetime(2017, 12, 5, 17))]  # fmt: skip
    session.expire_all()
    assert session.get(Task, task.id).due == dt.date(2017, 11, 21)
    assert session.get(Reminder, vorlagenschluss.id).state == ReminderState.cancelled
    moved = session.exec(select(Reminder).where(Reminder.kind == "moved")).all()
    assert moved and {r.deadline for r in moved} == {dt.date(2017, 12, 5)}
    sitzung = session.exec(select(Sitzung).where(Sitzung.key == "bsv-2017-12-06")).one()
    assert sitzung.start == dt.datetime(2017, 12, 5, 17)


def _system(meetings: str = "/meetings") -> dict[str, tuple[int, str, str]]:
    j = "application/json"
    return {
        "/system": (200, j, json.dumps({"id": "{base}/system",
                    "type": "https://schema.oparl.org/1.1/System",
                    "oparlVersion": "https://schema.oparl.org/1.1/", "body": "{base}/body"})),
        # quirk: /body answers the one Body instead of a list
        "/body": (200, j, json.dumps({"id": "{base}/body/1", "type":
                  "https://schema.oparl.org/1.1/Body", "name": "Musterstadt", "ags": "08119079",
                  "organization": "{base}/orgs", "meeting": "{base}" + meetings})),
    }  # fmt: skip


def _meeting(n: int, start: str, **more) -> dict:
    return {"id": f"{{base}}/meeting/{n}", "type": "https://schema.oparl.org/1.1/Meeting",
            "start": start, "organization": ["{base}/org/7"], **more}  # fmt: skip


def test_quirks_of_real_servers_are_tolerated_with_a_warning(session):
    j = "application/json"
    responses = _system() | {
        "/orgs": (200, j, json.dumps({"data": [{"id": "{base}/org/7", "type":
                  "https://schema.oparl.org/1.1/Organization", "name": "Hauptausschuss",
                  "shortName": "HA", "classification": "Ausschuss"}],
                  "pagination": {}, "links": {"next": "{base}/orgs?page=2"}})),
        "/orgs?page=2": (200, j, "[]"),  # quirk: [] instead of a list page
        "/meetings": (200, j, json.dumps({"data": [
            _meeting(1, "2018-03-01T17:00:00.123456+01:00",  # quirk: microseconds
                     auxiliaryFile={"id": "{base}/file/1"},  # quirk: an object, not a list
                     location={"id": "{base}/loc/1", "description": "N/A"}),  # quirk: N/A
            _meeting(2, "2018-03-15T18:00:00", name="  "),  # quirks: no zone, blank string
        ], "pagination": {}, "links": {"next": "{base}/meetings?page=2"}})),
        "/meetings?page=2": (200, j, json.dumps({"data": [_meeting(3, "2018-04-12T17:00:00Z")],
                                                 "pagination": {}})),  # quirk: no links at all
    }  # fmt: skip
    with recorded(responses) as base:
        report = sync(session, f"{base}/system", "musterstadt")
    text = " | ".join(report.warnings)
    for quirk in ("einzelnes Objekt statt einer Liste", "JSON-Liste statt einer Listenseite",
                  "Mikrosekunden", "auxiliaryFile als einzelnes Objekt", "„N/A“",
                  "ohne Zeitzone", "ohne links"):  # fmt: skip
        assert quirk in text, quirk
    k = session.exec(select(Kommune).where(Kommune.key == "musterstadt")).one()
    assert (k.name, k.bundesland) == ("Musterstadt", "BW")  # the Land from the ags
    assert _calendar(session, "musterstadt") == {
        "ha-2018-03-01": ("HA", dt.datetime(2018, 3, 1, 17), ""),
        "ha-2018-03-15": ("HA", dt.datetime(2018, 3, 15, 18), ""),
        "ha-2018-04-12": ("HA", dt.datetime(2018, 4, 12, 19), ""),  # 17:00 UTC is 19:00 here
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("html", "HTML-Seite"),
        ("json", "kein gültiges JSON"),
        ("500", "HTTP 500"),
        ("loop", "verweist im Kreis"),
        ("silent", "antwortet nicht"),
        ("deep", "zu tief verschachtelt"),
        ("deeper", "zu tief verschachtelt"),
        ("surrogate", "einzelnen Surrogat"),
        ("badlink", "nennt eine ungültige Adresse"),
    ],
)
def test_a_bad_answer_stops_the_sync_with_one_german_sentence_and_nothing_written(
    case, message, session, waiblingen, db_url
):
    j = "application/json"
    meetings = json.dumps({"data": [_meeting(9, "2018-05-03T17:00:00+02:00")],
                           "pagination": {}, "links": {}})  # fmt: skip
    orgs = (200, j, json.dumps({"data": [{"id": "{base}/org/7", "type":
            "https://schema.oparl.org/1.1/Organization", "name": "Neuer Ausschuss"}],
            "pagination": {}, "links": {}}))  # fmt: skip
    broken = {
        "html": (200, "text/html", "<!doctype html><title>Wartung</title>"),
        "json": (200, j, '{"data": [ {"id": '),
        "500": (500, j, '{"message": "Internal Server Error"}'),
        "loop": (200, j, json.dumps({"data": [], "pagination": {},
                                     "links": {"next": "{base}/meetings?page=2"}})),
        "deep": (200, j, "[" * 200_000 + "]" * 200_000),  # beyond the parser's recursion
        "deeper": (200, j, '{"data": ' + "[" * 100 + "]" * 100 + "}"),  # parsed, too deep
        "surrogate": (200, j, '{"data": [{"id": "{base}/meeting/\\ud800"}], "links": {}}'),
        "badlink": (200, j, json.dumps({"data": [], "links": {"next": "http://[::1/x"}})),
    }  # fmt: skip
    responses = _system() | {"/orgs": orgs, "/meetings": (200, j, meetings)}
    if case in broken:  # the first meeting page is fine; the second one is broken
        first = json.loads(meetings)
        first["links"] = {"next": "{base}/meetings?page=2"}
        responses["/meetings"] = (200, j, json.dumps(first))
        responses["/meetings?page=2"] = broken[case]
        if case == "loop":  # page 2 points back to the first page
            responses["/meetings?page=2"] = (200, j, json.dumps(
                {"data": [], "pagination": {}, "links": {"next": "{base}/meetings"}}))  # fmt: skip
    before = dump(db_url)
    with recorded(responses) as base:
        url = f"{base}/system" if case != "silent" else f"http://127.0.0.1:{_free_port()}/system"
        with pytest.raises(SyncFailed) as caught:
            sync(session, url, "waiblingen")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert dump(db_url) == before


def test_the_cli_syncs_and_says_what_went_wrong_in_one_line(tmp_path, session, capsys):
    app = make_app(f"sqlite:///{tmp_path / 'ris.db'}")
    with serving(app) as base:
        code = run(["oparl", "sync", f"{base}/oparl/v1.1/system", "--kommune", "voelklingen",
                    "--bundesland", "SL"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "3 neu" in out  # the nichtöffentliche Sitzung is not published
    code = run(["oparl", "sync", f"http://127.0.0.1:{_free_port()}/system", "--kommune", "x"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "antwortet nicht" in err and "\n" not in err
    assert run(["oparl", "sync", "ftp://ris", "--kommune", "x"]) == 2


def _tombstone_sync(session, answers, meetings, new, base):
    """The later sync of the same RIS, which now lists ``new`` as deleted."""
    tombstone = {
        "id": new["id"],
        "type": new["type"],
        "deleted": True,
        "created": "2018-01-01T00:00:00+01:00",
        "modified": "2018-01-02T00:00:00+01:00",
    }
    answers.update(meetings(tombstone))
    return sync(session, f"{base}/system", "waiblingen", full=True)


def test_cancelled_and_deleted_meetings(session, waiblingen):
    from lifecycle.models import Event
    from lifecycle.oparl.service import Site

    j = "application/json"
    org = {"id": "{base}/org/gr", "type": "https://schema.oparl.org/1.1/Organization",
           "name": "Gemeinderat"}  # fmt: skip

    def meetings(*data) -> dict[str, tuple[int, str, str]]:
        return _system() | {
            "/orgs": (200, j, json.dumps({"data": [org], "pagination": {}, "links": {}})),
            "/meetings": (
                200,
                j,
                json.dumps({"data": list(data), "pagination": {}, "links": {}}),
            ),  # fmt: skip
        }

    used = {"id": "{base}/meeting/gr-2017-12-14", "type": "https://schema.oparl.org/1.1/Meeting",
            "start": "2017-12-14T18:00:00+01:00", "organization": ["{base}/org/gr"],
            "cancelled": True}  # fmt: skip
    new = {"id": "{base}/meeting/gr-2018-02-01", "type": "https://schema.oparl.org/1.1/Meeting",
           "start": "2018-02-01T18:00:00+01:00", "organization": ["{base}/org/gr"]}  # fmt: skip
    answers = meetings(used, new)
    with recorded(answers) as base:  # one server: the RIS ids (with its port) stay the same
        report = sync(session, f"{base}/system", "waiblingen")
        tombstone_sync = _tombstone_sync(session, answers, meetings, new, base)
    assert report.sitzungen_created == ["gr-2018-02-01"] and report.gremien_created == []
    assert any("abgesagt" in w and "gr-2017-12-14" in w for w in report.warnings)
    assert session.exec(select(Event).where(Event.action == "oparl_cancelled")).one()
    assert session.exec(select(Sitzung).where(Sitzung.key == "gr-2017-12-14")).one()

    report = tombstone_sync
    assert report.deleted == ["gr-2018-02-01"]
    assert session.exec(select(Sitzung).where(Sitzung.key == "gr-2018-02-01")).first() is None
    base = "https://ris.example.org/oparl/v1.1"
    listed = Site(session, base).answer(
        "body/waiblingen/meetings", {"modified_since": "2000-01-01T00:00:00+01:00"}
    )
    dead = [m for m in listed.payload["data"] if m.get("deleted")]
    assert [m["id"] for m in dead] == [f"{base}/body/waiblingen/meeting/gr-2018-02-01"]
