"""Sitzungsdienst: coming Sitzungen, moving one with a preview."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
