"""The Prozess page and Meine Aufgaben: reading, completing, reassigning, deciding, documents.

Every write route is tried by the wrong people (anonymous, a viewer, a project lead of another
Kommune) and with a missing or wrong CSRF token: refused, and the database is unchanged.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from html import unescape
from urllib.parse import unquote

import docx
import pytest
from conftest import needs_binary
from sqlmodel import Session, select
from web_support import ROOT, assert_cells_labelled, client_for, dump, make_app, token_of
from web_support import notice as note

from lifecycle.db import engine_for
from lifecycle.models import DocumentVersion, Event, Fortschreibung, Person, Stage, Task
from lifecycle.status import process_status
from lifecycle.web import views

PROCESS = "/prozess/waiblingen-2017"


@pytest.fixture
def app(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_OUTPUT", str(tmp_path / "dokumente"))
    return make_app(db_url)


def task_of(db_url: str, key: str, process: str = "waiblingen-2017") -> Task:
    with Session(engine_for(db_url)) as s:
        return s.exec(
            select(Task).join(Fortschreibung).where(Fortschreibung.key == process, Task.key == key)
        ).one()


def stage_of(db_url: str, key: str) -> Stage:
    with Session(engine_for(db_url)) as s:
        return s.exec(
            select(Stage).join(Fortschreibung).where(
                Fortschreibung.key == "waiblingen-2017", Stage.key == key)
        ).one()  # fmt: skip


def post(client, path: str, data: dict[str, str], token_page: str = "/"):
    return client.post(path, data={"csrf_token": token_of(client, token_page), **data})


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["admin", "ortolf", "sd", "gast"])
def test_process_page_renders_for_everyone_who_sees_the_kommune(app, user):
    page = client_for(app, user).get(PROCESS)
    assert page.status_code == 200
    html = page.text
    assert "<svg" in html and "Zeitleiste" in html
    assert "Mittwoch, 1. März 2017" in html  # begun on, German long date
    assert "Do., 14.12.2017" in html  # the Gemeinderat's Sitzung as the end of the last stage
    assert "Do., 30.11.2017" in html  # its Vorlagenschluss
    assert "überfällig" in html  # not only red: the word
    assert "Grundsatzbeschluss gefasst" in html  # the open gate
    assert "Ereignisprotokoll" in html and "Prozess gestartet" in html
    may_decide = user != "gast"
    assert ('action="/prozess/waiblingen-2017/gate/ratsbeschluss"' in html) is may_decide
    assert ("/aufgaben/" in html) is may_decide
    assert ("/dokumente/beschlussvorlage/erzeugen" in html) is may_decide
    if not may_decide:
        assert "nicht darüber entscheiden" in html


@pytest.mark.parametrize(("user", "path", "tables"), [
    ("ortolf", PROCESS, 9),  # Phasen, Sitzungen, the five phases' Aufgaben, Dokumente, Protokoll
    ("ortolf", "/aufgaben", 1),
    ("admin", "/", 1),
    ("admin", "/sitzungsdienst?ab=2017-11-01", 1),
    ("admin", "/verwaltung", 1),
])  # fmt: skip
def test_every_table_cell_says_its_column_on_a_phone(app, user, path, tables):
    """A phone stacks a row's cells; each shows its data-label, which must be the heading of
    its column: a new column without one (or a label that went stale) fails here."""
    page = client_for(app, user).get(path)
    assert page.status_code == 200
    assert assert_cells_labelled(page.text) == tables
    if path == PROCESS:
        assert '<td data-label="Stand">offen</td>' in page.text


def test_process_page_every_input_has_a_label(app):
    html = client_for(app, "ortolf").get(PROCESS).text
    ids = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html)
    assert ids
    for ident in ids:
        assert f'for="{ident}"' in html, ident
    assert len(ids) == len(set(ids)), "ids are unique"
    inputs = re.findall(r"<(?:input|select|textarea)\b[^>]*>", html)
    assert all('type="hidden"' in i or "id=" in i for i in inputs)


def test_process_of_another_kommune_is_not_found(app):
    assert client_for(app, "fremd").get(PROCESS).status_code == 404
    assert client_for(app, "ortolf").get("/prozess/voelklingen-2017").status_code == 404
    assert client_for(app, "ortolf").get("/prozess/gibt-es-nicht").status_code == 404


@pytest.mark.parametrize("path", [PROCESS, "/aufgaben", f"{PROCESS}/dokumente/1.docx"])
def test_reading_needs_a_login(app, path):
    response = client_for(app, None).get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/anmelden")


def test_my_tasks_are_those_of_my_person(app):
    html = client_for(app, "ortolf").get("/aufgaben").text
    assert "Offene Aufgaben von Ute Ortolf" in html
    assert "Förderantrag stellen" in html
    assert "Markus Raible" not in html.split("<tbody>")[1].split("<select")[0]
    assert 'name="zurueck" value="aufgaben"' in html


def test_my_tasks_without_a_person_are_those_of_the_processes_i_lead(app):
    html = client_for(app, "fremd").get("/aufgaben").text
    assert "Prozesse, die Sie leiten: voelklingen-2017" in html
    assert "waiblingen-2017" not in html
    for user in ("gast", "admin"):
        html = client_for(app, user).get("/aufgaben").text
        assert "keine Person zugeordnet, und Sie leiten keinen Prozess" in html


def test_lists_show_exactly_the_processes_whose_pages_open(app, db_url):
    """A second process of Waiblingen that ortolf does not lead (the Umsetzung 2018, with tasks
    for his Person): the Übersicht, Meine Aufgaben and the Sitzungsdienst's Vorlagen list it
    for whoever may open its page, and for nobody else (ortolf: 403)."""
    from lifecycle import services
    from lifecycle.scenario import load_scenario

    other = "waiblingen-umsetzung-2018"
    with Session(engine_for(db_url)) as s:
        services.start(s, load_scenario(ROOT / "examples" / f"{other}.yaml"), actor="test")
        keys = s.exec(select(Fortschreibung.key)).all()
    assert len(keys) == 3
    for user in ("admin", "ortolf", "sd", "gast", "fremd"):
        client = client_for(app, user)
        listed = client.get("/?stand=running").text + client.get("/?stand=completed").text
        for key in keys:
            opens = client.get(f"/prozess/{key}").status_code == 200
            assert (f'href="/prozess/{key}"' in listed) == opens, (user, key)
    ortolf = client_for(app, "ortolf")
    assert ortolf.get(f"/prozess/{other}").status_code == 403
    assert other not in ortolf.get("/aufgaben").text
    assert other not in ortolf.get("/sitzungsdienst?ab=2018-11-01").text
    assert "waiblingen-2017" in ortolf.get("/aufgaben").text  # his own tasks stay
    assert other in client_for(app, "sd").get("/sitzungsdienst?ab=2018-11-01").text


# --- tasks -----------------------------------------------------------------------------------


def test_complete_a_task(app, db_url):
    ortolf = client_for(app, "ortolf")
    task = task_of(db_url, "foerderantrag_stellen")
    response = post(ortolf, f"{PROCESS}/aufgaben/{task.id}/erledigt", {"datum": "2017-03-14"})
    assert response.headers["location"] == PROCESS
    assert "als erledigt eingetragen (am 14.03.2017)" in note(ortolf, response)
    done = task_of(db_url, "foerderantrag_stellen")
    assert done.state == "done" and str(done.done_on) == "2017-03-14"
    with Session(engine_for(db_url)) as s:
        event = s.exec(select(Event).where(Event.action == "task_done")).one()
    assert event.actor == "ortolf"
    page = ortolf.get(response.headers["location"]).text
    assert "erledigt am 14.03.2017" in page and "Aufgabe erledigt" in page


def test_complete_from_my_tasks_with_a_german_date_returns_there(app, db_url):
    ortolf = client_for(app, "ortolf")
    task = task_of(db_url, "partner_anfragen")
    response = post(ortolf, f"{PROCESS}/aufgaben/{task.id}/erledigt",
                    {"datum": "15.03.2017", "zurueck": "aufgaben"}, "/aufgaben")  # fmt: skip
    assert response.headers["location"] == "/aufgaben"
    assert "als erledigt eingetragen (am 15.03.2017)" in note(ortolf, response)
    assert str(task_of(db_url, "partner_anfragen").done_on) == "2017-03-15"


def test_reassign_a_task(app, db_url):
    sd = client_for(app, "sd")
    task = task_of(db_url, "partner_anfragen")
    response = post(sd, f"{PROCESS}/aufgaben/{task.id}/zuweisen", {"person": "raible"})
    assert "ist jetzt Markus Raible zugewiesen" in note(sd, response)
    with Session(engine_for(db_url)) as s:
        person = s.get(Person, task_of(db_url, "partner_anfragen").assignee_id)
    assert person is not None and person.key == "raible"


@pytest.mark.parametrize(
    ("route", "data", "status", "message"),
    [
        ("erledigt", {"datum": "2017-13-45"}, 422, "ist kein Datum"),
        ("erledigt", {"datum": "31.02.2017"}, 422, "ist kein Datum"),
        ("erledigt", {"datum": "31.12.9999"}, 422, "Jahr 9999 außerhalb"),
        ("erledigt", {"datum": "9999-12-31"}, 422, "Jahr 9999 außerhalb"),
        ("erledigt", {"datum": ""}, 422, "fehlt"),
        ("erledigt", {"datum": "2017-02-01"}, 409, "liegt vor dem Beginn"),
        ("zuweisen", {"person": "niemand"}, 404, "in dieser Kommune"),
        ("zuweisen", {"person": "ortolf\nx"}, 422, "Zeilenumbrüche"),
    ],
)
def test_bad_task_input_changes_nothing(app, db_url, route, data, status, message):
    ortolf = client_for(app, "ortolf")
    task = task_of(db_url, "foerderantrag_stellen")
    before = dump(db_url)
    response = post(ortolf, f"{PROCESS}/aufgaben/{task.id}/{route}", data)
    assert response.status_code == status
    assert message in response.text and "Es wurde nichts geändert" in response.text
    assert dump(db_url) == before


def test_a_task_of_another_process_is_not_found(app, db_url):
    ortolf = client_for(app, "ortolf")
    foreign = task_of(db_url, "foerderantrag_stellen", process="voelklingen-2017")
    before = dump(db_url)
    for route, data in (("erledigt", {"datum": "2017-03-14"}), ("zuweisen", {"person": "raible"})):
        response = post(ortolf, f"{PROCESS}/aufgaben/{foreign.id}/{route}", data)
        assert response.status_code == 404
        for missing in (999999, 0, -1, 2**63 - 1, 2**63, 10**20, 10**4000):
            response = post(ortolf, f"{PROCESS}/aufgaben/{missing}/{route}", data)
            assert response.status_code == 404, missing  # no database integer: not there
            assert "Nicht gefunden (oder nicht für Sie freigegeben)" in response.text
    assert dump(db_url) == before


# --- the gate --------------------------------------------------------------------------------

APPROVE = {"ergebnis": "approve", "datum": "2017-04-27", "aktenzeichen": "BSV 3/2017",
           "erzwingen": "im Altverfahren erledigt"}  # fmt: skip


def test_approve_the_first_gate(app, db_url):
    sd = client_for(app, "sd")
    response = post(sd, f"{PROCESS}/gate/ratsbeschluss", APPROVE)
    assert note(sd, response) == "Gate der Phase „Ratsbeschluss“: freigegeben."
    stage = stage_of(db_url, "ratsbeschluss")
    assert stage.state == "closed" and str(stage.closed_on) == "2017-04-27"
    assert stage_of(db_url, "auftaktworkshop").state == "open"
    page = sd.get(PROCESS).text
    assert "freigegeben am 27.04.2017 (BSV 3/2017)" in page
    assert 'action="/prozess/waiblingen-2017/gate/auftaktworkshop"' in page
    # the closed gate: refused, nothing changes
    before = dump(db_url)
    again = post(sd, f"{PROCESS}/gate/ratsbeschluss", APPROVE)
    assert again.status_code == 409 and "schon geschlossen" in again.text
    assert dump(db_url) == before


def event_log(html: str) -> tuple[str, list[tuple[str, str]]]:
    """The Prozess page's event log: its caption, and each entry's what and details as text."""
    log = html[html.index('<h2 id="protokoll">'):]
    caption = re.search(r"<caption>(.*?)</caption>", log, re.S)
    assert caption
    rows = re.findall(r'<th scope="row"[^>]*>(.*?)</th>\s*<td[^>]*>(.*?)</td>', log, re.S)
    return caption.group(1), [(unescape(w).strip(), unescape(re.sub(r"\s+", " ", d)).strip())
                              for w, d in rows]  # fmt: skip


def test_the_event_log_reads_german_for_a_new_process(app):
    caption, entries = event_log(client_for(app, "gast").get(PROCESS).text)
    assert caption == "1 Eintrag"
    assert entries == [("Prozess gestartet",
                        "Szenario: waiblingen-2017; Plan: integrationskonzept; "
                        "begonnen am: 01.03.2017")]  # fmt: skip


def test_the_event_log_names_stages_and_reasons_in_german(app, db_url):
    """A late approval moves the next stage's deadlines: the log says why in German and names
    the stage by its title, not by the plan's key."""
    sd = client_for(app, "sd")
    late = {**APPROVE, "datum": "2017-05-04"}
    assert note(sd, post(sd, f"{PROCESS}/gate/ratsbeschluss", late)).endswith("freigegeben.")
    caption, entries = event_log(sd.get(PROCESS).text)
    assert caption.startswith("Die letzten ")
    details = dict(entries)
    assert "Phase: Ratsbeschluss" in details["Gate freigegeben"]
    moved = [d for w, d in entries if w.startswith("Frist geändert")]
    assert moved and all(d.endswith("Grund: Gate der Phase „Ratsbeschluss“ freigegeben")
                         for d in moved), moved  # fmt: skip
    for _what, text in entries:
        assert "ratsbeschluss" not in text and "approved" not in text, text


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"erzwingen": ""}, 409, "müssen erst diese Aufgaben erledigt sein"),
        ({"aktenzeichen": "3/2017"}, 409, "nicht die erwartete Form"),
        ({"datum": "27.4.17"}, 422, "ist kein Datum"),
        ({"ergebnis": "durchwinken"}, 422, "gibt es nicht"),
        ({"ergebnis": "send_back"}, 409, "muss einen Grund nennen"),
        ({"ergebnis": "postpone", "vertagen_auf": "gr-2017-01-01"}, 404, "Keine Sitzung"),
    ],
)
def test_bad_decisions_change_nothing(app, db_url, change, status, message):
    ortolf = client_for(app, "ortolf")
    before = dump(db_url)
    response = post(ortolf, f"{PROCESS}/gate/ratsbeschluss", {**APPROVE, **change})
    assert response.status_code == status, response.text
    assert message in response.text
    assert dump(db_url) == before


