"""The Umsetzung pages: Maßnahmen per Handlungsfeld, editing one, milestones, the CSV.

Waiblingen 2017 is replayed through its last gate (13 Maßnahmen, the scenario's indicators)
on the web tests' database; every write is tried by the wrong people and with bad input:
refused with a German message, and the database is unchanged.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import re
import shutil
import sqlite3
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from test_web_browser import PHONE
from test_web_browser import browser as browser  # noqa: F401 (fixtures for the browser test)
from test_web_browser import server as server  # noqa: F401
from web_support import _prepared, assert_cells_labelled, client_for, dump, token_of
from web_support import notice as note

from lifecycle import replay, services
from lifecycle.db import engine_for
from lifecycle.massnahmen_csv import COLUMNS
from lifecycle.models import Event, Fortschreibung, Massnahme, MassnahmeStatus, Meilenstein
from lifecycle.web import create_app
from lifecycle.web.massnahmen_pages import zahl

PROCESS = "/prozess/waiblingen-2017"
PAGE = f"{PROCESS}/massnahmen"
LOTSEN = f"{PAGE}/integrationslotsen"
TREFF = f"{PAGE}/offener-treff"


@lru_cache(maxsize=1)
def _adopted() -> Path:
    """The web tests' starting database with Waiblingen replayed through its last gate."""
    folder = Path(tempfile.mkdtemp(prefix="lifecycle-web-umsetzung-"))
    shutil.copyfile(_prepared(), folder / "adopted.db")
    url = f"sqlite:///{folder / 'adopted.db'}"
    with Session(engine_for(url), expire_on_commit=False) as s:
        query = select(Fortschreibung).where(Fortschreibung.key == "waiblingen-2017")
        process = s.exec(query).one()
        replay.run(s, process)
    engine_for(url).dispose()
    with sqlite3.connect(folder / "adopted.db") as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.execute("PRAGMA journal_mode=DELETE")
    return folder / "adopted.db"


@pytest.fixture
def app(db_url):
    target = Path(db_url.removeprefix("sqlite:///"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_adopted(), target)
    return create_app(db_url, secret="test-secret-" + "x" * 32)


def massnahme(db_url: str, key: str) -> Massnahme:
    with Session(engine_for(db_url)) as s:
        return s.exec(select(Massnahme).where(Massnahme.key == key)).one()


def post(client, path: str, data: dict[str, str]):
    return client.post(path, data={"csrf_token": token_of(client, PAGE), **data})


def rows_of(html: str) -> list[str]:
    """The Maßnahmen tables' rows, as text without tags."""
    bodies = re.findall(r'<table class="liste massnahmen">.*?<tbody>(.*?)</tbody>', html, re.S)
    rows = [r for body in bodies for r in re.findall(r"<tr.*?</tr>", body, re.S)]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip() for r in rows]


FORM = {"status": "in Umsetzung", "fortschritt": "40", "zieltermin": "30.09.2018",
        "sachstand": "Zwölf Lotsinnen und Lotsen geschult.", "notiz": "Geld erst ab Juli"}


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["admin", "ortolf", "sd", "gast"])
def test_everyone_who_sees_the_process_sees_the_massnahmen_per_handlungsfeld(app, db_url, user):
    services_note = "Nur intern: Träger zögert"
    with Session(engine_for(db_url)) as s:
        services.update_massnahme(s, "waiblingen-2017", "integrationslotsen",
                                  {"internal_note": services_note, "public_text": "läuft an"},
                                  actor="test")  # fmt: skip
        services.add_messung(s, "waiblingen-2017", "integrationskurse", on=dt.date(2018, 9, 30),
                             value=335, actor="test")  # fmt: skip
    page = client_for(app, user).get(f"{PAGE}?stichtag=2018-07-01")
    assert page.status_code == 200
    html = page.text
    assert len(rows_of(html)) == 13
    assert '<h2 id="hf-1">' in html  # one section per Handlungsfeld
    assert "Bürgerschaftliches Engagement" in html
    lotsen = next(r for r in rows_of(html) if "Integrationslotsen" in r)
    # responsible, German target date, status with the derived word (not only colour), progress
    assert "Fachbereich Bürgerengagement" in lotsen and "30.06.2018" in lotsen
    assert "offen (überfällig)" in lotsen and "0 %" in lotsen
    assert "Sachstand: läuft an" in lotsen
    kurse = re.search(r"Teilnehmende an Integrationskursen</th>(.*?)</tr>", html, re.S)
    assert kurse, "an indicator with baseline, target and the latest measurement"
    cells = " ".join(re.sub(r"<[^>]+>", " ", kurse.group(1)).split())
    assert cells == "310 Personen (31.12.2017) 360 Personen (31.12.2019) 335 Personen (30.09.2018)"
    may_edit = user != "gast"
    assert (services_note in html) is may_edit
    assert ("Interne Notiz" in html) is may_edit
    assert (f'href="{PAGE}.csv"' in html) is may_edit
    assert assert_cells_labelled(html) >= 2  # Maßnahmen and Indikatoren (Interne Notiz or not)
    detail = client_for(app, user).get(LOTSEN).text
    assert "Sachstand (öffentlich)" in detail and "läuft an" in detail
    assert (services_note in detail) is may_edit
    assert f'href="{PAGE}"' in client_for(app, user).get(PROCESS).text  # linked from the process


