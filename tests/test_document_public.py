"""A paper that may go out publicly cites nothing of a nichtöffentliche Beratung.

The Sitzungsvorlage is the public API's mainFile (OParl) as soon as one of its Beratungen is
public. Its Begründung recalls the Grundsatzbeschluss: the earlier Vorlage, its number and
Betreff, the Sitzungen that decided it. Those it may name only where the public API shows
them too (``BodyView.beratung_shown``).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES
from docx2python import docx2python

from lifecycle import services
from lifecycle.documents import generate
from lifecycle.scenario import load_scenario

SECRET = "Grundstücksankauf Südring"


def voelklingen_with_grundsatzbeschluss(tmp_path: Path, beratungsfolge: list[dict]) -> Path:
    """Völklingen, its Grundsatzbeschluss a Vorlage of its own with ``beratungsfolge``."""
    vorlage = [{
        "stage": "ratsbeschluss", "reference": "HptA 5/2017", "betreff": SECRET,
        "beschlussvorschlag": "Dem Ankauf wird zugestimmt.", "fachbereich": "Liegenschaften",
        "author": "bora", "beratungsfolge": beratungsfolge,
    }]  # fmt: skip
    text = (EXAMPLES / "voelklingen-2017.yaml").read_text(encoding="utf-8")
    # as text: the scenario's own loader reads YAML 1.2 (`on:` is a key, not true)
    head, tail = text.split("\nvorlagen:\n", 1)
    added = "".join(f"  {line}\n" for line in yaml.safe_dump(
        vorlage, allow_unicode=True, sort_keys=False).splitlines())  # as the file indents
    path = tmp_path / "voelklingen-2017.yaml"
    path.write_text(f"{head}\nvorlagen:\n{added}{tail}", encoding="utf-8")
    return path


def begruendung(session, tmp_path: Path, scenario: Path) -> str:
    process = services.start(session, load_scenario(scenario))
    services.decide_gate(session, process.key, "ratsbeschluss", outcome="approve",
                         on=dt.date(2017, 8, 31), by="sitzungsdienst", reference="HptA 5/2017",
                         force_reason="Test")  # fmt: skip
    result = generate(session, process, "sitzungsvorlage", out_dir=tmp_path / "out")
    with docx2python(result.path) as read:
        return " ".join(read.text.split())


def test_a_vorlage_only_before_a_nichtoeffentliche_sitzung_is_not_cited(session, tmp_path):
    scenario = voelklingen_with_grundsatzbeschluss(
        tmp_path, [{"sitzung": "hpta-2017-08-31", "role": "Entscheidung"}])
    text = begruendung(session, tmp_path, scenario)
    assert "Sitzungsvorlage" in text  # the paper itself was written
    for secret in (SECRET, "HptA 5/2017", "31.08.2017", "des HptA", "Hauptausschuss"):
        assert secret not in text, secret


@pytest.mark.parametrize("hidden", [
    {"sitzung": "hpta-2017-08-31", "role": "Entscheidung"},  # a nichtöffentliche Sitzung
    {"sitzung": "akjs-2018-06-12", "role": "Entscheidung", "oeffentlich": False},  # its TOP
])  # fmt: skip
def test_only_the_public_beratungen_of_the_grundsatzbeschluss_are_cited(
    session, tmp_path, hidden
):
    scenario = voelklingen_with_grundsatzbeschluss(
        tmp_path, [{"sitzung": "akjs-2017-08-29", "role": "Vorberatung"}, hidden])
    text = begruendung(session, tmp_path, scenario)
    sentence = re.search(r"In de[rn] Sitzung(en)? .*? zugestimmt\.", text)
    assert sentence is not None, text
    # one Sitzung left: the singular, the paper's number with the first one cited
    assert sentence.group() == ("In der Sitzung des AKJS vom 29.08.2017 (Sitzungsvorlage "
                                f"HptA 5/2017) wurde dem Vorhaben „{SECRET}“ zugestimmt.")


def test_a_resolution_without_a_vorlage_in_a_nichtoeffentliche_sitzung_is_not_cited(
    session, tmp_path
):
    """Völklingen's Hauptausschuss decided to start behind closed doors and without a Vorlage
    of its own: the public paper names neither its day, its number nor the Gremium."""
    text = begruendung(session, tmp_path, EXAMPLES / "voelklingen-2017.yaml")
    assert "Sitzungsvorlage" in text
    for secret in ("HptA 5/2017", "31.08.2017", "des HptA", "Hauptausschuss", "Ratsbeschluss"):
        assert secret not in text, secret
