"""Prozess page, Meine Aufgaben: tasks, gates, documents.

Every POST checks the CSRF token (``checked_form``), the login and the role, then calls one
use case of ``lifecycle.services`` with ``actor`` set to the user, and redirects to the page
that shows the result (POST-redirect-GET) with a German ``hinweis``.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlmodel import Session, select
from starlette.datastructures import FormData

from .. import history, services
from ..access import Action, Principal, require_process
from ..doc_context import kind_title
from ..documents import default_out_dir, versions
from ..errors import InputError, NotFound
from ..lookups import get_stage, get_task
from ..models import DocumentVersion, Fortschreibung, Outcome, Person, Task, Vorlage
from ..status import process_status
from ..words import OUTCOME_DE, STATE_DE, quoted
from . import security, views
from .app import db, render, see_result
from .forms import checked_form, day, line, text

router = APIRouter()
DB = Annotated[Session, Depends(db)]
Form = Annotated[FormData, Depends(checked_form)]
GONE = "nicht gefunden (oder nicht für Sie freigegeben)"
def _pdf_available() -> bool:
    return any(shutil.which(name) for name in ("soffice", "libreoffice"))


# --- the Prozess page ----------------------------------------------------------------------


@router.get("/prozess/{key}", response_class=HTMLResponse)
def prozess(request: Request, key: str, s: DB) -> Response:
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.view)
    today = dt.date.today()
    status = process_status(s, process, today)
    tasks = views.tasks_by_stage(s, process, today)
    gate = None
    if status.open_gate is not None:
        gate = views.gate_view(s, process, status.open_gate, tasks.get(status.open_gate.key, []),
                               views.may(me, Action.decide, process))  # fmt: skip
    titles = {v.key: v.title for v in status.stages}
    return render(request, "prozess.html", {
        "process": process, "status": status, "timeline": views.timeline(status, today),
        "tasks": tasks, "gate": gate, "people": views.people_of(s, [process.kommune_id]).get(
            process.kommune_id, []),
        "may_work": views.may(me, Action.work, process),
        "documents": views.document_kinds(process, versions(s, process), titles),
        "pdf_available": _pdf_available(),
        "events": history.entries(s, process, internal=views.sees_internal(me, process)),
        "outcomes": OUTCOME_DE, "state_de": STATE_DE,
        "vorlagen": _vorlagen(s, process) if views.may(me, Action.edit_vorlage, process) else [],
    }, principal=me)  # fmt: skip


def _vorlagen(s: Session, process: Fortschreibung) -> list[tuple[str, str, str]]:
    """(stage key, reference, Betreff) of the process's Vorlagen, for the editor links."""
    rows = s.exec(select(Vorlage).where(Vorlage.fortschreibung_id == process.id)).all()
    return [(v.stage_key, v.reference, v.betreff) for v in rows]


# --- Meine Aufgaben --------------------------------------------------------------------------


@router.get("/aufgaben", response_class=HTMLResponse)
def aufgaben(request: Request, s: DB) -> Response:
    me = security.require_principal(request, s)
    today = dt.date.today()
    mine = views.my_tasks(s, me, today)
    kommunen = {t.kommune_id for t in mine.tasks}
    may_work = {t.process_id for t in mine.tasks if me.may(Action.work, t.kommune_id, t.process_id)}
    return render(request, "aufgaben.html", {
        "mine": mine, "people": views.people_of(s, kommunen), "may_work": may_work,
    }, principal=me)  # fmt: skip


# --- tasks -----------------------------------------------------------------------------------


def _task_of(s: Session, me: Principal, key: str, task_id: int) -> tuple[Fortschreibung, Task]:
    """The process (if the user may work on it) and its task; a task of another process is 404,
    as is an id no database integer holds (lookups.get_task: never past 2^63 to the driver)."""
    process = require_process(s, me, key, Action.work)
    try:
        task = get_task(s, task_id)
    except NotFound:
        raise NotFound(GONE) from None
    if task.fortschreibung_id != process.id:
        raise NotFound(GONE)
    return process, task


def _return_to(form: FormData, process: Fortschreibung) -> str:
    return "/aufgaben" if form.get("zurueck") == "aufgaben" else f"/prozess/{process.key}"


@router.post("/prozess/{key}/aufgaben/{task_id}/erledigt")
def task_done(request: Request, key: str, task_id: int, s: DB, form: Form) -> Response:
    me = security.require_principal(request, s)
    process, task = _task_of(s, me, key, task_id)
    on = day(form, "datum", "Erledigt am", german=True)
    services.complete_task(s, task_id, on=on, actor=me.name)
    return see_result(request, _return_to(form, process),
                 f"„{task.title}“ ist als erledigt eingetragen (am {on:%d.%m.%Y}).")  # fmt: skip


