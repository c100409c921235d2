"""Verwaltung: users and grants, new processes from scenario uploads, templates.

Administrators only (everyone else gets 403). A refused form shows the page again with the
German message next to the form and the matching status (422, 409); nothing is written.
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from .. import services
from ..access import Principal
from ..doc_context import KINDS
from ..errors import InputError, LifecycleError, NotFound, Refused
from ..examples import scenario as example_scenario
from ..lookups import WITHOUT_PLAN
from ..models import Fortschreibung, Grant, GrantRole, Kommune, User
from ..scenario import load_scenario
from ..words import quoted
from . import security
from .app import db, render, see_result
from .forms import checked_form, line, text, upload

router = APIRouter()
DB = Annotated[Session, Depends(db)]
Form = Annotated[FormData, Depends(checked_form)]
STARTER = "waiblingen-2017.yaml"
ROLE_DE = {
    GrantRole.viewer: "Lesezugriff",
    GrantRole.projektleitung: "Projektleitung",
    GrantRole.sitzungsdienst: "Sitzungsdienst",
}
ADMIN = "admin"  # the role field's value for an administrator (no Kommune)


def _admin(request: Request, s: Session) -> Principal:
    me = security.require_principal(request, s)
    me.require_admin()
    return me


def _grants(s: Session) -> dict[int, list[str]]:
    """Per user: 'Projektleitung in Waiblingen (waiblingen-2017)', …"""
    rows = s.exec(
        select(Grant, Kommune, Fortschreibung)
        .join(Kommune, col(Kommune.id) == Grant.kommune_id)
        .join(Fortschreibung, col(Fortschreibung.id) == Grant.fortschreibung_id, isouter=True)
        .order_by(col(Kommune.name), col(Grant.role))
    ).all()
    out: dict[int, list[str]] = defaultdict(list)
    for grant, kommune, process in rows:
        where = f"{kommune.name} ({process.key})" if process is not None else kommune.name
        out[grant.user_id].append(f"{ROLE_DE.get(grant.role, grant.role.value)} in {where}")
    return out


def _page(request: Request, s: Session, me: Principal, status: int = 200,
          **extra: Any) -> HTMLResponse:  # fmt: skip
    context = {
        "nav": "verwaltung",
        "users": s.exec(select(User).order_by(col(User.name))).all(),
        "grants": _grants(s),
        "kommunen": s.exec(select(Kommune).order_by(col(Kommune.name))).all(),
        "processes": s.exec(select(Fortschreibung).order_by(col(Fortschreibung.key))
                            .options(*WITHOUT_PLAN)).all(),  # fmt: skip
        "kinds": [(k.name, k.title) for k in KINDS.values()],
        "roles": ROLE_DE, "starter": STARTER, "fehler": {}, "form": {},
    }  # fmt: skip
    return render(request, "verwaltung.html", {**context, **extra}, status=status, principal=me)


def _refused(request: Request, s: Session, me: Principal, where: str, exc: LifecycleError,
             form: dict[str, str] | None = None) -> HTMLResponse:  # fmt: skip
    """The page again with the message at the form ``where``; nothing was written."""
    status = 409 if isinstance(exc, Refused) else 422
    message = str(exc)
    if not isinstance(exc, InputError):  # a sentence, not "file:line: field: problem"
        message = message[0].upper() + message[1:]
    return _page(request, s, me, status, fehler={where: message},
                 form=form or {})  # fmt: skip


@router.get("/verwaltung", response_class=HTMLResponse)
def verwaltung(request: Request, s: DB) -> Response:
    me = _admin(request, s)
    return _page(request, s, me)


@router.get("/verwaltung/beispiel/{name}")
def starter(request: Request, s: DB, name: str) -> Response:
    """The starter scenario to copy and edit (only the one the page offers)."""
    _admin(request, s)
    if name != STARTER:
        raise NotFound("dieses Beispiel gibt es nicht")
    return FileResponse(example_scenario(STARTER), media_type="application/yaml",
                        filename=STARTER)  # fmt: skip


# --- users ----------------------------------------------------------------------------------


@router.post("/verwaltung/benutzer")
def add_user(request: Request, s: DB, form: Form) -> Response:
    me = _admin(request, s)
    shown = {k: str(form.get(k, "")) for k in ("name", "anzeigename", "rolle", "kommune",
                                                 "prozess")}  # fmt: skip
    try:
        name = line(form, "name", "Benutzername")
        password = text(form, "passwort", "Passwort", max_length=1000)
        grants = _grant_of(form)
        services.add_user(s, name, password=password, actor=me.name, admin=not grants,
                          display_name=line(form, "anzeigename", "Name", required=False),
                          grants=grants)  # fmt: skip
    except (InputError, Refused, NotFound) as exc:
        return _refused(request, s, me, "benutzer", exc, shown)
    return see_result(request, "/verwaltung", f"Der Benutzer {name} ist angelegt.")


def _grant_of(form: FormData) -> list[tuple[str, str, str | None]]:
    """The one grant of the form; none for an administrator."""
    role = line(form, "rolle", "Rolle")
    if role == ADMIN:
        return []
    if role not in {r.value for r in ROLE_DE}:
        raise InputError("Formular", "Rolle", f"unbekannte Rolle {quoted(role)}")
    kommune = line(form, "kommune", "Kommune")
    process = line(form, "prozess", "Prozess", required=False) or None
    if role == GrantRole.projektleitung and process is None:
        raise InputError("Formular", "Prozess", "für die Projektleitung bitte den Prozess wählen")
    return [(role, kommune, process)]


# --- a new Fortschreibung from a scenario file ------------------------------------------------

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@router.post("/verwaltung/prozesse")
def start_process(request: Request, s: DB, form: Form) -> Response:
    me = _admin(request, s)
    try:
        filename, data = upload(form, "szenario", "Szenario-Datei")
        reason = text(form, "begruendung", "Begründung", required=False, max_length=500)
        scenario = _checked_scenario(filename, data)
        process = services.start(s, scenario, actor=me.name, force_reason=reason)
    except (InputError, Refused, NotFound) as exc:
        return _refused(request, s, me, "prozess", exc)
    return see_result(request, f"/prozess/{process.key}",
                      f"Die Fortschreibung {process.key} ist gestartet.")  # fmt: skip


def _checked_scenario(filename: str, data: bytes) -> Any:
    """The scenario loaded and checked by ``load_scenario``; errors name the uploaded file."""
    name = SAFE_NAME.sub("_", Path(filename).name).lstrip(".") or "szenario.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return load_scenario(path)
        except InputError as exc:
            source = name if exc.source.startswith(tmp) else exc.source
            problem = exc.problem.replace(f"{tmp}/", "")
            raise InputError(source, exc.field, problem, exc.line) from None


# --- a Kommune's own Word template --------------------------------------------------------------


@router.post("/verwaltung/vorlagen")
def upload_template(request: Request, s: DB, form: Form) -> Response:
    me = _admin(request, s)
    shown = {k: str(form.get(k, "")) for k in ("vorlage_prozess", "art")}
    try:
        process = line(form, "vorlage_prozess", "Prozess")
        kind = line(form, "art", "Dokumentart")
        _filename, data = upload(form, "datei", "Word-Vorlage")
        services.install_template(s, process, kind, data, actor=me.name)
    except (InputError, Refused, NotFound) as exc:
        return _refused(request, s, me, "vorlage", exc, shown)
    title = KINDS[kind].title if kind in KINDS else kind
    return see_result(request, "/verwaltung", f"Die Word-Vorlage „{title}“ ist gespeichert "
                      "und gilt ab sofort für die Kommune.")  # fmt: skip
