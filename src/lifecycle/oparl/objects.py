"""The OParl 1.1 objects of a Kommune, built from the database.

One ``BodyView`` per Kommune holds every object the view may show: the public view (the
default) leaves out nichtöffentliche Sitzungen, agenda items of nichtöffentliche Beratungen and
papers no public Beratung has; the internal view shows everything and marks it.

URLs are keys, not row ids, so an export and the API of the same database agree, and a copy of
the data elsewhere keeps its URLs:

    {base}/system                       System
    {base}/bodies                       list of Bodies
    {base}/body/{kommune}               Body; its lists: organizations, people, meetings,
                                        papers, legislative-terms
    {base}/body/{k}/organization/{gremium}             Gremium
    {base}/body/{k}/organization/fachbereich/{slug}    Fachbereich (federführend)
    {base}/body/{k}/person/{person}
    {base}/body/{k}/meeting/{sitzung}   (location: .../meeting/{sitzung}/location)
    {base}/body/{k}/paper/{process}/{stage}
    {base}/body/{k}/consultation/{process}/{stage}/{position}
    {base}/body/{k}/agendaitem/{process}/{stage}/{position}
    {base}/body/{k}/file/{document id}  (the file: .../access/{name}, .../download/{name})
    {base}/body/{k}/legislativeterm/{year}

``created``/``modified`` come from the event log (the first and last change of the row, of
the process that brought it, or of an embedded object), never from the clock of the request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func
from sqlmodel import Session, col, select

from .. import words
from ..cancellations import cancelled_sitzungen
from ..dates import BERLIN, short_de
from ..models import (
    Beratung,
    BeratungRole,
    DocumentVersion,
    Event,
    Fortschreibung,
    Gremium,
    GremiumKind,
    Kommune,
    Person,
    Sitzung,
    SitzungBinding,
    Vorlage,
)
from ..typing_helpers import chunks

SCHEMA = "https://schema.oparl.org/1.1/"
OPARL_VERSION = "https://schema.oparl.org/1.1/"
# Datenlizenz Deutschland – Namensnennung 2.0: the licence German public bodies publish under.
LICENSE = "https://www.govdata.de/dl-de/by-2-0"
PER_PAGE = 100
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # a row no event ever mentioned
DELETED = Event.DELETED  # event action: a row removed; its tombstone stays in the lists

MAIN_KINDS = ("sitzungsvorlage", "beschlussvorlage")
PUBLIC_AUX_KINDS = ("abschlussbericht",)
FILE_NAMES = {"sitzungsvorlage": "Sitzungsvorlage", "beschlussvorlage": "Beschlussvorlage",
              "abschlussbericht": "Abschlussbericht"}  # fmt: skip
MIME = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
GREMIUM_CLASS = {GremiumKind.gemeinderat: "Gemeinderat", GremiumKind.ausschuss: "Ausschuss",
                 GremiumKind.beirat: "Beirat"}  # fmt: skip
# Kommunalwahlen (election days) by Bundesland: the Wahlperioden of the Body. Only Länder whose
# dates are known here get LegislativeTerms; the others an empty list.
KOMMUNALWAHLEN = {
    "BW": ("2009-06-07", "2014-05-25", "2019-05-26", "2024-06-09"),
    "SL": ("2009-06-07", "2014-05-25", "2019-05-26", "2024-06-09"),
}
LIST_NAMES = ("organizations", "people", "meetings", "papers", "legislative-terms")


def stamp(moment: dt.datetime) -> str:
    """An OParl date-time: local time of the Rathaus with its offset, whole seconds."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(BERLIN).isoformat(timespec="seconds")


def local(moment: dt.datetime) -> str:
    """A Sitzung's wall-clock time (stored naive, Europe/Berlin) with its offset."""
    return moment.replace(tzinfo=BERLIN).isoformat(timespec="seconds")


