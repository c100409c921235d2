"""`lifecycle oparl sync` against a careless or hostile RIS (review of the sync, 2026-12).

A real loopback HTTP server plays the RIS (recorded answers, or a folder this project's own
`oparl export --intern` wrote), a real SQLite database receives the sync; no mocks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from sqlmodel import Session, select
from test_oparl_sync import _calendar, _system, answering, recorded, reply
from web_support import make_app

from lifecycle.db import engine_for
from lifecycle.models import Gremium, Kommune, Sitzung
from lifecycle.oparl.service import Site
from lifecycle.oparl.service import export as run_export
from lifecycle.oparl.sync import SyncFailed, sync

J = "application/json"
MEETING = "https://schema.oparl.org/1.1/Meeting"


@pytest.fixture(autouse=True)
def _loopback_ris(monkeypatch) -> None:
    """The fake RIS listens on 127.0.0.1, which a real sync refuses."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")


def _org(key: str, name: str, short: str) -> dict:
    return {"id": f"{{base}}/org/{key}", "type": "https://schema.oparl.org/1.1/Organization",
            "name": name, "shortName": short}  # fmt: skip


ORGS = [_org("gr", "Gemeinderat", "GR"), _org("bsv", "Bau- und Umweltausschuss", "BSV")]


def _ris(meetings: list[dict], orgs: list[dict] | None = None) -> dict[str, tuple[int, str, str]]:
    return _system() | {
        "/orgs": (200, J, json.dumps({"data": orgs or ORGS, "pagination": {}, "links": {}})),
        "/meetings": (200, J, json.dumps({"data": meetings, "pagination": {}, "links": {}})),
    }


def _m(ident: str, start: str, org: str = "gr", **more) -> dict:
    return {"id": f"{{base}}/meeting/{ident}", "type": MEETING, "start": start,
            "organization": [f"{{base}}/org/{org}"], **more}  # fmt: skip


@contextmanager
def static_folder(folder: Path) -> Iterator[str]:
    """A loopback server answering {path} with the file {folder}/{path}.json (query ignored)."""

    def handle(h: BaseHTTPRequestHandler, _base: str) -> None:
        path = folder / (h.path.split("?")[0].strip("/") + ".json")
        status, data = (200, path.read_bytes()) if path.is_file() else (404, b"{}")
        reply(h, status, J, data)

    with answering(handle) as base:
        yield base


# --- 1. nichtöffentlich ------------------------------------------------------------------------


def test_an_internal_export_synced_back_keeps_the_nichtoeffentliche_sitzung_unpublished(
    tmp_path, session
):
    served = f"sqlite:///{tmp_path / 'ris.db'}"
    make_app(served)  # Völklingen: hpta-2017-08-31 is nichtöffentlich
    with Session(engine_for(served)) as ris:
        closed = ris.exec(select(Sitzung).where(Sitzung.key == "hpta-2017-08-31")).one()
        assert closed.oeffentlich is False
        with static_folder(tmp_path / "exp") as base:
            run_export(ris, tmp_path / "exp", base_url=base, public=False)
            report = sync(session, f"{base}/system", "voelklingen", bundesland="SL")
    assert "hpta-2017-08-31" in report.sitzungen_created
    mine = session.exec(select(Sitzung).where(Sitzung.key == "hpta-2017-08-31")).one()
    assert mine.oeffentlich is False
    public = Site(session, "https://ris.example.org/oparl/v1.1").answer(
        "body/voelklingen/meetings", {})
    ids = [m["id"] for m in public.payload["data"]]
    assert ids and not any("hpta-2017-08-31" in i for i in ids)


def test_a_meeting_closed_later_in_the_ris_becomes_nichtoeffentlich_but_never_reopens(session):
    open_ = _m("gr-2018-02-01", "2018-02-01T18:00:00+01:00")
    answers = _ris([open_])
    with recorded(answers) as base:  # one server: the RIS ids (with its port) stay the same
        sync(session, f"{base}/system", "musterstadt")
        sitzung = session.exec(select(Sitzung).where(Sitzung.key == "gr-2018-02-01")).one()
        assert sitzung.oeffentlich is True
        items = [{"id": "{base}/ai/1", "type": "https://schema.oparl.org/1.1/AgendaItem",
                  "public": False}]  # fmt: skip
        answers.update(_ris([open_ | {"agendaItem": items}]))
        sync(session, f"{base}/system", "musterstadt", full=True)
        session.refresh(sitzung)
        assert sitzung.oeffentlich is False
        answers.update(_ris([open_]))  # öffentlich again upstream: stays closed here
        report = sync(session, f"{base}/system", "musterstadt", full=True)
        session.refresh(sitzung)
        assert sitzung.oeffentlich is False
        assert any("bleibt nichtöffentlich" in w for w in report.warnings)
        answers.update(_ris([_m("gr-2018-03-01", "2018-03-01T18:00:00+01:00",
                                keyword=["nichtöffentlich"])]))  # fmt: skip
        sync(session, f"{base}/system", "musterstadt", full=True)
    new = session.exec(select(Sitzung).where(Sitzung.key == "gr-2018-03-01")).one()
    assert new.oeffentlich is False


