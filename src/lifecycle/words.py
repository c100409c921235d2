"""The German words users read for the engine's states and outcomes: one spelling everywhere.

Every label a user reads for a state, an outcome or a kind lives here; the CLI, the flows, the
status views and the reminders import it instead of spelling it again.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from enum import Enum
from pathlib import PurePath

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
    "sitzung_reinstated": "Wiederansetzung",
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

# A Sitzung the RIS cancelled (lifecycle.cancellations): its mark in lists, and how the title
# of its calendar entries (the Sitzung, its Vorlagenschluss) begins.
ABGESAGT_DE = "abgesagt"
ABGESAGT_TITLE_DE = "Abgesagt: "

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
    "reminder_cancelled": "Erinnerung von Hand verworfen",
    "demo_reminder_day": "Erinnerungslauf der Vorführung (make demo)",
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
    "deleted": "gelöscht", "bundesland": "Bundesland", "day": "Tag",
    "admin": "Administrator", "grants": "Rechte", "closing_days": "Schließtage",
    "force": "erzwungen, weil", "from": "übernommen aus", "massnahme": "Maßnahme",
    "massnahmen": "Maßnahmen", "indikator": "Indikator", "kind": "Dokument", "path": "Datei",
    "oeffentlich": "öffentlich", "plan": "Plan", "scenario": "Szenario",
    "started_on": "begonnen am",
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


# quoted(): the escapes a character that cannot be shown as it is gets (Python's own spelling),
# and the letters after a backslash that would read as the start of one.
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPE_LETTERS = frozenset("nrtxuU\\")


def _visible(ch: str) -> str:
    """A character that is not printable as what it is, spelled as its escape."""
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _shows_as_is(ch: str) -> bool:
    return ch == " " or ch.isprintable()


def quoted(value: object) -> str:
    """A name, key or typed value as a German sentence quotes it: „ratsbeschluss“.

    What Python's repr did for these messages, in German: a text goes in German quotes, and
    every character that would not show as itself — a line break, a tab, NUL, a lone
    surrogate, a right-to-left mark, a non-breaking space — is spelled as its escape (\\n,
    \\t, \\x00, \\udcff, \\u200f, \\xa0), so the message stays one line and shows what the
    user typed. A backslash is doubled only where it would otherwise read as the start of such
    an escape (``C:\\vorlagen`` stays as it is), so the text between the outer quotes can
    always be read back.

    Values that are not text are written as German text writes them, without quotes: a date
    14.12.2017, a time 18:30, a date with time 14.12.2017 18:30, a number 3 or 2,5, a truth value
    ja or nein, nothing (None) (leer). An Enum is quoted as its value, a path as its text.
    """
    if value is None:
        return "(leer)"
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(value).replace(".", ",")
    if isinstance(value, dt.datetime):
        seconds = f":{value.second:02}" if value.second or value.microsecond else ""
        return f"{quoted(value.date())} {value.hour:02}:{value.minute:02}{seconds}"
    if isinstance(value, dt.date):
        return f"{value.day:02}.{value.month:02}.{value.year:04}"
    if isinstance(value, dt.time):
        seconds = f":{value.second:02}" if value.second or value.microsecond else ""
        return f"{value.hour:02}:{value.minute:02}{seconds}"
    if isinstance(value, Enum):
        return quoted(value.value)
    text = str(value) if isinstance(value, PurePath) else value
    if not isinstance(text, str):
        text = str(text)
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            after = text[i + 1 : i + 2]
            ambiguous = after in _ESCAPE_LETTERS or (after != "" and not _shows_as_is(after))
            out.append("\\\\" if ambiguous else ch)
        else:
            out.append(ch if _shows_as_is(ch) else _visible(ch))
    return f"„{''.join(out)}“"
