"""Verwaltung: users and grants, new processes from scenario uploads, templates."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
