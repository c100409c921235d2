"""The German words users read for the engine's states and outcomes: one spelling everywhere.

Every label a user reads for a state, an outcome or a kind lives here; the CLI, the flows, the
status views and the reminders import it instead of spelling it again.
"""

from __future__ import annotations

import re
import unicodedata

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
    "sitzung_cancelled": "Absage",
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

# The event log as people read it: actions and the fields they changed (None: not shown).
ACTION_DE = {
    "start": "Prozess gestartet",
    "due_changed": "Frist geändert",
    "task_done": "Aufgabe erledigt",
    "task_reassigned": "Aufgabe neu zugewiesen",
    "task_reopened": "Aufgabe wieder geöffnet",
    "gate_approve": "Gate freigegeben",
    "gate_send_back": "Gate zurückgegeben",
    "gate_postpone": "Gate vertagt",
    "vorlage_saved": "Vorlage gespeichert",
    "sitzung_moved": "Sitzung verlegt",
    "closing_days_changed": "Schließtage geändert",
    "stage_run": "Phasenlauf abgeschlossen",
    "user_added": "Benutzer angelegt",
    "document_generated": "Dokument erzeugt",
    "template_installed": "Word-Vorlage installiert",
    "massnahme_adopted": "Maßnahme in die Umsetzung übernommen",
    "massnahme_changed": "Maßnahme geändert",
    "meilenstein_added": "Meilenstein festgehalten",
    "messung_added": "Messwert festgehalten",
    "massnahme_carried": "über übernommene Maßnahme entschieden",
    "carried_from": "aus der vorigen Fortschreibung übernommen",
    "oparl_created": "aus dem Ratsinformationssystem angelegt",
    "oparl_updated": "aus dem Ratsinformationssystem geändert",
    "oparl_linked": "mit dem Ratsinformationssystem verknüpft",
    "oparl_synced": "Abgleich mit dem Ratsinformationssystem",
    "oparl_cancelled": "im Ratsinformationssystem abgesagt",
    "oparl_reinstated": "im Ratsinformationssystem wieder angesetzt",
    "oparl_deleted": "gelöscht (bleibt im OParl-Export als gelöscht sichtbar)",
    "sitzung_bound": "Plan-Sitzung neu gebunden",
}
# Fields of the event log that only those who may read internal notes (access.Action
# .read_internal) see: the web's event log leaves them out for everyone else, and the
# Sachstandsbericht (a public document) always.
INTERNAL_FIELDS = frozenset({"internal_note"})
FIELD_DE = {
    "state": "Stand", "done_on": "erledigt am", "by": "von", "assignee": "zuständig",
    "assignee_id": None, "due": "Frist", "outcome": "Ergebnis", "decided_on": "entschieden am",
    "reference": "Aktenzeichen", "remarks": "Bemerkung", "forced_reason": "erzwungen, weil",
    "stage": "Phase", "reason": "Grund", "betreff": "Betreff", "version": "Version",
    "start": "Beginn", "key": None,
    "progress": "Fortschritt", "target_date": "Zieltermin", "responsible": "verantwortlich",
    "public_text": "Sachstand", "internal_note": "interne Notiz", "on": "am",
    "status": "Status", "decision": "Entscheidung", "title": "Titel", "value": "Wert",
    "budget_line": "Haushaltsstelle", "budget_amount": "Betrag", "start_date": "Beginn",
    "handlungsfeld": "Handlungsfeld",
    "ris": "im Ratsinformationssystem", "url": "Adresse", "started": "begonnen",
    "meetings": "Sitzungen gelesen", "place": "Ort", "sitzung": "Sitzung", "name": "Name",
    "deleted": "gelöscht", "bundesland": "Bundesland",
}  # fmt: skip


def slug(text: str) -> str:
    """'Integrationsförderung für Bürger' -> 'integrationsfoerderung-fuer-buerger': a stable
    key or URL segment for a name; umlauts as a German writes them without (dropping the dots
    would make 'Förderung' 'Forderung'). Empty when nothing of the name is left."""
    text = text.lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(a, b)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")
