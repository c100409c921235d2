"""Prozess page, Meine Aufgaben: tasks, gates, documents."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
