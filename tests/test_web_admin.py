"""Verwaltung in the browser: users and roles, a new Fortschreibung from an uploaded scenario,
the starter scenario, a Kommune's own Word template; bad uploads change nothing."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from docx.oxml.ns import qn
from sqlmodel import Session, select
from test_docx_render import zip_bombs
from web_support import PASSWORD, ROOT, client_for, csrf, dump, make_app, token_of

from lifecycle import services
from lifecycle.db import engine_for
from lifecycle.models import Fortschreibung, User

WAIBLINGEN = (ROOT / "examples" / "waiblingen-2017.yaml").read_bytes()
ALIAS_BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n".encode()
    for i in range(8)
)


@pytest.fixture
def app(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_OUTPUT", str(tmp_path / "out"))
    monkeypatch.delenv("LIFECYCLE_TEMPLATES", raising=False)
    return make_app(db_url)


@pytest.fixture
def admin(app):
    return client_for(app, "admin")


def word(*lines: str, language: str = "de-DE") -> bytes:
    """A Word file as a clerk's German Word saves it (python-docx's blank one says en-US)."""
    document = docx.Document()
    for lang in document.styles.element.iter(qn("w:lang")):
        lang.set(qn("w:val"), language)
    for text in lines:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def word_with_entities() -> bytes:
    """A Word file whose document.xml declares nested entities ("billion laughs")."""
    laughs = (b'<!DOCTYPE w:document [<!ENTITY a "aaaaaaaaaa">' + b"".join(
        f'<!ENTITY {chr(98 + i)} "{f"&{chr(97 + i)};" * 10}">'.encode() for i in range(6))
        + b"]>")  # fmt: skip
    source, out = zipfile.ZipFile(io.BytesIO(word("Text"))), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b"?>", b"?>" + laughs, 1).replace(b">Text<", b">&g;<", 1)
            z.writestr(info, data)
    return out.getvalue()


def text_of(path) -> str:
    return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)


def post_file(client, path: str, field: str, name: str, data: bytes, **fields: str):
    token = token_of(client, "/verwaltung")
    return client.post(path, data={"csrf_token": token, **fields},
                       files={field: (name, data, "application/octet-stream")})  # fmt: skip


def test_the_page_lists_users_with_their_roles_for_administrators_only(app, admin):
    page = admin.get("/verwaltung")
    assert page.status_code == 200
    assert "<h1>Verwaltung</h1>" in page.text
    assert "Projektleitung in Waiblingen (waiblingen-2017)" in page.text
    assert "Sitzungsdienst in Waiblingen" in page.text
    assert "Lesezugriff in Waiblingen" in page.text
    assert "Administration (alle Kommunen)" in page.text
    assert '<label for="szenario">' in page.text
    assert '<th scope="row" data-label="Benutzername">fremd</th>' in page.text
    for user in ("ortolf", "sd", "gast", "fremd"):
        refused = client_for(app, user).get("/verwaltung")
        assert refused.status_code == 403, user
        assert "Administratorinnen und Administratoren" in refused.text


def test_add_a_user_with_a_role_in_a_kommune(app, admin, db_url):
    token = token_of(admin, "/verwaltung")
    response = admin.post("/verwaltung/benutzer", data={
        "csrf_token": token, "name": "raible", "anzeigename": "Markus Raible",
        "passwort": PASSWORD, "rolle": "sitzungsdienst", "kommune": "waiblingen",
        "prozess": ""})  # fmt: skip
    assert response.status_code == 303
    assert "Der Benutzer raible ist angelegt." in admin.get(response.headers["location"]).text
    raible = client_for(app, "raible")  # logs in with the password just set
    assert "verlegen" in raible.get("/sitzungsdienst?ab=2017-11-01").text


def test_a_refused_user_shows_the_form_again_and_writes_nothing(admin, db_url):
    before = dump(db_url)
    token = token_of(admin, "/verwaltung")
    base = {"csrf_token": token, "passwort": "ein-langes-passwort", "kommune": "waiblingen",
            "prozess": "", "rolle": "viewer"}  # fmt: skip
    twice = admin.post("/verwaltung/benutzer", data={**base, "name": "sd"})
    assert twice.status_code == 409 and "Den Benutzer „sd“ gibt es schon" in twice.text
    lead = admin.post("/verwaltung/benutzer",
                      data={**base, "name": "neu", "rolle": "projektleitung"})  # fmt: skip
    assert lead.status_code == 422 and "bitte den Prozess wählen" in lead.text
    assert 'value="neu"' in lead.text  # what was typed stays
    with Session(engine_for(db_url)) as s:
        assert s.exec(select(User).where(User.name == "neu")).first() is None
    assert dump(db_url) == before


def test_the_starter_scenario_is_offered_for_download(admin):
    page = admin.get("/verwaltung")
    assert 'href="/verwaltung/beispiel/waiblingen-2017.yaml"' in page.text
    response = admin.get("/verwaltung/beispiel/waiblingen-2017.yaml")
    assert response.status_code == 200 and response.content == WAIBLINGEN
    assert admin.get("/verwaltung/beispiel/..%2Fpyproject.toml").status_code == 404


def test_start_a_fortschreibung_from_an_uploaded_scenario(admin, db_url):
    scenario = WAIBLINGEN.replace(b"key: waiblingen-2017", b"key: waiblingen-2026", 1)
    response = post_file(admin, "/verwaltung/prozesse", "szenario", "neu.yaml", scenario)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/prozess/waiblingen-2026"
    with Session(engine_for(db_url)) as s:
        assert s.exec(select(Fortschreibung).where(
            Fortschreibung.key == "waiblingen-2026")).first() is not None  # fmt: skip


@pytest.mark.parametrize("name, data, status, message", [
    ("falsch.yaml", WAIBLINGEN.replace(b"bundesland: BW", b"bundesland: Schwaben"), 422,
     "falsch.yaml:11: kommune.bundesland"),
    ("bombe.yaml", ALIAS_BOMB, 422, "bombe.yaml"),
    ("latin1.yaml", "key: stadt-müll\n".encode("latin-1"), 422, "keine UTF-8-Textdatei"),
    ("riesig.yaml", b"# " + b"x" * (5 * 2**20), 422, "die Datei ist zu groß (höchstens 5 MiB)"),
    ("nochmal.yaml", WAIBLINGEN, 409, "waiblingen-2017"),
    ("tag.yaml", b"!!python/object/apply:os.system ['id']", 422,
     "tag.yaml:1: ungültiges YAML: Typ-Angabe „!!python/object/apply:os.system“ ist "
     "nicht erlaubt"),
    ("offen.yaml", b"a: [1, 2", 422, "offen.yaml:1: ungültiges YAML: eine Liste [ … ] ist "
     "nicht geschlossen: „,“ oder „]“ fehlt (Spalte 9)"),
    ("leer.yaml", b"a: !!int", 422, "leer.yaml:1: Wert nicht lesbar"),
])  # fmt: skip
def test_a_bad_scenario_is_refused_with_file_line_and_field(admin, db_url, name, data, status,
                                                            message):  # fmt: skip
    before = dump(db_url)
    response = post_file(admin, "/verwaltung/prozesse", "szenario", name, data)
    assert response.status_code == status, response.text[-2000:]
    assert "Nicht gestartet:" in response.text and message in response.text
    assert "/tmp" not in response.text  # the server's temporary folder is nobody's business
    assert dump(db_url) == before
    assert admin.get("/verwaltung").status_code == 200  # and the server keeps serving


def test_a_kommunes_own_template_is_checked_stored_and_used(admin, db_url, tmp_path):
    template = word("Eigene Vorlage der Stadt {{ kommune.name }}: {{ vorlage.betreff }}")
    response = post_file(admin, "/verwaltung/vorlagen", "datei", "sv.docx", template,
                         vorlage_prozess="waiblingen-2017", art="sitzungsvorlage")  # fmt: skip
    assert response.status_code == 303, response.text[-2000:]
    assert (tmp_path / "out" / "_vorlagen" / "waiblingen" / "sitzungsvorlage.docx").is_file()
    with Session(engine_for(db_url), expire_on_commit=False) as s:
        own = services.generate_document(s, "waiblingen-2017", "sitzungsvorlage")
        other = services.generate_document(s, "voelklingen-2017", "sitzungsvorlage")
    assert "Eigene Vorlage der Stadt Waiblingen: Fortschreibung" in text_of(own.path)
    assert "Eigene Vorlage" not in text_of(other.path)  # another Kommune keeps the shipped one


def _zip_without_document() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hallo.txt", "kein Word")
    return out.getvalue()


@pytest.mark.parametrize("data, reason", zip_bombs())
def test_a_template_that_would_unpack_too_large_is_refused(admin, db_url, tmp_path, data,
                                                          reason):  # fmt: skip
    """1 MiB that unpacks to gigabytes: refused by the zip's headers, before unpacking."""
    before = dump(db_url)
    response = post_file(admin, "/verwaltung/vorlagen", "datei", "v.docx", data,
                         vorlage_prozess="waiblingen-2017", art="sitzungsvorlage")  # fmt: skip
    assert response.status_code == 422, response.text[-2000:]
    assert "Nicht gespeichert:" in response.text and "keine lesbare Word-Datei" in response.text
    assert reason in response.text
    assert not (tmp_path / "out" / "_vorlagen").exists()
    assert dump(db_url) == before