# --- 2., 3. texts, types and dates from the RIS --------------------------------------------


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"location": {"description": "Saal\r\nBcc: x@evil.example"}}, "U+000D"),
        ({"location": {"description": "Saal\x1b]0;pwned\x07"}}, "U+001B"),
        ({"location": {"description": "Saal\u202e1"}}, "U+202E"),
        ({"location": {"description": "Saal\x00"}}, "U+0000"),
        ({"location": {"description": "S" * 20_000}}, "20000 Zeichen"),
        ({"location": {"description": ["Saal 1"]}}, "„location.description“ ist kein Text"),
        ({"cancelled": "true"}, "„cancelled“ ist kein Wahrheitswert"),
        ({"organization": 5}, "„organization“ ist keine Liste"),
        ({"organization": "{base}/org/gr"}, "„organization“ ist keine Liste"),
        ({"start": "morgen"}, "kein Datum mit Uhrzeit"),
        ({"start": "2018-13-10T18:00"}, "kein Datum mit Uhrzeit"),
        ({"start": "2018-01-10T18:00+25:00"}, "kein Datum mit Uhrzeit"),
        ({"start": "0001-01-01T00:00:00-12:00"}, "Jahr 1 außerhalb von 1950 bis 2200"),
        ({"start": "9999-12-31T23:59:59+14:00"}, "Jahr 9999 außerhalb von 1950 bis 2200"),
        ({"start": "2200-12-31T23:30:00Z"}, "Jahr 2201 außerhalb von 1950 bis 2200"),
        ({"start": "2018-01-10"}, "nur ein Datum ohne Uhrzeit"),
        ({"id": True}, "„id“ ist kein Text"),
        ({"keyword": "nichtöffentlich"}, "„keyword“ ist keine Liste"),
    ],
)
def test_a_bad_meeting_is_skipped_with_one_named_warning_and_the_rest_syncs(
    more, message, session
):
    bad = _m("gr-2018-01-10", "2018-01-10T18:00:00+01:00") | more
    good = _m("bsv-2018-01-17", "2018-01-17T17:00:00+01:00", org="bsv")
    with recorded(_ris([bad, good])) as base:
        report = sync(session, f"{base}/system", "musterstadt")
    assert report.sitzungen_created == ["bsv-2018-01-17"]
    named = [w for w in report.warnings if message in w]
    assert len(named) == 1 and "übersprungen" in named[0], report.warnings
    assert all(c.isprintable() for w in report.warnings for c in w), report.warnings


@pytest.mark.parametrize(
    ("org", "message"),
    [
        ({"name": "GR\r\nBcc: evil@attacker.example"}, "„name“ enthält ein Steuer"),
        ({"name": ["Gemeinderat"]}, "„name“ ist kein Text, sondern eine Liste"),
        ({"shortName": {"de": "GR"}}, "„shortName“ ist kein Text, sondern ein Objekt"),
        ({"shortName": "\x1b[31mGR"}, "U+001B"),
    ],
)
def test_a_bad_organization_is_skipped_and_stores_nothing(org, message, session):
    orgs = [ORGS[0] | org, ORGS[1]]
    meetings = [_m("gr-2018-01-10", "2018-01-10T18:00:00+01:00"),
                _m("bsv-2018-01-17", "2018-01-17T17:00:00+01:00", org="bsv")]  # fmt: skip
    with recorded(_ris(meetings, orgs)) as base:
        report = sync(session, f"{base}/system", "musterstadt")
    assert report.gremien_created == ["bsv"] and report.sitzungen_created == ["bsv-2018-01-17"]
    assert any(message in w and "Gremium übersprungen" in w for w in report.warnings)
    names = [(g.name, g.short) for g in session.exec(select(Gremium)).all()]
    assert names == [("Bau- und Umweltausschuss", "BSV")]


