"""The Sachstandsbericht: the Umsetzung's Maßnahmen and indicators as of the report's date.

A public paper for the committee: per Handlungsfeld each Maßnahme with its responsible,
status (overdue derived as of the report's date), progress and target date; the public
Sachstand text (never the internal note); what changed since the last report; indicators
with baseline, target and the latest measurement.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlmodel import Session, col, select

from . import umsetzung
from .dates import euro, short_de
from .doc_context import Context, Facts, common, gendered, person_ctx, properties
from .models import (
    Fortschreibung,
    Handlungsfeld,
    Massnahme,
    MassnahmeStatus,
    Stage,
)  # fmt: skip
from .typing_helpers import ident
from .words import FIELD_DE, INTERNAL_FIELDS


def build(session: Session, process: Fortschreibung, kind: str, stage_key: str) -> Context:
    f = Facts(session, process)
    vorlage = f.vorlage(stage_key)
    stage = f.stage(stage_key)
    as_of = (vorlage.dated if vorlage and vorlage.dated else None) or \
        (stage.closed_on if stage else None) or dt.date.today()  # fmt: skip
    f.as_of = as_of
    rows = umsetzung.of_konzept(session, process)
    last = _last_report(session, process, as_of)
    since = last or min((m.start_date for m in rows if m.start_date), default=None)
    since_text = ("seit dem letzten Bericht" if last else "seit dem Beschluss des Konzepts") + \
        (f" ({short_de(since)})" if since else "")  # fmt: skip
    lead = f.role_holder("projektleitung")
    return {
        **common(f),
        "bericht": {"stand": short_de(as_of), "seit": since_text,
                    "ueberblick": _overview(rows, as_of)},
        # the head names the Vorlage as the Sitzungsvorlage does: Art, number, Betreff
        "vorlage": {"art": vorlage.art if vorlage else "",
                    "reference": vorlage.reference if vorlage else "",
                    "betreff": vorlage.betreff if vorlage else "",
                    "ort_datum": f"{f.kommune.name}, {short_de(as_of)}"},
        "beratungsfolge": [
            {"gremium": g.name, "datum": s.start.date(), "rolle": b.role.value,
             "oeffentlichkeit": "öffentlich" if b.oeffentlich else "nichtöffentlich"}
            for b, s, g in (f.beratungen(vorlage) if vorlage else [])
        ],
        "handlungsfelder": _by_field(rows, as_of, _concept_fields(session, process)),
        "aenderungen": _changes(session, rows, since, as_of),
        "indikatoren": _indicators(session, process, as_of),
        "ansprechpartner": {**person_ctx(lead),
                            "bezeichnung": gendered(lead, "Ansprechpartner")},
        "eigenschaften": properties(f"Sachstandsbericht {as_of.year}: {f.konzept.title}", lead,
                                    as_of),
    }  # fmt: skip


def _concept_fields(session: Session, process: Fortschreibung) -> set[str]:
    """The Handlungsfelder of the concept: those of its Fortschreibungen, this one included
    (an Umsetzung's own process names none; its Maßnahmen carry the adopted concept's)."""
    joined = col(Fortschreibung.id) == Handlungsfeld.fortschreibung_id
    return set(session.exec(
        select(Handlungsfeld.title).join(Fortschreibung, joined)
        .where(Fortschreibung.konzept_id == process.konzept_id)
    ).all())  # fmt: skip


def _last_report(session: Session, process: Fortschreibung, as_of: dt.date) -> dt.date | None:
    """When the committee last took note of a Sachstandsbericht of this concept."""
    joined = col(Fortschreibung.id) == Stage.fortschreibung_id
    closed = session.exec(
        select(col(Stage.closed_on)).join(Fortschreibung, joined)
        .where(Fortschreibung.konzept_id == process.konzept_id, Stage.key == "bericht",
               Fortschreibung.id != process.id, col(Stage.closed_on).is_not(None),
               col(Stage.closed_on) < as_of)
    ).all()  # fmt: skip
    return max((d for d in closed if d is not None), default=None)


def _status(m: Massnahme, as_of: dt.date) -> str:
    return f"{m.status.value}, überfällig" if umsetzung.overdue(m, as_of) else m.status.value


def _overview(rows: list[Massnahme], as_of: dt.date) -> str:
    if not rows:
        return "Es sind noch keine Maßnahmen erfasst."
    counts = Counter(m.status for m in rows)
    late = sum(umsetzung.overdue(m, as_of) for m in rows)
    tail = (f"; {late} {_verb(late)} überfällig" if late
            else "; keine ist überfällig")  # fmt: skip
    if len(rows) == 1:
        return f"Die eine Maßnahme ist {rows[0].status.value}{tail}."
    # "ist 1 offen, 2 sind in Umsetzung und …": each count with its own verb where the
    # number changes; "sind 9 offen, 2 in Umsetzung und 2 erledigt" where it does not
    parts: list[str] = []
    said = ""
    for s in MassnahmeStatus:
        if counts[s]:
            verb = _verb(counts[s])
            parts.append(f"{counts[s]} {s.value}" if verb == said and parts
                         else f"{verb} {counts[s]} {s.value}" if not parts
                         else f"{counts[s]} {verb} {s.value}")  # fmt: skip
            said = verb
    return f"Von {len(rows)} Maßnahmen {_join(parts)}{tail}."


def _verb(count: int) -> str:
    return "ist" if count == 1 else "sind"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} und {parts[-1]}"


def _by_field(rows: list[Massnahme], as_of: dt.date, fields_known: set[str]) -> list[Context]:
    fields: dict[str, list[Context]] = {}
    for m in rows:
        fields.setdefault(m.handlungsfeld or "Ohne Handlungsfeld", []).append({
            "titel": m.title, "verantwortlich": m.responsible or "–",
            "status": _status(m, as_of), "fortschritt": f"{m.progress} %",
            "zieltermin": short_de(m.target_date) if m.target_date else "–",
            "sachstand": m.public_text,
        })  # fmt: skip
    # "Handlungsfeld „…“" for the concept's own fields; a group of the scenario's own
    # ("Übergreifende Instrumente") stands as it is
    return [{"titel": title, "massnahmen": items,
             "ueberschrift": f"Handlungsfeld „{title}“" if title in fields_known else title,
             "sachstaende": [f"{i['titel']}: {i['sachstand']}" for i in items if i["sachstand"]]}
            for title, items in fields.items()]  # fmt: skip


def _changes(session: Session, rows: list[Massnahme], since: dt.date | None,
             as_of: dt.date) -> list[str]:  # fmt: skip
    """What changed between the last report and this one, by the business date of each change:
    '29.06.2018, Integrationslotsen: erledigt (bisher offen), Fortschritt 100 % (bisher 0 %)'."""
    by_id = {ident(m): m for m in rows}
    lines = []
    for c in umsetzung.logged_changes(session, list(by_id)):
        if c.on is None or c.on > as_of or (since is not None and c.on <= since):
            continue
        parts = [_change(k, c.before.get(k), v) for k, v in c.after.items()
                 if k not in INTERNAL_FIELDS]  # fmt: skip
        # the status first: it is what the committee asks about
        parts.sort(key=lambda part: not part[0])
        if parts:
            said = ", ".join(text for _, text in parts)
            lines.append(f"{short_de(c.on)}, {by_id[c.massnahme_id].title}: {said}")
    return lines


def _change(field: str, before: Any, after: Any) -> tuple[bool, str]:
    """(is the status, the change as a clerk lists it): the new value, the old one after it."""
    if field == "public_text":  # the old text is in the last report; only the new one counts
        return False, f"neuer Sachstand: {_show(field, after)}"
    was = "" if before in (None, "") else f" (bisher {_show(field, before)})"
    if field == "status":
        return True, f"{_show(field, after)}{was}"
    return False, f"{_label(field)} {_show(field, after)}{was}"


def _label(field: str) -> str:
    word = FIELD_DE.get(field) or field
    return word[0].upper() + word[1:]


def _show(field: str, value: Any) -> str:
    if value in (None, ""):
        return "–"
    if field == "progress":
        return f"{value} %"
    if field in ("target_date", "start_date"):
        return short_de(dt.date.fromisoformat(str(value)))
    if field == "budget_amount":
        return euro(float(value))
    return f"„{value}“" if field in ("public_text", "title", "responsible") else str(value)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    text = f"{value:,.2f}".rstrip("0").rstrip(".").replace(",", " ").replace(".", ",")
    return f"{text.replace(' ', '.')} {unit}".strip()


def _indicators(session: Session, process: Fortschreibung, as_of: dt.date) -> list[Context]:
    out = []
    for ind, latest in umsetzung.latest_messungen(session, process, as_of):
        out.append({
            "titel": ind.title, "handlungsfeld": ind.handlungsfeld,
            "ausgang": _dated(ind.baseline, ind.baseline_on, ind.unit),
            "ziel": _dated(ind.target, ind.target_on, ind.unit),
            "aktuell": _dated(latest.value, latest.on, ind.unit) if latest
            else "noch nicht gemessen",
        })  # fmt: skip
    return out


def _dated(value: float | None, day: dt.date | None, unit: str) -> str:
    return f"{_number(value, unit)} ({short_de(day)})" if day else _number(value, unit)