def slug(text: str) -> str:
    """'Bürgerengagement' -> 'buergerengagement': a stable URL segment for a name."""
    return words.slug(text) or "ohne-name"


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """Leave out what has no value: None, blank strings, empty lists of references."""
    return {k: v for k, v in obj.items()
            if v is not None and not (isinstance(v, str) and not v.strip())}  # fmt: skip


@dataclass(frozen=True)
class Urls:
    base: str  # e.g. https://ris.example.org/oparl/v1.1 (no trailing slash)

    def system(self) -> str:
        return f"{self.base}/system"

    def bodies(self) -> str:
        return f"{self.base}/bodies"

    def body(self, k: str) -> str:
        return f"{self.base}/body/{k}"

    def list(self, k: str, name: str) -> str:
        return f"{self.base}/body/{k}/{name}"

    def organization(self, k: str, key: str) -> str:
        return f"{self.base}/body/{k}/organization/{key}"

    def fachbereich(self, k: str, name: str) -> str:
        return f"{self.base}/body/{k}/organization/fachbereich/{slug(name)}"

    def person(self, k: str, key: str) -> str:
        return f"{self.base}/body/{k}/person/{key}"

    def meeting(self, k: str, key: str) -> str:
        return f"{self.base}/body/{k}/meeting/{key}"

    def paper(self, k: str, process: str, stage: str) -> str:
        return f"{self.base}/body/{k}/paper/{process}/{stage}"

    def consultation(self, k: str, process: str, stage: str, position: int) -> str:
        return f"{self.base}/body/{k}/consultation/{process}/{stage}/{position}"

    def agenda_item(self, k: str, process: str, stage: str, position: int) -> str:
        return f"{self.base}/body/{k}/agendaitem/{process}/{stage}/{position}"

    def file(self, k: str, doc_id: int) -> str:
        return f"{self.base}/body/{k}/file/{doc_id}"

    def term(self, k: str, year: int) -> str:
        return f"{self.base}/body/{k}/legislativeterm/{year}"


# --- loading --------------------------------------------------------------------------------


@dataclass
class Stamps:
    """First and last event of each (entity, id), and the tombstones."""

    spans: dict[tuple[str, int], tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)
    deleted: list[Event] = field(default_factory=list)
    cancelled: set[int] = field(default_factory=set)  # Sitzungen the RIS cancelled (still used)

    def first(self, entity: str, ident: int | None) -> dt.datetime | None:
        span = self.spans.get((entity, ident or 0))
        return span[0] if span else None

    def last(self, entity: str, ident: int | None) -> dt.datetime | None:
        span = self.spans.get((entity, ident or 0))
        return span[1] if span else None


ENTITIES = ("Kommune", "Gremium", "Person", "Sitzung", "Fortschreibung", "Vorlage")


def load_stamps(session: Session, bodies: list[BodyData] | None = None, *,
                tombstones: bool = True) -> Stamps:  # fmt: skip
    """The stamps of every row of ``bodies`` (None: of the whole installation); without
    ``tombstones``, not the deleted rows (a Body object alone does not show them)."""
    query = (
        select(Event.entity, Event.entity_id, func.min(Event.at), func.max(Event.at))
        .where(col(Event.action) != DELETED)
        .group_by(col(Event.entity), col(Event.entity_id))
    )
    if bodies is None:
        rows = list(session.exec(query.where(col(Event.entity).in_(ENTITIES))).all())
    else:  # one Body: its rows' histories through ix_event_entity, not the whole log
        rows = [row for entity, ids in _ids_of(bodies).items()
                for chunk in chunks(ids) for row in session.exec(query.where(
                    Event.entity == entity, col(Event.entity_id).in_(chunk))).all()]  # fmt: skip
    spans = {(e, i or 0): (_aware(lo), _aware(hi)) for e, i, lo, hi in rows}
    return Stamps(spans, _deleted(session, bodies) if tombstones else [],
                  _cancelled(session, bodies))  # fmt: skip


