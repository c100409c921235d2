"""The things people do (POST): each checks the CSRF token, the login and the role, then
calls one use case of ``lifecycle.services`` and redirects to the page that shows the result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData

from . import security
from .app import db, render
from .forms import checked_form, line, text
from .pages import _safe_next

router = APIRouter()
DB = Annotated[Session, Depends(db)]
Form = Annotated[FormData, Depends(checked_form)]



@router.post("/anmelden")
def login(request: Request, s: DB, form: Form) -> Response:
    name = line(form, "name", "Benutzername")
    password = text(form, "passwort", "Passwort", max_length=1000)
    client = request.client.host if request.client else "?"
    try:
        user = request.app.state.login.authenticate(s, client, name, password)
    except security.LoginFailed as exc:
        return render(request, "anmelden.html",
                      {"fehler": str(exc), "weiter": _safe_next(str(form.get("weiter", "/"))),
                       "name": name}, status=401)  # fmt: skip
    security.log_in(request, user)
    return RedirectResponse(_safe_next(str(form.get("weiter", "/"))), status_code=303)


@router.post("/abmelden")
def logout(request: Request, s: DB, form: Form) -> Response:
    security.log_out(request, s)
    return RedirectResponse("/anmelden", status_code=303)