# --- 4. matching: the Gremium counts, one RIS meeting is one Sitzung -------------------------


def test_a_key_hint_of_another_gremium_does_not_move_a_sitzung(session, waiblingen):
    # a BSV meeting whose id reads like the GR Sitzung of 14.12.
    bsv = _m("gr-2017-12-14", "2018-01-24T17:00:00+01:00", org="bsv")
    with recorded(_ris([bsv])) as base:
        report = sync(session, f"{base}/system", "waiblingen", today=dt.date(2017, 11, 15))
    gr = session.exec(select(Sitzung).where(Sitzung.key == "gr-2017-12-14")).one()
    assert gr.start == dt.datetime(2017, 12, 14, 18) and report.moved == []
    assert report.sitzungen_created == ["gr-2017-12-14-ris"]


def test_two_meetings_of_one_gremium_at_the_same_start_stay_two(session):
    a = _m("101", "2018-02-01T18:00:00+01:00")
    b = _m("102", "2018-02-01T18:00:00+01:00")
    with recorded(_ris([a, b])) as base:
        first = sync(session, f"{base}/system", "musterstadt")
        second = sync(session, f"{base}/system", "musterstadt", full=True)
        third = sync(session, f"{base}/system", "musterstadt", full=True)
    assert first.sitzungen_created == ["gr-2018-02-01", "gr-2018-02-01-ris"]
    assert second.sitzungen_created == third.sitzungen_created == []
    assert second.moved == third.moved == []
    assert len(_calendar(session, "musterstadt")) == 2


def test_the_same_id_twice_in_one_list_is_one_sitzung_and_one_warning(session):
    a = _m("gr-2018-02-01", "2018-02-01T18:00:00+01:00")
    again = a | {"start": "2018-02-08T18:00:00+01:00"}
    with recorded(_ris([a, again])) as base:
        report = sync(session, f"{base}/system", "musterstadt")
    assert report.sitzungen_created == ["gr-2018-02-01"] and report.moved == []
    assert sum("mehrfach" in w for w in report.warnings) == 1
    assert _calendar(session, "musterstadt")["gr-2018-02-01"][1] == dt.datetime(2018, 2, 1, 18)


# --- 5. cancelled meetings ---------------------------------------------------------------------


def test_a_cancelled_meeting_no_process_uses_is_not_imported_nor_published(session):
    gone = _m("gr-2018-02-01", "2018-02-01T18:00:00+01:00", cancelled=True)
    held = _m("gr-2018-03-01", "2018-03-01T18:00:00+01:00")
    answers = _ris([gone, held])
    with recorded(answers) as base:
        report = sync(session, f"{base}/system", "musterstadt")
        assert report.sitzungen_created == ["gr-2018-03-01"]
        assert any("abgesagt; nicht übernommen" in w for w in report.warnings)
        answers.update(_ris([gone | {"id": held["id"], "start": held["start"]}]))
        report = sync(session, f"{base}/system", "musterstadt", full=True)
    assert report.deleted == ["gr-2018-03-01"]  # cancelled later, used by nobody: removed
    assert session.exec(select(Sitzung)).all() == []


def test_cancel_reinstate_cancel_reports_truthfully(session, waiblingen):
    org = [_org("gr", "Gemeinderat", "GR")]
    gr = _m("gr-2017-12-14", "2017-12-14T18:00:00+01:00")
    day = dt.date(2017, 11, 15)

    answers: dict = {}

    def run(meeting: dict):
        answers.update(_ris([meeting], org))
        return sync(session, f"{base}/system", "waiblingen", today=day, full=True)

    with recorded(answers) as base:
        _cancel_reinstate_cancel(session, run, gr)


