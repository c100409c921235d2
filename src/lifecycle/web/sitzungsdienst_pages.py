"""Sitzungsdienst: coming Sitzungen, moving one with a preview.

The list shows every coming Sitzung of the Kommunen the user sees, by Vorlagenschluss. Moving
one is two steps: the preview runs the real move in a transaction that is rolled back
(``services.preview_move_sitzung``) and lists every deadline and message that would change;
only the confirmation (``services.move_sitzung``) stores it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from .. import services
from ..access import Action, Principal
from ..cancellations import cancelled_sitzungen
from ..dates import check_year, long_de, short_de
from ..errors import InputError, NeedsReason, NotFound, Refused
from ..lookups import find_sitzung
from ..models import Gremium, Kommune, Sitzung
from ..sitzungsdienst import SitzungDue, upcoming_sitzungen
from ..words import OEFFENTLICH_DE, quoted
from . import security
from .app import db, render, see_result
from .forms import checked_form, day, line, text

router = APIRouter()
DB = Annotated[Session, Depends(db)]
Form = Annotated[FormData, Depends(checked_form)]
DAYS_AHEAD = 90
FORCE_HINT = " (--force GRUND)"


@dataclass(frozen=True)
class Row:
    """A coming Sitzung with its Kommune's key and whether the user may move it."""

    kommune_key: str
    sitzung: SitzungDue
    movable: bool


@router.get("/sitzungsdienst", response_class=HTMLResponse)
def sitzungsdienst(
    request: Request, s: DB, ab: Annotated[dt.date | None, Query()] = None
) -> Response:
    """Coming Sitzungen of the user's Kommunen, by Vorlagenschluss."""
    me = security.require_principal(request, s)
    since = ab or dt.date.today()
    if problem := check_year(since):
        raise InputError("Anfrage", "ab", problem)
    return render(request, "sitzungsdienst.html", {
        "nav": "sitzungsdienst", "rows": _upcoming(s, me, since), "ab": since,
        "bis": since + dt.timedelta(DAYS_AHEAD), "oeffentlich_de": OEFFENTLICH_DE,
    }, principal=me)  # fmt: skip


def _upcoming(s: Session, me: Principal, since: dt.date) -> list[Row]:
    """The Sitzungen of the Kommunen the user sees, in one pass (keyed by Kommune, never by
    its name); of their Vorlagen those of processes the user may open (``Principal.scope``)."""
    visible = me.kommunen()
    query = select(Kommune.key, Kommune.id)
    if visible is not None:
        query = query.where(col(Kommune.id).in_(sorted(visible)))
    ids = dict(s.exec(query).all())
    found = upcoming_sitzungen(s, since, kommune_ids=visible, days=DAYS_AHEAD)
    scope = me.scope()
    for r in found:
        if scope is not None:
            r.vorlagen = [v for v in r.vorlagen if scope.covers(v.kommune_id, v.process_id)]
    return [Row(r.kommune_key, r, me.may(Action.move_sitzung, ids[r.kommune_key] or 0))
            for r in found]  # fmt: skip


# --- moving a Sitzung ------------------------------------------------------------------------


def _sitzung_for(s: Session, me: Principal, kommune: str, sitzung: str) -> tuple[Sitzung, Gremium]:
    """The Sitzung if the user may move it: 404 where they see nothing, 403 where they may not."""
    try:
        found = find_sitzung(s, f"{kommune}:{sitzung}")
    except (NotFound, Refused):
        raise NotFound("nicht gefunden (oder nicht für Sie freigegeben)") from None
    me.require(Action.move_sitzung, found.kommune_id)
    gremium = s.get(Gremium, found.gremium_id)
    assert gremium is not None
    return found, gremium


def _page(request: Request, s: Session, me: Principal, kommune: str, found: Sitzung,
          gremium: Gremium, extra: dict[str, Any], status: int = 200) -> HTMLResponse:  # fmt: skip
    context = {
        "nav": "sitzungsdienst",
        "kommune": kommune,
        "sitzung": found,
        "gremium": gremium,
        "datum": found.start.date().isoformat(),
        "uhrzeit": f"{found.start:%H:%M}",
        "begruendung": "",
        "preview": None,
        "fehler": "",
        "braucht_grund": False,
        "abgesagt": bool(cancelled_sitzungen(s, [found.id or 0])),
    }
    return render(request, "verlegen.html", {**context, **extra}, status=status,
                  principal=me)  # fmt: skip


