"""The event log as people read it (``lifecycle.history``): German on the Prozess page and in
``lifecycle log`` alike, with no action name or field name of the code left to decode."""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, WAIBLINGEN
from sqlmodel import Session
from test_cli import run

from lifecycle import history, services
from lifecycle.db import engine_for
from lifecycle.lookups import get_process
from lifecycle.models import Outcome
from lifecycle.scenario import load_scenario
from lifecycle.words import ACTION_DE, FIELD_DE

SOURCES = sorted([*(ROOT / "src" / "lifecycle").rglob("*.py"), *(ROOT / "flows").rglob("*.py")])
SOURCES = [p for p in SOURCES if "migrations" not in p.parts]


def _constants() -> dict[str, set[str]]:
    """Every module-level ``NAME = "text"`` (and ``A, B = "x", "y"``) of the sources."""
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                pairs = (
                    zip(target.elts, node.value.elts, strict=False)
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                    else [(target, node.value)]
                )
                for name, value in pairs:
                    if (
                        isinstance(name, ast.Name)
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        found.setdefault(name.id, set()).add(value.value)
    return found


def _action_values(node: ast.expr, constants: dict[str, set[str]]) -> Iterator[str]:
    """The actions an ``action=`` expression can stand for."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        values = constants.get(name, set())
        assert len(values) == 1, f"cannot tell which action {ast.unparse(node)} is: {values}"
        yield from values
    elif isinstance(node, ast.JoinedStr) and ast.unparse(node) == "f'gate_{outcome.value}'":
        yield from (f"gate_{o.value}" for o in Outcome)
    else:
        raise AssertionError(f"an action this test cannot read: {ast.unparse(node)}")


def logged_actions() -> set[str]:
    """Every action the code writes to the event log: ``action=`` arguments and the
    ``"action"`` of the rows written in bulk."""
    constants, found = _constants(), set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "action":
                value = node.value
            elif isinstance(node, ast.Dict):
                value = next(
                    (
                        v
                        for k, v in zip(node.keys, node.values, strict=True)
                        if isinstance(k, ast.Constant) and k.value == "action"
                    ),
                    None,
                )
                if value is None or not isinstance(value, ast.Constant):
                    continue  # a row copied or put together from another's
            else:
                continue
            if path.name == "events.py" and isinstance(value, ast.Name):
                continue  # the log itself passes its argument on
            found |= set(_action_values(value, constants))
    return found


def logged_fields() -> set[str]:
    """The fields of the values a log entry keeps: the names given to ``snapshot`` and the
    keys of dictionaries written as an entry's ``before`` or ``after``."""
    found: set[str] = set()
    for path in SOURCES:
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(call, ast.Call):
                continue
            for kw in call.keywords:
                if kw.arg not in ("before", "after"):
                    continue
                for node in ast.walk(kw.value):
                    if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("snapshot"):
                        found |= {
                            a.value
                            for a in node.args[1:]
                            if isinstance(a, ast.Constant) and isinstance(a.value, str)
                        }
                    elif isinstance(node, ast.Dict):
                        found |= {
                            k.value
                            for k in node.keys
                            if isinstance(k, ast.Constant) and isinstance(k.value, str)
                        }
    return found


def test_the_scans_find_what_the_code_logs():
    """Guards the two tests below against a scan that finds nothing."""
    assert {
        "start",
        "task_done",
        "gate_approve",
        "gate_send_back",
        "due_changed",
        "stage_run",
        "oparl_cancelled",
        "oparl_deleted",
        "demo_reminder_day",
    } <= logged_actions()
    assert {"state", "done_on", "by", "outcome", "oeffentlich", "stage"} <= logged_fields()


def test_every_action_the_code_logs_has_its_german_words():
    assert sorted(logged_actions() - set(ACTION_DE)) == []


def test_every_field_the_code_logs_has_a_german_label_or_is_hidden():
    assert sorted(logged_fields() - set(FIELD_DE)) == []


# --- the reading itself ---------------------------------------------------------------------


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = engine_for(f"sqlite:///{tmp_path / 'h.db'}")
    with Session(engine, expire_on_commit=False) as s:
        services.start(s, load_scenario(WAIBLINGEN), actor="raible")
        yield s
    engine.dispose()


def test_an_entry_names_what_it_concerns_and_its_values_in_german(session):
    services.complete_task(
        session, "waiblingen-2017:foerderantrag_stellen", on=dt.date(2017, 3, 14), by="ortolf"
    )
    services.decide_gate(
        session,
        "waiblingen-2017",
        "ratsbeschluss",
        outcome="send_back",
        on=dt.date(2017, 3, 20),
        by="raible",
        remarks="Finanzierung klären",
    )
    process = get_process(session, "waiblingen-2017")
    gate, done, *_ = history.entries(session, process, internal=False)
    assert (gate.what, gate.actor) == ("Gate zurückgegeben", "raible")
    assert "Phase: Ratsbeschluss" in gate.details  # the stage's title, not its key
    assert "entschieden am: 20.03.2017" in gate.details
    assert (done.what, done.subject) == (
        "Aufgabe erledigt",
        "Förderantrag stellen (z. B. VwV Integration)",
    )
    assert done.details == "Stand: offen → erledigt; erledigt am: 14.03.2017; von: ortolf"
    assert done.at.tzinfo is not None and done.at.utcoffset() in (
        dt.timedelta(hours=1),
        dt.timedelta(hours=2),
    )  # the Rathaus's clock


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "ja"),
        (False, "nein"),
        ("done", "erledigt"),
        ("approve", "freigegeben"),
        ("2017-12-14", "14.12.2017"),
        ("2017-12-14T18:00:00", "14.12.2017, 18:00 Uhr"),
        (["a", "2017-01-02"], "a, 02.01.2017"),
        (3, "3"),
        ("Text", "Text"),
    ],
)
def test_values_read_as_a_german_reader_expects(value, shown):
    assert history.value_de(value) == shown


