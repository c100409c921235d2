"""The pages people read (GET). Each one checks who may see what, then renders German HTML."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from ..models import Kommune
from ..status import overview
from ..words import STATE_DE
from . import security
from .app import db, render

router = APIRouter()
DB = Annotated[Session, Depends(db)]
PAGE_SIZE = 50
MAX_CHOICES = 200


@router.get("/anmelden", response_class=HTMLResponse)
def login_page(request: Request, s: DB, weiter: str = "/") -> Response:
    if security.current_principal(request, s) is not None:
        return RedirectResponse(_safe_next(weiter), status_code=303)
    return render(request, "anmelden.html", {"weiter": _safe_next(weiter)})


def _safe_next(target: str) -> str:
    """Only paths of this app: never an open redirect to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/", response_class=HTMLResponse)
def uebersicht(
    request: Request,
    s: DB,
    kommune: Annotated[str | None, Query(max_length=80)] = None,
    stand: Annotated[str | None, Query(pattern="^(running|completed)$")] = None,
    seite: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every Fortschreibung the user may open (``Principal.scope``), most urgent first."""
    me = security.require_principal(request, s)
    today = dt.date.today()
    visible = me.kommunen()
    rows, count = overview(s, today, PAGE_SIZE, scope=me.scope(), kommune=kommune or None,
                           state=stand, offset=(seite - 1) * PAGE_SIZE)  # fmt: skip
    query = select(Kommune.key, Kommune.name).order_by(col(Kommune.name))
    if visible is not None:
        query = query.where(col(Kommune.id).in_(sorted(visible)))
    # a host with thousands of Kommunen gets a text field instead of a list nobody scrolls
    kommunen = s.exec(query.limit(MAX_CHOICES + 1)).all()
    return render(request, "uebersicht.html", {
        "rows": rows, "count": count, "kommune": kommune,
        "kommunen": kommunen if len(kommunen) <= MAX_CHOICES else None,
        "stand": stand, "seite": seite, "seiten": max(1, -(-count // PAGE_SIZE)),
        "state_de": STATE_DE,
    }, principal=me)  # fmt: skip
