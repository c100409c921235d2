"""Generated form input against the web app's write routes.

The property, for every posted form: the answer is a redirect to the result (303) or a German
error page with a 4xx status — never a 500 — and a refused post leaves every table as it was.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from web_support import client_for, dump, make_app, token_of

ALLOWED = {303, 401, 403, 404, 409, 413, 422}
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "2017-04-27", "27.04.2017", "2017-02-30", "9999-12-31",
                     "0001-01-01", "BSV 3/2017", "BSV 3/2017\n", "../../etc/passwd",
                     "<script>alert(1)</script>", "{{ 7*7 }}", "\x00", "ä" * 300,
                     "approve", "send_back", "postpone", "gr-2017-12-14"]),
)  # fmt: skip
EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    db_url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'gen.db'}"
    app = make_app(db_url)
    client = client_for(app, "ortolf")
    return db_url, client, token_of(client, "/prozess/waiblingen-2017")


def post(site, path: str, data: dict[str, str]) -> None:
    db_url, client, token = site
    before = dump(db_url)
    response = client.post(path, data={"csrf_token": token, **data})
    assert response.status_code in ALLOWED, (path, data, response.status_code)
    assert "Interner Fehler" not in response.text
    if response.status_code != 303:
        assert dump(db_url) == before, (path, data)
        assert '<html lang="de">' in response.text


@EXAMPLES
@given(ergebnis=TEXT, datum=TEXT, aktenzeichen=TEXT, begruendung=TEXT, vertagen=TEXT,
       erzwingen=TEXT)  # fmt: skip
def test_gate_form(site, ergebnis, datum, aktenzeichen, begruendung, vertagen, erzwingen):
    post(site, "/prozess/waiblingen-2017/gate/ratsbeschluss", {
        "ergebnis": ergebnis, "datum": datum, "aktenzeichen": aktenzeichen,
        "begruendung": begruendung, "vertagen_auf": vertagen, "erzwingen": erzwingen})  # fmt: skip


@EXAMPLES
@given(task=st.one_of(st.integers(-5, 10**20).map(str), TEXT), datum=TEXT, person=TEXT)
@example(task=str(2**63), datum="2017-03-14", person="raible")  # past a database integer
@example(task="9" * 20, datum="2017-03-14", person="raible")
def test_task_forms(site, task, datum, person):
    task = quote(task, safe="")  # what a browser sends for any text in the path
    post(site, f"/prozess/waiblingen-2017/aufgaben/{task}/erledigt", {"datum": datum})
    post(site, f"/prozess/waiblingen-2017/aufgaben/{task}/zuweisen", {"person": person})


@EXAMPLES
@given(betreff=TEXT, vorschlag=TEXT, abschnitt=TEXT)
def test_vorlage_form(site, betreff, vorschlag, abschnitt):
    post(site, "/prozess/waiblingen-2017/vorlage/vorlage", {
        "betreff": betreff, "beschlussvorschlag": vorschlag, "abschnitt-0": abschnitt})
