"""After the council decides: Maßnahmen, indicators, the yearly Sachstandsbericht, the CSV a
Fachbereich edits, and the next Fortschreibung that carries what is still open.

Real SQLite through the services; documents read back with docx2python; the CLI through its
entry point (exit codes, one German line, the database unchanged on bad input).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, WAIBLINGEN
from docx2python import docx2python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select

from lifecycle import replay, services, umsetzung
from lifecycle.cli import run
from lifecycle.documents import generate
from lifecycle.errors import InputError, NotFound, Refused
from lifecycle.massnahmen_csv import COLUMNS, export, parse
from lifecycle.models import (
    Event,
    Fortschreibung,
    Handlungsfeld,
    KonzeptVersion,
    Massnahme,
    MassnahmeStatus,
    MassnahmeUebernahme,
    Meilenstein,
    Messung,
)  # fmt: skip
from lifecycle.scenario import load_scenario
from lifecycle.validation import schema

UMSETZUNG = EXAMPLES / "waiblingen-umsetzung-2018.yaml"
SCHWETZINGEN = EXAMPLES / "schwetzingen-2017.yaml"
SCHWETZINGEN_2018 = EXAMPLES / "schwetzingen-evaluation-2018.yaml"


@pytest.fixture
def adopted(session, waiblingen):
    """Waiblingen 2017 through its last gate: the Umsetzung has begun."""
    replay.run(session, waiblingen)
    return waiblingen


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def table_counts(session) -> dict[str, int]:
    return {m.__name__: count(session, m) for m in (Massnahme, Meilenstein, Messung, Event)}


def test_the_last_gate_turns_every_schluesselprojekt_and_empfehlung_into_a_massnahme(
    session, adopted
):
    rows = umsetzung.of_konzept(session, adopted)
    # 7 Schlüsselprojekte and 4 Empfehlungen of the working groups, 2 of the scenario's own
    assert len(rows) == 13
    assert sum(m.source == "Schlüsselprojekt" for m in rows) == 7
    assert sum(m.source == "Empfehlung" for m in rows) == 4
    lotsen = umsetzung.get(session, adopted, "integrationslotsen")
    assert (lotsen.responsible, lotsen.target_date, lotsen.status) == (
        "Fachbereich Bürgerengagement", dt.date(2018, 6, 30), MassnahmeStatus.offen)
    assert lotsen.start_date == dt.date(2017, 12, 14)  # the day of the council's decision
    assert lotsen.handlungsfeld.startswith("Bürgerschaftliches Engagement")
    runder_tisch = umsetzung.get(session, adopted, "runder-tisch-vielfalt")
    assert (runder_tisch.budget_amount, runder_tisch.source) == (2000, "Szenario")
    assert sum(m.budget_amount or 0 for m in rows) == 5000  # the 5 000 € of seed 002
    labels = [v.label for v in session.exec(select(KonzeptVersion)).all()]
    assert labels == ["Integrationskonzept 2009/2010", "Evaluation 2014", "Fortschreibung 2017"]
    # adopting again (a re-run after a crash) adds nothing
    assert umsetzung.adopt(session, adopted, dt.date(2017, 12, 14), "test") == []
    session.rollback()


def test_overdue_is_derived_from_the_target_date_never_stored(session, adopted):
    m = umsetzung.get(session, adopted, "integrationslotsen")
    assert not umsetzung.overdue(m, dt.date(2018, 6, 30))
    assert umsetzung.overdue(m, dt.date(2018, 7, 1))
    services.update_massnahme(session, adopted.key, m.key, {"status": "erledigt"}, actor="t",
                              on=dt.date(2018, 6, 29))  # fmt: skip
    session.refresh(m)
    assert (m.status, m.progress) == (MassnahmeStatus.erledigt, 100)
    assert not umsetzung.overdue(m, dt.date(2019, 1, 1))
    assert "überfällig" not in {s.value for s in MassnahmeStatus}


def test_a_change_is_logged_with_before_after_and_the_day_it_became_true(session, adopted):
    change = services.update_massnahme(
        session, adopted.key, "offener-treff",
        {"status": "in Umsetzung", "progress": "40", "internal_note": "nur intern"},
        actor="ortolf", on=dt.date(2018, 3, 1))  # fmt: skip
    assert change.fields["status"] == ("offen", "in Umsetzung")
    assert change.fields["progress"] == (0, 40)
    event = session.exec(select(Event).where(Event.action == "massnahme_changed")).one()
    assert event.before["status"] == "offen" and event.after["status"] == "in Umsetzung"
    assert event.after["on"] == "2018-03-01" and event.actor == "ortolf"
    again = services.update_massnahme(session, adopted.key, "offener-treff",
                                      {"status": "in Umsetzung"}, actor="ortolf")  # fmt: skip
    assert again.fields == {}  # nothing changed, nothing logged
    assert count(session, Event) == count(session, Event)


@pytest.mark.parametrize("call, error, problem", [
    (lambda s, p: services.update_massnahme(s, p, "offener-treff", {"status": "überfällig"},
                                            actor="t"), InputError, "unbekannt; erlaubt: offen"),
    (lambda s, p: services.update_massnahme(s, p, "offener-treff", {"status": "fertig"},
                                            actor="t"), InputError, "unbekannt"),
    (lambda s, p: services.update_massnahme(s, p, "offener-treff", {"progress": 101},
                                            actor="t"), InputError, "zwischen 0 und 100"),
    (lambda s, p: services.update_massnahme(s, p, "offener-treff", {"progress": -1},
                                            actor="t"), InputError, "zwischen 0 und 100"),
    (lambda s, p: services.update_massnahme(s, p, "offener-treff", {"progress": "viel"},
                                            actor="t"), InputError, "keine ganze Zahl"),
    (lambda s, p: services.update_massnahme(s, p, "offener-treff", {"farbe": "rot"},
                                            actor="t"), InputError, "unbekanntes Feld"),
    (lambda s, p: services.update_massnahme(s, p, "gibt-es-nicht", {"progress": 5},
                                            actor="t"), NotFound, "keine Maßnahme"),
    (lambda s, p: services.add_meilenstein(s, p, "offener-treff", on=dt.date(2017, 12, 13),
                                           title="zu früh", actor="t"),
     Refused, "vor dem Beginn der Maßnahme"),
    (lambda s, p: services.add_messung(s, p, "integrationskurse", on=dt.date(2018, 1, 1),
                                       value=float("nan"), actor="t"),
     InputError, "keine endliche Zahl"),
])  # fmt: skip
def test_bad_changes_are_refused_and_change_nothing(session, adopted, call, error, problem):
    before = table_counts(session)
    m_before = session.exec(select(Massnahme.status, Massnahme.progress)).all()
    with pytest.raises(error, match=problem):
        call(session, adopted.key)
    session.expire_all()
    assert table_counts(session) == before
    assert session.exec(select(Massnahme.status, Massnahme.progress)).all() == m_before


def test_a_massnahme_of_another_kommune_is_not_found(session, adopted):
    other = services.start(session, load_scenario(EXAMPLES / "voelklingen-2017.yaml"), actor="t")
    with pytest.raises(NotFound, match="keine Maßnahme „offener-treff“"):
        services.update_massnahme(session, other.key, "offener-treff", {"progress": 5}, actor="t")


def test_the_umsetzung_2018_runs_through_and_writes_the_sachstandsbericht(session, adopted,
                                                                          tmp_path):  # fmt: skip
    services.update_massnahme(session, adopted.key, "boccia-bahn",
                              {"internal_note": "Streit mit dem Sportverein, vertraulich"},
                              actor="ortolf", on=dt.date(2018, 2, 1))  # fmt: skip
    process = services.start(session, load_scenario(UMSETZUNG), actor="t")
    # one "Sachstand melden" task per person responsible for an open Maßnahme
    keys = {t.key for t in session.exec(select(services.Task).where(
        services.Task.fortschreibung_id == process.id)).all()}  # fmt: skip
    assert {"sachstand_melden__ortolf", "sachstand_melden__raible"} <= keys
    replay.run(session, process)
    session.refresh(process)
    assert process.state.value == "completed"
    result = generate(session, process, "sachstandsbericht", out_dir=tmp_path)
    with docx2python(str(result.path)) as read:
        text = " ".join(read.text.replace("\u00a0", " ").split())
    for part in [
        "Sachstandsbericht", "Vorlage Nr. BSV 19/2018", "28.11.2018", "Kenntnisnahme",
        "Von 13 Maßnahmen sind 9 offen, 2 in Umsetzung und 2 erledigt; 5 sind überfällig.",
        "Angebote an der Boccia-Bahn bei der Rundsporthalle",
        "offen, überfällig", "31.07.2018",
        "Was sich seit dem Beschluss des Konzepts (14.12.2017) geändert hat",
        "29.06.2018, Integrationslotsen: erledigt (bisher offen), Fortschritt 100 % (bisher 0 %)",
        "Teilnehmende an Integrationskursen", "310 Personen (31.12.2017)",
        "335 Personen (30.09.2018)", "Ansprechpartnerin",
    ]:
        assert part in text, part
    assert "Streit mit dem Sportverein" not in text  # the internal note stays internal
    assert "**" not in text


def test_the_sachstandsbericht_reports_changes_since_the_last_report(session, adopted, tmp_path):
    first = services.start(session, load_scenario(UMSETZUNG), actor="t")
    replay.run(session, first)
    services.update_massnahme(session, adopted.key, "boccia-bahn", {"status": "erledigt"},
                              actor="t", on=dt.date(2019, 5, 2))  # fmt: skip
    text = UMSETZUNG.read_text(encoding="utf-8").replace("2018", "2019").replace(
        "waiblingen-umsetzung-2019", "waiblingen-umsetzung-2019")  # fmt: skip
    text = "\n".join(line for line in text.splitlines()
                     if not line.lstrip().startswith(("- {massnahme", "- {messung")))  # fmt: skip
    second_file = tmp_path / "waiblingen-umsetzung-2019.yaml"
    second_file.write_text(text.replace("bsv-2019-11-28, role", "bsv-2019-11-28, role"),
                           encoding="utf-8")  # fmt: skip
    second = services.start(session, load_scenario(second_file), actor="t")
    replay.run(session, second)
    with docx2python(str(generate(session, second, "sachstandsbericht",
                                  out_dir=tmp_path / "o").path)) as read:  # fmt: skip
        report = " ".join(read.text.split())
    assert "Was sich seit dem letzten Bericht (28.11.2018) geändert hat" in report
    assert "02.05.2019, Angebote an der Boccia-Bahn bei der Rundsporthalle: erledigt (bisher " \
           "offen)" in report  # fmt: skip
    assert "Integrationslotsen: erledigt" not in report  # reported last year


# --- CSV ---------------------------------------------------------------------------------


def _export(session, process) -> bytes:
    return export(umsetzung.of_konzept(session, process)).encode("utf-8")


def test_the_csv_round_trip_is_lossless(session, adopted, tmp_path, db_url):
    services.update_massnahme(session, adopted.key, "offener-treff", {
        "status": "in Umsetzung", "progress": 35, "budget_amount": 1234.5,
        "public_text": 'Treff; "montags" und\nmittwochs – für alle', "internal_note": "ä ö ü ß €",
    }, actor="t")  # fmt: skip
    first = _export(session, adopted)
    assert first.startswith("\ufeff".encode()) and b";" in first.splitlines()[0]
    path = tmp_path / "massnahmen.csv"
    path.write_bytes(first)
    assert services.import_massnahmen(session, adopted.key, first, source="m.csv", apply=True,
                                      actor="t") == []  # fmt: skip
    session.expire_all()
    assert _export(session, adopted) == first
    assert run(["massnahmen", "export", adopted.key, "-o", str(tmp_path / "again.csv")]) == 0
    assert (tmp_path / "again.csv").read_bytes() == first


def test_an_imported_change_is_logged_with_the_day_it_became_true(session, adopted):
    data = _edited(_export(session, adopted), "offener-treff", "Fortschritt", "60", "utf-8-sig")
    changes = services.import_massnahmen(session, adopted.key, data, source="m.csv", apply=True,
                                         actor="fb", on=dt.date(2018, 5, 2))  # fmt: skip
    assert [c.key for c in changes] == ["offener-treff"]
    [logged] = session.exec(select(Event).where(Event.action == "massnahme_changed")).all()
    assert (logged.actor, logged.after["on"]) == ("fb", "2018-05-02")


def _edited(data: bytes, key: str, column: str, value: str, encoding: str) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    at = rows[0].index(column)
    for row in rows[1:]:
        if row[0] == key:
            row[at] = value
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig", "utf-8"])
def test_an_edited_sheet_shows_its_changes_then_applies_them(session, adopted, encoding, capsys,
                                                             tmp_path, db_url):  # fmt: skip
    data = _edited(_export(session, adopted), "boccia-bahn", "Sachstand",
                   "Gespräche mit dem Sportverein über Öffnungszeiten", "utf-8")  # fmt: skip
    # Excel saves as Windows-1252: "zurückgestellt" and the umlauts must still come through
    data = _edited(data, "boccia-bahn", "Status", "in Umsetzung", encoding)
    path = tmp_path / "sheet.csv"
    path.write_bytes(data)
    assert run(["massnahmen", "import", adopted.key, str(path)]) == 0
    out = capsys.readouterr().out
    assert "boccia-bahn: public_text" in out and "Öffnungszeiten" in out
    session.expire_all()
    assert umsetzung.get(session, adopted, "boccia-bahn").public_text == ""  # preview only
    assert run(["massnahmen", "import", adopted.key, str(path), "--apply"]) == 0
    session.expire_all()
    saved = umsetzung.get(session, adopted, "boccia-bahn")
    assert saved.public_text == "Gespräche mit dem Sportverein über Öffnungszeiten"
    assert saved.status == MassnahmeStatus.in_umsetzung


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d.replace(b"Interne Notiz", b"Farbe"), "unbekannte Spalte „Farbe“"),
    (lambda d: d + d.splitlines(keepends=True)[1], "steht schon in Zeile 2"),
    (lambda d: d.replace(b";offen;", b";fertig;", 1), "Spalte Status: unbekannt"),
    (lambda d: d.replace(b";offen;0;", b";offen;150;", 1),
     "Spalte Fortschritt: muss zwischen 0 und 100 liegen"),
    (lambda d: d.replace(b"boccia-bahn", b"fremde-massnahme"), "keine Maßnahme „fremde-massnahme“"),
    (lambda d: d.replace(b"31.07.2018", b"31.02.2018"), "Spalte Zieltermin"),
    (lambda d: b"", "die Datei ist leer"),
    (lambda d: b"\xff\xfe\x00\x00" + d, "Nullbytes"),
    (lambda d: d.replace("ü".encode(), b"\xfc", 1),  # Windows-1252 behind a UTF-8 BOM
     "Zeile 1: beginnt mit der UTF-8-Kennung (BOM), enthält aber kein gültiges UTF-8 (Byte 8)"),
    (lambda d: _edited(d, "boccia-bahn", "Sachstand", "x" * 200_000, "utf-8-sig"),
     "kein gültiges CSV (ein Feld ist länger als 131.072 Zeichen)"),
    (lambda d: _edited(d, "boccia-bahn", "Betrag", "1e308", "utf-8-sig"),
     "Spalte Betrag: „1e308“ ist zu groß (höchstens 1.000.000.000.000 €)"),
    (lambda d: _edited(d, "boccia-bahn", "Betrag", "1.000.000.000.000,01", "utf-8-sig"),
     "Spalte Betrag: „1.000.000.000.000,01“ ist zu groß"),
    (lambda d: _edited(d, "boccia-bahn", "Betrag", "-5", "utf-8-sig"),
     "Spalte Betrag: „-5“ darf nicht negativ sein"),
])  # fmt: skip
def test_a_bad_sheet_is_one_line_and_changes_nothing(session, adopted, tmp_path, db_url, capsys,
                                                    mutate, problem):  # fmt: skip
    path = tmp_path / "bad.csv"
    path.write_bytes(mutate(_export(session, adopted)))
    before = _export(session, adopted)
    events = count(session, Event)
    assert run(["massnahmen", "import", adopted.key, str(path), "--apply"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and problem in err and "bad.csv" in err, err
    session.expire_all()
    assert _export(session, adopted) == before and count(session, Event) == events


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=40).filter(lambda s: s == s.strip())  # fmt: skip


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(title=_text.filter(bool), responsible=_text, public=_text, note=_text,
       progress=st.integers(0, 100), status=st.sampled_from([s.value for s in MassnahmeStatus]),
       target=st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)),
       amount=st.none() | st.integers(0, 10**9).map(lambda c: c / 100))  # fmt: skip
def test_any_values_survive_the_round_trip(session, adopted, title, responsible, public, note,
                                           progress, status, target, amount):  # fmt: skip
    services.update_massnahme(session, adopted.key, "laender-im-fokus", {
        "title": title, "responsible": responsible, "public_text": public,
        "internal_note": note, "progress": progress, "status": status, "target_date": target,
        "budget_amount": amount}, actor="t")  # fmt: skip
    data = _export(session, adopted)
    assert services.import_massnahmen(session, adopted.key, data, source="x.csv", apply=True,
                                      actor="t") == []  # fmt: skip
    session.expire_all()
    m = umsetzung.get(session, adopted, "laender-im-fokus")
    assert (m.title, m.responsible, m.public_text, m.internal_note, m.progress, m.status.value,
            m.target_date, m.budget_amount) == (title, responsible, public, note, progress,
                                                status, target, amount)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(-(10**400), 10**400),
                 st.text(max_size=30), st.sampled_from(["1e308", "1e12", "-0", "inf", "nan"])))
def test_an_amount_is_a_number_up_to_the_bound_or_a_german_refusal(value):
    """Every kind of value the services may be handed as an amount: a float from 0 to
    MAX_AMOUNT (the pages print it, the CSV carries it), None, or an InputError."""
    try:
        amount = umsetzung.check_amount(value)
    except InputError as exc:
        assert str(exc).startswith("Betrag: ") and ("kein Betrag" in str(exc)
                                                   or "zu groß" in str(exc)
                                                   or "nicht negativ" in str(exc))  # fmt: skip
    else:
        assert amount is None or 0 <= amount <= umsetzung.MAX_AMOUNT


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(amount=st.floats(allow_nan=False, allow_infinity=False),
       notation=st.sampled_from(["{:.2f}", "{!r}", "{:e}", "{:.0f}"]),
       german=st.booleans())  # fmt: skip
def test_a_sheets_amount_is_stored_only_within_the_bound(session, adopted, amount, notation,
                                                         german):  # fmt: skip
    typed = notation.format(amount)
    if german:
        typed = typed.replace(".", ",")
    data = _edited(_export(session, adopted), "boccia-bahn", "Betrag", typed, "utf-8-sig")
    before = _export(session, adopted)
    try:
        services.import_massnahmen(session, adopted.key, data, source="x.csv", apply=True,
                                   actor="t")  # fmt: skip
    except InputError as exc:
        assert "x.csv: Zeile " in str(exc) and ", Spalte Betrag: " in str(exc)
        session.expire_all()
        assert _export(session, adopted) == before
    else:
        session.expire_all()
        stored = umsetzung.get(session, adopted, "boccia-bahn").budget_amount
        assert stored is not None and 0 <= stored <= umsetzung.MAX_AMOUNT
    services.update_massnahme(session, adopted.key, "boccia-bahn", {"budget_amount": None},
                              actor="t")  # fmt: skip


def test_the_bound_of_an_amount_is_the_scenario_schemas():
    """One bound for every amount: what a scenario may say, a sheet or a form may set."""
    bounds: list[object] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("amount") and isinstance(value, dict):
                    bounds.append(value.get("maximum"))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema("scenario"))
    assert len(bounds) >= 3 and set(bounds) == {umsetzung.MAX_AMOUNT}


@pytest.mark.parametrize("amount", [1e308, -1.0, float("inf"), float("nan"), "viel"])
def test_the_services_refuse_an_amount_out_of_bounds(session, adopted, amount):
    before = _export(session, adopted)
    with pytest.raises(InputError, match="Betrag"):
        services.update_massnahme(session, adopted.key, "boccia-bahn",
                                  {"budget_amount": amount}, actor="t")  # fmt: skip
    session.expire_all()
    assert _export(session, adopted) == before


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb"]),
       st.binary(max_size=60) | st.text(max_size=40).map(lambda t: t.encode("utf-8")),
       st.sampled_from([b"", b"Schl\xc3\xbcssel;Status\r\n", b"Schl\xfcssel;Status\n"]))
def test_any_bytes_are_rows_or_one_german_error(bom, tail, header):
    """Whatever a Fachbereich's program wrote: the rows, or an InputError naming the file."""
    try:
        rows = parse(bom + header + tail, "x.csv")
    except InputError as exc:
        assert str(exc).startswith("x.csv: ")
    else:
        assert all(isinstance(line, int) and "Schlüssel" in row for line, row in rows)


