"""Scenario files: the shipped ones load; every kind of bad input is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, WAIBLINGEN
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.errors import InputError
from lifecycle.scenario import load_scenario
from lifecycle.yamlio import loads

TEXT = WAIBLINGEN.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def mutated(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(TEXT.replace("on: 2017", "'on': 2017"))  # YAML 1.1 reads on as bool
    change(data)
    return write(tmp_path, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def error_for(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_scenario(path)
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_shipped_examples_load(name):
    scenario = load_scenario(EXAMPLES / name)
    # the yearly evaluations run the Umsetzung's plan, the rest the Integrationskonzept's
    yearly = "umsetzung" in name or "evaluation" in name
    assert scenario.plan.name == ("integrationskonzept-umsetzung" if yearly
                                  else "integrationskonzept")  # fmt: skip


class TestBadInput:
    def test_unknown_key_names_key_and_line(self, tmp_path):
        text = TEXT.replace("  bundesland: BW\n", "  bundesland: BW\n  einwohner: 55000\n")
        err = error_for(write(tmp_path, text))
        assert err.field == "kommune" and "unbekannter Schlüssel „einwohner“" in err.problem
        assert err.line == line_of(text, "kommune:")
        assert str(err).startswith(f"{tmp_path / 'scenario.yaml'}:{err.line}: kommune: ")

    def test_missing_required_field(self, tmp_path):
        err = error_for(mutated(tmp_path, lambda d: d["kommune"].pop("bundesland")))
        assert err.field == "kommune" and "„bundesland“ fehlt (Pflichtfeld)" in err.problem

    def test_unknown_bundesland(self, tmp_path):
        text = TEXT.replace("bundesland: BW", "bundesland: Schwaben")
        err = error_for(write(tmp_path, text))
        assert err.field == "kommune.bundesland"
        assert "unbekanntes Bundesland „Schwaben“" in err.problem
        assert err.line == line_of(text, "bundesland: Schwaben")

    def test_workshop_after_submission_sitzung(self, tmp_path):
        text = TEXT.replace('start: "2017-07-07 14:00"', 'start: "2017-12-20 14:00"')
        err = error_for(write(tmp_path, text))
        assert err.field == "workshop.start"
        assert "liegt nicht vor der abschließenden Sitzung" in err.problem

    def test_sitzungen_in_impossible_order(self, tmp_path):
        def swap(d):
            d["fortschreibung"]["sitzungen"]["vorlage_vorberatung"] = "gr-2017-12-14"
            d["fortschreibung"]["sitzungen"]["vorlage_entscheidung"] = "bsv-2017-12-06"

        err = error_for(mutated(tmp_path, swap))
        assert err.field == "fortschreibung.sitzungen.vorlage_entscheidung"
        assert "liegt vor „vorlage_vorberatung“" in err.problem

    def test_task_anchored_to_unbound_sitzung(self, tmp_path):
        err = error_for(
            mutated(tmp_path, lambda d: d["fortschreibung"]["sitzungen"].pop("vorlage_vorberatung"))
        )
        assert err.field == "fortschreibung.sitzungen"
        assert "hängt an der Sitzung „vorlage_vorberatung“" in err.problem

    def test_binding_to_sitzung_that_does_not_exist(self, tmp_path):
        text = TEXT.replace(
            "vorlage_vorberatung: bsv-2017-12-06", "vorlage_vorberatung: bsv-2017-12-07"
        )
        err = error_for(write(tmp_path, text))
        assert err.field == "fortschreibung.sitzungen.vorlage_vorberatung"
        assert "unbekannte(s) Sitzung „bsv-2017-12-07“" in err.problem

    def test_empty_betreff(self, tmp_path):
        err = error_for(mutated(tmp_path, lambda d: d["vorlagen"][1].update(betreff="")))
        assert err.field == "vorlagen[1].betreff" and err.problem == "darf nicht leer sein"

    def test_blank_betreff(self, tmp_path):
        err = error_for(mutated(tmp_path, lambda d: d["vorlagen"][1].update(betreff="   ")))
        assert err.field == "vorlagen[1].betreff" and "nicht leerer Text" in err.problem

    @pytest.mark.parametrize("bad", ["2017-13-01", "2017-02-30"])
    def test_impossible_date(self, tmp_path, bad):
        text = TEXT.replace("started: 2017-03-01", f"started: {bad}")
        err = error_for(write(tmp_path, text))
        assert err.field == "fortschreibung.started" and f"unmögliches Datum „{bad}“" in err.problem
        assert err.line == line_of(text, f"started: {bad}")

    def test_german_date_format_is_malformed(self, tmp_path):
        err = error_for(write(tmp_path, TEXT.replace("started: 2017-03-01", "started: 01.03.2017")))
        assert err.field == "fortschreibung.started" and "YYYY-MM-DD" in err.problem

    @pytest.mark.parametrize("bad", ["ute.ortolf@", "ute ortolf@waiblingen.de", "ute@waiblingen"])
    def test_malformed_email(self, tmp_path, bad):
        text = TEXT.replace("ute.ortolf@waiblingen.example", bad)
        err = error_for(write(tmp_path, text))
        assert err.field == "personen[0].email" and "ungültige E-Mail-Adresse" in err.problem

    def test_malformed_reference(self, tmp_path):
        err = error_for(
            write(tmp_path, TEXT.replace("reference: BSV 3/2017\n", "reference: BSV-3-2017\n"))
        )
        assert err.field == "vorlagen[0].reference" and "wie „BSV 3/2017“" in err.problem

    def test_unknown_person_in_role(self, tmp_path):
        err = error_for(
            write(tmp_path, TEXT.replace("projektleitung: [ortolf]", "projektleitung: [niemand]"))
        )
        assert err.field == "rollen.projektleitung[0]"
        assert "unbekannte(s) Person „niemand“" in err.problem

    def test_invalid_yaml(self, tmp_path):
        err = error_for(write(tmp_path, TEXT.replace("kommune:\n", "kommune: [\n", 1)))
        assert "ungültiges YAML" in err.problem and err.line

    def test_missing_file(self, tmp_path):
        err = error_for(tmp_path / "nope.yaml")
        assert err.problem == "Datei nicht gefunden"

    def test_unknown_plan(self, tmp_path):
        err = error_for(
            write(tmp_path, TEXT.replace("plan: integrationskonzept", "plan: jugendhilfeplan"))
        )
        assert err.field == "fortschreibung.plan"


def test_verlauf_out_of_order(tmp_path):
    text = TEXT.replace(
        "{decide: arbeitsgruppen, on: 2017-10-27", "{decide: arbeitsgruppen, on: 2017-07-20"
    )
    err = error_for(write(tmp_path, text))
    assert err.field == "verlauf[2].on" and "liegt vor dem Schritt davor" in err.problem


def test_verlauf_before_the_start(tmp_path):
    text = TEXT.replace(
        "{decide: ratsbeschluss, on: 2017-04-27", "{decide: ratsbeschluss, on: 2017-02-27"
    )
    err = error_for(write(tmp_path, text))
    assert err.field == "verlauf[0].on" and "2017-03-01" in err.problem


# Words of PyYAML that must not reach a user.
YAML_ENGLISH = ("could not", "expected", "found", "constructor", "token", "stream", "while ",
                "mapping values", "Error")  # fmt: skip
_YAML_BITS = st.sampled_from([
    "a", "b", ":", ": ", " ", "  ", "\n", "\t", "-", "- ", "[", "]", "{", "}", ",", "'", '"',
    "&x ", "*x", "*y", "!!python/object:os.system", "!!int", "!!timestamp", "!!binary", "!foo",
    "!!str", "!!set", "!!omap", "<<", "---", "...", "?", "%", "@", "`", "|", ">", "#", "\\q",
    "1", "2017-02-30", "1e999", "9" * 5000,
])  # fmt: skip


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(_YAML_BITS, max_size=16).map("".join))
def test_any_text_is_data_or_one_german_error(text):
    """Generated YAML: the data, or an InputError naming the file, in German."""
    try:
        loads(text, "s.yaml")
    except InputError as exc:
        message = str(exc)
        assert message.startswith("s.yaml") and "\n" not in message, message
        assert not [w for w in YAML_ENGLISH if w in message], message
