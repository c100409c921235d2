"""The use cases' own rules: the run outbox, users and grants, the Vorlage editor, previews.

Written against the survivors of mutation testing (``make mutate``): each test names the rule
it guards. Real SQLite through the services.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import docx
import pytest
from docx.oxml.ns import qn
from smtp_server import SmtpServer
from sqlalchemy import text
from sqlmodel import Session, SQLModel, col, select

from lifecycle import mail, passwords, services
from lifecycle.errors import InputError, NotFound, Refused
from lifecycle.models import (
    Event,
    Fortschreibung,
    Grant,
    Reminder,
    RunRequest,
    RunRequestState,
    Stage,
    StageState,
    User,
    Vorlage,
)

D = dt.date
NOV_8 = D(2017, 11, 8)
PASSWORD = "ein-langes-passwort"


def dump(session: Session) -> dict[str, list]:
    """Every row of every table: to prove a refused use case stored nothing."""
    session.expire_all()
    conn = session.connection()
    tables = {
        t: conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1')).fetchall()
        for t in SQLModel.metadata.tables
    }
    session.rollback()
    return tables


def events(session: Session, action: str) -> list[Event]:
    session.expire_all()
    return list(session.exec(select(Event).where(Event.action == action).order_by(Event.id)))


def nothing_stored(session: Session, error, fn, *args, match: str, **kwargs) -> None:
    before = dump(session)
    with pytest.raises(error, match=match):
        fn(session, *args, **kwargs)
    assert dump(session) == before


@pytest.fixture
def voelklingen(session, waiblingen) -> Fortschreibung:
    """A second Kommune beside Waiblingen."""
    from conftest import EXAMPLES

    from lifecycle.scenario import load_scenario

    return services.start(session, load_scenario(EXAMPLES / "voelklingen-2017.yaml"))


# --- users and grants ------------------------------------------------------------------------


def test_a_user_is_stored_with_a_hashed_password_her_grants_and_a_log_entry(session, waiblingen):
    user = services.add_user(
        session, "ute.ortolf", password=PASSWORD, display_name="Ute Ortolf",
        grants=[("projektleitung", "waiblingen", "waiblingen-2017"),
                ("viewer", "waiblingen", None)],
        actor="admin",
    )  # fmt: skip
    session.expire_all()
    stored = session.exec(select(User).where(User.name == "ute.ortolf")).one()
    assert (stored.id, stored.display_name, stored.is_admin) == (user.id, "Ute Ortolf", False)
    assert PASSWORD not in stored.password_hash
    assert passwords.verify(stored.password_hash, PASSWORD)
    grants = session.exec(select(Grant).where(Grant.user_id == user.id).order_by(Grant.id)).all()
    assert [(g.role, g.kommune_id, g.fortschreibung_id) for g in grants] == [
        ("projektleitung", waiblingen.kommune_id, waiblingen.id),
        ("viewer", waiblingen.kommune_id, None),
    ]
    [ev] = events(session, "user_added")
    assert (ev.actor, ev.entity, ev.entity_id, ev.fortschreibung_id) == (
        "admin", "User", user.id, None
    )  # fmt: skip
    assert ev.after == {
        "name": "ute.ortolf", "admin": False,
        "grants": [["projektleitung", "waiblingen", "waiblingen-2017"],
                   ["viewer", "waiblingen", None]],
    }  # fmt: skip


def test_an_administrator_without_display_name_is_shown_by_her_name(session, waiblingen):
    services.add_user(session, "root", password=PASSWORD, admin=True, actor="setup")
    stored = session.exec(select(User).where(User.name == "root")).one()
    assert (stored.display_name, stored.is_admin) == ("root", True)
    assert session.exec(select(Grant)).all() == []
    assert events(session, "user_added")[0].after["admin"] is True


@pytest.mark.parametrize(
    "name, password, grants, message",
    [
        ("Ute", PASSWORD, (), r"^NAME: „Ute“: nur Kleinbuchstaben, Ziffern, „\.“, „-“ und „_“$"),
        ("_ute", PASSWORD, (), "nur Kleinbuchstaben"),
        ("u" * 65, PASSWORD, (), "nur Kleinbuchstaben"),
        ("ute", "x" * 9, (), "^Passwort: mindestens 10 Zeichen$"),
        ("ute", PASSWORD, [("chef", "waiblingen", None)],
         r"^--role: „chef“ ist keine Rolle; möglich: viewer, projektleitung, sitzungsdienst$"),
        ("ute", PASSWORD, [("viewer", "waiblingen", None), ("admin", "waiblingen", None)],
         "„admin“ ist keine Rolle"),
    ],
)  # fmt: skip
def test_bad_account_input_is_refused_with_a_german_line(
    session, waiblingen, name, password, grants, message
):
    nothing_stored(session, InputError, services.add_user, name, password=password,
                   grants=grants, actor="admin", match=message)  # fmt: skip


def test_the_longest_name_and_the_shortest_password_are_accepted(session, waiblingen):
    services.add_user(session, "u" * 64, password="x" * 10, actor="admin")
    assert session.exec(select(User)).one().name == "u" * 64


@pytest.mark.parametrize(
    "grants, error, message",
    [
        ([("viewer", "tuebingen", None)], NotFound, "^keine Kommune „tuebingen“$"),
        ([("projektleitung", "waiblingen", "voelklingen-2017")], Refused,
         "^„voelklingen-2017“ gehört nicht zur Kommune „waiblingen“$"),
        ([("viewer", "waiblingen", None), ("projektleitung", "waiblingen", "gibtsnicht")],
         NotFound, "gibtsnicht"),
    ],
)  # fmt: skip
def test_a_grant_that_cannot_be_given_stores_no_user(session, voelklingen, grants, error, message):
    nothing_stored(session, error, services.add_user, "ute", password=PASSWORD, grants=grants,
                   actor="admin", match=message)  # fmt: skip


def test_a_user_name_is_taken_once(session, waiblingen):
    services.add_user(session, "ute", password=PASSWORD, actor="admin")
    nothing_stored(session, Refused, services.add_user, "ute", password=PASSWORD, actor="admin",
                   match="^den Benutzer „ute“ gibt es schon$")  # fmt: skip


# --- stage runs and the run outbox -------------------------------------------------------------


def test_a_stage_run_is_recorded_once_per_key(session, waiblingen):
    key = "waiblingen-2017:ratsbeschluss:start"
    assert services.stage_run_recorded(session, key) is False
    assert services.record_stage_run(session, "waiblingen-2017", "ratsbeschluss", key) is True
    assert services.record_stage_run(session, "waiblingen-2017", "ratsbeschluss", key) is False
    assert services.stage_run_recorded(session, key) is True
    assert services.stage_run_recorded(session, key + "x") is False
    [ev] = events(session, "stage_run")
    stage = session.exec(select(Stage).where(Stage.key == "ratsbeschluss")).one()
    assert (ev.actor, ev.entity, ev.entity_id, ev.fortschreibung_id, ev.after) == (
        "flows", "Stage", stage.id, waiblingen.id, {"key": key}
    )  # fmt: skip
    nothing_stored(session, NotFound, services.record_stage_run, "waiblingen-2017",
                   "gibtsnicht", "k2", match="keine Phase „gibtsnicht“")  # fmt: skip


def test_a_process_started_from_python_without_an_actor_is_logged_as_started_by_python(
    session, voelklingen
):
    """The library's own default: whoever calls ``services.start`` without saying who they
    are (a script, the tests) is "python" in the log, never nobody."""
    [logged] = session.exec(select(Event).where(Event.action == "start",
                                                Event.fortschreibung_id == voelklingen.id)).all()
    assert logged.actor == "python"


def test_a_gate_is_decided_in_its_own_process_when_another_has_a_stage_of_that_key(
    session, voelklingen
):
    """Every process of a plan has a stage "ratsbeschluss": the decision closes Völklingen's
    (the second), never Waiblingen's (the first of that key in the table)."""
    services.decide_gate(session, "voelklingen-2017", "ratsbeschluss", outcome="approve",
                         on=D(2017, 8, 31), by="sitzungsdienst", reference="HPTA 1/2017",
                         force_reason="Test")  # fmt: skip
    session.expire_all()
    states = dict(session.exec(
        select(Fortschreibung.key, Stage.state).join(Stage, col(Stage.fortschreibung_id)
                                                     == Fortschreibung.id)
        .where(Stage.key == "ratsbeschluss")).all())  # fmt: skip
    assert states == {"waiblingen-2017": StageState.open, "voelklingen-2017": StageState.closed}


