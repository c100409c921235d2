"""The OParl use cases: answer a request, export to a folder, (``sync``) read a RIS back.

``answer`` is what the web API serves and ``export`` writes the same answers to files, so the
two cannot disagree. Every object is validated before anything is served or written: an
object that would not validate is an ``InvalidObject`` error naming it and its field.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, select

from .. import events
from ..errors import InputError, NotFound, Refused
from ..models import Beratung, Event, Kommune, Reminder, Sitzung, SitzungBinding
from . import lists, validate
from .objects import DELETED, LIST_NAMES, Built, Urls, build_all, stamp, system

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
                raise NotFound(f"keine Körperschaft {key!r}")
            self._bodies[url] = found[0]
        return self._bodies[url]

    def system(self) -> dict[str, Any]:
        obj = system(self.urls, [b.body for b in self.bodies()])
        validate.check(obj)
        return obj

    def answer(self, path: str, query: Mapping[str, str]) -> Answer:
        """The answer for ``{base}/{path}?{query}``, checked before it goes out; NotFound
        for what is not there."""
        answer = self._answer(path, query)
        if answer.payload is not None:
            if "data" in answer.payload:
                validate.check_list_page(answer.payload)
            else:
                validate.check(answer.payload)
        return answer

    def _answer(self, path: str, query: Mapping[str, str]) -> Answer:
        parts = [p for p in path.strip("/").split("/") if p]
        if parts == ["system"] or not parts:
            return Answer(self.system())
        if parts == ["bodies"]:
            filters = lists.Filters.parse(query)
            items = [b.body for b in self.bodies()]
            return Answer(self._page(self.urls.bodies(), items, [], filters, query))
        if len(parts) < 2 or parts[0] != "body":
            raise NotFound(f"kein OParl-Objekt unter {path!r}")
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
        raise NotFound(f"kein OParl-Objekt unter {path!r}")

    def _page(self, url: str, items: list[dict[str, Any]], tombstones: list[dict[str, Any]],
              filters: lists.Filters, query: Mapping[str, str]) -> dict[str, Any]:  # fmt: skip
        number = lists.page_number(query)
        return lists.page(url, items, tombstones, filters, number)


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


def export(session: Session, folder: Path, *, base_url: str = DEFAULT_BASE,
           public: bool = True) -> Exported:  # fmt: skip
    """Write every object, list page and document file of the database into ``folder``.

    Everything is built and validated first; only then is anything written, into a fresh
    folder next to the target that replaces it at the end: a failed export leaves the
    previous one as it was.
    """
    folder = folder.resolve()
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


@contextmanager
def _transaction(session: Session) -> Iterator[None]:
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def delete_sitzung(session: Session, kommune_key: str, sitzung_key: str, *, actor: str) -> None:
    """Remove a Sitzung no process uses; OParl keeps it as a tombstone (deleted: true)."""
    with _transaction(session):
        delete_rows(session, kommune_key, sitzung_key, actor=actor)


def delete_rows(session: Session, kommune_key: str, sitzung_key: str, *, actor: str) -> None:
    kommune = session.exec(select(Kommune).where(Kommune.key == kommune_key)).first()
    if kommune is None:
        raise NotFound(f"keine Kommune {kommune_key!r}")
    sitzung = session.exec(
        select(Sitzung).where(Sitzung.kommune_id == kommune.id, Sitzung.key == sitzung_key)
    ).first()
    if sitzung is None:
        raise NotFound(f"keine Sitzung {sitzung_key!r} in {kommune_key!r}")
    used = [
        session.exec(select(model.id).where(model.sitzung_id == sitzung.id)).first()
        for model in (Beratung, SitzungBinding, Reminder)
    ]
    if any(u is not None for u in used):
        raise Refused(f"die Sitzung {sitzung_key!r} wird von einer Fortschreibung verwendet; "
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