@pytest.mark.parametrize("data, message", [
    (word("{{ kommune.name }} {{ unbekanntes_feld }}"),
     "unbekanntes Feld &#39;unbekanntes_feld&#39;"),
    (word("{{ vorlage.gibtsnicht }}"), "unbekanntes Feld &#39;gibtsnicht&#39;"),
    (word("{{ kommune.name }}", language="en-US"),
     "die Standardsprache ist „en-US“; erwartet Deutsch (de-DE)"),
    (b"PK\x03\x04 kein Zip", "keine Word-Datei (DOCX)"),
    (_zip_without_document(), "keine Word-Datei (DOCX)"),
    (b"x" * (5 * 2**20 + 1), "die Datei ist zu groß (höchstens 5 MiB)"),
    (word("{{ &#39;&#39;.__class__ }}".replace("&#39;", "'")),
     "nicht erlaubt: der Zugriff auf &#39;__class__&#39;; eine Vorlage liest nur die Felder"),
    (word("{{ vorlage.betreff | }}"),
     "Syntaxfehler im Platzhalter: hier fehlt ein Name (etwa nach „|“ oder „.“) (Absatz 1: "
     "„{{ vorlage.betreff | }}“)"),
    (word("{{ vorlage.betreff | round }}"), "ein Platzhalter passt nicht zu seinem Wert"),
    (word_with_entities(), "word/document.xml enthält eine DOCTYPE-Deklaration mit Entitäten"),
])  # fmt: skip
def test_a_bad_template_is_refused_and_nothing_is_stored(admin, db_url, tmp_path, data, message):
    before = dump(db_url)
    response = post_file(admin, "/verwaltung/vorlagen", "datei", "v.docx", data,
                         vorlage_prozess="waiblingen-2017", art="sitzungsvorlage")  # fmt: skip
    assert response.status_code == 422, response.text[-2000:]
    assert "Nicht gespeichert:" in response.text and message in response.text
    for english in ("unsafe", "expected token", "TypeError", "Maximum", "is undefined"):
        assert english not in response.text
    assert not (tmp_path / "out" / "_vorlagen").exists()
    assert dump(db_url) == before