def test_a_run_that_could_not_start_stays_pending_with_why(session, waiblingen):
    [run] = services.pending_runs(session)
    services.note_run_failed(session, run.id, "Prefect nicht erreichbar: " + "x" * 600)
    services.note_run_failed(session, run.id, "Prefect nicht erreichbar")
    session.expire_all()
    row = session.get(RunRequest, run.id)
    assert (row.state, row.attempts, row.last_error) == (
        RunRequestState.pending, 2, "Prefect nicht erreichbar"
    )  # fmt: skip
    services.note_run_failed(session, run.id, "y" * 600)
    session.expire_all()
    assert session.get(RunRequest, run.id).last_error == "y" * 500
    assert [r.id for r in services.pending_runs(session)] == [run.id]


def test_pending_runs_of_one_process_and_started_once(session, voelklingen):
    runs = services.pending_runs(session)
    assert [r.process_key for r in runs] == ["waiblingen-2017", "voelklingen-2017"]
    [mine] = services.pending_runs(session, process_key="voelklingen-2017")
    assert mine == runs[1] and mine.key == f"voelklingen-2017:{mine.stage_key}:start"
    assert services.mark_run_started(session, mine.id, "run-v") is True
    assert services.mark_run_started(session, mine.id, "run-w") is False
    session.expire_all()
    row = session.get(RunRequest, mine.id)
    assert (row.state, row.run_id, row.attempts) == (RunRequestState.started, "run-v", 1)
    assert row.started_at is not None
    assert services.pending_runs(session) == runs[:1]


