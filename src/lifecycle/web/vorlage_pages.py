"""The Vorlage editor: Betreff, Beschlussvorschlag, Begründung, with versions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
