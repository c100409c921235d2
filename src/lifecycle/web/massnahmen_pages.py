"""Umsetzung: the Maßnahmen of a process's Konzept, their changes, milestones and the CSV.

Anyone who may see the process sees the list (the internal note only who may read internal
notes, ``views.sees_internal``);
changes go through ``services.update_massnahme`` / ``services.add_meilenstein`` after the
CSRF check, the login and the role, then back to the page with a German ``hinweis``.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from babel.numbers import format_decimal, format_scientific
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from .. import dates, massnahmen_csv, services, umsetzung
from ..access import Action, require_process
from ..dates import check_year
from ..errors import InputError
from ..models import Fortschreibung, Indikator, Kommune, Massnahme, Meilenstein, Messung
from . import security, views
from .app import db, render, see_result, templates
from .forms import checked_form, day, line, text, upload

router = APIRouter()
DB = Annotated[Session, Depends(db)]
Form = Annotated[FormData, Depends(checked_form)]
STATUSES = list(umsetzung.STATUS_BY_WORD)


def zahl(value: float | None) -> str:
    """1234.5 -> "1.234,5"; None -> "—". A number too long for the plain notation (babel
    gives up from about 1e25 on) is written 1E308: a page never fails on a stored value."""
    if value is None:
        return "—"
    try:
        return format_decimal(value, locale=dates.LOCALE)
    except (decimal.InvalidOperation, ValueError, OverflowError):
        return format_scientific(value, locale=dates.LOCALE)


templates.env.filters["zahl"] = zahl


@dataclass(frozen=True)
class Row:
    massnahme: Massnahme
    overdue: bool


@dataclass(frozen=True)
class Field:
    """A Handlungsfeld with its Maßnahmen and indicators."""

    title: str
    rows: list[Row]
    indicators: list[tuple[Indikator, Messung | None]]


def _fields(s: Session, process: Fortschreibung, all_rows: list[Massnahme], today: dt.date,
            only_overdue: bool) -> list[Field]:  # fmt: skip
    rows: dict[str, list[Row]] = {}
    for m in all_rows:
        late = umsetzung.overdue(m, today)
        rows.setdefault(m.handlungsfeld, [])
        if late or not only_overdue:
            rows[m.handlungsfeld].append(Row(m, late))
    indicators: dict[str, list[tuple[Indikator, Messung | None]]] = {}
    for ind, latest in umsetzung.latest_messungen(s, process):
        indicators.setdefault(ind.handlungsfeld, []).append((ind, latest))
    titles = list(rows) + [t for t in indicators if t not in rows]
    return [Field(t, rows.get(t, []), indicators.get(t, [])) for t in titles]


def _kommune_name(s: Session, process: Fortschreibung) -> str:
    kommune = s.get(Kommune, process.kommune_id)
    return kommune.name if kommune else ""


# --- the Umsetzung page ----------------------------------------------------------------------


@router.get("/prozess/{key}/massnahmen", response_class=HTMLResponse)
def massnahmen(
    request: Request, key: str, s: DB,
    ueberfaellig: Annotated[str, Query()] = "",
    stichtag: Annotated[dt.date | None, Query()] = None,
) -> Response:  # fmt: skip
    """Every Maßnahme per Handlungsfeld; "überfällig" derived on the day asked (today)."""
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.view)
    on = stichtag or dt.date.today()
    if problem := check_year(on):
        raise InputError("Anfrage", "stichtag", problem)
    only_overdue = ueberfaellig == "ja"
    all_rows = umsetzung.of_konzept(s, process)
    fields = _fields(s, process, all_rows, on, only_overdue)
    total, late = len(all_rows), sum(umsetzung.overdue(m, on) for m in all_rows)
    return render(request, "massnahmen.html", {
        "process": process, "kommune": _kommune_name(s, process), "fields": fields,
        "total": total, "late": late, "stichtag": on, "only_overdue": only_overdue,
        "may_edit": views.may(me, Action.work, process),
        "sees_internal": views.sees_internal(me, process),
    }, principal=me)  # fmt: skip


@router.get("/prozess/{key}/massnahmen.csv")
def massnahmen_csv_download(request: Request, key: str, s: DB) -> Response:
    """The sheet a Fachbereich edits (with the internal note): for those who may edit it and
    read the internal notes."""
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.work)
    me.require(Action.read_internal, process.kommune_id, process.id)
    body = massnahmen_csv.export(umsetzung.of_konzept(s, process))
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="massnahmen-{process.key}.csv"'})


# --- one Maßnahme ------------------------------------------------------------------------------


def _detail(request: Request, s: DB, me: Any, process: Fortschreibung, m: Massnahme,
            extra: Mapping[str, Any] | None = None, status: int = 200) -> HTMLResponse:  # fmt: skip
    milestones = s.exec(select(Meilenstein).where(Meilenstein.massnahme_id == m.id)
                        .order_by(col(Meilenstein.on), col(Meilenstein.id))).all()  # fmt: skip
    today = dt.date.today()
    return render(request, "massnahmen_detail.html", {
        "process": process, "kommune": _kommune_name(s, process), "m": m,
        "overdue": umsetzung.overdue(m, today), "milestones": milestones,
        "statuses": STATUSES, "may_edit": views.may(me, Action.work, process),
        "sees_internal": views.sees_internal(me, process),
        **(extra or {}),
    }, status=status, principal=me)  # fmt: skip


@router.get("/prozess/{key}/massnahmen/{mkey}", response_class=HTMLResponse)
def massnahme(request: Request, key: str, mkey: str, s: DB) -> Response:
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.view)
    return _detail(request, s, me, process, umsetzung.get(s, process, mkey))


def _changes(form: FormData, m: Massnahme) -> dict[str, object]:
    """The posted fields as values for ``update_massnahme``; checked there (status, 0–100)."""
    values: dict[str, object] = {
        "status": line(form, "status", "Status"),
        "public_text": text(form, "sachstand", "Sachstand (öffentlich)", required=False),
        "internal_note": text(form, "notiz", "Interne Notiz", required=False),
    }
    progress = line(form, "fortschritt", "Fortschritt")
    if progress != str(m.progress):  # unchanged: "erledigt" may then set it to 100
        values["progress"] = progress
    typed = line(form, "zieltermin", "Zieltermin", required=False)
    values["target_date"] = day(form, "zieltermin", "Zieltermin", german=True) if typed else None
    return values


@router.post("/prozess/{key}/massnahmen/{mkey}")
def massnahme_update(request: Request, key: str, mkey: str, s: DB, form: Form) -> Response:
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.work)
    m = umsetzung.get(s, process, mkey)
    change = services.update_massnahme(s, process.key, m.key, _changes(form, m), actor=me.name)
    note = (f"„{m.title}“ ist gespeichert." if change.fields else
            f"„{m.title}“: nichts geändert.")  # fmt: skip
    return see_result(request, f"/prozess/{process.key}/massnahmen/{m.key}", note)


@router.post("/prozess/{key}/massnahmen/{mkey}/meilensteine")
def meilenstein(request: Request, key: str, mkey: str, s: DB, form: Form) -> Response:
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.work)
    m = umsetzung.get(s, process, mkey)
    on = day(form, "datum", "Datum des Meilensteins", german=True)
    title = line(form, "titel", "Meilenstein")
    note = text(form, "notiz", "Notiz zum Meilenstein", required=False)
    services.add_meilenstein(s, process.key, m.key, on=on, title=title, note=note, actor=me.name)
    return see_result(request, f"/prozess/{process.key}/massnahmen/{m.key}",
                      f"Meilenstein „{title}“ am {on:%d.%m.%Y} eingetragen.")  # fmt: skip


# --- a CSV loaded back: preview, then confirm -------------------------------------------------

WEB_IMPORT_MAX = 3 * 2**20  # carried base64 in the confirming form: below the body limit
FIELD_LABEL = {field: column for column, field in massnahmen_csv.COLUMNS.items()}


@dataclass(frozen=True)
class ChangeRow:
    key: str
    title: str
    field: str
    before: str
    after: str


def _shown(field: str, value: object) -> str:
    if value is None or value == "":
        return "—"
    if field in ("target_date", "start_date"):
        return dates.short_de(dt.date.fromisoformat(str(value)))
    if field == "budget_amount":
        return zahl(float(str(value)))
    if field == "progress":
        return f"{value} %"
    return str(value)


def _change_rows(s: Session, process: Fortschreibung,
                 changes: list[umsetzung.Change]) -> list[ChangeRow]:  # fmt: skip
    titles = {m.key: m.title for m in umsetzung.of_konzept(s, process)}
    return [ChangeRow(c.key, titles.get(c.key, c.key), FIELD_LABEL.get(field, field),
                      _shown(field, before), _shown(field, after))
            for c in changes for field, (before, after) in c.fields.items()]  # fmt: skip


@router.post("/prozess/{key}/massnahmen-import", response_class=HTMLResponse)
def einlesen(request: Request, key: str, s: DB, form: Form) -> Response:
    """What the sheet would change, nothing stored; a bad sheet is one German error (422)."""
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.work)
    name, data = upload(form, "datei", "CSV-Datei")
    if len(data) > WEB_IMPORT_MAX:
        raise InputError("Formular", "CSV-Datei", f"für die Vorschau höchstens "
                         f"{WEB_IMPORT_MAX // 2**20} MiB; größere Dateien mit "
                         f"„lifecycle massnahmen import“ einlesen")  # fmt: skip
    changes = services.import_massnahmen(s, process.key, data, source=name, apply=False,
                                         actor=me.name)  # fmt: skip
    return render(request, "massnahmen_import.html", {
        "process": process, "kommune": _kommune_name(s, process), "name": name,
        "rows": _change_rows(s, process, changes), "count": len(changes),
        "daten": base64.b64encode(data).decode("ascii"),
    }, principal=me)  # fmt: skip


@router.post("/prozess/{key}/massnahmen-import/bestaetigen")
def einlesen_bestaetigen(request: Request, key: str, s: DB, form: Form) -> Response:
    """Apply the sheet the preview showed: every row in one transaction, or none."""
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.work)
    name = line(form, "name", "Dateiname")
    carried = form.get("daten")
    if not isinstance(carried, str) or len(carried) > WEB_IMPORT_MAX * 4 // 3 + 4:
        raise InputError("Formular", "Datei", "fehlt oder ist zu groß")
    try:
        data = base64.b64decode(carried, validate=True)
    except ValueError:  # binascii.Error, and ValueError itself for a non-ASCII text
        raise InputError("Formular", "Datei", "ist beschädigt; bitte neu hochladen") from None
    changes = services.import_massnahmen(s, process.key, data, source=name, apply=True,
                                         actor=me.name)  # fmt: skip
    n = len(changes)
    what = "keine Maßnahme geändert" if n == 0 else (
        "eine Maßnahme geändert" if n == 1 else f"{n} Maßnahmen geändert")  # fmt: skip
    return see_result(request, f"/prozess/{process.key}/massnahmen", f"{name} eingelesen: {what}.")