# --- reminders through the services -----------------------------------------------------------


def test_run_reminders_dry_run_stores_nothing_and_the_real_run_sends(session, waiblingen):
    before = dump(session)
    dry = services.run_reminders(session, NOV_8, dry_run=True)
    assert dry.dry_run and dry.planned == 8
    assert dump(session) == before
    with SmtpServer() as server:
        settings = mail.settings_from(server.env())
        now = dt.datetime(2017, 11, 8, 7, 0, tzinfo=dt.UTC)
        report = services.run_reminders(session, NOV_8, settings=settings, now=now)
        assert report.sent == len(server.inbox) == 8
    session.expire_all()
    claimed = {r.claimed_at.replace(tzinfo=dt.UTC) for r in session.exec(select(Reminder))}
    assert claimed == {now}


# --- the Vorlage editor ------------------------------------------------------------------------


def test_edit_one_section_of_a_vorlage_and_give_it_back_to_the_draft(session, waiblingen):
    from lifecycle.doc_context import drafts

    generated = {d.title: d.generated for d in drafts(session, waiblingen, "vorlage")}
    sections = [t for t in generated if t not in ("Betreff", "Beschlussvorschlag")]
    edit = services.edit_vorlage_section
    v1 = edit(session, "waiblingen-2017", "vorlage", "Betreff", "  Neuer Betreff ", actor="ute")
    assert (v1.version, v1.betreff, v1.saved_by) == (1, "Neuer Betreff", "ute")
    v2 = edit(session, "waiblingen-2017", "vorlage", "Beschlussvorschlag", "Zustimmung.",
              actor="ute")  # fmt: skip
    assert (v2.betreff, v2.beschlussvorschlag) == ("Neuer Betreff", "Zustimmung.")
    v3 = edit(session, "waiblingen-2017", "vorlage", sections[0], "Eigener Text.", actor="ute")
    assert v3.begruendung == {sections[0]: "Eigener Text."}
    assert (v3.betreff, v3.beschlussvorschlag) == ("Neuer Betreff", "Zustimmung.")
    # empty: back to the draft generated from the process
    edit(session, "waiblingen-2017", "vorlage", "Betreff", " ", actor="ute")
    v5 = edit(session, "waiblingen-2017", "vorlage", "Beschlussvorschlag", "", actor="ute")
    assert (v5.betreff, v5.beschlussvorschlag) == (
        generated["Betreff"], generated["Beschlussvorschlag"]
    )  # fmt: skip
    edit(session, "waiblingen-2017", "vorlage", sections[0], "", actor="ute")
    session.expire_all()
    vorlage = session.exec(select(Vorlage).where(Vorlage.stage_key == "vorlage")).one()
    assert sections[0] not in vorlage.begruendung
    nothing_stored(session, InputError, edit, "waiblingen-2017", "vorlage", "Fazitt", "x",
                   actor="ute", match="^--section: Fazitt: unbekannter Abschnitt; bekannt: "
                   "Betreff, Beschlussvorschlag, ")  # fmt: skip