def test_a_stage_that_does_not_exist_is_not_found(app, db_url):
    before = dump(db_url)
    response = post(client_for(app, "ortolf"), f"{PROCESS}/gate/erfunden", APPROVE)
    assert response.status_code == 404
    assert dump(db_url) == before


# --- documents -------------------------------------------------------------------------------


def test_generate_and_download_a_document(app, db_url, tmp_path):
    ortolf = client_for(app, "ortolf")
    response = post(ortolf, f"{PROCESS}/dokumente/beschlussvorlage/erzeugen",
                    {"phase": "ratsbeschluss"})  # fmt: skip
    assert note(ortolf, response) == "Beschlussvorlage (Grundsatzbeschluss): Version 1 geschrieben."
    with Session(engine_for(db_url)) as s:
        row = s.exec(select(DocumentVersion)).one()
    assert row.path.startswith(str(tmp_path / "dokumente"))
    page = ortolf.get(PROCESS).text
    assert f'href="/prozess/waiblingen-2017/dokumente/{row.id}.docx"' in page
    for user in ("ortolf", "gast"):
        download = client_for(app, user).get(f"{PROCESS}/dokumente/{row.id}.docx")
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        assert "Beschlussvorlage" in unquote(download.headers["content-disposition"])
        text = "\n".join(p.text for p in docx.Document(io.BytesIO(download.content)).paragraphs)
        assert "Integrationskonzept" in text
    again = post(ortolf, f"{PROCESS}/dokumente/beschlussvorlage/erzeugen",
                 {"phase": "ratsbeschluss"})  # fmt: skip
    assert "unverändert, Version 1 gilt weiter" in note(ortolf, again)
    assert client_for(app, "fremd").get(f"{PROCESS}/dokumente/{row.id}.docx").status_code == 404
    assert ortolf.get(f"{PROCESS}/dokumente/{row.id}.pdf").status_code == 404  # no PDF yet
    assert ortolf.get(f"/prozess/voelklingen-2017/dokumente/{row.id}.docx").status_code == 404


