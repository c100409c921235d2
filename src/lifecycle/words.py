"""The German words users read for the engine's states and outcomes: one spelling everywhere.

Every label a user reads for a state, an outcome or a kind lives here; the CLI, the flows, the
status views and the reminders import it instead of spelling it again.
"""

from __future__ import annotations

# States of a process, a stage and a task.
STATE_DE = {
    "pending": "geplant",
    "open": "offen",
    "closed": "abgeschlossen",
    "running": "läuft",
    "completed": "abgeschlossen",
    "done": "erledigt",
}
OUTCOME_DE = {"approve": "freigegeben", "send_back": "zurückgegeben", "postpone": "vertagt"}

# Reminders: what a message is about and where it stands in the outbox ("new": found by a
# dry run, not queued yet).
REMINDER_KIND_DE = {
    "due": "Frist",
    "vorlagenschluss": "Vorlagenschluss",
    "escalation": "Eskalation",
    "digest": "Wochenübersicht",
    "moved": "Verlegung",
}
REMINDER_STATE_DE = {
    "planned": STATE_DE["pending"],
    "sending": "wird gesendet",
    "sent": "gesendet",
    "failed": "fehlgeschlagen",
    "cancelled": "verworfen",
    "new": "neu",
}

# A task's deadline as of today, for lists of what is due.
DUE_DE = {"today": "heute fällig", "overdue": "überfällig"}

# Whether a Sitzung (or a Beratung) is public.
OEFFENTLICH_DE = {True: "öffentlich", False: "nichtöffentlich"}
