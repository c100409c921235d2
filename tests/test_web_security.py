"""The web app's doors: login, throttling, sessions, CSRF, tenants, limits, error pages."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from web_support import PASSWORD, client_for, csrf, dump, make_app, notice, token_of

from lifecycle import passwords
from lifecycle.db import engine_for
from lifecycle.errors import InputError
from lifecycle.models import LoginFailure, User
from lifecycle.web import create_app, security

PROCESS = "/prozess/waiblingen-2017"


@pytest.fixture
def app(db_url):
    return make_app(db_url)


def login(client: TestClient, name: str, password: str, weiter: str = "/"):
    token = csrf(client.get("/anmelden").text)
    return client.post("/anmelden", data={"csrf_token": token, "name": name,
                                          "passwort": password, "weiter": weiter})  # fmt: skip


def test_pages_need_a_login(app):
    anonymous = client_for(app, None)
    response = anonymous.get("/")
    assert response.status_code == 303 and response.headers["location"] == "/anmelden?weiter=/"
    page = anonymous.get("/anmelden")
    assert page.status_code == 200 and '<html lang="de">' in page.text
    assert '<label for="passwort">Passwort</label>' in page.text


def test_login_with_the_right_password_and_out_again(app):
    client = client_for(app, None)
    response = login(client, "ortolf", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "Fortschreibungen" in client.get("/").text
    client.post("/abmelden", data={"csrf_token": token_of(client)})
    assert client.get("/").status_code == 303  # the session is gone


def test_a_copy_of_the_cookie_is_dead_after_logout(app, db_url):
    """The cookie is signed, not stored: logging out must end it on the server, for every copy
    (and every other session of the user)."""
    client, elsewhere = client_for(app, "ortolf"), client_for(app, "ortolf")
    token, cookie = token_of(client), client.cookies["lifecycle"]

    def copy() -> TestClient:
        thief = client_for(app, None)
        thief.cookies.set("lifecycle", cookie)
        return thief

    assert copy().get(PROCESS).status_code == 200
    assert client.post("/abmelden", data={"csrf_token": token}).status_code == 303
    before = dump(db_url)
    for c in (copy(), elsewhere):
        assert c.get(PROCESS).status_code == 303  # to the login page
    task = copy().post(f"{PROCESS}/aufgaben/2/erledigt",
                       data={"csrf_token": token, "datum": "2017-03-14"})  # fmt: skip
    assert task.status_code == 401 and "Bitte melden Sie sich an" in task.text
    assert dump(db_url) == before
    assert client_for(app, "ortolf").get(PROCESS).status_code == 200  # a new login works


def test_a_new_password_ends_the_sessions_of_the_old_one(app, db_url):
    client = client_for(app, "gast")
    assert client.get("/").status_code == 200
    with Session(engine_for(db_url)) as s:
        user = s.exec(select(User).where(User.name == "gast")).one()
        user.password_hash = passwords.hash_password("ein-neues-passwort")
        s.add(user)
        s.commit()
    assert client.get("/").status_code == 303


@pytest.mark.parametrize(("given", "env", "secure"), [
    (None, None, False), (None, "1", True), (None, "nein", False), (True, None, True),
    (False, "ja", False),
])  # fmt: skip
def test_the_cookie_is_secure_when_asked(db_url, monkeypatch, given, env, secure):
    """Off by default (http://127.0.0.1 for one person); on behind TLS, by option or env."""
    if env is None:
        monkeypatch.delenv("LIFECYCLE_WEB_SECURE_COOKIE", raising=False)
    else:
        monkeypatch.setenv("LIFECYCLE_WEB_SECURE_COOKIE", env)
    app = make_app(db_url) if given is None else create_app(db_url, secret="s" * 40,
                                                            https_only=given)  # fmt: skip
    cookie = TestClient(app).get("/anmelden").headers["set-cookie"].lower()
    assert ("; secure" in cookie) == secure


def test_a_bad_secure_cookie_setting_stops_the_start(db_url, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_WEB_SECURE_COOKIE", "vielleicht")
    with pytest.raises(InputError, match="LIFECYCLE_WEB_SECURE_COOKIE"):
        make_app(db_url)


def test_a_notice_is_one_the_server_issued_not_text_from_the_link(app):
    """A crafted link puts no text on the login page (nor any other) as an official notice."""
    spoof = "Wartung: Bitte melden Sie sich ab sofort unter https://rathaus-login.example an."
    for user, path in ((None, "/anmelden"), ("ortolf", "/"), ("ortolf", PROCESS)):
        page = client_for(app, user).get(f"{path}?hinweis={quote(spoof)}")
        assert page.status_code == 200
        assert "rathaus-login.example" not in page.text and 'class="hinweis"' not in page.text


def test_the_notice_of_a_change_is_shown_once(app):
    ortolf = client_for(app, "ortolf")
    response = ortolf.post(f"{PROCESS}/aufgaben/2/erledigt",
                           data={"csrf_token": token_of(ortolf), "datum": "2017-03-14"})
    assert response.headers["location"] == PROCESS
    assert "ist als erledigt eingetragen (am 14.03.2017)." in notice(ortolf, response)
    assert 'class="hinweis"' not in ortolf.get(PROCESS).text  # once
    assert 'class="hinweis"' not in client_for(app, "ortolf").get(PROCESS).text  # only there


def test_a_wrong_password_says_no_without_saying_which_part(app):
    client = client_for(app, None)
    wrong_password = login(client, "ortolf", "falsch-falsch")
    unknown_user = login(client, "niemand", "falsch-falsch")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert "Name oder Passwort stimmt nicht" in wrong_password.text
    assert "Name oder Passwort stimmt nicht" in unknown_user.text


def test_an_account_locks_after_repeated_failures(app, db_url):
    client = client_for(app, None)
    for _ in range(security.LOCK_AFTER):
        assert login(client, "sd", "falsch-falsch").status_code == 401
    locked = login(client, "sd", PASSWORD)  # even the right password waits now
    assert locked.status_code == 401 and "zu viele Fehlversuche" in locked.text
    with Session(engine_for(db_url)) as s:
        [failure] = s.exec(select(LoginFailure)).all()
        assert failure.failures == security.LOCK_AFTER and failure.locked_until is not None
        assert failure.name_key == app.state.login.name_key("sd") != "sd"  # not the name


def test_the_lock_does_not_tell_whether_a_name_exists(app):
    """Every answer to a known name is the answer to an unknown one, the sixth included."""
    answers = {}
    for name in ("ortolf", "niemand-xy"):
        client = client_for(app, None)
        answers[name] = [(r.status_code, re.findall(r'class="fehler"[^>]*>([^<]*)<', r.text))
                         for r in (login(client, name, "falsch-falsch")
                                   for _ in range(security.LOCK_AFTER + 1))]  # fmt: skip
    assert answers["ortolf"] == answers["niemand-xy"]
    assert answers["ortolf"][0][1] and answers["ortolf"][-1][0] == 401
    assert "zu viele Fehlversuche" in answers["niemand-xy"][-1][1][0]


def test_the_counts_per_name_are_bounded(app, db_url, monkeypatch):
    """A name quiet for a day is forgotten; beyond MAX_NAMES the quietest go first."""
    monkeypatch.setattr(security, "MAX_NAMES", 3)
    client = client_for(app, None)
    for i in range(5):
        login(client, f"gibt-es-nicht-{i}", "falsch-falsch")
    with Session(engine_for(db_url)) as s:
        keys = {f.name_key for f in s.exec(select(LoginFailure)).all()}
        assert keys == {app.state.login.name_key(f"gibt-es-nicht-{i}") for i in (2, 3, 4)}
        for failure in s.exec(select(LoginFailure)).all():
            failure.last_failed -= security.FORGET_AFTER + dt.timedelta(seconds=1)
            s.add(failure)
        s.commit()
    login(client, "noch-einer", "falsch-falsch")
    with Session(engine_for(db_url)) as s:
        [left] = s.exec(select(LoginFailure)).all()
        assert left.name_key == app.state.login.name_key("noch-einer")


def test_a_login_forgets_the_failures_of_its_name(app, db_url):
    client = client_for(app, None)
    login(client, "Ortolf ", "falsch-falsch")  # the same name as typed differently
    assert login(client, "ortolf", PASSWORD).status_code == 303
    with Session(engine_for(db_url)) as s:
        assert s.exec(select(LoginFailure)).all() == []


def test_many_failures_from_one_address_are_throttled(app):
    client = client_for(app, None)
    for i in range(security.CLIENT_MAX_FAILURES):
        login(client, f"rate{i}", "falsch-falsch")
    blocked = login(client, "ortolf", PASSWORD)
    assert blocked.status_code == 401 and "zu viele Fehlversuche" in blocked.text


def test_the_throttle_keeps_only_recent_addresses(monkeypatch):
    throttle = security.Throttle()
    monkeypatch.setattr(security, "CLIENT_MAX_TRACKED", 3)
    for i in range(5):
        throttle.failed(f"10.0.0.{i}")
        assert not throttle.blocked(f"10.0.1.{i}")  # asking about an address stores nothing
    assert set(throttle._failures) == {"10.0.0.2", "10.0.0.3", "10.0.0.4"}
    monkeypatch.setattr(security, "CLIENT_WINDOW_SECONDS", 0)
    assert not throttle.blocked("10.0.0.4") and "10.0.0.4" not in throttle._failures


def test_login_starts_a_new_session(app):
    """No session fixation: the CSRF token of the anonymous session is not the logged-in one."""
    client = client_for(app, None)
    before = csrf(client.get("/anmelden").text)
    login(client, "ortolf", PASSWORD)
    assert token_of(client) != before


def test_a_post_without_the_csrf_token_is_refused(app, db_url):
    client = client_for(app, "admin")
    before = dump(db_url)
    for data in ({}, {"csrf_token": "gefälscht"}):
        response = client.post("/abmelden", data=data)
        assert response.status_code == 403 and "Formular ist abgelaufen" in response.text
    forged = client_for(app, None).post(
        "/anmelden", data={"name": "admin", "passwort": PASSWORD}
    )
    assert forged.status_code == 403
    assert dump(db_url) == before
    assert client.get("/").status_code == 200  # still logged in


def test_no_open_redirect_after_login(app):
    for target in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        client = client_for(app, None)
        response = login(client, "ortolf", PASSWORD, weiter=target)
        assert response.headers["location"] == "/"


def test_a_user_sees_only_the_kommunen_granted(app):
    fremd = client_for(app, "fremd").get("/").text
    assert "voelklingen-2017" in fremd and "waiblingen-2017" not in fremd
    assert "Waiblingen" not in fremd  # not even in the Kommune filter
    admin = client_for(app, "admin").get("/").text
    assert "voelklingen-2017" in admin and "waiblingen-2017" in admin
    assert admin.count("Integrationskonzept") >= 2  # the concept of each process
    filtered = client_for(app, "admin").get("/?kommune=voelklingen").text
    assert "voelklingen-2017" in filtered and "waiblingen-2017" not in filtered


def test_bad_query_values_get_a_german_page(app):
    client = client_for(app, "admin")
    response = client.get("/?seite=abc")
    assert response.status_code == 422 and "Ungültige Angabe im Feld seite" in response.text
    assert client.get("/gibtsnicht").status_code == 404


MENU = ('aria-label="Hauptnavigation"', '<a href="/aufgaben"', 'action="/abmelden"', "Abmelden")


@pytest.mark.parametrize("path", ["/prozess/gibt-es-nicht", "/gibtsnicht"])
def test_an_error_page_keeps_the_menu_of_a_logged_in_user(app, path):
    """A 404 and a refused form: the way back to the menu and out, as on every page."""
    sd = client_for(app, "sd")
    missing = sd.get(path)
    form = sd.post("/prozess/waiblingen-2017/gate/ratsbeschluss",
                   data={"csrf_token": token_of(sd), "ergebnis": "approve", "datum": "2017-13-45"})
    assert missing.status_code == 404 and "Nicht gefunden" in missing.text
    assert form.status_code == 422 and "Eingabe prüfen" in form.text
    for page in (missing.text, form.text):
        assert all(part in page for part in MENU), page
        assert "<span>Sd</span>" in page and '<a href="/verwaltung"' not in page  # not an admin
        assert f'value="{token_of(sd)}"' in page  # logging out from here works
    assert '<a href="/verwaltung"' in client_for(app, "admin").get(path).text


def test_an_error_page_shows_no_menu_to_a_visitor(app):
    anonymous = client_for(app, None)
    token = csrf(anonymous.get("/anmelden").text)
    missing = anonymous.get("/gibtsnicht")  # (a page of the app: to the login first)
    form = anonymous.post("/prozess/waiblingen-2017/gate/ratsbeschluss",
                          data={"csrf_token": token, "ergebnis": "approve", "datum": "x"})
    assert missing.status_code == 404 and form.status_code == 401
    for page in (missing.text, form.text):
        assert not any(part in page for part in MENU), page
        assert '<a href="/">Zur Übersicht</a>' in page and "javascript:" not in page


def test_an_oversized_request_is_refused_before_it_is_read(app, db_url):
    client = client_for(app, "admin")
    before = dump(db_url)
    response = client.post("/abmelden", content=b"x" * (7 * 2**20),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and "zu groß" in response.text
    assert dump(db_url) == before


def test_security_headers(app):
    response = client_for(app, None).get("/anmelden")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    cookie = response.headers.get("set-cookie", "")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


def test_an_inactive_account_is_logged_out(app, db_url):
    client = client_for(app, "gast")
    with Session(engine_for(db_url)) as s:
        user = s.exec(select(User).where(User.name == "gast")).one()
        user.active = False
        s.add(user)
        s.commit()
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("char", ["%0A", "%0D", "%09", "%00", "%7F"])
@pytest.mark.parametrize("path", [
    "/prozess/waiblingen-2017{c}", "/oparl/v1.1/body/waiblingen{c}",
    "/prozess/waiblingen-2017/aufgaben/1/erledigt{c}",
])  # fmt: skip
def test_a_control_character_in_the_address_is_refused(app, db_url, path, char):
    """Starlette's routes would read ``/prozess/x%0A`` as ``/prozess/x`` (``$`` matches before
    a final line break): the same page, or the same write, under an address that is not its."""
    client = client_for(app, "ortolf")
    before = dump(db_url)
    url = path.format(c=char)
    if "erledigt" in url:
        response = client.post(url, data={"csrf_token": token_of(client), "datum": "2017-03-14"})
    else:
        response = client.get(url)
    assert response.status_code == 404 and "Steuerzeichen" in response.text
    assert dump(db_url) == before