@pytest.mark.parametrize(
    "name",
    ["..%2F..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
     "1.docx%00", "1.exe", "-1.docx", "99999999999999999999.docx"],
)  # fmt: skip
def test_download_path_traversal_is_not_found(app, name):
    response = client_for(app, "ortolf").get(f"{PROCESS}/dokumente/{name}")
    assert response.status_code == 404
    assert "root:" not in response.text


def test_download_only_from_the_process_folder(app, db_url, tmp_path):
    """A row whose stored path points elsewhere (a tampered database) is not served."""
    ortolf = client_for(app, "ortolf")
    post(ortolf, f"{PROCESS}/dokumente/beschlussvorlage/erzeugen", {"phase": "ratsbeschluss"})
    outside = tmp_path / "geheim.docx"
    outside.write_bytes(b"secret")
    with Session(engine_for(db_url)) as s:
        row = s.exec(select(DocumentVersion)).one()
        row.path = str(tmp_path / "dokumente" / "waiblingen-2017" / ".." / ".." / "geheim.docx")
        s.add(row)
        s.commit()
        row_id = row.id
    response = ortolf.get(f"{PROCESS}/dokumente/{row_id}.docx")
    assert response.status_code == 404 and b"secret" not in response.content


def test_generating_an_unknown_kind_is_not_found(app, db_url):
    before = dump(db_url)
    response = post(client_for(app, "ortolf"), f"{PROCESS}/dokumente/passwd/erzeugen", {})
    assert response.status_code == 404
    assert dump(db_url) == before