def _cancel_reinstate_cancel(session, run, gr: dict) -> None:
    from lifecycle.models import Event, Reminder

    first = run(gr | {"cancelled": True})
    assert first.escalated >= 1
    assert any("an die Projektleitung gemeldet" in w for w in first.warnings)
    again = run(gr | {"cancelled": True})  # the same cancellation: nothing new, no false claim
    assert again.escalated == 0
    assert not any("an die Projektleitung gemeldet" in w for w in again.warnings)
    back = run(gr)
    assert any("wieder angesetzt" in w and "zurückgenommen" in w for w in back.warnings)
    taken = session.exec(select(Reminder).where(Reminder.kind == "sitzung_cancelled")).all()
    assert {r.state for r in taken} == {"cancelled"}  # not sent: the lead is not misled
    assert session.exec(select(Event).where(Event.action == "oparl_reinstated")).one()
    second = run(gr | {"cancelled": True})  # a new cancellation is a new message
    assert second.escalated == first.escalated
    assert any("an die Projektleitung gemeldet" in w for w in second.warnings)
    rows = session.exec(select(Reminder).where(Reminder.kind == "sitzung_cancelled")).all()
    assert len(rows) == 2 * first.escalated
    assert sorted(r.state for r in rows) == ["cancelled"] * first.escalated + [
        "planned"] * first.escalated  # fmt: skip
    k = session.exec(select(Kommune).where(Kommune.key == "waiblingen")).one()
    assert session.exec(select(Sitzung).where(Sitzung.kommune_id == k.id,
                                              Sitzung.key == "gr-2017-12-14")).one()


# --- 6. outbound requests: http(s) only, every redirect checked, no internal address, limits ---


@pytest.mark.parametrize("target", ["ftp://127.0.0.1:{ftp}/x", "file:///etc/passwd",
                                    "gopher://127.0.0.1:{ftp}/x", "http://ris example/x"])
def test_a_redirect_is_checked_like_the_first_address(target, session):
    import socket

    listener = socket.socket()  # where an FTP login would arrive
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    location = target.replace("{ftp}", str(listener.getsockname()[1]))

    def handle(h, base):
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    try:
        with answering(handle) as base, pytest.raises(SyncFailed) as caught:
            sync(session, f"{base}/system", "musterstadt")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    assert "leitet auf eine unzulässige Adresse um" in str(caught.value)
    assert "\n" not in str(caught.value)


def _noting(asked: list[str]):
    """A handler that notes each path it is asked for and answers 500."""

    def handle(h: BaseHTTPRequestHandler, _base: str) -> None:
        asked.append(h.path)
        reply(h, 500, J, b"")

    return handle


def test_internal_addresses_are_refused_unless_allowed(session, monkeypatch):
    asked: list[str] = []
    monkeypatch.delenv("LIFECYCLE_OPARL_ALLOW_PRIVATE")
    with answering(_noting(asked)) as base:
        for url in (f"{base}/system", base.replace("127.0.0.1", "localhost") + "/system"):
            with pytest.raises(SyncFailed) as caught:
                sync(session, url, "musterstadt")
            assert "interne Adresse" in str(caught.value)
            assert "LIFECYCLE_OPARL_ALLOW_PRIVATE=1" in str(caught.value)
        assert asked == []
        monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")
        with pytest.raises(SyncFailed, match="HTTP 500"):
            sync(session, f"{base}/system", "musterstadt")
    assert asked == ["/system"]


def test_a_drip_feeding_server_meets_the_deadline_of_the_whole_sync(session):
    import time

    def handle(h, base):
        h.send_response(200)
        h.send_header("Content-Type", J)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        try:
            for _ in range(100):
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    from lifecycle.oparl.sync import Budget

    began = time.monotonic()
    with answering(handle) as base, pytest.raises(SyncFailed) as caught:
        sync(session, f"{base}/system", "musterstadt", budget=Budget(seconds=1.0))
    assert time.monotonic() - began < 5
    assert "länger als 1 Sekunden" in str(caught.value) and "Gesamtfrist" in str(caught.value)


def test_all_answers_of_one_sync_share_a_byte_budget(session):
    from lifecycle.oparl.sync import Budget

    meetings = [_m(f"m{n}", "2018-02-01T18:00:00+01:00", name="x" * 200) for n in range(20)]
    with recorded(_ris(meetings)) as base, pytest.raises(SyncFailed) as caught:
        sync(session, f"{base}/system", "musterstadt", budget=Budget(total=3000))
    assert "zusammen größer als" in str(caught.value)
    assert session.exec(select(Sitzung)).all() == []


# --- 7. the clerk's terminal ---------------------------------------------------------------------

EVIL = "\x1b]0;pwned\x07\x1b[31mGR\u202e\r\nX"


