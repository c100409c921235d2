"""The OParl use cases: answer a request, export to a folder, (``sync``) read a RIS back.

``answer`` is what the web API serves and ``export`` writes the same answers to files, so the
two cannot disagree. Every object is validated before anything is served or written: an
object that would not validate is an ``InvalidObject`` error naming it and its field.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from .. import events
from ..errors import InputError, NotFound, Refused
from ..models import (
    Beratung,
    Event,
    Fortschreibung,
    Kommune,
    ProcessState,
    Reminder,
    ReminderState,
    Sitzung,
    SitzungBinding,
    Stage,
    StageState,
    Vorlage,
)
from ..transactions import transaction as _transaction
from ..words import quoted
from . import lists, validate
from .objects import DELETED, LIST_NAMES, Built, Heads, Urls, build_all, stamp, system

DEFAULT_BASE = "http://localhost:8000/oparl/v1.1"


def check_base(base_url: str) -> str:
    base = base_url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise InputError("--base-url", base_url, "erwartet eine http(s)-Adresse ohne Parameter, "
                         "z. B. https://ris.example.org/oparl/v1.1")  # fmt: skip
    return base


def _validated(built: Built) -> Built:
    """Every object of a Body. Embedded objects (agenda items, consultations, files,
    locations) are the same dicts their parents hold, checked through the parent's $ref."""
    validate.check(built.body)
    for name, items in built.lists.items():
        for obj in items:
            validate.check(obj)
        for t in built.tombstones.get(name, []):
            validate.check_tombstone(t)
    return built


@dataclass
class Answer:
    """What a URL serves: a JSON object, or a file on disk (``download``: as attachment)."""

    payload: dict[str, Any] | None = None
    file: Path | None = None
    download: bool = False


class Site:
    """The OParl objects of a database as seen from ``base`` (public unless told otherwise)."""

    def __init__(self, session: Session, base: str, *, public: bool = True):
        self.session, self.urls, self.public = session, Urls(check_base(base)), public
        self._bodies: dict[str, Built] = {}
        self._all = False
        self._heads: Heads | None = None

    def bodies(self) -> list[Built]:
        if not self._all:
            for built in build_all(self.session, self.urls, public=self.public):
                self._bodies[built.body["id"]] = built
            self._all = True
        return sorted(self._bodies.values(), key=lambda b: b.body["id"])

    def body(self, key: str) -> Built:
        url = self.urls.body(key)
        if url not in self._bodies:
            found = list(build_all(self.session, self.urls, public=self.public, kommune_key=key))
            if not found:
                raise NotFound(f"keine Körperschaft {quoted(key)}")
            self._bodies[url] = found[0]
        return self._bodies[url]

    def heads(self) -> Heads:
        """The Body objects alone: what the System and the list of Bodies show."""
        if self._heads is None:
            self._heads = Heads(self.session, self.urls, public=self.public)
        return self._heads

    def system(self) -> dict[str, Any]:
        bodies = [b.body for b in self.bodies()] if self._all else self.heads().bodies()
        obj = system(self.urls, bodies)
        validate.check(obj)
        return obj

    def answer(self, path: str, query: Mapping[str, str]) -> Answer:
        """The answer for ``{base}/{path}?{query}``, checked before it goes out; NotFound
        for what is not there."""
        answer = self._answer(path, query)
        if answer.payload is not None:
            if "data" in answer.payload:
                omit = lists.Filters.parse(query).omit_internal
                validate.check_list_page(answer.payload, omit_internal=omit)
            else:
                validate.check(answer.payload)
        return answer

    def _answer(self, path: str, query: Mapping[str, str]) -> Answer:
        parts = [p for p in path.strip("/").split("/") if p]
        if parts == ["system"] or not parts:
            return Answer(self.system())
        if parts == ["bodies"]:
            filters = lists.Filters.parse(query)
            heads = self.heads()
            return Answer(self._page(self.urls.bodies(), heads.bodies(), [], filters, query,
                                     heads.complete))  # fmt: skip
        if len(parts) < 2 or parts[0] != "body":
            raise NotFound(f"kein OParl-Objekt unter {quoted(path)}")
        built = self.body(parts[1])
        url = f"{self.urls.base}/{'/'.join(parts)}"
        if len(parts) == 3 and parts[2] in LIST_NAMES:
            filters = lists.Filters.parse(query)
            dead = built.tombstones.get(parts[2], [])
            return Answer(self._page(url, built.lists[parts[2]], dead, filters, query))
        if url in built.by_id:
            return Answer(built.by_id[url])
        if url in built.files:
            return Answer(file=built.files[url], download="/download/" in url)
        raise NotFound(f"kein OParl-Objekt unter {quoted(path)}")

    def _page(self, url: str, items: list[dict[str, Any]], tombstones: list[dict[str, Any]],
              filters: lists.Filters, query: Mapping[str, str],
              complete: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
              ) -> dict[str, Any]:  # fmt: skip
        number = lists.page_number(query)
        return lists.page(url, items, tombstones, filters, number, complete)