def test_the_cli_log_reads_as_the_web_log_does(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run(url, "start", str(WAIBLINGEN))
    run(url, "done", "waiblingen-2017:foerderantrag_stellen", "--on", "2017-03-14")
    out = run(url, "log", "waiblingen-2017").stdout
    flat = " ".join(out.replace("│", " ").split())
    assert "Prozess gestartet" in flat
    assert "Aufgabe erledigt: Förderantrag stellen (z. B. VwV" in flat
    assert "Stand: offen → erledigt" in flat and "erledigt am: 14.03.2017" in flat
    for raw in ("task_done", "state=", "done_on", "Task "):
        assert raw not in out


def test_a_document_kind_reads_by_its_title_and_a_stage_by_its_title():
    stages = {"ratsbeschluss": "Ratsbeschluss"}
    after = {"kind": "beschlussvorlage", "stage": "ratsbeschluss", "version": 2}
    shown = history.details(None, after, internal=False, stages=stages)
    assert (
        shown == "Dokument: Beschlussvorlage (Grundsatzbeschluss); Phase: Ratsbeschluss; Version: 2"
    )


@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        ("gate ratsbeschluss approved", "Gate der Phase „Ratsbeschluss“ freigegeben"),
        ("postponed to gr-2017-12-14", "vertagt auf die Sitzung gr-2017-12-14"),
        ("Sitzung bsv-2017-12-06 moved", "Sitzung bsv-2017-12-06 verlegt"),
        (
            "beschluss bound to gr-2018-01-25",
            "Plan-Sitzung „beschluss“ an die Sitzung gr-2018-01-25 gebunden",
        ),
        ("closing days changed", "Schließtage der Kommune geändert"),
        ("Gate der Phase „Auswertung“ freigegeben", "Gate der Phase „Auswertung“ freigegeben"),
    ],
)
def test_a_reason_older_versions_logged_in_english_reads_german(logged, shown):
    """The log stays as written; databases from before the German reasons read German too."""
    after = {"due": "2017-05-02", "reason": logged}
    text = history.details(None, after, internal=False, stages={"ratsbeschluss": "Ratsbeschluss"})
    assert text == f"Frist: 02.05.2017; Grund: {shown}"


def test_a_progress_reads_in_percent_an_amount_in_euros_a_decimal_with_a_comma():
    after = {"progress": 40, "budget_amount": 2000.0, "value": 12.5}
    shown = history.details({"progress": 0}, after, internal=False)
    assert shown == "Fortschritt: 0\xa0% → 40\xa0%; Betrag: 2.000\xa0€; Wert: 12,5"


def test_a_title_the_subject_names_is_not_said_twice_but_a_changed_one_is():
    adopted = {"status": "offen", "title": "Runder Tisch Vielfalt"}
    shown = history.details(None, adopted, internal=False, subject="Runder Tisch Vielfalt")
    assert shown == "Status: offen"
    renamed = history.details({"title": "Runder Tisch"}, {"title": "Runder Tisch Vielfalt"},
                              internal=False, subject="Runder Tisch Vielfalt")  # fmt: skip
    assert renamed == "Titel: Runder Tisch → Runder Tisch Vielfalt"
