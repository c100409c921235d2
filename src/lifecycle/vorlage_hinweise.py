"""What an author should check in a Vorlage before it goes out.

Text in the author's own words is never overwritten by the process; where the process has
overtaken it, a note says so. Two kinds: the draft an edited section replaced has changed
since (``doc_context.stale_sections``), and a text names the day a Sitzung of the process
was on before it was moved ("bis zur Sitzung am 6.12.2017"). And one note on the Beratungsfolge
for each Sitzung of it the RIS has cancelled (``cancellations``): the lead binds a new date
(``lifecycle oparl bind``), the author checks the paper; the note goes once the RIS reinstates
the Sitzung or the Beratung is bound to another one. Read-only; the CLI, the editor and
document generation show the same notes. A Vorlage the council has decided (``decided``)
gets none: its text is the record of the decision, nothing to check or change any more.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from .cancellations import cancelled_sitzungen
from .dates import long_de, short_de
from .decided import decided
from .doc_context import BETREFF, VORSCHLAG, genitive, stale_sections
from .models import Beratung, Event, Fortschreibung, Gremium, Sitzung, SitzungBinding, Vorlage
from .words import quoted

DRAFT_CHANGED = (
    "Seit dieser Text gespeichert wurde, hat sich der Entwurf aus dem Prozess geändert. "
    "Bitte prüfen, ob der Text noch stimmt."
)

MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember")  # fmt: skip
# "6.12.2017", "06.12.17", "6. 12. 2017"; "6. Dezember 2017" (also after a weekday)
# (a number in a longer one, "1.2.2017a" or "2.10.2017.5", is no day)
_NUMERIC = re.compile(r"(?<![\w.])(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4}|\d{2})(?!\w|\.\d)")
_LONG = re.compile(rf"(?<![\w.])(\d{{1,2}})\.\s*({'|'.join(MONTHS)})\s+(\d{{4}})(?!\w|\.\d)")


BERATUNGSFOLGE = "Beratungsfolge"


@dataclass(frozen=True)
class Hinweis:
    """A note on one section (Betreff, Beschlussvorschlag or a Begründung section's title),
    or on the Vorlage's Beratungsfolge."""

    section: str  # the section's title; BERATUNGSFOLGE for a note on the Beratungsfolge
    text: str  # one or two German sentences, for the author
    # On the Beratungsfolge, not on a section: a section of the author's may be called anything.
    beratungsfolge: bool = False

    @property
    def heading(self) -> str:
        """'Hinweis zum Abschnitt „Betreff“', 'Hinweis zur Beratungsfolge'."""
        if self.beratungsfolge:
            return "Hinweis zur Beratungsfolge"
        return f"Hinweis zum Abschnitt {quoted(self.section)}"


def hinweise(session: Session, process: Fortschreibung, vorlage: Vorlage) -> list[Hinweis]:
    """The notes on ``vorlage``: those on its Beratungsfolge in its order, then section by
    section in the order the sections were found; none once it is decided."""
    if decided(session, vorlage) is not None:
        return []
    notes = [Hinweis(BERATUNGSFOLGE, _cancelled_text(sitzung, gremium), beratungsfolge=True)
             for sitzung, gremium in cancelled_beratungen(session, vorlage)]  # fmt: skip
    notes += [Hinweis(t, DRAFT_CHANGED) for t in stale_sections(session, process,
                                                                 vorlage.stage_key)]  # fmt: skip
    moved = moved_days(session, process)
    if moved:
        for section, text in _own_texts(vorlage):
            notes += [Hinweis(section, _moved_text(day, *moved[day]))
                      for day in dict.fromkeys(days_named(text)) if day in moved]  # fmt: skip
    return notes


def _own_texts(vorlage: Vorlage) -> Iterator[tuple[str, str]]:
    """Texts a person wrote (the scenario or the editor), not drafts from the process: those
    follow every move by themselves."""
    yield BETREFF, vorlage.betreff
    yield VORSCHLAG, vorlage.beschlussvorschlag
    for title, text in vorlage.begruendung.items():
        yield title, str(text)


def _moved_text(day: dt.date, sitzung: Sitzung, gremium: Gremium) -> str:
    return (f"Der Text nennt den {short_de(day)}; die Sitzung {genitive(gremium)} von diesem "
            f"Tag ist auf {long_de(sitzung.start.date())} verlegt worden. Bitte das Datum "
            "prüfen.")  # fmt: skip


def cancelled_beratungen(session: Session, vorlage: Vorlage) -> list[tuple[Any, Any]]:
    """The Sitzungen of ``vorlage``'s Beratungsfolge the RIS has cancelled now, each once in
    the Beratungsfolge's order, with their Gremium: its Sitzungen, then one question for the
    cancelled ones among them."""
    rows = session.exec(
        select(Sitzung, Gremium).join(Beratung, col(Beratung.sitzung_id) == Sitzung.id)
        .join(Gremium, col(Gremium.id) == Sitzung.gremium_id)
        .where(Beratung.vorlage_id == vorlage.id).order_by(col(Beratung.position))
    ).all()  # fmt: skip
    if not rows:
        return []
    cancelled = cancelled_sitzungen(session, [s.id for s, _ in rows if s.id is not None])
    return list({s.id: (s, g) for s, g in rows if s.id in cancelled}.values())


def _cancelled_text(sitzung: Sitzung, gremium: Gremium) -> str:
    return (f"Die Sitzung {genitive(gremium)} am {long_de(sitzung.start.date())} ist im "
            "Ratsinformationssystem abgesagt. Die Projektleitung bindet einen neuen Termin "
            "(lifecycle oparl bind); bitte danach die Beratungsfolge prüfen.")  # fmt: skip


def days_named(text: str) -> Iterator[dt.date]:
    """The calendar days a German text names, in numbers or with the month's name; what is
    no date (31.02.2017) is no day."""
    for match in _NUMERIC.finditer(text):
        day, month, year = (int(g) for g in match.groups())
        found = _day(year + 2000 if year < 100 else year, month, day)
        if found is not None:
            yield found
    for match in _LONG.finditer(text):
        found = _day(int(match[3]), MONTHS.index(match[2]) + 1, int(match[1]))
        if found is not None:
            yield found


def _day(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def moved_days(session: Session, process: Fortschreibung) -> dict[dt.date, tuple[Any, Any]]:
    """The days a Sitzung of ``process`` was on before it moved away, with that Sitzung and
    its Gremium now; a day some Sitzung of the process is on now is no stale day."""
    moves = session.exec(
        select(Event.entity_id, Event.before).where(
            Event.fortschreibung_id == process.id, Event.action == "sitzung_moved",
            Event.entity == "Sitzung")  # fmt: skip
    ).all()
    if not moves:
        return {}
    now = {s.id: (s, g) for s, g in session.exec(
        select(Sitzung, Gremium).join(Gremium, col(Gremium.id) == Sitzung.gremium_id)
        .where(col(Sitzung.id).in_(_sitzung_ids(session, process))))}  # fmt: skip
    current = {s.start.date() for s, _ in now.values()}
    out: dict[dt.date, tuple[Any, Any]] = {}
    for sitzung_id, before in moves:
        old = _old_day(before)
        if old is not None and old not in current and sitzung_id in now:
            out[old] = now[sitzung_id]
    return out


def _sitzung_ids(session: Session, process: Fortschreibung) -> set[int]:
    """The Sitzungen bound to the process's plan names and those its Vorlagen go to."""
    bound = session.exec(select(SitzungBinding.sitzung_id).where(
        SitzungBinding.fortschreibung_id == process.id)).all()  # fmt: skip
    beraten = session.exec(
        select(Beratung.sitzung_id).join(Vorlage, col(Vorlage.id) == Beratung.vorlage_id)
        .where(Vorlage.fortschreibung_id == process.id)).all()  # fmt: skip
    return {*bound, *beraten}


def _old_day(before: Any) -> dt.date | None:
    """The day a move's event says the Sitzung was on; None for a row it cannot read."""
    try:
        return dt.datetime.fromisoformat(str(before["start"])).date()
    except (KeyError, TypeError, ValueError):
        return None