def test_sitzungen_shows_control_characters_of_stored_names_visibly(session, waiblingen, capsys):
    from lifecycle.cli import run

    gr = session.exec(select(Gremium).where(Gremium.key == "gr")).one()
    gr.name = gr.short = EVIL  # stored before texts from the RIS were checked
    session.add(gr)
    session.commit()
    assert run(["sitzungen", "--today", "2017-11-15", "--kommune", "waiblingen"]) == 0
    out = capsys.readouterr().out
    assert "\\x1b]0;pwned" in out
    assert not any(c in out for c in "\x1b\x07\r\u202e")


def test_sync_warnings_on_the_terminal_show_control_characters_visibly(session, capsys):
    from lifecycle.cli import run

    bad = _m("gr-2018-01-10" + EVIL, "2018-01-10T18:00:00+01:00",
             location={"description": EVIL})  # fmt: skip
    with recorded(_ris([bad])) as base:
        assert run(["oparl", "sync", f"{base}/system", "--kommune", "musterstadt"]) == 0
    out = capsys.readouterr().out
    assert "Warnung: " in out and "übersprungen" in out
    assert not any(c in out for c in "\x1b\x07\r\u202e")


# --- 8. moves the RIS made together ------------------------------------------------------------


@pytest.mark.parametrize(("bsv", "gr"), [
    ("2017-12-20T17:00:00+01:00", "2018-01-10T18:00:00+01:00"),  # both later: BSV past old GR
    ("2017-11-29T17:00:00+01:00", "2017-12-05T18:00:00+01:00"),  # both earlier: GR before old BSV
])  # fmt: skip
def test_bsv_and_gr_moved_consistently_in_one_sync_both_move(bsv, gr, session, waiblingen):
    meetings = [_m("bsv-2017-12-06", bsv, org="bsv"), _m("gr-2017-12-14", gr)]
    if gr < "2017-12-14":  # earlier: the RIS lists GR first, the order that broke it
        meetings.reverse()
    with recorded(_ris(meetings)) as base:
        report = sync(session, f"{base}/system", "waiblingen", today=dt.date(2017, 11, 15))
    assert sorted(key for key, _old, _new in report.moved) == ["bsv-2017-12-06", "gr-2017-12-14"]
    assert not any("nicht übernommen" in w for w in report.warnings), report.warnings


def test_a_cancelled_sitzung_a_process_keeps_goes_out_as_cancelled(session, waiblingen):
    gr = _m("gr-2017-12-14", "2017-12-14T18:00:00+01:00")
    answers = _ris([gr | {"cancelled": True}])

    def shown() -> dict:
        site = Site(session, "https://ris.example.org/oparl/v1.1")  # a new one: no cache
        listed = site.answer("body/waiblingen/meetings", {})
        [m] = [m for m in listed.payload["data"] if m["id"].endswith("/gr-2017-12-14")]
        return m

    with recorded(answers) as base:
        sync(session, f"{base}/system", "waiblingen", today=dt.date(2017, 11, 15))
        assert shown().get("cancelled") is True  # kept for the process, not a normal meeting
        answers.update(_ris([gr]))
        sync(session, f"{base}/system", "waiblingen", today=dt.date(2017, 11, 15), full=True)
    assert "cancelled" not in shown()


def test_a_long_meeting_list_is_not_held_in_memory_whole(session):
    import tracemalloc

    pages = 24
    answers = _ris([])
    for n in range(pages):  # each page: 50 meetings with 40 kB of text the sync does not read
        data = [_m(f"p{n}m{i}", "2030-01-01T18:00:00+01:00", org="nope",
                   description="x" * 40_000) for i in range(50)]  # fmt: skip
        nxt = {"next": f"{{base}}/meetings?page={n + 1}"} if n + 1 < pages else {}
        answers["/meetings" if n == 0 else f"/meetings?page={n}"] = (
            200, J, json.dumps({"data": data, "pagination": {}, "links": nxt}))
    with recorded(answers) as base:
        tracemalloc.start()
        try:
            report = sync(session, f"{base}/system", "musterstadt")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert report.meetings == 50 * pages
    assert peak < 20 * 2**20, peak  # the whole list is 48 MB of text; one page is 2 MB


def test_through_a_proxy_the_target_is_checked_before_the_proxy_is_asked(session, monkeypatch):
    asked: list[str] = []
    monkeypatch.delenv("LIFECYCLE_OPARL_ALLOW_PRIVATE")
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with answering(_noting(asked)) as base:
        monkeypatch.setenv("http_proxy", base)
        with pytest.raises(SyncFailed) as caught:
            sync(session, "http://localhost:9/system", "musterstadt")
    assert "interne Adresse" in str(caught.value) and asked == []