def test_the_csv_header_is_the_documented_one():
    assert list(COLUMNS) == ["Schlüssel", "Handlungsfeld", "Maßnahme", "Verantwortlich", "Beginn",
                             "Zieltermin", "Haushaltsstelle", "Betrag", "Status", "Fortschritt",
                             "Sachstand", "Interne Notiz"]  # fmt: skip


# --- the next Fortschreibung ---------------------------------------------------------------


def _next_revision(tmp_path: Path, handlungsfelder: bool) -> Path:
    data = yaml.safe_load(WAIBLINGEN.read_text(encoding="utf-8").replace("on: 20", "'on': 20"))
    data["key"] = "waiblingen-2022"
    for name in ("verlauf", "umsetzung", "workshop", "arbeitsgruppen"):
        data.pop(name)
    if not handlungsfelder:
        data.pop("handlungsfelder")
    for vorlage in data["vorlagen"]:
        vorlage.pop("begruendung", None)
    path = tmp_path / "waiblingen-2022.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_next_fortschreibung_carries_open_massnahmen_and_decides_each(session, adopted,
                                                                         tmp_path, db_url,
                                                                         capsys):  # fmt: skip
    services.update_massnahme(session, adopted.key, "integrationslotsen", {"status": "erledigt"},
                              actor="t")  # fmt: skip
    scenario = _next_revision(tmp_path, handlungsfelder=False)
    assert run(["start", str(scenario), "--from", adopted.key]) == 0
    session.expire_all()
    nxt = session.exec(select(Fortschreibung).where(Fortschreibung.key == "waiblingen-2022")).one()
    fields = session.exec(select(Handlungsfeld.title).where(
        Handlungsfeld.fortschreibung_id == nxt.id).order_by(Handlungsfeld.position)).all()
    assert fields[0] == "Zugang zu Sprache und Bildung" and len(fields) == 4  # carried
    carried = umsetzung.undecided(session, nxt)
    assert len(carried) == 12 and "integrationslotsen" not in carried  # the done one stays
    [started] = session.exec(select(Event).where(Event.action == "start",
                                                 Event.fortschreibung_id == nxt.id)).all()
    [logged] = session.exec(select(Event).where(Event.action == "carried_from")).all()
    assert (logged.actor, logged.entity, logged.entity_id, logged.fortschreibung_id,
            logged.after) == (started.actor, "Fortschreibung", nxt.id, nxt.id,
                              {"from": adopted.key, "massnahmen": 12})  # fmt: skip
    with pytest.raises(Refused) as refusal:
        services.decide_gate(session, nxt.key, "ratsbeschluss", outcome="approve",
                             on=dt.date(2017, 4, 27), by="sitzungsdienst", reference="GR 1/2022",
                             force_reason="Test")  # fmt: skip
    assert str(refusal.value) == (
        "erst über die übernommenen Maßnahmen entscheiden (weiterführen, abgeschlossen oder "
        f"streichen): {', '.join(carried)}"
    )
    # sending the first gate back needs no decision on them (only its approval does)
    services.decide_gate(session, nxt.key, "ratsbeschluss", outcome="send_back",
                         on=dt.date(2017, 3, 20), by="raible", remarks="Haushalt erst klären")
    capsys.readouterr()
    assert run(["massnahmen", "uebernahme", nxt.key, "boccia-bahn", "fertig"]) == 2
    assert "unbekannt; erlaubt: weiterführen, abgeschlossen, streichen" in capsys.readouterr().err
    decisions = {"boccia-bahn": "abgeschlossen", "erste-100-tage": "streichen"}
    for key in carried:
        choice = decisions.get(key, "weiterführen")
        services.decide_carried_massnahme(session, nxt.key, key, choice, on=dt.date(2017, 4, 1),
                                          by="ortolf")  # fmt: skip
    session.expire_all()
    decided = session.exec(select(MassnahmeUebernahme.decided_on, MassnahmeUebernahme.decided_by)
                           .where(MassnahmeUebernahme.fortschreibung_id == nxt.id)).all()
    assert set(decided) == {(dt.date(2017, 4, 1), "ortolf")} and len(decided) == 12
    assert umsetzung.get(session, nxt, "boccia-bahn").status == MassnahmeStatus.erledigt
    assert umsetzung.get(session, nxt, "erste-100-tage").status == \
        MassnahmeStatus.zurueckgestellt  # fmt: skip
    services.decide_gate(session, nxt.key, "ratsbeschluss", outcome="approve",
                         on=dt.date(2017, 4, 27), by="sitzungsdienst", reference="GR 1/2022",
                         force_reason="Test")  # fmt: skip
    with pytest.raises(Refused, match="schon entschieden"):
        services.decide_carried_massnahme(session, nxt.key, "boccia-bahn", "weiterführen",
                                          on=dt.date(2017, 5, 1), by="ortolf")  # fmt: skip


