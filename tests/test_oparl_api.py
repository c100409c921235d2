"""The OParl 1.1 API of the web app (issue 12): public, read-only, ids are the URLs served,
errors in the spec's form, non-public objects are not there."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session
from web_support import client_for, make_app

from lifecycle import services
from lifecycle.db import engine_for
from lifecycle.oparl import validate

BASE = "http://testserver/oparl/v1.1"


def _get(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, (url, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["access-control-allow-origin"] == "*"
    return response.json()


def _walk_list(client, url: str) -> list[dict]:
    """Every object of a list, page by page along links.next; every page complete."""
    found, seen = [], set()
    while url:
        assert url not in seen, "links.next loops"
        seen.add(url)
        page = _get(client, url)
        assert set(page) == {"data", "pagination", "links"}
        found += page["data"]
        url = page["links"].get("next")
    return found


def test_anonymous_clients_walk_the_api_and_every_id_is_where_it_is_served(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    app = make_app(db_url)
    with Session(engine_for(db_url)) as s:
        services.generate_document(s, "waiblingen-2017", "sitzungsvorlage")
    client = client_for(app, None)
    assert client.get("/oparl/v1.1/").headers["location"] == f"{BASE}/system"
    system = _get(client, f"{BASE}/system")
    assert system["id"] == f"{BASE}/system" and validate.problems(system) == []
    bodies = _walk_list(client, system["body"])
    assert {b["name"] for b in bodies} == {"Waiblingen", "Völklingen"}
    count = 0
    for body in bodies:
        assert _get(client, body["id"]) == body
        for key in ("organization", "person", "meeting", "paper", "legislativeTermList"):
            for obj in _walk_list(client, body[key] + "?limit=2"):
                assert validate.problems(obj) == [], obj["id"]
                assert _get(client, obj["id"]) == obj  # served at its id, the same object
                for item in obj.get("agendaItem", []) + obj.get("consultation", []):
                    assert _get(client, item["id"]) == item
                count += 1
    assert count > 20
    paper = _get(client, f"{BASE}/body/waiblingen/paper/waiblingen-2017/vorlage")
    assert [c["role"] for c in paper["consultation"]] == ["Vorberatung", "Entscheidung"]
    access = client.get(paper["mainFile"]["accessUrl"])
    assert access.status_code == 200 and access.content[:2] == b"PK"
    assert len(access.content) == paper["mainFile"]["size"]
    download = client.get(paper["mainFile"]["downloadUrl"])
    assert download.headers["content-disposition"].startswith("attachment")


def test_unknown_and_nonpublic_ids_are_404_in_the_spec_error_form(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'web.db'}")
    client = client_for(app, None)
    for url in (
        f"{BASE}/body/voelklingen/meeting/hpta-2017-08-31",  # nichtöffentlich
        f"{BASE}/body/waiblingen/meeting/gibt-es-nicht",
        f"{BASE}/body/nirgendwo",
        f"{BASE}/body/waiblingen/file/999/access/x.pdf",
        "http://testserver/oparl/v1.0/system",
    ):
        error = _get(client, url, 404)
        assert error["type"] == "https://schema.oparl.org/1.1/Error", url
        assert error["message"] == "Dieses Objekt gibt es nicht."
    meetings = _walk_list(client, f"{BASE}/body/voelklingen/meetings")
    assert "hpta-2017-08-31" not in str(meetings) and len(meetings) == 3
    bad = _get(client, f"{BASE}/body/waiblingen/meetings?modified_since=gestern", 400)
    assert bad["type"].endswith("/Error") and "Zeitzone" in bad["debug"]


def test_filters_survive_in_links_through_the_app(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'web.db'}")
    client = client_for(app, None)
    since = "2000-01-01T00:00:00+01:00"
    page = _get(client, f"{BASE}/body/waiblingen/meetings?limit=1&modified_since={since}")
    assert page["pagination"]["totalPages"] == 4
    nxt = page["links"]["next"]
    assert "modified_since=2000-01-01T00%3A00%3A00%2B01%3A00" in nxt and "limit=1" in nxt
    assert _get(client, nxt)["pagination"]["currentPage"] == 2
    last = _get(client, page["links"]["last"])
    assert "next" not in last["links"] and last["data"]


def test_omit_internal_and_until_filters(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'web.db'}")
    client = client_for(app, None)
    page = _get(client, f"{BASE}/body/waiblingen/meetings?omit_internal=true&limit=2")
    assert page["data"] and all("agendaItem" not in m for m in page["data"])
    assert "omit_internal=true" in page["links"]["next"]
    full = _get(client, f"{BASE}/body/waiblingen/meetings")
    assert any(m["agendaItem"] for m in full["data"])
    until = _get(client, f"{BASE}/body/waiblingen/papers?created_until=2001-01-01T00:00:00Z")
    assert until["data"] == [] and until["pagination"]["totalElements"] == 0
    assert "next" not in until["links"] and until["links"]["last"] == until["links"]["self"]


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory):
    return client_for(make_app(f"sqlite:///{tmp_path_factory.mktemp('api') / 'web.db'}"), None)


@pytest.mark.parametrize("query", ["limit=%C2%B2", "page=%C2%B3", "limit=%D9%A3",  # ², ³, ٣
                                   "page=" + "9" * 5000, "limit=0", "page=-1", "limit=1.5"])
@pytest.mark.parametrize("path", ["bodies", "body/waiblingen/meetings"])
def test_a_count_that_is_no_ascii_number_is_400_in_the_spec_error_form(anonymous, path, query):
    """str.isdigit() takes superscripts and other scripts' digits, int() does not."""
    error = _get(anonymous, f"{BASE}/{path}?{query}", 400)
    assert error["type"] == "https://schema.oparl.org/1.1/Error"
    assert error["message"] == "Die Anfrage ist fehlerhaft." and "ab 1" in error["debug"]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(name=st.sampled_from(["limit", "page"]), value=st.text(min_size=1, max_size=12))
def test_any_count_is_a_page_or_a_400(anonymous, name, value):
    response = anonymous.get(f"{BASE}/body/waiblingen/meetings", params={name: value})
    assert response.status_code in (200, 400), (name, value)
    assert response.headers["content-type"].startswith("application/json")
