"""The shipped templates: built from code, byte-stable, covered by their contexts."""

from __future__ import annotations

import docx
import jinja2
import pytest
from docxtpl import DocxTemplate

from lifecycle import replay, template_builder
from lifecycle.doc_context import KINDS, build_context
from lifecycle.documents import find_template, jinja_env
from lifecycle.template_builder import BUILDERS, SHIPPED


def test_committed_templates_are_current():
    assert template_builder.stale() == [], "run: python -m lifecycle.template_builder"


def test_the_build_is_byte_stable(tmp_path):
    first = template_builder.build("sitzungsvorlage")
    template_builder.build_all(tmp_path)
    assert (tmp_path / "sitzungsvorlage.docx").read_bytes() == first
    assert template_builder.main(["--check"]) == 0


def test_a_stale_template_is_detected(tmp_path):
    template_builder.build_all(tmp_path)
    (tmp_path / "ag_protokoll.docx").write_bytes(template_builder.build("ag_einladung"))
    assert template_builder.stale(tmp_path) == ["ag_protokoll"]


def test_every_kind_has_a_shipped_template():
    assert set(KINDS) == set(BUILDERS)
    assert sorted(p.stem for p in SHIPPED.glob("*.docx")) == sorted(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_templates_open_in_word_readers_with_page_numbers(name):
    doc = docx.Document(str(SHIPPED / f"{name}.docx"))
    footer = doc.sections[0].footer._element.xml
    assert 'w:instr="PAGE"' in footer and 'w:instr="NUMPAGES"' in footer
    assert "{{ kommune.bezeichnung }}" in doc.sections[0].header.paragraphs[0].text
    assert doc.styles["Normal"].font.name == "Arial"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_shipped_template_is_covered_by_its_context(session, waiblingen, kind):
    replay.run(session, waiblingen)
    context = build_context(session, waiblingen, kind)
    template = DocxTemplate(str(find_template(KINDS[kind])))
    env = jinja_env()
    assert template.get_undeclared_template_variables(jinja_env=env, context=context) == set()
    # Nested names too: StrictUndefined raises on any attribute the context lacks.
    try:
        template.render(context, jinja_env=env, autoescape=True)
    except jinja2.UndefinedError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{kind}: {exc}")
    assert "{{" not in "".join(p.text for p in template.docx.paragraphs)
