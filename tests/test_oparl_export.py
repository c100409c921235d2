"""OParl 1.1 export (issue 12): every object validates, the Beratungsfolge is there, non-public
stays internal, lists carry their filters, deleted objects stay as tombstones."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from lifecycle import services
from lifecycle.cli import run
from lifecycle.errors import NotFound, Refused
from lifecycle.models import (
    Beratung,
    Event,
    Fortschreibung,
    Gremium,
    Kommune,
    Person,
    Sitzung,
    Vorlage,
)
from lifecycle.oparl import service, validate
from lifecycle.oparl.lists import Filters
from lifecycle.oparl.objects import load_bodies, load_stamps
from lifecycle.oparl.service import Site
from lifecycle.scenario import load_scenario

BASE = "https://ris.example.org/oparl/v1.1"
SPEC_EXAMPLES = Path(validate.__file__).parent.parent / "schemas" / "oparl" / "examples"


def _start(session, *names: str) -> None:
    for name in names:
        services.start(session, load_scenario(EXAMPLES / f"{name}.yaml"), actor="test")


def _dump(folder: Path) -> dict[Path, dict]:
    return {p: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.rglob("*.json"))}


def _objects(payload: dict):
    """The objects of one exported file: a list page's data, or the object itself."""
    if "data" in payload:
        yield from payload["data"]
    else:
        yield payload


def _everything_validates(folder: Path) -> int:
    count = 0
    for path, payload in _dump(folder).items():
        if "data" in payload:  # a list page, the last one included
            assert set(payload) == {"data", "pagination", "links"}, path
            assert payload["links"]["self"] and payload["links"]["last"], path
            if payload["pagination"]["currentPage"] < payload["pagination"]["totalPages"]:
                assert "next" in payload["links"], path
        for obj in _objects(payload):
            assert validate.problems(obj) == [], (path, obj["id"])
            assert obj["created"].endswith(("+01:00", "+02:00")), obj["id"]
            assert obj["modified"] >= obj["created"] or obj["modified"][:10] >= obj["created"][:10]
            count += 1
        if "data" not in payload:  # an object's file sits where its id says it is served
            assert service.file_for(folder, BASE, payload["id"]) == path
    return count


def test_the_waiblingen_export_validates_entirely_and_ids_are_where_objects_are(session, tmp_path):
    _start(session, "waiblingen-2017")
    services.generate_document(session, "waiblingen-2017", "sitzungsvorlage")
    result = service.export(session, tmp_path / "oparl", base_url=BASE)
    assert result.bodies == 1 and result.files == 2  # access and download of the Vorlage
    assert _everything_validates(tmp_path / "oparl") >= result.objects
    system = json.loads((tmp_path / "oparl" / "system.json").read_text())
    assert system["license"] and system["body"] == f"{BASE}/bodies"
    body = json.loads((tmp_path / "oparl" / "body" / "waiblingen.json").read_text())
    assert body["license"] and body["name"] == "Waiblingen"
    assert [t["name"] for t in body["legislativeTerm"]] == [
        "Wahlperiode 2009–2014", "Wahlperiode 2014–2019", "Wahlperiode 2019–2024"]  # fmt: skip


def test_the_final_vorlage_carries_its_beratungsfolge_and_its_document(session, tmp_path):
    _start(session, "waiblingen-2017")
    services.generate_document(session, "waiblingen-2017", "sitzungsvorlage")
    folder = tmp_path / "oparl"
    service.export(session, folder, base_url=BASE)
    paper = json.loads((folder / "body/waiblingen/paper/waiblingen-2017/vorlage.json").read_text())
    assert paper["reference"] == "BSV 21/2017"
    assert paper["name"] == "Fortschreibung des Integrationskonzeptes"
    assert paper["date"] == "2017-11-20" and paper["paperType"] == "Sitzungsvorlage"
    assert paper["underDirectionOf"] == [
        f"{BASE}/body/waiblingen/organization/fachbereich/buergerengagement"]  # fmt: skip
    steps = []
    for c in paper["consultation"]:
        meeting = json.loads(service.file_for(folder, BASE, c["meeting"]).read_text())
        gremium = json.loads(service.file_for(folder, BASE, c["organization"][0]).read_text())
        steps.append((gremium["shortName"], meeting["start"], c["role"], c["authoritative"]))
        items = {i["id"]: i for i in meeting["agendaItem"]}
        assert items[c["agendaItem"]]["consultation"] == c["id"]
    assert steps == [
        ("BSV", "2017-12-06T17:00:00+01:00", "Vorberatung", False),
        ("GR", "2017-12-14T18:00:00+01:00", "Entscheidung", True),
    ]
    main = paper["mainFile"]
    assert main["mimeType"].endswith("wordprocessingml.document")
    served = service.file_for(folder, BASE, main["accessUrl"])
    assert served.read_bytes()[:2] == b"PK" and served.stat().st_size == main["size"]
    assert service.file_for(folder, BASE, main["downloadUrl"]).exists()