def test_overdue_is_derived_on_the_day_asked_and_can_be_filtered(app, db_url):
    client = client_for(app, "ortolf")
    before = rows_of(client.get(f"{PAGE}?stichtag=2018-06-30").text)
    assert not any("Integrationslotsen" in r and "überfällig" in r for r in before)
    after = client.get(f"{PAGE}?stichtag=2018-07-01").text
    assert any("Integrationslotsen" in r and "(überfällig)" in r for r in rows_of(after))
    late = re.search(r"davon\s+<strong class=\"ueberfaellig\">(\d+) überfällig", after)
    assert late, after
    only = rows_of(client.get(f"{PAGE}?stichtag=2018-07-01&ueberfaellig=ja").text)
    assert only and all("(überfällig)" in r for r in only)
    assert len(only) == int(late.group(1)) < 13
    # done is never overdue
    with Session(engine_for(db_url)) as s:
        services.update_massnahme(s, "waiblingen-2017", "integrationslotsen",
                                  {"status": "erledigt"}, actor="test")  # fmt: skip
    only = rows_of(client.get(f"{PAGE}?stichtag=2018-07-01&ueberfaellig=ja").text)
    assert not any("Integrationslotsen" in r for r in only)
    assert len(only) == int(late.group(1)) - 1


def test_a_bad_stichtag_is_refused(app):
    client = client_for(app, "gast")
    assert client.get(f"{PAGE}?stichtag=31.02.2018").status_code == 422
    assert client.get(f"{PAGE}?stichtag=1066-10-14").status_code == 422


def test_the_page_before_the_council_decides_says_so(app, db_url):
    client = client_for(app, "fremd")
    html = client.get("/prozess/voelklingen-2017/massnahmen").text
    assert "Noch keine Maßnahmen" in html


def test_the_pages_of_another_kommune_do_not_exist(app):
    fremd = client_for(app, "fremd")
    for path in (PAGE, LOTSEN, f"{PAGE}.csv"):
        assert fremd.get(path).status_code == 404, path
    ortolf = client_for(app, "ortolf")
    assert ortolf.get("/prozess/voelklingen-2017/massnahmen").status_code == 404
    assert ortolf.get(f"{PAGE}/gibt-es-nicht").status_code == 404


@pytest.mark.parametrize("path", [PAGE, LOTSEN, f"{PAGE}.csv"])
def test_reading_needs_a_login(app, path):
    response = client_for(app, None).get(path)
    assert response.status_code == 303 and response.headers["location"].startswith("/anmelden")


def test_every_input_has_a_label(app):
    client = client_for(app, "ortolf")
    for path in (PAGE, LOTSEN):
        html = client.get(path).text
        ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"',
                         html)  # fmt: skip
        assert ids, path
        for ident in ids:
            assert f'for="{ident}"' in html, (path, ident)
        assert len(ids) == len(set(ids))


# --- the CSV -----------------------------------------------------------------------------------