def _cancelled(session: Session, bodies: list[BodyData] | None) -> set[int]:
    """The Sitzungen of ``bodies`` (None: of all) the RIS cancelled (oparl sync keeps a
    cancelled Sitzung a process uses; it goes out as a cancelled Meeting, not a normal one)."""
    if bodies is None:
        return cancelled_sitzungen(session)
    return cancelled_sitzungen(session, [s.id or 0 for b in bodies for s in b.sitzungen])


def _deleted(session: Session, bodies: list[BodyData] | None) -> list[Event]:
    """The deletion events of ``bodies``' Kommunen (None: of all), through the partial index
    ix_event_deleted: the deletions only, not the whole log; those of other Kommunen are
    left in the database, not decoded here."""
    query = select(Event).where(Event.action == DELETED).order_by(col(Event.id))
    if bodies is not None:
        kommune = col(Event.before)["kommune"].as_string()
        query = query.where(kommune.in_([b.kommune.key for b in bodies]))
    return list(session.exec(query).all())


def _ids_of(bodies: list[BodyData]) -> dict[str, list[int]]:
    """The ids of each entity of ENTITIES that ``bodies`` hold."""
    rows: dict[str, Callable[[BodyData], list[Any]]] = {
        "Kommune": lambda b: [b.kommune], "Gremium": lambda b: b.gremien,
        "Person": lambda b: b.persons, "Sitzung": lambda b: b.sitzungen,
        "Fortschreibung": lambda b: b.processes, "Vorlage": lambda b: b.vorlagen,
    }  # fmt: skip
    return {entity: [r.id for b in bodies for r in rows[entity](b)] for entity in ENTITIES}


@dataclass
class BodyData:
    kommune: Kommune
    gremien: list[Gremium] = field(default_factory=list)
    sitzungen: list[Sitzung] = field(default_factory=list)
    persons: list[Person] = field(default_factory=list)
    processes: list[Fortschreibung] = field(default_factory=list)
    vorlagen: list[Vorlage] = field(default_factory=list)
    beratungen: list[Beratung] = field(default_factory=list)
    bindings: list[SitzungBinding] = field(default_factory=list)
    documents: list[DocumentVersion] = field(default_factory=list)
    ags: str | None = None  # Amtlicher Gemeindeschlüssel, as a process's scenario names it


def load_bodies(session: Session, kommune_key: str | None = None) -> list[BodyData]:
    """Every Kommune (or the one named) with the rows its OParl objects come from."""
    query = select(Kommune).order_by(col(Kommune.key))
    if kommune_key is not None:
        query = query.where(Kommune.key == kommune_key)
    bodies = {k.id: BodyData(k) for k in session.exec(query).all()}
    if not bodies:
        return []
    one = kommune_key is not None
    ids = list(bodies)

    def by_kommune(model: Any) -> Iterable[Any]:
        q = select(model).order_by(col(model.id))
        return session.exec(q.where(col(model.kommune_id).in_(ids)) if one else q).all()

    for g in by_kommune(Gremium):
        bodies[g.kommune_id].gremien.append(g)
    for s in by_kommune(Sitzung):
        bodies[s.kommune_id].sitzungen.append(s)
    for p in by_kommune(Person):
        bodies[p.kommune_id].persons.append(p)
    kommune_of: dict[int, int] = {}
    for f in by_kommune(Fortschreibung):
        bodies[f.kommune_id].processes.append(f)
        kommune_of[f.id or 0] = f.kommune_id
    pids = list(kommune_of)

    def by_process(model: Any) -> Iterable[Any]:
        q = select(model).order_by(col(model.id))
        return session.exec(q.where(col(model.fortschreibung_id).in_(pids)) if one else q).all()

    vorlage_kommune: dict[int, int] = {}
    for v in by_process(Vorlage):
        bodies[kommune_of[v.fortschreibung_id]].vorlagen.append(v)
        vorlage_kommune[v.id or 0] = kommune_of[v.fortschreibung_id]
    for b in by_process(SitzungBinding):
        bodies[kommune_of[b.fortschreibung_id]].bindings.append(b)
    for d in by_process(DocumentVersion):
        bodies[kommune_of[d.fortschreibung_id]].documents.append(d)
    q = select(Beratung).order_by(col(Beratung.vorlage_id), col(Beratung.position))
    if one:
        q = q.where(col(Beratung.vorlage_id).in_(list(vorlage_kommune)))
    for r in session.exec(q).all():
        bodies[vorlage_kommune[r.vorlage_id]].beratungen.append(r)
    _add_ags(session, list(bodies.values()))
    return list(bodies.values())