def test_voelklingen_validates_and_its_nichtoeffentliche_sitzung_stays_internal(session, tmp_path):
    _start(session, "waiblingen-2017", "voelklingen-2017")
    service.export(session, tmp_path / "public", base_url=BASE)
    service.export(session, tmp_path / "intern", base_url=BASE, public=False)
    _everything_validates(tmp_path / "public")
    _everything_validates(tmp_path / "intern")
    hidden = f"{BASE}/body/voelklingen/meeting/hpta-2017-08-31"
    public_text = "".join(p.read_text() for p in (tmp_path / "public").rglob("*.json"))
    assert hidden not in public_text and "hpta-2017-08-31" not in public_text
    meeting = json.loads(service.file_for(tmp_path / "intern", BASE, hidden).read_text())
    assert meeting["keyword"] == ["nichtöffentlich"]
    with pytest.raises(NotFound):
        Site(session, BASE).answer("body/voelklingen/meeting/hpta-2017-08-31", {})


def test_the_spec_examples_run_through_the_same_validator_and_its_known_faults_are_named():
    found = {p.name: validate.problems(json.loads(p.read_text())) for p in
             sorted(SPEC_EXAMPLES.glob("*.json"))}  # fmt: skip
    assert len(found) == 8
    # The spec's own Meeting example: its AgendaItem lacks `order`, which 1.1 requires.
    assert found.pop("Meeting-01.json") == [("agendaItem[0].order", "fehlt (Pflichtfeld)")]
    assert found == {name: [] for name in found}


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda o: o.pop("order"), "order", "fehlt"),
        (lambda o: o.update(created="2017-12-06T17:00:00"), "created", "date-time"),
        (lambda o: o.update(name=""), "name", "leere Zeichenkette"),
        (lambda o: o.update(meeting="/meeting/1"), "meeting", "url"),
        (lambda o: o.update(order="1"), "order", "is not of type 'integer'"),
    ],
)
def test_the_validator_names_the_field(change, field, problem):
    item = {"id": f"{BASE}/x/1", "type": "https://schema.oparl.org/1.1/AgendaItem",
            "order": 0, "name": "TOP", "meeting": f"{BASE}/m/1",
            "created": "2017-12-06T17:00:00+01:00"}  # fmt: skip
    assert validate.problems(item) == []
    change(item)
    with pytest.raises(validate.InvalidObject) as caught:
        validate.check(item)
    assert caught.value.field == field and problem in caught.value.problem
    assert f"{BASE}/x/1" in str(caught.value)


def test_an_object_that_would_not_validate_stops_the_export_and_writes_nothing(session, tmp_path):
    _start(session, "waiblingen-2017")
    folder = tmp_path / "oparl"
    service.export(session, folder, base_url=BASE)
    before = _dump(folder)
    kommune = session.exec(select(Kommune)).one()
    kommune.name = "   "  # a Body without a name: a required field left out
    session.add(kommune)
    session.commit()
    with pytest.raises(validate.InvalidObject) as caught:
        service.export(session, folder, base_url=BASE)
    assert caught.value.object_id == f"{BASE}/body/waiblingen" and caught.value.field == "name"
    assert _dump(folder) == before  # the previous export is untouched
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".oparl")]