def test_editors_download_the_csv_in_the_import_format(app, db_url):
    response = client_for(app, "sd").get(f"{PAGE}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "massnahmen-waiblingen-2017.csv" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 13
    lotsen = next(r for r in rows if r["Schlüssel"] == "integrationslotsen")
    assert lotsen["Zieltermin"] == "30.06.2018" and lotsen["Status"] == "offen"
    # the download loads back without a change: the same format both ways
    with Session(engine_for(db_url)) as s:
        assert services.import_massnahmen(s, "waiblingen-2017", response.content,
                                          source="web.csv", apply=False, actor="t") == []


def test_a_viewer_may_not_download_the_csv_with_the_internal_notes(app):
    assert client_for(app, "gast").get(f"{PAGE}.csv").status_code == 403


# --- editing -----------------------------------------------------------------------------------


def test_the_project_lead_changes_a_massnahme_and_the_log_keeps_it(app, db_url):
    client = client_for(app, "ortolf")
    form = client.get(LOTSEN).text
    assert f'action="{LOTSEN}"' in form
    for word in ("offen", "in Umsetzung", "erledigt", "zurückgestellt"):
        assert f'<option value="{word}"' in form
    assert '<option value="überfällig"' not in form
    response = post(client, LOTSEN, FORM)
    said = note(client, response)
    assert "„Integrationslotsen" in said and "gespeichert" in said
    m = massnahme(db_url, "integrationslotsen")
    assert (m.status, m.progress, m.target_date) == (
        MassnahmeStatus.in_umsetzung, 40, dt.date(2018, 9, 30))
    assert m.public_text == FORM["sachstand"] and m.internal_note == FORM["notiz"]
    with Session(engine_for(db_url)) as s:
        event = s.exec(select(Event).where(Event.action == "massnahme_changed")).one()
    assert event.actor == "ortolf" and event.before["status"] == "offen"
    assert event.after["progress"] == 40 and event.after["target_date"] == "2018-09-30"
    shown = client.get(response.headers["location"]).text
    assert "in Umsetzung" in shown and "30.09.2018" in shown and "40 %" in shown
    # the same form again changes nothing and says so
    assert "nichts geändert" in note(client, post(client, LOTSEN, FORM))


def test_iso_dates_and_an_empty_target_date_are_accepted(app, db_url):
    client = client_for(app, "sd")
    note(client, post(client, LOTSEN, {**FORM, "zieltermin": "2018-10-15"}))
    assert massnahme(db_url, "integrationslotsen").target_date == dt.date(2018, 10, 15)
    note(client, post(client, LOTSEN, {**FORM, "zieltermin": ""}))
    assert massnahme(db_url, "integrationslotsen").target_date is None


def test_erledigt_with_the_progress_untouched_is_100_percent(app, db_url):
    client = client_for(app, "ortolf")
    note(client, post(client, LOTSEN, {**FORM, "status": "erledigt", "fortschritt": "0"}))
    m = massnahme(db_url, "integrationslotsen")
    assert (m.status, m.progress) == (MassnahmeStatus.erledigt, 100)


@pytest.mark.parametrize("field, value, message", [
    ("status", "überfällig", "ergibt sich aus dem Zieltermin"),
    ("status", "fertig", "unbekannt; erlaubt: offen, in Umsetzung, erledigt, zurückgestellt"),
    ("fortschritt", "101", "muss zwischen 0 und 100 liegen"),
    ("fortschritt", "-1", "muss zwischen 0 und 100 liegen"),
    ("fortschritt", "viel", "keine ganze Zahl von 0 bis 100"),
    ("zieltermin", "31.02.2018", "ist kein Datum"),
    ("zieltermin", "2018-13-01", "ist kein Datum"),
    ("status", "", "Status: fehlt"),
])  # fmt: skip
def test_bad_input_is_refused_in_german_and_changes_nothing(app, db_url, field, value, message):
    client = client_for(app, "ortolf")
    token = token_of(client, PAGE)
    before = dump(db_url)
    response = client.post(LOTSEN, data={"csrf_token": token, **FORM, field: value})
    assert response.status_code == 422, response.text
    assert message in response.text.replace("&#34;", '"').replace("&#39;", "'")
    assert dump(db_url) == before


@pytest.mark.parametrize("user, status", [("gast", 403), ("fremd", 404)])
def test_the_wrong_people_change_nothing(app, db_url, user, status):
    client = client_for(app, user)
    token = token_of(client, "/")
    before = dump(db_url)
    for path, data in ((LOTSEN, FORM), (f"{LOTSEN}/meilensteine",
                                        {"datum": "2018-03-01", "titel": "Schulung"})):
        response = client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == status, (path, response.text)
    assert dump(db_url) == before


def test_a_post_needs_login_and_the_csrf_token(app, db_url):
    before = dump(db_url)
    anonymous = client_for(app, None)
    assert anonymous.post(LOTSEN, data={"csrf_token": token_of(anonymous, "/anmelden"),
                                        **FORM}).status_code == 401  # fmt: skip
    ortolf = client_for(app, "ortolf")
    forged = ortolf.post(LOTSEN, data={"csrf_token": "gefälscht", **FORM})
    assert forged.status_code == 403 and "Formular ist abgelaufen" in forged.text
    assert ortolf.post(LOTSEN, data=FORM).status_code == 403
    assert dump(db_url) == before


def test_a_massnahme_key_that_does_not_exist_is_404_and_changes_nothing(app, db_url):
    client = client_for(app, "ortolf")
    before = dump(db_url)
    assert post(client, f"{PAGE}/gibt-es-nicht", FORM).status_code == 404
    assert dump(db_url) == before


# --- milestones --------------------------------------------------------------------------------


def test_a_milestone_is_added_and_shown(app, db_url):
    client = client_for(app, "ortolf")
    response = post(client, f"{LOTSEN}/meilensteine",
                    {"datum": "01.03.2018", "titel": "Erste Schulung", "notiz": "VHS"})
    assert note(client, response) == "Meilenstein „Erste Schulung“ am 01.03.2018 eingetragen."
    with Session(engine_for(db_url)) as s:
        row = s.exec(select(Meilenstein)).one()
    assert (row.on, row.title, row.note) == (dt.date(2018, 3, 1), "Erste Schulung", "VHS")
    html = client_for(app, "gast").get(LOTSEN).text
    assert "Erste Schulung" in html and "01.03.2018" in html
    assert assert_cells_labelled(html) == 1  # the milestones (the Stand has no columns)
    assert "Meilenstein eintragen" not in html and "Stand ändern" not in html  # a viewer reads


@pytest.mark.parametrize("data, status, message", [
    ({"datum": "01.12.2017", "titel": "Zu früh"}, 409, "liegt vor dem Beginn der Maßnahme"),
    ({"datum": "30.02.2018", "titel": "Kein Tag"}, 422, "ist kein Datum"),
    ({"datum": "2018-03-01", "titel": ""}, 422, "Meilenstein: fehlt"),
])  # fmt: skip
def test_a_bad_milestone_is_refused_and_changes_nothing(app, db_url, data, status, message):
    client = client_for(app, "ortolf")
    token = token_of(client, PAGE)
    before = dump(db_url)
    response = client.post(f"{LOTSEN}/meilensteine", data={"csrf_token": token, **data})
    assert response.status_code == status, response.text
    assert message in response.text
    assert dump(db_url) == before


# --- in a real browser, with axe-core ----------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, PHONE["width"]])
def test_the_umsetzung_pages_are_accessible_and_work_in_a_browser(server, browser, db_url, width,
                                                                  tmp_path):  # fmt: skip
    """The project lead filters the overdue Maßnahmen, changes one, adds a milestone and loads
    a sheet back; axe-core (WCAG 2.1 A/AA) on every page, on a desktop's and a phone's width."""
    from selenium.webdriver.common.by import By
    from test_web_browser import Page, _axe_source, assert_fits, set_width

    with Session(engine_for(db_url), expire_on_commit=False) as s:  # the served database
        query = select(Fortschreibung).where(Fortschreibung.key == "waiblingen-2017")
        replay.run(s, s.exec(query).one())
    set_width(browser, width)
    page = Page(browser, server, _axe_source())
    page.login("ortolf")
    page.open(PROCESS)
    page.follow(browser.find_element(By.LINK_TEXT, "Maßnahmen (Umsetzung)"))
    assert "Integrationslotsen" in page.text()
    browser.find_element(By.ID, "nur-ueberfaellige").click()
    browser.execute_script("document.getElementById('stichtag').value = '2018-07-01';")
    page.follow(browser.find_element(By.XPATH, "//button[contains(., 'Anzeigen')]"))
    assert "(überfällig)" in page.text()
    page.follow(browser.find_element(By.LINK_TEXT, "Integrationslotsen"))
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "m-status")).select_by_visible_text("in Umsetzung")
    progress = browser.find_element(By.ID, "m-fortschritt")
    progress.clear()
    progress.send_keys("60")
    page.follow(browser.find_element(By.XPATH, "//button[contains(., 'Speichern')]"))
    assert "gespeichert" in page.text() and "60 %" in page.text()
    browser.execute_script("document.getElementById('ms-datum').value = '2018-03-01';")
    browser.find_element(By.ID, "ms-titel").send_keys("Erste Schulung")
    page.follow(browser.find_element(By.XPATH, "//button[contains(., 'Meilenstein eintragen')]"))
    assert "Erste Schulung" in page.text()
    assert massnahme(db_url, "integrationslotsen").progress == 60
    # a sheet from the Fachbereich: the preview, then confirm
    sheet = tmp_path / "massnahmen.csv"
    sheet.write_text("Schlüssel;Status\r\nintegrationslotsen;erledigt\r\n", encoding="cp1252")
    page.open(PAGE)
    browser.find_element(By.ID, "csv-datei").send_keys(str(sheet))
    page.follow(browser.find_element(By.XPATH, "//button[contains(., 'Vorschau zeigen')]"))
    assert "Die Datei ändert 1 Maßnahme" in page.text()
    page.follow(browser.find_element(By.XPATH, "//button[contains(., 'Änderungen übernehmen')]"))
    assert "eine Maßnahme geändert" in page.text()
    assert massnahme(db_url, "integrationslotsen").status == MassnahmeStatus.erledigt
    assert len(page.checked) >= 5
    assert all(not found for found in page.checked.values()), page.checked
    assert_fits(page, width)


