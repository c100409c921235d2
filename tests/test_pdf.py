"""PDF alongside the DOCX through a real LibreOffice, read back with poppler."""

from __future__ import annotations

import subprocess

import pytest
from conftest import needs_binary

from lifecycle import replay
from lifecycle.documents import generate
from lifecycle.pdf import PdfError, to_pdf


@pytest.fixture
def tools():
    needs_binary("soffice")
    needs_binary("pdftotext")
    needs_binary("pdfinfo")


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip


def pdf_pages(path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def test_waiblingen_sitzungsvorlage_as_pdf(tools, session, waiblingen, tmp_path):
    replay.run(session, waiblingen)
    result = generate(session, waiblingen, "sitzungsvorlage", out_dir=tmp_path, pdf=True)
    assert result.pdf_path == tmp_path / "sitzungsvorlage_v1.pdf"
    text = " ".join(pdf_text(result.pdf_path).split())
    pages = pdf_pages(result.pdf_path)
    assert pages >= 3
    for part in [
        "Stadt Waiblingen",
        "Sitzungsvorlage",
        "Beratungsfolge:",
        "Ausschuss für",
        "06.12.2017 Vorberatung öffentlich",
        "Soziales und Verwaltung",
        "Gemeinderat 14.12.2017 Entscheidung öffentlich",
        "Betreff:",
        "Rückblick:",
        "Verlauf des Fortschreibungsprozesses:",
        "Fazit:",
        "Wie geht es weiter:",
        "Waiblingen, 20.11.2017",
        "Ortolf, Ute",
        f"Seite {pages} von {pages}",
    ]:
        assert part in text, part
    assert text.index("Fazit:") < text.index("Handlungsfeld „Interkulturelle Öffnung")
    again = generate(session, waiblingen, "sitzungsvorlage", out_dir=tmp_path, pdf=True)
    assert (again.created, again.pdf_path) == (False, result.pdf_path)


def test_bad_input_survives_into_the_pdf(tools, session, waiblingen, tmp_path):
    from sqlmodel import select

    from lifecycle.models import Vorlage

    vorlage = session.exec(select(Vorlage).where(Vorlage.stage_key == "vorlage")).one()
    vorlage.betreff = "Planung & Umwelt <FB 61> „Zitat“ {{ 7*7 }}"
    session.add(vorlage)
    session.commit()
    result = generate(session, waiblingen, "sitzungsvorlage", out_dir=tmp_path, pdf=True)
    assert "Planung & Umwelt <FB 61> „Zitat“ {{ 7*7 }}" in pdf_text(result.pdf_path)


def test_a_file_libreoffice_cannot_load_is_an_error(tools, tmp_path):
    broken = tmp_path / "kaputt.docx"
    broken.write_bytes(b"PK\x03\x04 not a zip archive")
    with pytest.raises(PdfError, match="konnte kaputt.docx nicht umwandeln"):
        to_pdf(broken)
    assert not (tmp_path / "kaputt.pdf").exists()