# --- documents and a Kommune's own templates -------------------------------------------------


def word(*lines: str) -> bytes:
    """A Word file as a clerk's German Word saves it (python-docx's blank one says en-US)."""
    document = docx.Document()
    for lang in document.styles.element.iter(qn("w:lang")):
        lang.set(qn("w:val"), "de-DE")
    for line in lines:
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def text_of(path) -> str:
    return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)


def test_a_generated_document_is_logged_once_per_new_version(session, waiblingen, tmp_path):
    first = services.generate_document(session, "waiblingen-2017", "beschlussvorlage",
                                       out_dir=tmp_path / "docs", actor="ute")  # fmt: skip
    assert first.created and first.path.is_file() and first.path.parent == tmp_path / "docs"
    again = services.generate_document(session, "waiblingen-2017", "beschlussvorlage",
                                       out_dir=tmp_path / "docs", actor="ute")  # fmt: skip
    assert not again.created and again.version == first.version
    [ev] = events(session, "document_generated")
    assert (ev.actor, ev.entity, ev.entity_id, ev.fortschreibung_id) == (
        "ute", "Fortschreibung", waiblingen.id, waiblingen.id
    )  # fmt: skip
    assert ev.after == {"kind": "beschlussvorlage", "stage": "ratsbeschluss", "version": 1}


def test_a_document_generated_by_no_one_in_particular_is_not_logged(session, waiblingen):
    result = services.generate_document(session, "waiblingen-2017", "beschlussvorlage")
    assert result.created and result.pdf_path is None  # a PDF only when asked for
    assert events(session, "document_generated") == []


def test_a_pdf_asked_for_through_the_services_is_written_beside_the_docx(session, waiblingen,
                                                                          tmp_path):
    from conftest import needs_binary

    needs_binary("soffice")
    result = services.generate_document(session, "waiblingen-2017", "beschlussvorlage",
                                        out_dir=tmp_path, pdf=True)  # fmt: skip
    assert result.pdf_path == tmp_path / "beschlussvorlage_v1.pdf"
    assert result.pdf_path.read_bytes().startswith(b"%PDF-")


def test_the_gate_documents_are_the_ones_the_plan_names(session, waiblingen, tmp_path):
    results = services.generate_gate_documents(session, "waiblingen-2017", "auftaktworkshop",
                                               out_dir=tmp_path / "docs")  # fmt: skip
    assert [(r.kind, r.stage_key) for r in results] == [
        ("workshop_einladung", "auftaktworkshop"), ("workshop_programm", "auftaktworkshop"),
        ("workshop_teilnehmerliste", "auftaktworkshop"),
    ]  # fmt: skip
    assert all(r.path.parent == tmp_path / "docs" and r.path.is_file() for r in results)


def test_a_kommunes_template_is_checked_stored_logged_and_used(session, voelklingen, tmp_path):
    data = word("Eigene Vorlage der Stadt {{ kommune.name }}: {{ vorlage.betreff }}")
    path = services.install_template(session, "waiblingen-2017", "sitzungsvorlage", data,
                                     actor="admin")  # fmt: skip
    folder = tmp_path / "out" / "_vorlagen" / "waiblingen"
    assert path == folder / "sitzungsvorlage.docx" and path.read_bytes() == data
    assert sorted(p.name for p in folder.iterdir()) == ["sitzungsvorlage.docx"]  # no .part
    [ev] = events(session, "template_installed")
    assert (ev.actor, ev.entity, ev.entity_id, ev.fortschreibung_id) == (
        "admin", "Kommune", session.get(Fortschreibung, 1).kommune_id, None
    )  # fmt: skip
    assert ev.after == {"kind": "sitzungsvorlage", "path": str(path)}
    own = services.generate_document(session, "waiblingen-2017", "sitzungsvorlage")
    other = services.generate_document(session, "voelklingen-2017", "sitzungsvorlage")
    assert "Eigene Vorlage der Stadt Waiblingen: Fortschreibung" in text_of(own.path)
    assert "Eigene Vorlage" not in text_of(other.path)