def test_lists_page_with_their_filters_in_every_link_and_tombstones_only_since(session):
    _start(session, "waiblingen-2017")
    site = Site(session, BASE)
    first = site.answer("body/waiblingen/meetings", {"limit": "3"}).payload
    assert first["pagination"] == {"totalElements": 4, "elementsPerPage": 3,
                                   "currentPage": 1, "totalPages": 2}  # fmt: skip
    assert first["links"]["next"] == f"{BASE}/body/waiblingen/meetings?limit=3&page=2"
    last = site.answer("body/waiblingen/meetings", {"limit": "3", "page": "2"}).payload
    assert len(last["data"]) == 1 and "next" not in last["links"]
    assert last["links"]["last"] == last["links"]["self"]
    since = "2000-01-01T00:00:00+01:00"
    query = {"modified_since": since, "limit": "2"}
    page = Site(session, BASE).answer("body/waiblingen/meetings", query).payload
    moment = "2000-01-01T00%3A00%3A00%2B01%3A00"
    expected = f"{BASE}/body/waiblingen/meetings?modified_since={moment}&limit=2&page=2"
    assert page["links"]["next"] == expected
    future = {"created_since": "2100-01-01T00:00:00+01:00"}
    assert Site(session, BASE).answer("body/waiblingen/papers", future).payload["data"] == []
    with pytest.raises(Exception, match="Zeitzone"):
        Filters.parse({"modified_since": "2017-12-01"})

    # A Sitzung the RIS deleted and nothing here used: gone from the list, a tombstone since.
    gremium = session.exec(select(Gremium).where(Gremium.key == "gr")).one()
    session.add(Sitzung(kommune_id=gremium.kommune_id, gremium_id=gremium.id or 0,
                        key="gr-2018-01-25", start=dt.datetime(2018, 1, 25, 18)))  # fmt: skip
    session.commit()
    url = f"{BASE}/body/waiblingen/meeting/gr-2018-01-25"
    assert url in {m["id"] for m in Site(session, BASE).answer(
        "body/waiblingen/meetings", {}).payload["data"]}  # fmt: skip
    with pytest.raises(Refused):
        service.delete_sitzung(session, "waiblingen", "gr-2017-12-14", actor="test")
    service.delete_sitzung(session, "waiblingen", "gr-2018-01-25", actor="test")
    plain = Site(session, BASE).answer("body/waiblingen/meetings", {}).payload["data"]
    assert url not in {m["id"] for m in plain}
    updates = Site(session, BASE).answer("body/waiblingen/meetings", {"modified_since": since})
    dead = [m for m in updates.payload["data"] if m["id"] == url]
    assert len(dead) == 1 and dead[0]["deleted"] is True
    assert set(dead[0]) == {"id", "type", "created", "modified", "deleted"}
    validate.check_tombstone(dead[0])


def test_a_changed_agenda_item_changes_its_meeting_and_paper(session):
    _start(session, "waiblingen-2017")
    before = Site(session, BASE)
    meeting = before.answer("body/waiblingen/meeting/gr-2017-12-14", {}).payload
    paper = before.answer("body/waiblingen/paper/waiblingen-2017/vorlage", {}).payload
    later = dt.datetime.fromisoformat(meeting["modified"]) + dt.timedelta(seconds=1)
    # stamps have whole seconds: let one pass
    time.sleep(max(0.0, (later - dt.datetime.now(dt.UTC)).total_seconds()))
    services.save_vorlage_text(session, "waiblingen-2017", "vorlage", betreff="Neuer Betreff",
                               beschlussvorschlag="Zustimmung.", begruendung={},
                               actor="test")  # fmt: skip
    after = Site(session, BASE)
    meeting2 = after.answer("body/waiblingen/meeting/gr-2017-12-14", {}).payload
    paper2 = after.answer("body/waiblingen/paper/waiblingen-2017/vorlage", {}).payload
    assert [i["name"] for i in meeting2["agendaItem"]] == ["Neuer Betreff"]
    assert meeting2["modified"] > meeting["modified"] and paper2["modified"] > paper["modified"]
    assert meeting2["created"] == meeting["created"]