WRITES = [
    ("/verwaltung/benutzer", {"name": "eve", "passwort": "ein-langes-passwort",
                              "rolle": "admin", "kommune": "waiblingen"}, None),
    ("/verwaltung/prozesse", {}, ("szenario", "s.yaml", WAIBLINGEN.replace(
        b"key: waiblingen-2017", b"key: waiblingen-2030", 1))),
    ("/verwaltung/vorlagen", {"vorlage_prozess": "waiblingen-2017", "art": "sitzungsvorlage"},
     ("datei", "v.docx", word("{{ kommune.name }}"))),
]  # fmt: skip


@pytest.mark.parametrize("path, fields, upload", WRITES)
def test_every_admin_write_refuses_the_wrong_user(app, db_url, tmp_path, path, fields, upload):
    before = dump(db_url)
    files = {upload[0]: (upload[1], upload[2], "application/octet-stream")} if upload else None
    anonymous = client_for(app, None)
    token = csrf(anonymous.get("/anmelden").text)
    assert anonymous.post(path, data={"csrf_token": token, **fields},
                          files=files).status_code == 401  # fmt: skip
    for user in ("gast", "fremd", "ortolf", "sd"):
        client = client_for(app, user)
        response = client.post(path, data={"csrf_token": token_of(client), **fields}, files=files)
        assert response.status_code == 403, (user, response.status_code)
    admin = client_for(app, "admin")
    for token in (None, "falsch"):
        data = {**fields, **({"csrf_token": token} if token else {})}
        response = admin.post(path, data=data, files=files)
        assert response.status_code == 403 and "Formular ist abgelaufen" in response.text
    assert dump(db_url) == before
    assert not (tmp_path / "out" / "_vorlagen").exists()