def _zip(**files: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name.replace("__", "/"), content)
    return out.getvalue()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"PK\x03\x04 kein Zip", "^Vorlage: sitzungsvorlage: keine Word-Datei \\(DOCX\\); "
                                 "bitte eine \\.docx hochladen$"),
        (_zip(hallo__txt="kein Word"), "keine Word-Datei"),
        (_zip(word__document__xml="<kaputt/>"), "^Vorlage: sitzungsvorlage: "),
        (word("{{ kommune.name }} {{ unbekanntes_feld }}"),
         "^Vorlage: sitzungsvorlage: .*unbekanntes Feld 'unbekanntes_feld'"),
        (word("{{ vorlage.gibtsnicht }}"), "unbekanntes Feld 'gibtsnicht'"),
    ],
)  # fmt: skip
def test_a_bad_template_is_refused_and_nothing_is_stored(session, waiblingen, tmp_path, data,
                                                         message):  # fmt: skip
    nothing_stored(session, InputError, services.install_template, "waiblingen-2017",
                   "sitzungsvorlage", data, actor="admin", match=message)  # fmt: skip
    assert not (tmp_path / "out" / "_vorlagen").exists()


def test_unclosed_bold_in_any_section_is_refused_with_its_title(session, waiblingen):
    nothing_stored(session, InputError, services.save_vorlage_text, "waiblingen-2017",
                   "vorlage", betreff="Fortschreibung", beschlussvorschlag="Zustimmung.",
                   begruendung={"Fazit": "Das ist **wichtig."}, actor="ute",
                   match="^Fazit: Fettdruck wird nicht geschlossen: „\\*\\*wichtig\\.“ "
                         "braucht ein zweites \\*\\*$")  # fmt: skip


# --- the run outbox's safety net ----------------------------------------------------------------


def test_missing_runs_are_requested_for_each_process_with_the_decision_that_opened_the_stage(
    session, voelklingen
):
    def decide(process: str, stage: str, on: dt.date, by: str):
        return services.decide_gate(session, process, stage, outcome="send_back", on=on, by=by,
                                    remarks="Geld klären")  # fmt: skip

    stages = {r.process_key: r.stage_key for r in services.pending_runs(session)}
    waiblingen_first = decide("waiblingen-2017", stages["waiblingen-2017"], D(2017, 3, 20), "sd")
    waiblingen_last = decide("waiblingen-2017", stages["waiblingen-2017"], D(2017, 3, 21), "sd")
    voelklingen = decide("voelklingen-2017", stages["voelklingen-2017"], D(2017, 12, 1), "sd")
    assert waiblingen_first.id < waiblingen_last.id < voelklingen.id
    session.exec(RunRequest.__table__.delete())  # type: ignore[attr-defined]
    session.commit()
    assert services.request_missing_runs(session) == 2
    runs = {r.process_key: r for r in services.pending_runs(session)}
    assert runs["waiblingen-2017"].key.endswith(f":{waiblingen_last.id}")
    assert runs["voelklingen-2017"].key.endswith(f":{voelklingen.id}")
    session.expire_all()
    rows = {r.key: r.decision_id for r in session.exec(select(RunRequest))}
    assert sorted(rows.values()) == [waiblingen_last.id, voelklingen.id]
    # one process still has its request: the other gets one all the same
    session.exec(RunRequest.__table__.delete().where(  # type: ignore[attr-defined]
        RunRequest.key == runs["voelklingen-2017"].key))  # fmt: skip
    session.commit()
    assert services.request_missing_runs(session) == 1
    assert {r.process_key for r in services.pending_runs(session)} == {
        "waiblingen-2017", "voelklingen-2017"
    }  # fmt: skip


# --- the move preview ---------------------------------------------------------------------------


def test_the_preview_lists_each_deadline_and_only_the_messages_of_this_move(session, waiblingen):
    from lifecycle import outbox, reminders

    outbox.queue(session, reminders.find_due(session, NOV_8))
    # a first move, confirmed: its messages wait unsent, the queued Vorlagenschluss reminder
    # is dropped
    services.move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 13), actor="sd", today=NOV_8)
    outbox.queue(session, reminders.find_due(session, D(2017, 11, 15)))
    before = dump(session)
    preview = services.preview_move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 12),
                                            actor="sd", today=D(2017, 11, 15))  # fmt: skip
    assert dump(session) == before
    assert (preview.sitzung_key, preview.old, preview.new) == (
        "bsv-2017-12-06", dt.datetime(2017, 12, 13, 17, 0), dt.datetime(2017, 12, 12, 17, 0)
    )  # fmt: skip
    assert len(preview.messages) == 4  # not the 4 of the first move as well
    # what confirming drops, counted from the rows; the first move's drops are not counted again
    stale = select(Reminder).where(Reminder.last_error == reminders.MOVED_STALE)
    stale_before = len(session.exec(stale).all())
    assert stale_before >= 1
    services.move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 12), actor="sd",
                          today=D(2017, 11, 15))  # fmt: skip
    session.expire_all()
    assert preview.cancelled_reminders == len(session.exec(stale).all()) - stale_before > 0
    title = "Sitzungsvorlage beim Sitzungsdienst einreichen (Vorlagenschluss)"
    einreichen = [d for d in preview.deadlines if d[1] == title]
    assert einreichen == [("waiblingen-2017", title, D(2017, 11, 29), D(2017, 11, 28))]
    assert all(d[0] == "waiblingen-2017" for d in preview.deadlines)


