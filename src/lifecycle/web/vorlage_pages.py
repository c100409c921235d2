"""The Vorlage editor: Betreff, Beschlussvorschlag, Begründung, with versions.

The form starts from the draft the documents would print: each Begründung section's text is
the saved override (``Vorlage.begruendung``) or else the prose ``doc_context`` generates. On
saving, a section goes into the new version only if it differs from the generated prose (or
was edited before), so untouched sections keep following the process (dates, Sitzungen).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from .. import dates, services
from ..access import Action, require_process
from ..decided import decided
from ..doc_context import BETREFF, VORSCHLAG, drafts, paragraphs
from ..errors import NotFound, Refused
from ..models import Fortschreibung, Vorlage, VorlageVersion
from ..plan_types import plan_of
from ..vorlage_hinweise import hinweise
from ..words import quoted
from . import security
from .app import db, render, see_result
from .forms import MAX_FIELD, checked_form, line, text

router = APIRouter()
DB = Annotated[Session, Depends(db)]
Form = Annotated[FormData, Depends(checked_form)]


@dataclass(frozen=True)
class Abschnitt:
    """One Begründung section in the editor."""

    title: str
    text: str  # what the field shows: the saved text, else the generated one
    generated: str  # the prose the documents print without an edit
    has_lists: bool  # recorded lists (Handlungsfelder, …) that follow the text in the document
    edited: bool  # a saved text replaces the generated one
    hinweise: tuple[str, ...] = ()  # what to check: the process has overtaken the text


@dataclass(frozen=True)
class Draft:
    vorlage: Vorlage
    kind: str  # the document generated from this Vorlage
    abschnitte: list[Abschnitt]
    hinweise: dict[str, tuple[str, ...]]  # by section title, Betreff and Beschlussvorschlag too
    decided: str = ""  # the council has decided it: why the text can no longer be saved
    beratungsfolge: tuple[str, ...] = ()  # a Sitzung of the Beratungsfolge cancelled in the RIS


def _draft(s: Session, process: Fortschreibung, stage: str) -> Draft:
    """The Begründung sections as doc_context drafts them (one source for CLI and web)."""
    vorlage = s.exec(select(Vorlage).where(Vorlage.fortschreibung_id == process.id,
                                           Vorlage.stage_key == stage)).first()  # fmt: skip
    if vorlage is None:
        raise NotFound(f"{process.key} hat keine Vorlage für die Phase {quoted(stage)}")
    final = stage == plan_of(process.plan).last.key
    sections = [d for d in drafts(s, process, stage) if d.title not in (BETREFF, VORSCHLAG)]
    notes: dict[str, tuple[str, ...]] = {}
    on_folge: list[str] = []
    for h in hinweise(s, process, vorlage):
        if h.beratungsfolge:
            on_folge.append(f"{h.heading}: {h.text}")
        else:
            notes[h.section] = (*notes.get(h.section, ()), h.text)
    saved = {k: str(v) for k, v in vorlage.begruendung.items()}
    known = {d.title for d in sections}
    abschnitte = [Abschnitt(d.title, saved.get(d.title, d.generated), d.generated, d.has_lists,
                            d.title in saved, notes.get(d.title, ()))
                  for d in sections]  # fmt: skip
    abschnitte += [Abschnitt(t, saved[t], "", False, True, notes.get(t, ()))
                   for t in saved if t not in known]  # fmt: skip
    decision = decided(s, vorlage)
    return Draft(vorlage, "sitzungsvorlage" if final else "beschlussvorlage", abschnitte, notes,
                 decision.text_kept if decision else "", tuple(on_folge))  # fmt: skip


def _versions(s: Session, vorlage: Vorlage) -> list[tuple[VorlageVersion, dt.datetime]]:
    rows = s.exec(select(VorlageVersion).where(VorlageVersion.vorlage_id == vorlage.id)
                  .order_by(col(VorlageVersion.version).desc())).all()  # fmt: skip
    return [(v, dates.local_time(v.saved_at)) for v in rows]


@router.get("/prozess/{key}/vorlage/{stage}", response_class=HTMLResponse)
def editor(request: Request, s: DB, key: str, stage: str) -> Response:
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.edit_vorlage)
    draft = _draft(s, process, stage)
    return render(request, "vorlage.html", {
        "process": process, "stage": stage, "draft": draft, "vorlage": draft.vorlage,
        "versions": _versions(s, draft.vorlage), "max_field": MAX_FIELD,
    }, principal=me)  # fmt: skip


@router.post("/prozess/{key}/vorlage/{stage}")
def save(request: Request, s: DB, form: Form, key: str, stage: str) -> Response:
    """Store the edited text as the next version; back to the editor with a note."""
    me = security.require_principal(request, s)
    process = require_process(s, me, key, Action.edit_vorlage)
    draft = _draft(s, process, stage)
    if decision := decided(s, draft.vorlage):  # before the form's checks: nothing can be saved
        raise Refused(decision.refusal)
    betreff = line(form, "betreff", "Betreff")
    vorschlag = text(form, "beschlussvorschlag", "Beschlussvorschlag", max_length=MAX_FIELD)
    begruendung = _changed_sections(form, draft)
    version = services.save_vorlage_text(
        s, process.key, stage, betreff=betreff, beschlussvorschlag=vorschlag,
        begruendung=begruendung, actor=me.name,
    )  # fmt: skip
    return see_result(request, f"/prozess/{process.key}/vorlage/{stage}",
                      f"Version {version.version} der Vorlage ist gespeichert.")  # fmt: skip


def _changed_sections(form: FormData, draft: Draft) -> dict[str, str]:
    """Sections edited now or before; titles come from the server, never from the form."""
    out = {}
    for i, abschnitt in enumerate(draft.abschnitte):
        value = text(form, f"abschnitt-{i}", abschnitt.title, required=False,
                     max_length=MAX_FIELD)  # fmt: skip
        if abschnitt.edited or paragraphs(value) != paragraphs(abschnitt.generated):
            out[abschnitt.title] = value
    return out