# --- a sheet loaded back: preview, then confirm --------------------------------------------------

IMPORT = f"{PAGE}-import"


def _sheet(client, edits: dict[tuple[str, str], str], encoding: str = "utf-8-sig") -> bytes:
    """The downloaded CSV with cells (key, column) changed, saved as Excel would."""
    text = client.get(f"{PAGE}.csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    header = rows[0]
    for (key, column), value in edits.items():
        row = next(r for r in rows if r[0] == key)
        row[header.index(column)] = value
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def _upload(client, data: bytes, name: str = "massnahmen.csv"):
    return client.post(IMPORT, data={"csrf_token": token_of(client, PAGE)},
                       files={"datei": (name, data, "text/csv")})  # fmt: skip


def test_an_edited_sheet_shows_its_changes_and_applies_them_on_confirmation(app, db_url):
    client = client_for(app, "ortolf")
    assert f'action="{IMPORT}"' in client.get(PAGE).text
    sheet = _sheet(client, {("integrationslotsen", "Status"): "in Umsetzung",
                            ("integrationslotsen", "Fortschritt"): "25",
                            ("integrationslotsen", "Zieltermin"): "30.09.2018",
                            ("offener-treff", "Sachstand"): "Räume gefunden"}, "cp1252")
    before = dump(db_url)
    preview = _upload(client, sheet, "Maßnahmen Fachbereich.csv")
    assert preview.status_code == 200, preview.text
    html = preview.text
    assert "Die Datei ändert 2 Maßnahmen" in html and "Noch ist nichts gespeichert" in html
    assert assert_cells_labelled(html) == 1
    changed = [" ".join(re.sub(r"<[^>]+>", " ", r).split())
               for r in re.findall(r"<tr><th scope=\"row\".*?</tr>", html, re.S)]  # fmt: skip
    assert "Integrationslotsen (integrationslotsen) Status offen in Umsetzung" in changed
    assert "Integrationslotsen (integrationslotsen) Fortschritt 0 % 25 %" in changed
    assert "Integrationslotsen (integrationslotsen) Zieltermin 30.06.2018 30.09.2018" in changed
    assert any(r.endswith("Sachstand — Räume gefunden") for r in changed), changed
    assert dump(db_url) == before  # the preview stores nothing
    fields = dict(re.findall(r'<input type="hidden" name="(name|daten)" value="([^"]*)"', html))
    confirmed = client.post(f"{IMPORT}/bestaetigen", data={"csrf_token": token_of(client, PAGE),
                                                            **fields})  # fmt: skip
    assert note(client, confirmed) == "Maßnahmen Fachbereich.csv eingelesen: 2 Maßnahmen geändert."
    m = massnahme(db_url, "integrationslotsen")
    assert (m.status, m.progress, m.target_date) == (
        MassnahmeStatus.in_umsetzung, 25, dt.date(2018, 9, 30))
    assert massnahme(db_url, "offener-treff").public_text == "Räume gefunden"
    with Session(engine_for(db_url)) as s:
        actors = {e.actor for e in s.exec(select(Event).where(
            Event.action == "massnahme_changed")).all()}  # fmt: skip
    assert actors == {"ortolf"}


def test_an_unchanged_sheet_changes_nothing_and_offers_no_confirmation(app):
    client = client_for(app, "sd")
    html = _upload(client, client.get(f"{PAGE}.csv").content).text
    assert "Die Datei ändert nichts." in html and "bestaetigen" not in html


@pytest.mark.parametrize("edits, message", [
    ({("integrationslotsen", "Status"): "überfällig"}, "Spalte Status"),
    ({("integrationslotsen", "Fortschritt"): "101"}, "muss zwischen 0 und 100 liegen"),
    ({("integrationslotsen", "Zieltermin"): "31.02.2018"}, "ist kein Datum"),
    ({("integrationslotsen", "Schlüssel"): "offener-treff"}, "steht schon in Zeile"),
    ({("integrationslotsen", "Betrag"): "1e308"},
     "Spalte Betrag: „1e308“ ist zu groß (höchstens 1.000.000.000.000 €)"),
    ({("integrationslotsen", "Sachstand"): "x" * 200_000},
     "massnahmen.csv: Zeile 8: kein gültiges CSV (ein Feld ist länger als 131.072 Zeichen)"),
])  # fmt: skip
def test_a_bad_sheet_is_one_german_error_and_changes_nothing(app, db_url, edits, message):
    client = client_for(app, "ortolf")
    before = dump(db_url)
    response = _upload(client, _sheet(client, edits))
    assert response.status_code == 422, response.text
    assert message in response.text.replace("&#39;", "'")
    assert dump(db_url) == before


def test_a_sheet_with_an_unknown_column_or_not_a_sheet_is_refused(app, db_url):
    client = client_for(app, "ortolf")
    before = dump(db_url)
    unknown = _upload(client, "Schlüssel;Farbe\r\nintegrationslotsen;rot\r\n".encode())
    assert unknown.status_code == 422 and "unbekannte Spalte" in unknown.text
    for daten in ("kein base64!", "ü", "QUJD\u00e9", "\U0001f600"):  # not even ASCII: no 500
        broken = client.post(f"{IMPORT}/bestaetigen", data={
            "csrf_token": token_of(client, PAGE), "name": "x.csv", "daten": daten})
        assert broken.status_code == 422 and "beschädigt" in broken.text, daten
    bom = _upload(client, b"\xef\xbb\xbfSchl\xfcssel;Status\r\n")  # a BOM, then Windows-1252
    assert bom.status_code == 422 and "kein gültiges UTF-8" in bom.text
    assert dump(db_url) == before


def _details_of_event_log(html: str) -> list[str]:
    """The Prozess page's event log ("Protokoll"): each entry's details as text."""
    log = html[html.index("Die letzten "):]
    cells = re.findall(r'<th scope="row"[^>]*>[^<]*</th>\s*<td[^>]*>(.*?)</td>', log, re.S)
    return [re.sub(r"\s+", " ", d).strip() for d in cells]


@pytest.mark.parametrize("how", ["form", "sheet"])
def test_the_internal_note_in_the_event_log_only_for_who_may_read_it(app, how):
    """The Prozess page's event log shows a changed internal note to those who see it on the
    Maßnahme page (who may work on the process), never to a reader; a change by the CSV
    sheet alike."""
    secret = "INTERN-Personalkonflikt-mit-Traeger-XY"
    lead = client_for(app, "ortolf")
    if how == "form":
        assert note(lead, post(lead, TREFF, {**FORM, "notiz": secret})).endswith("ist gespeichert.")
    else:
        html = _upload(lead, _sheet(lead, {("offener-treff", "Interne Notiz"): secret})).text
        fields = dict(re.findall(r'<input type="hidden" name="(name|daten)" value="([^"]*)"',
                                 html))  # fmt: skip
        confirmed = lead.post(f"{IMPORT}/bestaetigen",
                              data={"csrf_token": token_of(lead, PAGE), **fields})  # fmt: skip
        assert note(lead, confirmed).endswith("eine Maßnahme geändert.")
    for user in ("ortolf", "sd", "admin"):
        details = _details_of_event_log(client_for(app, user).get(PROCESS).text)
        assert any(f"interne Notiz: {secret}" in d for d in details), (user, details[:3])
    reader = client_for(app, "gast")
    for path in (PROCESS, TREFF, PAGE):
        page = reader.get(path)
        assert page.status_code == 200 and secret not in page.text, path
    html = reader.get(PROCESS).text
    assert not any("interne Notiz" in d for d in _details_of_event_log(html))
    assert "Maßnahme geändert" in html  # the entry itself is there, without the note


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(daten=st.text(max_size=30) | st.binary(max_size=30).map(
    lambda b: base64.b64encode(b).decode()))  # fmt: skip
def test_any_carried_sheet_is_refused_in_german_or_applied(app, db_url, daten):
    client = client_for(app, "ortolf")
    before = dump(db_url)
    response = client.post(f"{IMPORT}/bestaetigen", data={
        "csrf_token": token_of(client, PAGE), "name": "x.csv", "daten": daten})  # fmt: skip
    assert response.status_code in (303, 422), (daten, response.status_code)
    if response.status_code == 422:
        assert '<html lang="de">' in response.text and dump(db_url) == before


@pytest.mark.parametrize("user, status", [("gast", 403), ("fremd", 404)])
def test_the_wrong_people_cannot_load_a_sheet(app, db_url, user, status):
    sheet = _sheet(client_for(app, "ortolf"), {("integrationslotsen", "Status"): "erledigt"})
    client = client_for(app, user)
    token = token_of(client, "/")
    before = dump(db_url)
    assert client.post(IMPORT, data={"csrf_token": token},
                       files={"datei": ("m.csv", sheet, "text/csv")}).status_code == status
    confirm = {"csrf_token": token, "name": "m.csv", "daten": base64.b64encode(sheet).decode()}
    assert client.post(f"{IMPORT}/bestaetigen", data=confirm).status_code == status
    assert dump(db_url) == before


def test_a_confirmed_sheet_with_a_huge_amount_is_refused_and_changes_nothing(app, db_url):
    """The confirmation checks again: a forged or stale ``daten`` cannot store 1e308."""
    client = client_for(app, "ortolf")
    sheet = _sheet(client, {("integrationslotsen", "Betrag"): "1e308"})
    before = dump(db_url)
    confirm = {"csrf_token": token_of(client, PAGE), "name": "m.csv",
               "daten": base64.b64encode(sheet).decode()}  # fmt: skip
    response = client.post(f"{IMPORT}/bestaetigen", data=confirm)
    assert response.status_code == 422
    assert "Spalte Betrag: „1e308“ ist zu groß" in response.text
    assert dump(db_url) == before


@pytest.mark.parametrize("amount, shown", [(1e308, "1E308"), (2.5e25, "2,5E25"),
                                           (1234.5, "1.234,5")])  # fmt: skip
def test_a_stored_amount_of_any_size_is_printed(app, db_url, amount, shown):
    """Rows stored before amounts were bounded (or written by hand) still show their page."""
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as raw:
        raw.execute("UPDATE massnahme SET budget_amount = ? WHERE key = 'integrationslotsen'",
                    (amount,))  # fmt: skip
    for user in ("ortolf", "gast"):
        page = client_for(app, user).get(LOTSEN)
        assert page.status_code == 200 and f"{shown} €" in page.text


@given(st.floats() | st.integers(-(10**300), 10**300))
def test_any_number_is_printed_german_without_an_error(value):
    """Whatever number is stored, the page prints it (a decimal comma, never an error)."""
    shown = zahl(value)
    assert isinstance(shown, str) and shown
    if value == value and abs(value) < 10**15:  # the plain German notation, three decimals
        read_back = float(shown.replace(".", "").replace(",", "."))
        assert abs(read_back - value) <= 0.0005 + abs(value) * 1e-12, shown