@router.post("/prozess/{key}/aufgaben/{task_id}/zuweisen")
def task_reassign(request: Request, key: str, task_id: int, s: DB, form: Form) -> Response:
    me = security.require_principal(request, s)
    process, task = _task_of(s, me, key, task_id)
    to = line(form, "person", "Zuständige Person")
    task = services.reassign_task(s, task_id, to=to, actor=me.name)
    person = s.get(Person, task.assignee_id)
    who = person.name if person else to
    return see_result(request, _return_to(form, process),
                      f"„{task.title}“ ist jetzt {who} zugewiesen.")


# --- the gate --------------------------------------------------------------------------------


@router.post("/prozess/{key}/gate/{stage}")
def decide(request: Request, key: str, stage: str, s: DB, form: Form) -> Response:
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.decide)
    title = get_stage(s, process, stage).title
    outcome = line(form, "ergebnis", "Entscheidung")
    if outcome not in OUTCOME_DE:
        raise InputError("Formular", "Entscheidung", f"{quoted(outcome)} gibt es nicht")
    on = day(form, "datum", "Datum", german=True)
    services.decide_gate(
        s, process.key, stage, outcome=Outcome(outcome), on=on,
        by=me.name, reference=line(form, "aktenzeichen", "Aktenzeichen", required=False),
        remarks=text(form, "begruendung", "Begründung", required=False),
        force_reason=text(form, "erzwingen", "Begründung für das Erzwingen", required=False),
        postpone_to=line(form, "vertagen_auf", "Vertagen auf", required=False) or None,
    )  # fmt: skip
    return see_result(request, f"/prozess/{process.key}",
                 f"Gate der Phase „{title}“: {OUTCOME_DE[outcome]}.")  # fmt: skip


# --- documents -------------------------------------------------------------------------------


@router.post("/prozess/{key}/dokumente/{kind}/erzeugen")
def generate(request: Request, key: str, kind: str, s: DB, form: Form) -> Response:
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.work)
    stage = line(form, "phase", "Phase", required=False)
    named = [(d.kind, d.stage_key) for d in views.document_kinds(process, [], {})]
    if (kind, stage) not in named:
        stage = next((st for k, st in named if k == kind), "")
        if not stage:
            raise NotFound(f"keine Dokumentart {quoted(kind)} in diesem Prozess")
    result = services.generate_document(s, process.key, kind, stage=stage,
                                        pdf=form.get("pdf") == "ja", actor=me.name)  # fmt: skip
    what = f"Version {result.version} geschrieben" if result.created else (
        f"unverändert, Version {result.version} gilt weiter")  # fmt: skip
    note = f" {result.decided_note}" if result.decided_note else ""
    return see_result(request, f"/prozess/{process.key}",
                      f"{kind_title(kind)}: {what}.{note}")  # fmt: skip


DOWNLOAD = re.compile(r"([0-9]{1,18})\.(docx|pdf)")
MEDIA = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


@router.get("/prozess/{key}/dokumente/{datei}")
def download(request: Request, key: str, datei: str, s: DB) -> Response:
    """A generated file; its path comes from the database and must lie in the process's
    document folder."""
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.view)
    wanted = DOWNLOAD.fullmatch(datei)
    row = s.get(DocumentVersion, int(wanted.group(1))) if wanted else None
    if wanted is None or row is None or row.fortschreibung_id != process.id:
        raise NotFound("dieses Dokument gibt es nicht")
    suffix = wanted.group(2)
    path = _inside_folder(process, row.path if suffix == "docx" else row.pdf_path, suffix)
    name = f"{kind_title(row.kind)} {process.key} Version {row.version}.{suffix}"
    return FileResponse(path, media_type=MEDIA[suffix], filename=_safe_filename(name))


def _inside_folder(process: Fortschreibung, stored: str, suffix: str) -> Path:
    if not stored:
        raise NotFound("dieses Dokument gibt es nicht in diesem Format")
    folder = default_out_dir(process).resolve()
    path = Path(stored).resolve()
    if not path.is_relative_to(folder) or path.suffix != f".{suffix}" or not path.is_file():
        raise NotFound("die Datei dieses Dokuments ist nicht (mehr) da")
    return path


def _safe_filename(name: str) -> str:
    return re.sub(r"[^\w .()-]+", "-", name).strip(" .-") or "dokument"