@router.get("/sitzungen/{kommune}/{sitzung}/verlegen", response_class=HTMLResponse)
def verlegen_form(request: Request, s: DB, kommune: str, sitzung: str) -> Response:
    me = security.require_principal(request, s)
    found, gremium = _sitzung_for(s, me, kommune, sitzung)
    return _page(request, s, me, kommune, found, gremium, {})


def _new_start(form: FormData) -> tuple[dt.datetime, dict[str, str]]:
    """The new date and time from the form, and the fields to show again."""
    datum = day(form, "datum", "Neues Datum")
    uhrzeit = line(form, "uhrzeit", "Uhrzeit")
    try:
        time = dt.time.fromisoformat(uhrzeit)
    except ValueError:
        raise InputError("Formular", "Uhrzeit",
                         f"{quoted(uhrzeit)} ist keine Uhrzeit (HH:MM)") from None
    if time.tzinfo is not None:  # 17:00+01:00, 17:00Z: the CLI's rule (cli_core.parse_datetime)
        raise InputError("Formular", "Uhrzeit", f"{quoted(uhrzeit)}: bitte ohne Zeitzone angeben "
                         "(Ortszeit der Kommune)")  # fmt: skip
    grund = text(form, "begruendung", "Begründung", required=False, max_length=500)
    shown = {"datum": datum.isoformat(), "uhrzeit": f"{time:%H:%M}", "begruendung": grund}
    return dt.datetime.combine(datum, time.replace(second=0, microsecond=0)), shown


def _refusal(exc: Refused) -> tuple[str, bool]:
    """The refusal for the page; whether a reason would let the move through."""
    message = str(exc)
    needs_reason = isinstance(exc, NeedsReason)
    message = message.replace(FORCE_HINT, ": bitte unten eine Begründung angeben")
    return message[0].upper() + message[1:].rstrip(".") + ".", needs_reason


@router.post("/sitzungen/{kommune}/{sitzung}/vorschau", response_class=HTMLResponse)
def vorschau(request: Request, s: DB, form: Form, kommune: str, sitzung: str) -> Response:
    """What the move would change, nothing stored; a refusal shows the form again (409)."""
    me = security.require_principal(request, s)
    found, gremium = _sitzung_for(s, me, kommune, sitzung)
    new_start, shown = _new_start(form)
    ref = f"{kommune}:{found.key}"
    try:
        preview = services.preview_move_sitzung(s, ref, new_start, actor=me.name,
                                                force_reason=shown["begruendung"])  # fmt: skip
    except Refused as exc:
        message, needs_reason = _refusal(exc)
        return _page(request, s, me, kommune, found, gremium,
                     {**shown, "fehler": message, "braucht_grund": needs_reason},
                     status=409)  # fmt: skip
    found, gremium = _sitzung_for(s, me, kommune, sitzung)  # fresh after the rollback
    return _page(request, s, me, kommune, found, gremium, {**shown, "preview": preview})


@router.post("/sitzungen/{kommune}/{sitzung}/verlegen")
def verlegen(request: Request, s: DB, form: Form, kommune: str, sitzung: str) -> Response:
    """Move it for real, then back to the list with a note."""
    me = security.require_principal(request, s)
    found, gremium = _sitzung_for(s, me, kommune, sitzung)
    new_start, shown = _new_start(form)
    old = found.start
    moved = services.move_sitzung(s, f"{kommune}:{found.key}", new_start, actor=me.name,
                                  force_reason=shown["begruendung"])  # fmt: skip
    fristen = _count(moved.due_changes, "Frist", "Fristen")
    nachrichten = _count(moved.notified, "Nachricht", "Nachrichten")
    note = (
        f"Die {gremium.short or gremium.name}-Sitzung vom {short_de(old.date())} ist auf "
        f"{long_de(new_start.date())}, {new_start:%H:%M} Uhr verlegt; {fristen} angepasst, "
        f"{nachrichten} vorgemerkt."
    )
    return see_result(request, f"/sitzungsdienst?ab={min(old, new_start).date().isoformat()}", note)


def _count(n: int, one: str, many: str) -> str:
    return f"{'eine' if n == 1 else n} {one if n == 1 else many}"