# --- every write route refuses the wrong user ------------------------------------------------


def write_routes(db_url: str) -> list[tuple[str, dict[str, str]]]:
    task = task_of(db_url, "foerderantrag_stellen")
    return [
        (f"{PROCESS}/aufgaben/{task.id}/erledigt", {"datum": "2017-03-14"}),
        (f"{PROCESS}/aufgaben/{task.id}/zuweisen", {"person": "raible"}),
        (f"{PROCESS}/gate/ratsbeschluss", APPROVE),
        (f"{PROCESS}/dokumente/beschlussvorlage/erzeugen", {"phase": "ratsbeschluss"}),
    ]


@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("gast", 403), ("fremd", 404)]
)  # fmt: skip
def test_every_write_route_refuses_the_wrong_user(app, db_url, who, status):
    client = client_for(app, who)
    token = token_of(client, "/anmelden" if who is None else "/")
    before = dump(db_url)
    for path, data in write_routes(db_url):
        response = client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == status, (path, response.text)
        assert "Es wurde nichts geändert" in response.text
    assert dump(db_url) == before


@pytest.mark.parametrize("token", [None, "", "falsch"])
def test_every_write_route_needs_the_csrf_token(app, db_url, token):
    ortolf = client_for(app, "ortolf")
    before = dump(db_url)
    for path, data in write_routes(db_url):
        form = data if token is None else {"csrf_token": token, **data}
        response = ortolf.post(path, data=form)
        assert response.status_code == 403, (path, response.text)
        assert "Formular ist abgelaufen" in response.text
    assert dump(db_url) == before