def test_the_preview_of_a_move_to_a_holiday_needs_the_reason_the_move_would(session, waiblingen):
    from lifecycle.errors import NeedsReason

    nothing_stored(session, NeedsReason, services.preview_move_sitzung, "gr-2017-12-14",
                   D(2017, 12, 25), actor="sd", match="Erster Weihnachtstag")  # fmt: skip
    preview = services.preview_move_sitzung(session, "gr-2017-12-14", D(2017, 12, 25),
                                            actor="sd", force_reason="Sondersitzung")  # fmt: skip
    assert preview.new == dt.datetime(2017, 12, 25, 18, 0)


# --- the Vorlage editor: what a save stores and logs --------------------------------------------


def save(session: Session, process: str = "waiblingen-2017", stage: str = "vorlage", **changes):
    values = {"betreff": "Fortschreibung", "beschlussvorschlag": "Der Gemeinderat stimmt zu.",
              "begruendung": {}, "actor": "ute"} | changes  # fmt: skip
    return services.save_vorlage_text(session, process, stage, **values)


def test_a_save_keeps_the_drafts_it_replaces_and_is_logged_with_the_version(session, waiblingen):
    from lifecycle.doc_context import drafts

    vorlage = session.exec(select(Vorlage).where(Vorlage.stage_key == "vorlage")).one()
    original = vorlage.betreff
    generated = {d.title: d.generated for d in drafts(session, waiblingen, "vorlage")}
    section = next(t for t in generated if t not in ("Betreff", "Beschlussvorschlag"))
    first = save(session, begruendung={section: "Eigener Text."})
    assert first.basis == {
        section: generated[section], "Betreff": generated["Betreff"],
        "Beschlussvorschlag": generated["Beschlussvorschlag"],
    }  # fmt: skip
    second = save(session, betreff="Fortschreibung 2017")
    ev1, ev2 = events(session, "vorlage_saved")
    assert (ev1.actor, ev1.entity, ev1.entity_id, ev1.fortschreibung_id) == (
        "ute", "Vorlage", vorlage.id, waiblingen.id
    )  # fmt: skip
    assert (ev1.before, ev1.after) == (
        {"betreff": original, "version": 0}, {"betreff": "Fortschreibung", "version": 1}
    )  # fmt: skip
    assert (ev2.before, ev2.after) == (
        {"betreff": "Fortschreibung", "version": 1},
        {"betreff": "Fortschreibung 2017", "version": second.version},
    )  # fmt: skip


def test_a_save_changes_the_vorlage_of_its_own_process_only(session, voelklingen):
    theirs = session.exec(select(Vorlage).where(Vorlage.fortschreibung_id == 1,
                                                Vorlage.stage_key == "vorlage")).one()  # fmt: skip
    betreff = theirs.betreff
    save(session, process="voelklingen-2017", betreff="Völklingen schreibt fort")
    session.expire_all()
    mine = session.exec(select(Vorlage).where(Vorlage.fortschreibung_id == voelklingen.id,
                                              Vorlage.stage_key == "vorlage")).one()  # fmt: skip
    assert mine.betreff == "Völklingen schreibt fort"
    assert session.get(Vorlage, theirs.id).betreff == betreff


def test_a_save_without_betreff_or_vorlage_is_refused(session, waiblingen):
    nothing_stored(session, InputError, save, betreff="  ",
                   match="^Betreff: darf nicht leer sein$")  # fmt: skip
    nothing_stored(session, NotFound, save, stage="auftaktworkshop",
                   match="^waiblingen-2017 hat keine Vorlage für die Phase "
                         "„auftaktworkshop“$")  # fmt: skip