def load_heads(session: Session) -> list[BodyData]:
    """Every Kommune with its processes, without their plan and scenario: what a Body object
    says (its AGS aside, ``_add_ags``), for the System and the list of Bodies, which would
    otherwise build every object of the installation."""
    bodies = {k.id: BodyData(k) for k in
              session.exec(select(Kommune).order_by(col(Kommune.key))).all()}  # fmt: skip
    # Of its processes a Body object reads id and start only: plain rows, not ORM objects
    # (whose deferred columns cost more to set up than the row to read).
    for f in session.exec(select(col(Fortschreibung.id), col(Fortschreibung.kommune_id),
                                 col(Fortschreibung.started_on)).order_by(col(Fortschreibung.id))):
        bodies[f[1]].processes.append(cast(Fortschreibung, f))  # a Row: f.id, f.started_on
    return list(bodies.values())


def _add_ags(session: Session, bodies: list[BodyData]) -> None:
    """Each Body's AGS: from the first of its processes whose scenario names one (read out of
    the stored scenario by the database, not decoded here)."""
    of = {b.kommune.id: b for b in bodies}
    ags = col(Fortschreibung.scenario)[("kommune", "ags")].as_string()
    for chunk in chunks(sorted(i for i in of if i is not None)):
        for kid, value in session.exec(
            select(Fortschreibung.kommune_id, ags)
            .where(col(Fortschreibung.kommune_id).in_(chunk), ags.is_not(None))
            .order_by(col(Fortschreibung.id))
        ):  # fmt: skip
            body = of[kid]
            if body.ags is None and value not in (None, ""):
                body.ags = str(value)


# --- the objects of one Body ----------------------------------------------------------------


@dataclass
class Built:
    """Every object of a Body: the lists (top-level objects) and each object by its id."""

    body: dict[str, Any]
    lists: dict[str, list[dict[str, Any]]]
    tombstones: dict[str, list[dict[str, Any]]]
    by_id: dict[str, dict[str, Any]]
    files: dict[str, Path]  # accessUrl/downloadUrl -> the file on disk