def test_from_a_process_of_another_concept_is_refused(session, adopted, tmp_path):
    other = services.start(session, load_scenario(EXAMPLES / "voelklingen-2017.yaml"), actor="t")
    before = count(session, Fortschreibung)
    with pytest.raises(Refused, match=r"^waiblingen-2022 schreibt nicht das Konzept von "
                                      r"voelklingen-2017 fort \(andere Kommune oder andere "
                                      r"Konzeptart\)$"):  # fmt: skip
        services.start(session, load_scenario(_next_revision(tmp_path, True)), actor="t",
                       from_process=other.key)  # fmt: skip
    session.expire_all()
    assert count(session, Fortschreibung) == before


# --- Schwetzingen (seed 000) ---------------------------------------------------------------


def test_schwetzingen_2017_to_2018_runs_through(session, tmp_path):
    process = services.start(session, load_scenario(SCHWETZINGEN), actor="t")
    replay.run(session, process)
    session.refresh(process)
    assert process.state.value == "completed"
    rows = umsetzung.of_konzept(session, process)
    assert rows and {m.handlungsfeld for m in rows} >= {"Wohnen", "Arbeit", "Bildung",
                                                        "Gesellschaftliche Teilhabe"}  # fmt: skip
    evaluation = services.start(session, load_scenario(SCHWETZINGEN_2018), actor="t")
    replay.run(session, evaluation)
    session.refresh(evaluation)
    assert evaluation.state.value == "completed"
    with docx2python(str(generate(session, evaluation, "sachstandsbericht",
                                  out_dir=tmp_path).path)) as read:  # fmt: skip
        text = " ".join(read.text.split())
    assert "Schwetzingen" in text and "Sachstandsbericht" in text
    assert "Wohnen" in text and "Gemeinderat" in text