def test_the_cli_exports_and_refuses_a_bad_base_url_in_one_line(waiblingen, tmp_path, capsys):
    assert run(["oparl", "export", str(tmp_path / "o"), "--base-url", BASE]) == 0
    assert "Körperschaften" in capsys.readouterr().out
    assert (tmp_path / "o" / "body" / "waiblingen" / "meetings.json").exists()
    assert run(["oparl", "export", str(tmp_path / "p"), "--base-url", "ftp://x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--base-url" in err
    assert not (tmp_path / "p").exists()


# --- non-public stays internal: a property over generated Öffentlichkeit ---------------------


@pytest.fixture(scope="module")
def started_db(tmp_path_factory):
    """Waiblingen and Völklingen started once; each example flips flags in a transaction."""
    from sqlmodel import Session

    from lifecycle.db import engine_for

    url = f"sqlite:///{tmp_path_factory.mktemp('oparl-property') / 'start.db'}"
    with Session(engine_for(url), expire_on_commit=False) as s:
        _start(s, "waiblingen-2017", "voelklingen-2017")
    return url


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_nonpublic_object_leaks_into_the_public_view(started_db, data):
    from sqlmodel import Session

    from lifecycle.db import engine_for

    with Session(engine_for(started_db), expire_on_commit=False) as s:
        sitzungen = s.exec(select(Sitzung).order_by(Sitzung.id)).all()
        beratungen = s.exec(select(Beratung).order_by(Beratung.id)).all()
        for row in [*sitzungen, *beratungen]:
            row.oeffentlich = data.draw(st.booleans())
            s.add(row)
        s.flush()
        try:
            site = Site(s, BASE)
            shown = json.dumps([site.system(), *(
                site.answer(f"body/{b}/{name}", {"limit": "1000"}).payload
                for b in ("waiblingen", "voelklingen")
                for name in ("organizations", "people", "meetings", "papers"))])  # fmt: skip
            kommune = {k.id: k.key for k in s.exec(select(Kommune)).all()}
            sitzung = {x.id: x for x in sitzungen}
            for x in sitzungen:
                url = f"{BASE}/body/{kommune[x.kommune_id]}/meeting/{x.key}"
                assert (f'"{url}"' in shown) == x.oeffentlich, url
            by_vorlage: dict[int, list[Beratung]] = {}
            for b in beratungen:
                by_vorlage.setdefault(b.vorlage_id, []).append(b)
                public = b.oeffentlich and sitzung[b.sitzung_id].oeffentlich
                k = kommune[sitzung[b.sitzung_id].kommune_id]
                assert _consultation_shown(shown, s, b, k) == public
            for vorlage_id, rows in by_vorlage.items():
                v = s.get(Vorlage, vorlage_id)
                p = s.get(Fortschreibung, v.fortschreibung_id)
                url = f"{BASE}/body/{kommune[p.kommune_id]}/paper/{p.key}/{v.stage_key}"
                visible = any(r.oeffentlich and sitzung[r.sitzung_id].oeffentlich for r in rows)
                assert (f'"{url}"' in shown) == visible, url
                if not visible:
                    with pytest.raises(NotFound):
                        site.answer(url.removeprefix(BASE + "/"), {})
        finally:
            s.rollback()


def _consultation_shown(shown: str, session, b: Beratung, kommune_key: str) -> bool:
    """Whether the Beratung's agenda item and consultation are shown (both, or neither)."""
    v = session.get(Vorlage, b.vorlage_id)
    p = session.get(Fortschreibung, v.fortschreibung_id)
    tail = f"/body/{kommune_key}/{{}}/{p.key}/{v.stage_key}/{b.position}"
    found = {f'"{BASE}{tail.format(kind)}"' in shown for kind in ("agendaitem", "consultation")}
    assert len(found) == 1, "an agenda item without its consultation, or the other way round"
    return found.pop()


@pytest.mark.postgres
def test_the_export_and_a_sync_tombstone_on_postgresql(pg_url, tmp_path):
    from sqlmodel import Session

    from lifecycle.db import engine_for

    with Session(engine_for(pg_url), expire_on_commit=False) as s:
        _start(s, "waiblingen-2017", "voelklingen-2017")
        gremium = s.exec(select(Gremium).where(Gremium.key == "gr")).one()
        s.add(Sitzung(kommune_id=gremium.kommune_id, gremium_id=gremium.id or 0,
                      key="gr-2018-01-25", start=dt.datetime(2018, 1, 25, 18)))  # fmt: skip
        s.commit()
        service.delete_sitzung(s, "waiblingen", "gr-2018-01-25", actor="test")
        result = service.export(s, tmp_path / "oparl", base_url=BASE)
        assert result.bodies == 2 and _everything_validates(tmp_path / "oparl") >= result.objects
        since = {"modified_since": "2000-01-01T00:00:00+01:00"}
        page = Site(s, BASE).answer("body/waiblingen/meetings", since).payload
        assert [m["id"].rsplit("/", 1)[1] for m in page["data"] if m.get("deleted")] == [
            "gr-2018-01-25"
        ]


def test_one_body_read_alone_is_the_body_read_with_all_others(session):
    """A Body's request reads only its own rows' history: the same objects, stamps and
    tombstones as the pass over the whole installation gives that Body."""
    _start(session, "waiblingen-2017", "voelklingen-2017")
    services.save_vorlage_text(session, "waiblingen-2017", "vorlage", betreff="Neuer Betreff",
                               beschlussvorschlag="Zustimmung.", begruendung={},
                               actor="test")  # fmt: skip
    gremium = session.exec(select(Gremium).where(Gremium.key == "gr")).first()
    assert gremium is not None
    session.add(Sitzung(kommune_id=gremium.kommune_id, gremium_id=gremium.id or 0,
                        key="gr-2018-01-25", start=dt.datetime(2018, 1, 25, 18)))  # fmt: skip
    session.commit()
    service.delete_sitzung(session, "waiblingen", "gr-2018-01-25", actor="test")
    # an entry in the history of one row of each kind
    kommune = session.exec(select(Kommune).where(Kommune.key == "waiblingen")).one()
    rows = {"Kommune": kommune, "Gremium": gremium,
            "Fortschreibung": session.exec(select(Fortschreibung).where(
                Fortschreibung.key == "waiblingen-2017")).one()}  # fmt: skip
    rows["Person"] = session.exec(select(Person).where(Person.kommune_id == kommune.id)).first()
    rows["Sitzung"] = session.exec(select(Sitzung).where(Sitzung.kommune_id == kommune.id,
                                                         Sitzung.key == "gr-2017-12-14")).one()
    rows["Vorlage"] = session.exec(select(Vorlage).where(
        Vorlage.fortschreibung_id == rows["Fortschreibung"].id)).first()  # fmt: skip
    for day, (entity, row) in enumerate(rows.items(), start=1):
        session.add(Event(at=dt.datetime(2019, 1, day, 12, tzinfo=dt.UTC), actor="test",
                          action="changed", entity=entity, entity_id=row.id))  # fmt: skip
    session.commit()
    everything = {b.body["id"]: b for b in Site(session, BASE).bodies()}
    assert len(everything) == 2
    for key in ("waiblingen", "voelklingen"):
        alone = Site(session, BASE).body(key)
        whole = everything[alone.body["id"]]
        assert alone.by_id == whole.by_id and alone.tombstones == whole.tombstones
        assert alone.lists == whole.lists
    waiblingen = everything[f"{BASE}/body/waiblingen"]
    assert waiblingen.tombstones["meetings"]
    # and the stamps themselves: a Body's own are those of the whole pass for its rows
    whole_spans = load_stamps(session).spans
    for body in load_bodies(session):
        own = load_stamps(session, [body]).spans
        mine = {(entity, row.id) for entity, found in (
            ("Kommune", [body.kommune]), ("Gremium", body.gremien), ("Person", body.persons),
            ("Sitzung", body.sitzungen), ("Fortschreibung", body.processes),
            ("Vorlage", body.vorlagen)) for row in found}  # fmt: skip
        assert own == {k: v for k, v in whole_spans.items() if k in mine}
    assert {(e, row.id) for e, row in rows.items()} <= set(whole_spans)


def test_the_system_and_the_list_of_bodies_read_no_other_object(session):
    """`/system` and `/bodies` come from the Body objects alone (not from every object of
    the installation), and say exactly what the whole build says, on every page and with
    every filter; the AGS (from a stored scenario) only on the Bodies a page shows."""
    from sqlalchemy import event as sa_event

    from lifecycle.oparl import lists, objects

    _start(session, "waiblingen-2017", "voelklingen-2017")
    process = session.exec(select(Fortschreibung).where(
        Fortschreibung.key == "waiblingen-2017")).one()  # fmt: skip
    process.scenario = {**process.scenario, "kommune": {**process.scenario["kommune"],
                                                        "ags": "08119079"}}  # fmt: skip
    session.add(process)
    session.commit()
    whole = [b.body for b in Site(session, BASE).bodies()]
    assert [b.get("ags") for b in whole] == [None, "08119079"]  # voelklingen, waiblingen
    queries = [{}, {"limit": "1"}, {"limit": "1", "page": "2"}, {"omit_internal": "true"},
               {"modified_since": whole[1]["modified"]}, {"created_until": whole[0]["created"]}]
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    sa_event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        site = Site(session, BASE)
        assert site.answer("system", {}).payload == objects.system(site.urls, whole)
        for query in queries:
            expected = lists.page(f"{BASE}/bodies", whole, [], Filters.parse(query),
                                  lists.page_number(query))  # fmt: skip
            assert site.answer("bodies", query).payload == expected, query
    finally:
        sa_event.remove(session.get_bind(), "before_cursor_execute", listen)
    read = " ".join(statements).lower()
    for table in ("sitzung", "gremium", "person", "vorlage", "beratung", "documentversion"):
        assert f"from {table} " not in read and f"from {table}\n" not in read, table
    assert "fortschreibung.scenario" not in read.replace("json_extract(fortschreibung.scenario",
                                                         "")  # only its AGS, by the database
