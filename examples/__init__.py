"""Example scenarios, installed as the package ``lifecycle.examples`` (the demo runs one)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def scenario(name: str) -> Path:
    """Path of a shipped scenario file, e.g. ``scenario("waiblingen-2017.yaml")``."""
    path = resources.files(__name__) / name
    if not isinstance(path, Path):  # imported from a zip: the loader wants a real file
        raise RuntimeError(f"lifecycle.examples is not installed as files on disk: {path}")
    return path