@pytest.mark.parametrize("args, problem", [
    (["set", "waiblingen-2017", "offener-treff", "--status", "überfällig"], "unbekannt; erlaubt"),
    (["set", "waiblingen-2017", "offener-treff", "--progress", "101"], "zwischen 0 und 100"),
    (["set", "waiblingen-2017", "offener-treff", "--target", "2018-02-31"], "--target"),
    (["set", "waiblingen-2017", "offener-treff"], "nichts zu ändern"),
    (["set", "waiblingen-2017", "gibt-es-nicht", "--progress", "5"], "keine Maßnahme"),
    (["set", "nirgendwo", "offener-treff", "--progress", "5"], "nirgendwo"),
    (["meilenstein", "waiblingen-2017", "offener-treff", "--on", "2017-01-01", "--title", "x"],
     "vor dem Beginn der Maßnahme"),
    (["messung", "waiblingen-2017", "integrationskurse", "--on", "2018-01-01", "--value", "viel"],
     "keine Zahl"),
    (["messung", "waiblingen-2017", "unbekannt", "--on", "2018-01-01", "--value", "3"],
     "kein Indikator"),
])  # fmt: skip
def test_cli_refusals_are_one_german_line_and_change_nothing(session, adopted, db_url, capsys,
                                                             args, problem):  # fmt: skip
    before = table_counts(session)
    capsys.readouterr()
    assert run(["massnahmen", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and problem in err, err
    session.expire_all()
    assert table_counts(session) == before


def test_cli_lists_what_is_overdue_on_a_given_day(session, adopted, db_url, capsys):
    assert run(["massnahmen", "set", "waiblingen-2017", "integrationslotsen", "--status",
                "erledigt", "--on", "2018-06-29"]) == 0  # fmt: skip
    capsys.readouterr()
    assert run(["massnahmen", "list", "waiblingen-2017", "--overdue", "--today", "2018-07-02"]) == 0
    out = capsys.readouterr().out
    assert "offener-treff" in out and "runder-tisch-vielfalt" in out
    assert "integrationslotsen" not in out  # done before its target date
    assert "boccia-bahn" not in out  # due 31.07.2018


def test_a_fortschreibung_adopted_before_the_umsetzung_existed_begins_it_once(session, adopted):
    for m in umsetzung.of_konzept(session, adopted):  # as an older database has it
        session.delete(m)
    session.commit()
    added = services.begin_umsetzung(session, adopted.key, actor="t")
    assert len(added) == 13  # the two of the scenario start on 15.01.2018, the rest that day
    assert dt.date(2017, 12, 14) in {m.start_date for m in added}
    assert services.begin_umsetzung(session, adopted.key, actor="t") == []


def test_a_next_fortschreibung_with_its_own_handlungsfelder_keeps_only_those(session, adopted,
                                                                            tmp_path):  # fmt: skip
    path = _next_revision(tmp_path, handlungsfelder=True)
    own = [h["title"] for h in yaml.safe_load(path.read_text(encoding="utf-8"))["handlungsfelder"]]
    nxt = services.start(session, load_scenario(path), actor="t", from_process=adopted.key)
    fields = session.exec(select(Handlungsfeld.title).where(
        Handlungsfeld.fortschreibung_id == nxt.id).order_by(Handlungsfeld.position)).all()
    assert fields == own  # not the previous Fortschreibung's as well


def test_a_meilenstein_and_a_messung_without_a_note_have_none(session, adopted):
    services.add_meilenstein(session, adopted.key, "offener-treff", on=dt.date(2018, 3, 1),
                             title="Erster Treff", actor="t")  # fmt: skip
    services.add_messung(session, adopted.key, "integrationskurse", on=dt.date(2018, 3, 1),
                         value=12, actor="t")  # fmt: skip
    session.expire_all()
    assert [m.note for m in session.exec(select(Meilenstein))] == [""]
    assert [m.note for m in session.exec(select(Messung))] == [""]


def test_a_last_gate_sent_back_is_no_approval_to_begin_the_umsetzung(session, waiblingen):
    replay.run(session, waiblingen, until=dt.date(2017, 12, 13))
    services.decide_gate(session, waiblingen.key, "vorlage", outcome="send_back",
                         on=dt.date(2017, 12, 14), by="sitzungsdienst",
                         remarks="Der Gemeinderat wünscht eine Überarbeitung.")  # fmt: skip
    with pytest.raises(Refused, match="über das letzte Tor ist noch nicht entschieden"):
        services.begin_umsetzung(session, waiblingen.key, actor="t")
    assert count(session, Massnahme) == 0


def test_the_umsetzung_cannot_begin_before_the_last_gate(session, waiblingen):
    with pytest.raises(Refused, match="über das letzte Tor ist noch nicht entschieden"):
        services.begin_umsetzung(session, waiblingen.key, actor="t")
    assert count(session, Massnahme) == 0


def test_a_cell_excel_would_run_as_a_formula_is_exported_as_text_and_comes_back(session, adopted):
    services.update_massnahme(session, adopted.key, "boccia-bahn", {
        "public_text": '=HYPERLINK("http://x.example";"klick")', "responsible": "@Sportamt",
        "internal_note": "'schon mit Apostroph"}, actor="t")  # fmt: skip
    data = _export(session, adopted)
    row = next(r for r in csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";")
               if r[0] == "boccia-bahn")  # fmt: skip
    assert row[10].startswith("'=") and row[3] == "'@Sportamt" and row[11].startswith("''")
    assert services.import_massnahmen(session, adopted.key, data, source="x.csv", apply=True,
                                      actor="t") == []  # fmt: skip


@pytest.mark.parametrize("args, problem", [
    (["import", "waiblingen-2017", "{tmp}"], "ist ein Ordner, keine CSV-Datei"),
    (["export", "waiblingen-2017", "-o", "{tmp}"], "ist ein Ordner"),
    (["set", "waiblingen-2017", "offener-treff", "--target", "9999-12-31"],
     "Jahr 9999 außerhalb von 1950 bis 2200"),
    (["set", "waiblingen-2017", "offener-treff\n", "--progress", "5"], "keine Maßnahme"),
])  # fmt: skip
def test_folders_far_years_and_trailing_newlines_are_refused(session, adopted, db_url, capsys,
                                                            tmp_path, args, problem):  # fmt: skip
    before = _export(session, adopted)
    capsys.readouterr()
    assert run(["massnahmen", *[a.format(tmp=tmp_path) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and problem in err, err
    session.expire_all()
    assert _export(session, adopted) == before


def test_a_sheet_with_a_year_out_of_range_is_refused(session, adopted):
    data = _export(session, adopted).replace(b"31.07.2018", b"31.07.9999")
    with pytest.raises(InputError, match="Spalte Zieltermin: Jahr 9999 außerhalb"):
        services.import_massnahmen(session, adopted.key, data, source="x.csv", apply=True,
                                   actor="t")  # fmt: skip


def _changes_logged(session) -> list[tuple[int | None, dict]]:
    rows = session.exec(select(Event).where(Event.action == "massnahme_changed")
                        .order_by(col(Event.id))).all()  # fmt: skip
    return [(e.entity_id, e.after) for e in rows]


@pytest.mark.parametrize("cut", [None, dt.date(2018, 3, 15), dt.date(2018, 7, 5),
                                 dt.date(2018, 10, 12)])  # fmt: skip
def test_a_replay_run_again_after_any_step_applies_each_change_once(session, adopted, cut):
    """A demo killed after 05.07. (Runder Tisch at 60 %) set 30 % again on its re-run: the
    15.03. step's values differed from the current ones, so it looked unapplied."""
    process = services.start(session, load_scenario(UMSETZUNG), actor="t")
    first = replay.run(session, process, until=cut)
    assert first and all(step.on <= (cut or dt.date.max) for step in first)
    before = _changes_logged(session)
    again = replay.run(session, process)
    if cut is None:
        assert again == []
    assert all(step.on > (cut or dt.date.max) for step in again if step.kind == "massnahme")
    logged = _changes_logged(session)
    assert logged[:len(before)] == before
    # each massnahme step of the verlauf that changes something, once, in the verlauf's order
    days = [entry["on"] for entry in process.scenario["verlauf"] if "massnahme" in entry]
    assert [after["on"] for _, after in logged] == days
    tisch = umsetzung.get(session, process, "runder-tisch-vielfalt")
    assert tisch.progress == 60
    assert [after.get("progress") for m, after in logged if m == tisch.id] == [30, 60]


def test_the_latest_messung_of_each_indikator_in_two_queries(session, adopted):
    """The Sachstandsbericht and the Maßnahmen page ask one question: each Indikator with its
    latest Messung up to a day, in two queries however many Indikatoren and Messungen there
    are."""
    from sqlalchemy import event

    for day, value in ((dt.date(2018, 6, 1), 21), (dt.date(2018, 3, 1), 12),
                       (dt.date(2018, 9, 1), 30)):  # not recorded in the order of their days
        services.add_messung(session, adopted.key, "integrationskurse", on=day, value=value,
                             actor="t")  # fmt: skip
    sent: list[str] = []
    listen = lambda *args: sent.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        seen = {day: [(i.key, m.value if m else None) for i, m in
                      umsetzung.latest_messungen(session, adopted, day)]
                for day in (dt.date(2018, 1, 1), dt.date(2018, 7, 1), None)}  # fmt: skip
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    assert seen == {
        dt.date(2018, 1, 1): [("integrationskurse", None), ("ehrenamt-migration", None)],
        dt.date(2018, 7, 1): [("integrationskurse", 21), ("ehrenamt-migration", None)],
        None: [("integrationskurse", 30), ("ehrenamt-migration", None)]}  # fmt: skip
    assert len(sent) == 2 * 3


def test_a_change_reads_as_a_clerk_lists_it():
    from lifecycle.doc_sachstand import _change

    assert _change("status", "offen", "in Umsetzung") == (True, "in Umsetzung (bisher offen)")
    assert _change("progress", 0, 50) == (False, "Fortschritt 50 % (bisher 0 %)")
    assert _change("target_date", "2018-09-30", "2019-03-31") == (
        False, "Zieltermin 31.03.2019 (bisher 30.09.2018)")
    assert _change("budget_amount", None, 1234.5) == (False, "Betrag 1.234,50\xa0€")
    assert _change("responsible", "Ortolf", "Raible") == (
        False, "Verantwortlich „Raible“ (bisher „Ortolf“)")
    # the old Sachstand was in the last report: only the new one is news
    assert _change("public_text", "alt", "neu") == (False, "neuer Sachstand: „neu“")


def test_a_massnahme_key_keeps_what_its_umlauts_say():
    # dropping the dots would turn "Förderung" into "Forderung"
    assert umsetzung.slug("Die kommunale Integrationsförderung") == \
        "die-kommunale-integrationsfoerderung"  # fmt: skip
    assert umsetzung.slug("Bürger für Bürger – Übergänge gestalten") == \
        "buerger-fuer-buerger-uebergaenge-gestalten"  # fmt: skip
    assert umsetzung.slug("Straße") == "strasse"
    assert umsetzung.slug("–") == "massnahme"
    assert not umsetzung.slug("a" * 59 + " b").endswith("-")  # cut at 60, no dangling dash
