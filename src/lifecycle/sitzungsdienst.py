"""The Sitzungsdienst's view: coming Sitzungen, their Vorlagenschluss, the Vorlagen due.

One list across every process and Kommune, in the order the council office works through
it: by Vorlagenschluss.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from .calendar import for_kommune, vorlagenschluss_of
from .cancellations import cancelled_sitzungen
from .models import (
    Beratung,
    Fortschreibung,
    Gremium,
    Kommune,
    Sitzung,
    SitzungBinding,
    Vorlage,
)
from .typing_helpers import chunks


@dataclass
class VorlageDue:
    reference: str
    betreff: str
    role: str
    oeffentlich: bool
    process: str  # its key
    process_id: int = 0
    kommune_id: int = 0  # the process's


@dataclass
class SitzungDue:
    key: str
    kommune: str  # its name, as shown
    kommune_key: str
    gremium: str
    gremium_name: str
    start: dt.datetime
    place: str
    oeffentlich: bool
    vorlagenschluss: dt.date
    vorlagen: list[VorlageDue] = field(default_factory=list)
    cancelled: bool = False  # by the RIS, and kept because a process uses it


def upcoming_sitzungen(
    session: Session, today: dt.date, *, kommune: str | None = None,
    kommune_ids: Collection[int] | None = None, days: int = 90,
) -> list[SitzungDue]:  # fmt: skip
    """Sitzungen from ``today`` on (``days`` ahead) with the Vorlagen in their Beratungsfolge;
    of the Kommune ``kommune`` (its key) and of those in ``kommune_ids``, if given."""
    start = dt.datetime.combine(today, dt.time.min)
    # a window past the calendar's end is the rest of the calendar, not an OverflowError
    left = (dt.datetime.max - start).days
    end = start + dt.timedelta(days=days) if 0 <= days < left else dt.datetime.max
    query = (
        select(Sitzung, Gremium, Kommune)
        .join(Gremium, col(Gremium.id) == Sitzung.gremium_id)
        .join(Kommune, col(Kommune.id) == Sitzung.kommune_id)
        .where(Sitzung.start >= start, Sitzung.start < end)
    )
    if kommune:
        query = query.where(Kommune.key == kommune)
    if kommune_ids is not None:
        query = query.where(col(Sitzung.kommune_id).in_(sorted(kommune_ids)))
    rows: dict[int, SitzungDue] = {}
    for sitzung, gremium, k in session.exec(query).all():
        cal = for_kommune(k)
        rows[sitzung.id or 0] = SitzungDue(
            sitzung.key,
            k.name,
            k.key,
            gremium.short,
            gremium.name,
            sitzung.start,
            sitzung.place,
            sitzung.oeffentlich,
            vorlagenschluss_of(cal, sitzung, gremium),
        )
    _attach_vorlagen(session, rows)
    for sitzung_id in cancelled_sitzungen(session, rows):
        rows[sitzung_id].cancelled = True
    return sorted(rows.values(), key=lambda r: (r.vorlagenschluss, r.start))


def sitzungen_of(
    session: Session, process_ids: Iterable[int], *, since: dt.date | None = None
) -> dict[int, list[tuple[Sitzung, Gremium]]]:
    """The Sitzungen of each process: bound to it or in the Beratungsfolge of one of its
    Vorlagen, each once, by start (from ``since`` on, if given). One query for any number.

    The status page, the calendar feed and the reminder scan all ask this one question.
    """
    ids = list(process_ids)
    # Each branch filtered on its own: SQLite does not push the filter into a UNION, and
    # would read every binding and Beratung of the installation.
    bound = select(SitzungBinding.fortschreibung_id, SitzungBinding.sitzung_id).where(
        col(SitzungBinding.fortschreibung_id).in_(ids)
    )
    beraten = (
        select(Vorlage.fortschreibung_id, Beratung.sitzung_id)
        .join(Beratung, col(Beratung.vorlage_id) == Vorlage.id)
        .where(col(Vorlage.fortschreibung_id).in_(ids))
    )
    links = bound.union(beraten).subquery()
    query = (
        select(links.c.fortschreibung_id, Sitzung, Gremium)
        .join(Sitzung, col(Sitzung.id) == links.c.sitzung_id)
        .join(Gremium, col(Gremium.id) == Sitzung.gremium_id)
        .order_by(col(Sitzung.start), col(Sitzung.id))
    )
    if since is not None:
        query = query.where(col(Sitzung.start) >= dt.datetime.combine(since, dt.time()))
    out: dict[int, list[tuple[Sitzung, Gremium]]] = defaultdict(list)
    for pid, sitzung, gremium in session.exec(query).all():
        out[pid].append((sitzung, gremium))
    return out


def _attach_vorlagen(session: Session, rows: dict[int, SitzungDue]) -> None:
    """The Vorlagen in the Beratungsfolge of each Sitzung, by the Sitzung's id."""
    found = [row for ids in chunks(sorted(rows)) for row in session.exec(
        select(Beratung, Vorlage, Fortschreibung.key, Fortschreibung.kommune_id)
        .join(Vorlage, col(Vorlage.id) == Beratung.vorlage_id)
        .join(Fortschreibung, col(Fortschreibung.id) == Vorlage.fortschreibung_id)
        .where(col(Beratung.sitzung_id).in_(ids))
        .order_by(col(Vorlage.reference))
    ).all()]  # fmt: skip
    for beratung, vorlage, process, kommune_id in found:
        row = rows.get(beratung.sitzung_id)
        if row is not None:
            row.vorlagen.append(
                VorlageDue(
                    vorlage.reference,
                    vorlage.betreff,
                    beratung.role.value,
                    beratung.oeffentlich,
                    process,
                    vorlage.fortschreibung_id,
                    kommune_id,
                )
            )
