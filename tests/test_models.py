"""The tables are declared in parts: the core on import, the others on first use."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
from conftest import child_env
from sqlmodel import SQLModel

from lifecycle import models


def _in_fresh_interpreter(code: str) -> dict[str, list[str]]:
    prelude = (
        "import json, sys\nfrom sqlmodel import SQLModel\nimport lifecycle.models as m\n"
        "seen = {}\n"
        "def note(step):\n"
        "    seen[step] = sorted(SQLModel.metadata.tables)\n"
    )
    proc = subprocess.run([sys.executable, "-c", prelude + code + "print(json.dumps(seen))\n"],
                          capture_output=True, text=True, env=child_env(), check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _tables_of(part: str) -> list[str]:
    module = importlib.import_module(f"lifecycle.models.{part}")
    return sorted(
        value.__tablename__
        for value in vars(module).values()
        if isinstance(value, type) and value.__module__ == module.__name__
        and hasattr(value, "__table__")
    )  # fmt: skip


def test_import_declares_the_core_only_and_a_name_declares_its_part():
    seen = _in_fresh_interpreter(
        "note('import')\n"
        "m.Reminder\n"  # a name of the outbox part
        "note('Reminder')\n"
        "from lifecycle.models import Grant\n"  # the from-import form too
        "note('Grant')\n"
        "m.load_all()\n"
        "note('all')\n"
    )
    core = _tables_of("_core")
    assert seen["import"] == core
    assert seen["Reminder"] == sorted(core + _tables_of("_outbox"))
    assert seen["Grant"] == sorted(core + _tables_of("_outbox") + _tables_of("_access"))
    assert seen["all"] == sorted(SQLModel.metadata.tables)  # the tests declare every part
    assert len(seen["all"]) == 34


def test_every_table_is_named_once_and_found_where_its_part_says():
    declared = sorted(_tables_of("_core") + [t for p in models._LAZY_PARTS for t in _tables_of(p)])
    assert declared == sorted(SQLModel.metadata.tables)
    assert len(declared) == len(set(declared))
    for part, names in models._LAZY_PARTS.items():
        module = importlib.import_module(f"lifecycle.models.{part}")
        for name in names:
            assert getattr(models, name) is getattr(module, name)
    lazy = {n for names in models._LAZY_PARTS.values() for n in names}
    eager = {
        name
        for part in (models._base, models._core)
        for name, value in vars(part).items()
        if isinstance(value, type) and value.__module__ == part.__name__
    }
    assert sorted(models.__all__) == sorted(eager | lazy | {"load_all"})
    assert lazy <= set(dir(models))


def test_every_public_name_resolves_and_an_unknown_one_is_an_attribute_error():
    for name in models.__all__:
        assert getattr(models, name) is not None
    with pytest.raises(AttributeError, match="Reminders"):
        models.Reminders  # noqa: B018
    with pytest.raises(ImportError):
        from lifecycle.models import Nothing  # noqa: F401


def test_a_stored_plan_reads_back_as_one_mapping_per_text(session, waiblingen, waiblingen_scenario):
    """Equal plan texts share one decoded mapping, so the typed plan is parsed once per text;
    another text is another mapping, and each reads back equal to what was stored."""
    import copy

    from sqlmodel import Session, select

    from lifecycle import services
    from lifecycle.models import Fortschreibung
    from lifecycle.plan_types import plan_of
    from lifecycle.scenario import Scenario

    other = copy.deepcopy(waiblingen_scenario.data)
    other["key"] = "waiblingen-2018"
    services.start(session, Scenario(waiblingen_scenario.source, other,
                                     waiblingen_scenario.plan), actor="test")  # fmt: skip
    changed = copy.deepcopy(waiblingen_scenario)
    changed.data["key"] = "waiblingen-2019"
    changed.plan.data["title"] = "Ein anderer Titel"
    services.start(session, changed, actor="test")

    def plans() -> dict[str, dict]:
        with Session(session.get_bind()) as s:
            return {p.key: p.plan for p in s.exec(select(Fortschreibung))}

    first, second = plans(), plans()
    assert first["waiblingen-2017"] is first["waiblingen-2018"] is second["waiblingen-2017"]
    assert plan_of(first["waiblingen-2017"]) is plan_of(second["waiblingen-2018"])
    assert first["waiblingen-2019"] is not first["waiblingen-2017"]
    assert first["waiblingen-2019"]["title"] == "Ein anderer Titel"
    assert first["waiblingen-2017"] == json.loads(json.dumps(waiblingen_scenario.plan.data))
