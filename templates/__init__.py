"""The shipped Word templates (``docx/*.docx``), installed as the package ``lifecycle.templates``.

In a checkout this is the top-level templates/ folder (pyproject.toml maps it into the
package); in a wheel it is package data. Either way importlib.resources finds it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped_folder() -> Path:
    """The folder of the shipped templates, as a real directory on disk."""
    folder = resources.files(__name__) / "docx"
    if not isinstance(folder, Path):  # e.g. imported from a zip: docxtpl needs real files
        raise RuntimeError(f"lifecycle.templates is not installed as files on disk: {folder}")
    return folder


SHIPPED = shipped_folder()