def test_refused_document_generation_writes_no_file(app, db_url, tmp_path):
    client = client_for(app, "gast")
    post(client, f"{PROCESS}/dokumente/beschlussvorlage/erzeugen", {"phase": "ratsbeschluss"})
    assert not (tmp_path / "dokumente").exists()


def test_generate_with_pdf_when_libreoffice_is_there(app, db_url):
    needs_binary("soffice")
    ortolf = client_for(app, "ortolf")
    response = post(ortolf, f"{PROCESS}/dokumente/beschlussvorlage/erzeugen",
                    {"phase": "ratsbeschluss", "pdf": "ja"})  # fmt: skip
    assert response.status_code == 303
    with Session(engine_for(db_url)) as s:
        row = s.exec(select(DocumentVersion)).one()
    assert row.pdf_path
    pdf = ortolf.get(f"{PROCESS}/dokumente/{row.id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"


# --- the timeline as data ----------------------------------------------------------------------


def test_timeline_places_stages_sitzungen_and_today_on_one_axis(app, db_url):
    with Session(engine_for(db_url)) as s:
        process = s.exec(
            select(Fortschreibung).where(Fortschreibung.key == "waiblingen-2017")
        ).one()
        today = dt.date(2017, 5, 2)
        line = views.timeline(process_status(s, process, today), today)
    assert line is not None
    assert [b.title for b in line.bars][:2] == ["Ratsbeschluss", "Auftaktworkshop"]
    assert len(line.markers) == 4
    xs = [m.x for m in line.markers]
    assert xs == sorted(xs) and all(views.LEFT <= x <= views.RIGHT for x in xs)
    assert all(m.vs_x < m.x for m in line.markers)  # the Vorlagenschluss comes before
    assert line.today_x is not None and line.markers[1].x < line.today_x < line.markers[2].x
    far = dt.date(2026, 11, 24)
    with Session(engine_for(db_url)) as s:
        assert views.timeline(process_status(s, process, far), far).today_x is None