# --- documents: the options reach the generator --------------------------------------------------


def test_a_document_from_a_template_folder_for_a_stage_as_docx_only(session, waiblingen, tmp_path):
    folder = tmp_path / "eigene"
    folder.mkdir()
    (folder / "stage_bericht.docx").write_bytes(word("Bericht der Stadt {{ kommune.name }}"))
    result = services.generate_document(session, "waiblingen-2017", "stage_bericht",
                                        templates=folder, stage="auftaktworkshop")  # fmt: skip
    assert (result.kind, result.stage_key, result.pdf_path) == (
        "stage_bericht", "auftaktworkshop", None
    )  # fmt: skip
    assert "Bericht der Stadt Waiblingen" in text_of(result.path)


def test_a_document_as_pdf(session, waiblingen, tmp_path):
    from conftest import needs_binary

    needs_binary("soffice")
    result = services.generate_document(session, "waiblingen-2017", "beschlussvorlage",
                                        out_dir=tmp_path / "docs", pdf=True)  # fmt: skip
    assert result.pdf_path is not None and result.pdf_path.read_bytes().startswith(b"%PDF")


def test_a_second_template_goes_into_the_kommunes_existing_folder(session, waiblingen):
    first = services.install_template(session, "waiblingen-2017", "sitzungsvorlage",
                                      word("{{ kommune.name }}"), actor="admin")  # fmt: skip
    second = services.install_template(session, "waiblingen-2017", "beschlussvorlage",
                                       word("{{ kommune.name }}"), actor="admin")  # fmt: skip
    assert first.parent == second.parent and first.is_file() and second.is_file()


def test_a_template_error_names_the_file_once(session, waiblingen):
    nothing_stored(
        session,
        InputError,
        services.install_template,
        "waiblingen-2017",
        "sitzungsvorlage",
        word("{{ kommune.name "),
        actor="admin",
        match="^Vorlage: sitzungsvorlage: sitzungsvorlage.docx: Syntaxfehler im Platzhalter",
    )


def test_run_reminders_sends_through_the_mailer_it_is_given(session, waiblingen):
    sent: list[str] = []

    with SmtpServer() as server:
        settings = mail.settings_from(server.env())

        class Counting(mail.Mailer):
            def send(self, msg) -> None:
                super().send(msg)
                sent.append(str(msg["Message-ID"]))

        report = services.run_reminders(session, NOV_8, settings=settings,
                                        mailer=Counting(settings))  # fmt: skip
        assert report.sent == len(sent) == len(server.inbox) == 8


def test_a_task_done_through_an_adapter_is_logged_with_who_clicked(session, waiblingen):
    services.complete_task(session, "waiblingen-2017:foerderantrag_stellen", on=D(2017, 3, 14),
                           by="ortolf", actor="web:sd")  # fmt: skip
    [ev] = events(session, "task_done")
    assert (ev.actor, ev.after["by"]) == ("web:sd", "ortolf")


def test_a_template_for_an_unknown_kind_is_refused_naming_the_known_ones(session, waiblingen):
    nothing_stored(session, InputError, services.install_template, "waiblingen-2017",
                   "einladung", word("{{ kommune.name }}"), actor="admin",
                   match=r"^docs: kind: unbekannte Dokumentart „einladung“; bekannt: "
                         r"abschlussbericht, ag_einladung, ")  # fmt: skip


def test_the_preview_lists_no_messages_of_another_sitzung_moved_to_the_same_hour(session,
                                                                                 voelklingen):
    """Völklingen's Hauptausschuss moved to 12.12.2017, 17:00 first: its messages carry the
    same new start as Waiblingen's BSV moved to that day, and are not this move's."""
    services.move_sitzung(session, "hpta-2017-08-31", dt.datetime(2017, 12, 12, 17, 0),
                          actor="sd", today=D(2017, 11, 15), force_reason="Sondersitzung")
    preview = services.preview_move_sitzung(session, "bsv-2017-12-06", D(2017, 12, 12),
                                            actor="sd", today=D(2017, 11, 15))  # fmt: skip
    assert preview.new == dt.datetime(2017, 12, 12, 17, 0)
    people = {name for name, _ in preview.messages}
    assert people == {"Ute Ortolf", "Christiane Dürr", "Sitzungsdienst",
                      "Prof. Dr. Paul-Stefan Roß"}  # fmt: skip
    assert {kind for _, kind in preview.messages} == {"moved"}