class BodyView:
    def __init__(self, data: BodyData, urls: Urls, stamps: Stamps, *, public: bool = True):
        self.d, self.u, self.st, self.public = data, urls, stamps, public
        self.k = data.kommune.key
        self.gremium = {g.id: g for g in data.gremien}
        self.sitzung = {s.id: s for s in data.sitzungen}
        self.person = {p.id: p for p in data.persons}
        self.process = {p.id: p for p in data.processes}
        self.vorlage = {v.id: v for v in data.vorlagen}
        self.beratungen_of: dict[int, list[Beratung]] = defaultdict(list)
        self.on_agenda: dict[int, list[Beratung]] = defaultdict(list)
        for b in data.beratungen:
            self.beratungen_of[b.vorlage_id].append(b)
            self.on_agenda[b.sitzung_id].append(b)
        self._created_cache: dict[int, dt.datetime] = {}

    # -- what may be shown ---------------------------------------------------------------

    def sitzung_shown(self, s: Sitzung) -> bool:
        return s.oeffentlich or not self.public

    def beratung_shown(self, b: Beratung) -> bool:
        return not self.public or (b.oeffentlich and self.sitzung[b.sitzung_id].oeffentlich)

    def vorlage_shown(self, v: Vorlage) -> bool:
        return not self.public or any(self.beratung_shown(b) for b in self.beratungen_of[v.id or 0])

    # -- times ---------------------------------------------------------------------------

    def process_created(self, pid: int) -> dt.datetime:
        if pid not in self._created_cache:
            first = self.st.first("Fortschreibung", pid)
            if first is None:
                started = self.process[pid].started_on
                first = dt.datetime.combine(started, dt.time(), BERLIN)
            self._created_cache[pid] = first
        return self._created_cache[pid]

    def body_created(self) -> dt.datetime:
        found = [self.process_created(p.id or 0) for p in self.d.processes]
        first = self.st.first("Kommune", self.d.kommune.id)
        found += [first] if first else []
        return min(found, default=EPOCH)

    def _span(self, entity: str, ident: int | None, created: dt.datetime,
              *more: dt.datetime | None) -> tuple[str, str]:  # fmt: skip
        first = self.st.first(entity, ident)
        created = min(created, first) if first else created
        later = [m for m in (self.st.last(entity, ident), *more) if m is not None]
        return stamp(created), stamp(max([created, *later]))

    # -- the objects ---------------------------------------------------------------------

    def build(self) -> Built:
        by_id: dict[str, dict[str, Any]] = {}
        files: dict[str, Path] = {}
        organizations = [self.organization(g) for g in self.d.gremien]
        organizations += self.fachbereiche()
        people = [self.person_obj(p) for p in self.d.persons]
        meetings = [self.meeting(s, by_id) for s in self.d.sitzungen if self.sitzung_shown(s)]
        papers = [self.paper(v, by_id, files) for v in self.d.vorlagen if self.vorlage_shown(v)]
        terms = self.terms()
        body = self.body(terms)
        lists = {"organizations": organizations, "people": people, "meetings": meetings,
                 "papers": papers, "legislative-terms": terms}  # fmt: skip
        for items in lists.values():
            for item in items:
                by_id[item["id"]] = item
        by_id[body["id"]] = body
        return Built(body, lists, self.tombstones(), by_id, files)

    def body(self, terms: list[dict[str, Any]]) -> dict[str, Any]:
        k = self.d.kommune
        created, modified = self._span("Kommune", k.id, self.body_created())
        return _clean({
            "id": self.u.body(self.k), "type": f"{SCHEMA}Body", "system": self.u.system(),
            "name": k.name, "shortName": k.name, "ags": self.d.ags, "license": LICENSE,
            "classification": "Kommune",
            "organization": self.u.list(self.k, "organizations"),
            "person": self.u.list(self.k, "people"),
            "meeting": self.u.list(self.k, "meetings"),
            "paper": self.u.list(self.k, "papers"),
            "legislativeTerm": [_embedded(t) for t in terms],
            "legislativeTermList": self.u.list(self.k, "legislative-terms"),
            "created": created, "modified": modified,
        })  # fmt: skip

    def organization(self, g: Gremium) -> dict[str, Any]:
        created, modified = self._span("Gremium", g.id, self.body_created())
        return _clean({
            "id": self.u.organization(self.k, g.key), "type": f"{SCHEMA}Organization",
            "body": self.u.body(self.k), "name": g.name, "shortName": g.short,
            "organizationType": "Gremium", "classification": GREMIUM_CLASS.get(g.kind),
            "created": created, "modified": modified,
        })  # fmt: skip

    def fachbereiche(self) -> list[dict[str, Any]]:
        """The Fachbereiche that lead a shown Vorlage (OParl: underDirectionOf)."""
        first: dict[str, dt.datetime] = {}
        for v in self.d.vorlagen:
            if v.fachbereich.strip() and self.vorlage_shown(v):
                created = self.process_created(v.fortschreibung_id)
                first[v.fachbereich] = min(first.get(v.fachbereich, created), created)
        return [
            {"id": self.u.fachbereich(self.k, name), "type": f"{SCHEMA}Organization",
             "body": self.u.body(self.k), "name": name, "organizationType": "Verwaltung",
             "classification": "Fachbereich", "created": stamp(created),
             "modified": stamp(created)}
            for name, created in sorted(first.items())
        ]  # fmt: skip

    def person_obj(self, p: Person) -> dict[str, Any]:
        created, modified = self._span("Person", p.id, self.body_created())
        return _clean({
            "id": self.u.person(self.k, p.key), "type": f"{SCHEMA}Person",
            "body": self.u.body(self.k), "name": p.name,
            "status": [p.funktion] if p.funktion.strip() else None,
            "email": [p.email] if p.email and not self.public else None,
            "created": created, "modified": modified,
        })  # fmt: skip

    def _sitzung_created(self, s: Sitzung) -> dt.datetime:
        pids = {b.fortschreibung_id for b in self.d.bindings if b.sitzung_id == s.id}
        pids |= {self.vorlage[b.vorlage_id].fortschreibung_id for b in self.on_agenda[s.id or 0]}
        found = [self.process_created(pid) for pid in pids]
        return min(found, default=self.body_created())

    def meeting(self, s: Sitzung, by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
        g = self.gremium[s.gremium_id]
        url = self.u.meeting(self.k, s.key)
        items = []
        shown = [b for b in self.on_agenda[s.id or 0] if self.beratung_shown(b)]
        shown.sort(key=lambda b: (self.vorlage[b.vorlage_id].reference, b.vorlage_id))
        embedded_changes: list[dt.datetime | None] = []
        for order, b in enumerate(shown):
            item = self.agenda_item(b, order, url)
            items.append(item)
            by_id[item["id"]] = item
            embedded_changes.append(dt.datetime.fromisoformat(item["modified"]))
        created_at = self._sitzung_created(s)
        created, modified = self._span("Sitzung", s.id, created_at, *embedded_changes)
        location: dict[str, Any] | None = None
        if s.place.strip():
            location = {"id": f"{url}/location", "type": f"{SCHEMA}Location",
                        "description": s.place, "meetings": [url],
                        "created": created, "modified": modified}  # fmt: skip
            by_id[location["id"]] = location
        return _clean({
            "id": url, "type": f"{SCHEMA}Meeting",
            "name": f"Sitzung {g.name} am {short_de(s.start.date())}",
            "start": local(s.start),
            "location": _embedded(location) if location else None,
            "organization": [self.u.organization(self.k, g.key)],
            "agendaItem": [_embedded(i) for i in items],
            "keyword": None if s.oeffentlich else ["nichtöffentlich"],
            "cancelled": True if s.id in self.st.cancelled else None,
            "created": created, "modified": modified,
        })  # fmt: skip

    def _vorlage_span(self, v: Vorlage, *more: dt.datetime | None) -> tuple[str, str]:
        return self._span("Vorlage", v.id, self.process_created(v.fortschreibung_id), *more)

    def agenda_item(self, b: Beratung, order: int, meeting_url: str) -> dict[str, Any]:
        v = self.vorlage[b.vorlage_id]
        process = self.process[v.fortschreibung_id]
        s = self.sitzung[b.sitzung_id]
        created, modified = self._vorlage_span(v, self.st.first("Sitzung", s.id))
        return _clean({
            "id": self.u.agenda_item(self.k, process.key, v.stage_key, b.position),
            "type": f"{SCHEMA}AgendaItem", "meeting": meeting_url, "number": str(order + 1),
            "order": order, "name": v.betreff,
            "public": b.oeffentlich and s.oeffentlich,
            "consultation": self.u.consultation(self.k, process.key, v.stage_key, b.position),
            "created": created, "modified": modified,
        })  # fmt: skip

    def paper(self, v: Vorlage, by_id: dict[str, dict[str, Any]],
              files: dict[str, Path]) -> dict[str, Any]:  # fmt: skip
        process = self.process[v.fortschreibung_id]
        url = self.u.paper(self.k, process.key, v.stage_key)
        main, aux = self.files_of(v, url, files)
        for f in ([main] if main else []) + aux:
            by_id[f["id"]] = f
        changed = [dt.datetime.fromisoformat(f["modified"]) for f in ([main] if main else []) + aux]
        created, modified = self._vorlage_span(v, *changed)
        consultations = []
        for b in self.beratungen_of[v.id or 0]:
            if not self.beratung_shown(b):
                continue
            s = self.sitzung[b.sitzung_id]
            c = _clean({
                "id": self.u.consultation(self.k, process.key, v.stage_key, b.position),
                "type": f"{SCHEMA}Consultation", "paper": url,
                "agendaItem": self.u.agenda_item(self.k, process.key, v.stage_key, b.position),
                "meeting": self.u.meeting(self.k, s.key),
                "organization": [self.u.organization(self.k, self.gremium[s.gremium_id].key)],
                "authoritative": b.role == BeratungRole.entscheidung,
                "role": b.role.value, "created": created, "modified": modified,
            })  # fmt: skip
            consultations.append(c)
            by_id[c["id"]] = c
        author = self.person.get(v.author_id) if v.author_id else None
        return _clean({
            "id": url, "type": f"{SCHEMA}Paper", "body": self.u.body(self.k),
            "name": v.betreff, "reference": v.reference,
            "date": v.dated.isoformat() if v.dated else None, "paperType": v.art,
            "underDirectionOf": [self.u.fachbereich(self.k, v.fachbereich)]
            if v.fachbereich.strip() else None,
            "originatorPerson": [self.u.person(self.k, author.key)] if author else None,
            "mainFile": _embedded(main) if main else None,
            "auxiliaryFile": [_embedded(f) for f in aux] or None,
            "consultation": [_embedded(c) for c in consultations],
            "created": created, "modified": modified,
        })  # fmt: skip

    def files_of(self, v: Vorlage, paper_url: str, files: dict[str, Path]
                 ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:  # fmt: skip
        newest: dict[str, DocumentVersion] = {}
        for d in self.d.documents:
            mine = d.fortschreibung_id == v.fortschreibung_id and d.stage_key == v.stage_key
            if mine and (d.kind not in newest or d.version > newest[d.kind].version):
                newest[d.kind] = d
        main = None
        aux = []
        for kind, d in sorted(newest.items()):
            if kind not in MAIN_KINDS and self.public and kind not in PUBLIC_AUX_KINDS:
                continue
            obj = self.file_obj(d, paper_url, files)
            if obj is None:
                continue
            if kind in MAIN_KINDS and main is None:
                main = obj
            else:
                aux.append(obj)
        return main, aux

    def file_obj(self, d: DocumentVersion, paper_url: str,
                 files: dict[str, Path]) -> dict[str, Any] | None:  # fmt: skip
        path = Path(d.pdf_path) if d.pdf_path else Path(d.path)
        try:
            info = path.stat()
            sha1 = _sha1(str(path), info.st_size, info.st_mtime_ns)
        except OSError:  # moved or deleted since: advertise no link that cannot work
            return None
        url = self.u.file(self.k, d.id or 0)
        access, download = f"{url}/access/{path.name}", f"{url}/download/{path.name}"
        files[access] = files[download] = path
        moment = stamp(d.created_at)
        return _clean({
            "id": url, "type": f"{SCHEMA}File",
            "name": f"{FILE_NAMES.get(d.kind, d.kind)} (Version {d.version})",
            "fileName": path.name, "mimeType": MIME.get(path.suffix.lower()),
            "date": _aware(d.created_at).astimezone(BERLIN).date().isoformat(),
            "size": info.st_size, "sha1Checksum": sha1,
            "accessUrl": access, "downloadUrl": download, "paper": [paper_url],
            "created": moment, "modified": moment,
        })  # fmt: skip

    def terms(self) -> list[dict[str, Any]]:
        days = [dt.date.fromisoformat(d) for d in KOMMUNALWAHLEN.get(self.d.kommune.bundesland,
                                                                      ())]  # fmt: skip
        created = stamp(self.body_created())
        out = []
        for start, end in zip(days, days[1:], strict=False):
            out.append({
                "id": self.u.term(self.k, start.year), "type": f"{SCHEMA}LegislativeTerm",
                "body": self.u.body(self.k), "name": f"Wahlperiode {start.year}–{end.year}",
                "startDate": start.isoformat(),
                "endDate": (end - dt.timedelta(days=1)).isoformat(),
                "created": created, "modified": created,
            })  # fmt: skip
        return out

    def tombstones(self) -> dict[str, list[dict[str, Any]]]:
        """Deleted rows of this Kommune, by list; in the public view only once-public ones."""
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        kinds = {"Sitzung": ("meetings", "Meeting"), "Gremium": ("organizations", "Organization"),
                 "Person": ("people", "Person"), "Vorlage": ("papers", "Paper")}  # fmt: skip
        for e in self.st.deleted:
            before = e.before or {}
            if before.get("kommune") != self.k or e.entity not in kinds:
                continue
            if self.public and before.get("oeffentlich") is False:
                continue
            name, kind = kinds[e.entity]
            if e.entity == "Vorlage":
                url = self.u.paper(self.k, before.get("process", ""), before.get("stage", ""))
            else:
                make = {"Sitzung": self.u.meeting, "Gremium": self.u.organization,
                        "Person": self.u.person}[e.entity]  # fmt: skip
                url = make(self.k, str(before.get("key")))
            created = before.get("created") or stamp(e.at)
            out[name].append({"id": url, "type": f"{SCHEMA}{kind}", "created": created,
                              "modified": stamp(e.at), "deleted": True})  # fmt: skip
        return out


@lru_cache(maxsize=4096)
def _sha1(path: str, size: int, mtime_ns: int) -> str:
    """A document's checksum, read once per version of the file (the API asks often)."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _embedded(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as it appears inside its parent (the same object; its own URL serves it)."""
    return obj


def system(urls: Urls, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    created = min(
        (b["created"] for b in bodies), key=dt.datetime.fromisoformat, default=stamp(EPOCH)
    )
    modified = max((b["modified"] for b in bodies), key=dt.datetime.fromisoformat, default=created)
    return {
        "id": urls.system(), "type": f"{SCHEMA}System", "oparlVersion": OPARL_VERSION,
        "license": LICENSE, "body": urls.bodies(),
        "name": "lifecycle – Fortschreibung kommunaler Konzepte",
        "created": created, "modified": modified,
    }  # fmt: skip


def build_all(session: Session, urls: Urls, *, public: bool = True,
              kommune_key: str | None = None) -> Iterator[Built]:  # fmt: skip
    """Every Body's objects (or the one named), built from one read of the database."""
    bodies = load_bodies(session, kommune_key)
    stamps = load_stamps(session, bodies if kommune_key is not None else None)
    for data in bodies:
        yield BodyView(data, urls, stamps, public=public).build()


class Heads:
    """The Body objects of the installation without the rest of their objects: the System's
    stamps and the list of Bodies. ``complete`` adds the AGS to the Bodies a page shows."""

    def __init__(self, session: Session, urls: Urls, *, public: bool = True):
        self.session = session
        data = load_heads(session)
        stamps = load_stamps(session, data, tombstones=False)
        self.views = {urls.body(d.kommune.key): BodyView(d, urls, stamps, public=public)
                      for d in data}  # fmt: skip

    def bodies(self) -> list[dict[str, Any]]:
        """Every Body object as the full build makes it, but without the AGS; by id."""
        return [self._body(v) for _, v in sorted(self.views.items())]

    def complete(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``bodies`` (of this installation) as the full build makes them: with the AGS."""
        views = [self.views[b["id"]] for b in bodies]
        _add_ags(self.session, [v.d for v in views])
        return [self._body(v) for v in views]

    @staticmethod
    def _body(view: BodyView) -> dict[str, Any]:
        return view.body(view.terms())

