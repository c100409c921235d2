"""Where templates come from: the shipped set via importlib.resources, one's own folders checked."""

from __future__ import annotations

import os

import pytest

from lifecycle import documents
from lifecycle.errors import InputError
from lifecycle.template_builder import BUILDERS
from lifecycle.templates import SHIPPED, shipped_folder


def test_the_shipped_set_is_package_data(monkeypatch):
    monkeypatch.delenv("LIFECYCLE_TEMPLATES", raising=False)
    assert shipped_folder() == SHIPPED
    assert sorted(p.stem for p in SHIPPED.glob("*.docx")) == sorted(BUILDERS)
    assert documents.template_folders() == [SHIPPED]


def test_a_good_folder_of_ones_own_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_TEMPLATES", str(tmp_path))
    assert documents.template_folders() == [tmp_path, SHIPPED]


@pytest.mark.parametrize("make, problem", [
    (lambda p: None, "existiert nicht"),
    (lambda p: p.write_text("kein Ordner"), "ist eine Datei, kein Ordner"),
])  # fmt: skip
def test_a_broken_installation_folder_is_one_german_input_error(tmp_path, monkeypatch, make,
                                                                 problem):
    folder = tmp_path / "vorlagen"
    make(folder)
    monkeypatch.setenv("LIFECYCLE_TEMPLATES", str(folder))
    with pytest.raises(InputError) as caught:
        documents.template_folders()
    assert str(caught.value) == f"LIFECYCLE_TEMPLATES: Vorlagenordner „{folder}“ {problem}"


def test_an_unreadable_folder_is_an_input_error(tmp_path, monkeypatch):
    real_scandir = os.scandir

    def scandir(path):  # root reads every folder, so the refusal is simulated
        if os.fspath(path) == str(tmp_path):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputError, match=r"^--templates: Vorlagenordner .* ist nicht lesbar "
                                         r"\(Permission denied\)$"):  # fmt: skip
        documents.template_folders(templates=tmp_path)
