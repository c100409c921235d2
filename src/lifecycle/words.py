"""The German words users read for the engine's states and outcomes: one spelling everywhere."""

from __future__ import annotations

STATE_DE = {
    "pending": "geplant",
    "open": "offen",
    "closed": "abgeschlossen",
    "running": "läuft",
    "completed": "abgeschlossen",
    "done": "erledigt",
}
OUTCOME_DE = {"approve": "freigegeben", "send_back": "zurückgegeben", "postpone": "vertagt"}