# --- export ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    folder: Path
    bodies: int
    objects: int
    pages: int
    files: int


def dumps(payload: dict[str, Any]) -> str:
    """Compact JSON (the C encoder; an indented export of 10 000 bodies is twice as slow)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def file_for(folder: Path, base: str, url: str, page: int = 1) -> Path:
    """Where the export keeps what ``url`` serves: the path under the base, ``.json`` added
    (list pages after the first: ``.page-N.json``); files keep their own name."""
    relative = url.removeprefix(base).strip("/")
    target = folder.joinpath(*relative.split("/"))
    if "/access/" in url or "/download/" in url:
        return target
    suffix = f".page-{page}.json" if page > 1 else ".json"
    return target.with_name(target.name + suffix)


# Written into every export: a folder with it is ours to replace, any other one is not.
MARKER = ".lifecycle-oparl-export"
# An export written before the marker existed holds nothing but these at its top.
_EARLIER_EXPORT = re.compile(r"system\.json|bodies(\.page-[0-9]+)?\.json|body")


def replaceable_export(folder: Path) -> Path:
    """``folder`` if an export may go there: it does not exist yet, is empty, or holds a
    previous export (its marker, or only what an export writes). A folder with other files,
    a file or a device is refused: the export replaces its target as a whole."""
    from ..files import os_problem, writable_folder

    def refuse(problem: str) -> InputError:
        return InputError(str(folder), "", problem)

    if folder.is_dir():
        try:
            names = set(os.listdir(folder))
        except OSError as exc:
            raise refuse(f"nicht lesbar: {os_problem(exc)}") from None
        ours = (folder / MARKER).is_file() if MARKER in names else (
            "system.json" in names and all(_EARLIER_EXPORT.fullmatch(n) for n in names))
        if names and not ours:
            raise refuse("ist ein Ordner mit anderen Dateien, kein früherer OParl-Export "
                         f"(ohne {MARKER}); der Export ersetzt seinen Zielordner ganz: "
                         "bitte einen neuen oder leeren Ordner angeben")  # fmt: skip
    elif folder.exists() or folder.is_symlink():
        kind = "eine Datei" if folder.is_file() else "kein Ordner (Gerät, Pipe oder Verknüpfung)"
        raise refuse(f"ist {kind}; der Export braucht einen eigenen Ordner")
    writable_folder(folder.parent, "FOLDER")  # the new export is made beside it
    return folder


def export(session: Session, folder: Path, *, base_url: str = DEFAULT_BASE,
           public: bool = True) -> Exported:  # fmt: skip
    """Write every object, list page and document file of the database into ``folder``.

    Everything is built and validated first; only then is anything written, into a fresh
    folder next to the target that replaces it at the end: a failed export leaves the
    previous one as it was.
    """
    folder = replaceable_export(folder.resolve())
    site = Site(session, base_url, public=public)
    base = site.urls.base
    built = [_validated(b) for b in site.bodies()]
    writes: list[tuple[Path, dict[str, Any]]] = []
    copies: list[tuple[Path, Path]] = []
    writes.append((file_for(folder, base, site.urls.system()), site.system()))
    empty = lists.Filters()
    pages = lists.all_pages(site.urls.bodies(), [b.body for b in built], [], empty)
    for n, p in enumerate(pages, 1):
        writes.append((file_for(folder, base, site.urls.bodies(), n), p))
    objects = 1
    for b in built:
        for obj_id, obj in b.by_id.items():
            writes.append((file_for(folder, base, obj_id), obj))
            objects += 1
        for name in LIST_NAMES:
            url = site.urls.list(b.body["id"].rsplit("/", 1)[-1], name)
            for n, p in enumerate(lists.all_pages(url, b.lists[name], [], empty), 1):
                writes.append((file_for(folder, base, url, n), p))
                pages.append(p)
        for url, path in b.files.items():
            copies.append((file_for(folder, base, url), path))
    fresh = folder.with_name(f".{folder.name}.neu-{os.getpid()}")
    shutil.rmtree(fresh, ignore_errors=True)
    made: set[Path] = set()

    def place(target: Path) -> Path:
        out = fresh / target.relative_to(folder)
        if out.parent not in made:
            out.parent.mkdir(parents=True, exist_ok=True)
            made.add(out.parent)
        return out

    try:
        place(folder / MARKER).write_text(dumps({"lifecycle": "oparl-export", "base": base}),
                                          encoding="utf-8")  # fmt: skip
        for target, payload in writes:
            place(target).write_text(dumps(payload), encoding="utf-8")
        for target, source in copies:
            shutil.copyfile(source, place(target))
        if folder.exists():
            old = folder.with_name(f".{folder.name}.alt-{os.getpid()}")
            folder.rename(old)
            fresh.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            folder.parent.mkdir(parents=True, exist_ok=True)
            fresh.rename(folder)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return Exported(folder, len(built), objects, len(pages), len(copies))


# --- deleting (a RIS deleted a Sitzung nothing here depends on) ------------------------------


def delete_sitzung(session: Session, kommune_key: str, sitzung_key: str, *, actor: str) -> None:
    """Remove a Sitzung no process uses; OParl keeps it as a tombstone (deleted: true)."""
    with _transaction(session):
        delete_rows(session, kommune_key, sitzung_key, actor=actor)


def delete_rows(session: Session, kommune_key: str, sitzung_key: str, *, actor: str) -> None:
    kommune = session.exec(select(Kommune).where(Kommune.key == kommune_key)).first()
    if kommune is None:
        raise NotFound(f"keine Kommune {quoted(kommune_key)}")
    sitzung = session.exec(
        select(Sitzung).where(Sitzung.kommune_id == kommune.id, Sitzung.key == sitzung_key)
    ).first()
    if sitzung is None:
        raise NotFound(f"keine Sitzung {quoted(sitzung_key)} in {quoted(kommune_key)}")
    used = [
        session.exec(select(model.id).where(model.sitzung_id == sitzung.id)).first()
        for model in (Beratung, SitzungBinding, Reminder)
    ]
    if any(u is not None for u in used):
        raise Refused(f"die Sitzung {quoted(sitzung_key)} wird von einer Fortschreibung verwendet; "
                      "sie kann nicht gelöscht werden")  # fmt: skip
    first = session.exec(
        select(func.min(Event.at)).where(Event.entity == "Sitzung", Event.entity_id == sitzung.id)
    ).one()
    before = {"kommune": kommune_key, "key": sitzung.key, "oeffentlich": sitzung.oeffentlich,
              "start": sitzung.start.isoformat()}  # fmt: skip
    if first is not None:
        before["created"] = stamp(first)
    events.log(session, actor=actor, action=DELETED, entity=sitzung, process_id=None,
               before=before)  # fmt: skip
    session.delete(sitzung)
    session.flush()


# --- binding a new Sitzung to a plan Sitzung (e.g. after the RIS cancelled the old one) ---------

BOUND = "sitzung_bound"
BOUND_STALE = "hinfällig: Sitzung neu gebunden"  # last_error of reminders the new binding ended


@dataclass(frozen=True)
class Bound:
    process: str
    name: str
    old: Sitzung
    new: Sitzung
    old_start: dt.datetime
    due_changes: int
    notified: int  # "Sitzung verlegt" messages queued for the people concerned


def bind_sitzung(session: Session, process_key: str, plan_name: str, sitzung_ref: str, *,
                 actor: str, today: dt.date | None = None) -> Bound:  # fmt: skip
    """Bind the plan Sitzung ``plan_name`` of a process to another Sitzung of its Kommune.

    The Beratungen of the process's Vorlagen at the old Sitzung follow (unless another plan
    name still uses it); every deadline recomputes as after a move (``engine.recompute``),
    queued reminders of the old Sitzung (its Vorlagenschluss, the "Sitzung abgesagt"
    escalation) are dropped and each person concerned gets one "Sitzung verlegt" message:
    one transaction. Refused with nothing changed: an unknown process, plan name or
    Sitzung, a Sitzung of another Kommune, one the RIS has cancelled or one before the process
    began, a decided gate, a broken Beratungsfolge, a deadline before its stage can start.
    """
    from .. import engine, lookups, reminders
    from ..outbox import QUEUED
    from ..plan_types import plan_of
    from ..typing_helpers import get_required, ident
    from .sync import ESCALATION

    with _transaction(session):
        process = lookups.get_process(session, process_key)
        engine.lock(session, process)
        if process.state != ProcessState.running:
            raise Refused(f"die Fortschreibung {quoted(process_key)} ist abgeschlossen")
        binding = session.exec(select(SitzungBinding).where(
            SitzungBinding.fortschreibung_id == process.id,
            SitzungBinding.name == plan_name)).first()  # fmt: skip
        if binding is None:
            names = sorted(session.exec(select(SitzungBinding.name).where(
                SitzungBinding.fortschreibung_id == process.id)).all())  # fmt: skip
            raise NotFound(f"die Fortschreibung {quoted(process_key)} hat keine Plan-Sitzung "
                           f"{quoted(plan_name)} "
                           f"(vorhanden: {', '.join(names) or 'keine'})")  # fmt: skip
        new = _sitzung_of_kommune(session, process, sitzung_ref)
        old = get_required(session, Sitzung, binding.sitzung_id)
        if new.id == old.id:
            raise Refused(f"{quoted(plan_name)} ist schon an die Sitzung {quoted(new.key)} "
                          "gebunden")
        engine.refuse_cancelled(session, new)
        if new.start.date() < process.started_on:
            raise Refused(f"die Sitzung {quoted(new.key)} am {new.start:%d.%m.%Y} liegt vor dem "
                          f"Beginn der Fortschreibung {quoted(process_key)} "
                          f"({process.started_on:%d.%m.%Y})")  # fmt: skip
        gates = {s.key: s.title for s in plan_of(process.plan).stages
                 if s.gate.sitzung == plan_name}  # fmt: skip
        decided = session.exec(select(Stage.key).where(
            Stage.fortschreibung_id == process.id, col(Stage.key).in_(list(gates)),
            Stage.state == StageState.closed)).all()  # fmt: skip
        if decided:
            raise Refused(f"über die Phase {quoted(gates[sorted(decided)[0]])} an der "
                          f"Plan-Sitzung {quoted(plan_name)} ist schon entschieden; nichts neu "
                          "zu binden")  # fmt: skip
        old_start = old.start
        binding.sitzung_id = ident(new)
        session.add(binding)
        still_used = session.exec(select(SitzungBinding.id).where(
            SitzungBinding.fortschreibung_id == process.id, SitzungBinding.sitzung_id == old.id,
            SitzungBinding.id != binding.id)).first()  # fmt: skip
        if still_used is None:
            of_process = select(Beratung).join(Vorlage, col(Vorlage.id) == Beratung.vorlage_id)
            for b in session.exec(of_process.where(Vorlage.fortschreibung_id == process.id,
                                                   Beratung.sitzung_id == old.id)):  # fmt: skip
                b.sitzung_id = ident(new)
                session.add(b)
        session.flush()
        _check_beratungsfolge(session, process)
        changes = engine.recompute(session, process, actor=actor,
                                   reason=f"Plan-Sitzung {quoted(plan_name)} an die Sitzung am "
                                          f"{new.start:%d.%m.%Y} gebunden")  # fmt: skip
        engine.check_stage_starts(session, process, changes)
        events.log(session, actor=actor, action=BOUND, entity=process, process_id=process.id,
                   before={"name": plan_name, "sitzung": old.key, "start": old_start.isoformat()},
                   after={"name": plan_name, "sitzung": new.key,
                          "start": new.start.isoformat()})  # fmt: skip
        session.execute(
            update(Reminder)
            .where(col(Reminder.state).in_([s.name for s in QUEUED]),
                   col(Reminder.fortschreibung_id) == process.id,
                   col(Reminder.sitzung_id) == old.id,
                   col(Reminder.kind).in_(["vorlagenschluss", ESCALATION]))
            .values(state=ReminderState.cancelled.name, last_error=BOUND_STALE)
        )  # fmt: skip
        move = engine.SitzungMove(new, old_start, {ident(process): changes})
        notified = reminders.on_sitzung_moved(session, move, today=today)
    return Bound(process_key, plan_name, old, new, old_start, len(changes), notified)


def _sitzung_of_kommune(session: Session, process: Fortschreibung, ref: str) -> Sitzung:
    kommune = session.get(Kommune, process.kommune_id)
    assert kommune is not None
    kommune_key, _, key = ref.strip().rpartition(":")
    if not kommune_key or kommune_key == kommune.key:
        found = session.exec(select(Sitzung).where(
            Sitzung.kommune_id == kommune.id, Sitzung.key == key)).first()  # fmt: skip
        if found is not None:
            return found
    elsewhere = select(Sitzung, Kommune).join(Kommune, col(Kommune.id) == Sitzung.kommune_id)
    other = session.exec(elsewhere.where(Sitzung.key == key, Kommune.id != kommune.id)).first()
    if other is not None and (not kommune_key or kommune_key == other[1].key):
        raise Refused(f"die Sitzung {quoted(key)} gehört zur Kommune {quoted(other[1].key)}, "
                      f"die Fortschreibung {quoted(process.key)} zur Kommune "
                      f"{quoted(kommune.key)}")  # fmt: skip
    if kommune_key and kommune_key != kommune.key:
        raise Refused(f"die Sitzung {quoted(ref)} gehört nicht zur Kommune "
                      f"{quoted(kommune.key)} der Fortschreibung "
                      f"{quoted(process.key)}")  # fmt: skip
    raise NotFound(f"keine Sitzung {quoted(key)} in der Kommune {quoted(kommune.key)}")


def _check_beratungsfolge(session: Session, process: Fortschreibung) -> None:
    """Each Vorlage's Beratungen in the order of their dates (Vorberatung before Entscheidung)."""
    rows = session.exec(
        select(Beratung, Sitzung, Vorlage)
        .join(Sitzung, col(Sitzung.id) == Beratung.sitzung_id)
        .join(Vorlage, col(Vorlage.id) == Beratung.vorlage_id)
        .where(Vorlage.fortschreibung_id == process.id)
        .order_by(col(Beratung.vorlage_id), col(Beratung.position))
    ).all()
    for (b1, s1, v1), (b2, s2, v2) in zip(rows, rows[1:], strict=False):
        if v1.id == v2.id and s2.start < s1.start:
            raise Refused(f"das bricht die Beratungsfolge der Vorlage {quoted(v1.reference)}: "
                          f"{b1.role} am {s1.start:%d.%m.%Y} ({s1.key}), {b2.role} schon am "
                          f"{s2.start:%d.%m.%Y} ({s2.key})")  # fmt: skip
