"""What goes into each document: the context per document kind, built from the database.

The text comes from the process: the final Sitzungsvorlage's Begründung is assembled from the
concept's history, the Grundsatzbeschluss, funding and partner, the Handlungsfelder, the steps
of the process and each working group's results. A Vorlage's ``begruendung`` (section title ->
text, from the scenario) replaces the generated prose of that section; the lists the process
recorded (Handlungsfelder, Schlüsselprojekte) stay, and unknown titles become extra sections.

Contexts hold only plain data (str, int, bool, date, datetime, lists, dicts): they are hashed
to decide whether a document changed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from .calendar import for_kommune, vorlagenschluss_of
from .dates import euro, short_de
from .errors import InputError
from .models import (
    AgSitzung,
    Arbeitsgruppe,
    Beratung,
    Empfehlung,
    Fortschreibung,
    GateDecision,
    Gremium,
    GremiumKind,
    Handlungsfeld,
    Kommune,
    Konzept,
    KonzeptVersion,
    Person,
    Role,
    Schluesselprojekt,
    Sitzung,
    SitzungBinding,
    Stage,
    Task,
    TaskState,
    Vorlage,
    VorlageVersion,
    Workshop,
)  # fmt: skip
from .plan_types import StageDef, plan_of
from .typing_helpers import get_required, ident, required
from .words import quoted

Context = dict[str, Any]
# XML 1.0 forbids these; a DOCX containing one is corrupt, so they are dropped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# The noun a plan's title may start with: what the process does to the concept.
PROCESS_NOUNS = ("Fortschreibung", "Erarbeitung", "Erstellung", "Aufstellung", "Neuaufstellung")
ORDINALS = ("ersten", "zweiten", "dritten", "vierten", "fünften", "sechsten", "siebten")


@dataclass(frozen=True)
class Kind:
    """A document kind: the template it renders and the function building its context."""

    name: str
    title: str
    template: str
    build: Callable[[Session, Fortschreibung, str, str], Context]  # (…, kind, stage key)


# --- small helpers -------------------------------------------------------------------------


def clean(value: Any) -> Any:
    """The context with XML-invalid characters removed from every string."""
    if isinstance(value, str):
        return _XML_INVALID.sub("", value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def paragraphs(text: str) -> list[str]:
    """User text split at blank lines; single line breaks inside a paragraph become spaces."""
    parts = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return [" ".join(line.strip() for line in p.splitlines()) for p in parts if p.strip()]


def text(value: str) -> dict[str, Any]:
    return {"heading": False, "item": False, "label": "", "text": value}


def heading(value: str) -> dict[str, Any]:
    return {"heading": True, "item": False, "label": "", "text": value}


def item(label: str, value: str) -> dict[str, Any]:
    return {"heading": False, "item": True, "label": label, "text": value}


def join_de(items: list[str]) -> str:
    """'a, b und c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} und {items[-1]}"


def _quoted(value: str) -> str:
    """„value“; a value already in quotes keeps its own, quotes inside become ‚half‘ ones."""
    value = value.strip()
    if value.startswith("„") and value.endswith("“") and value.count("„") == 1:
        return value
    return f"„{value.replace('„', '‚').replace('“', '‘')}“"


def _bracketed(value: str) -> str:
    """(value), where the value's own brackets become commas: no "(… (IfaS))"."""
    flat = re.sub(r"\s*\(([^()]*)\)", r", \1", value).strip()
    return f"({flat})"


def sentences(value: str) -> bool:
    """Whether a note is written as whole sentences (printed as is) or is a fragment."""
    return value.rstrip().endswith((".", "!", "?", "“"))


def _reversed_name(name: str) -> str:
    """'Ute Ortolf' -> 'Ortolf, Ute' (titles such as 'Prof. Dr.' stay in front)."""
    parts = name.split()
    if len(parts) < 2 or "," in name:
        return name
    return f"{parts[-1]}, {' '.join(parts[:-1])}"


_FEMININE_BODIES = ("versammlung", "vertretung", "kommission", "konferenz", "runde", "kammer")


def _dative(gremium: Gremium) -> str:
    """'im Gemeinderat', 'im Ausschuss für Bildung, …', 'in der Bezirksvertretung Mitte': the
    full name in running text, never the abbreviation of the Beratungsfolge ("im GR")."""
    head = gremium.name.split(" ", 1)[0].lower()
    return f"in der {gremium.name}" if head.endswith(_FEMININE_BODIES) else f"im {gremium.name}"


def genitive(gremium: Gremium) -> str:
    if gremium.kind == GremiumKind.ausschuss and gremium.short:
        return f"des {gremium.short}"
    if gremium.name.startswith("Ausschuss"):
        return f"des Ausschusses{gremium.name[len('Ausschuss') :]}"
    if gremium.name.endswith("rat"):
        return f"des {gremium.name}es"
    return f"des Gremiums {_quoted(gremium.name)}"


# --- reading the process -------------------------------------------------------------------


def _once(method: Callable[..., Any]) -> Callable[..., Any]:
    """A Facts query answered once per document: the builders ask for the same rows (the
    stages, a Vorlage, its Beratungen) many times. Row arguments count by their id."""
    name = method.__name__

    def cached(self: Facts, *args: Any) -> Any:
        key = (name, *(getattr(a, "id", a) for a in args))
        if key not in self._memo:
            self._memo[key] = method(self, *args)
        return self._memo[key]

    cached.__name__ = name
    cached.__doc__ = method.__doc__
    return cached


class Facts:
    """The rows of one process, read once per document (a context is built read-only)."""

    def __init__(self, session: Session, process: Fortschreibung, as_of: dt.date | None = None):
        self.s, self.p = session, process
        # one query for both: every query of a document costs more than its rows
        found = session.exec(
            select(Kommune, Konzept).join(Konzept, col(Konzept.kommune_id) == Kommune.id)
            .where(Kommune.id == process.kommune_id, Konzept.id == process.konzept_id)
        ).first()  # fmt: skip
        self.kommune, self.konzept = found if found is not None else (
            get_required(session, Kommune, process.kommune_id),
            get_required(session, Konzept, process.konzept_id))  # fmt: skip
        self.plan = plan_of(process.plan)
        # A paper states the facts as of its own date; None: as of now.
        self.as_of = as_of
        self._memo: dict[tuple[Any, ...], Any] = {}

    def known(self, day: dt.date | None) -> bool:
        """Whether a fact that became true on ``day`` is true as of the paper's date."""
        return day is not None and (self.as_of is None or day <= self.as_of)

    def konzept_name(self) -> str:
        """'Integrationskonzept der Stadt Waiblingen' -> 'Integrationskonzept': the town's name
        is on the letterhead already."""
        name = re.sub(r"\s+(der|des)\s+(Stadt|Gemeinde|Kreises|Landkreises|Marktes|"
                      r"Großen Kreisstadt)\s+.*$", "", self.konzept.title)  # fmt: skip
        return re.sub(rf"\s+{re.escape(self.kommune.name)}$", "", name) or self.konzept.title

    @_once
    def earlier_versions(self) -> list[KonzeptVersion]:
        """The concept's history before this process: not the version its own adoption adds
        (labelled 'Fortschreibung <year>' in its start year), nor later ones."""
        start = self.p.started_on.year
        return [v for v in self.versions() if v.year < start or (
            v.year == start and not v.label.startswith("Fortschreibung "))]  # fmt: skip

    @_once
    def erstmals(self) -> bool:
        """Whether this process writes the concept for the first time (Schwetzingen 2017: "wird
        erstmals erarbeitet"): no earlier version of it and no earlier process of it."""
        if self.earlier_versions():
            return False
        return not self.all(Fortschreibung, Fortschreibung.konzept_id == self.konzept.id,
                            col(Fortschreibung.started_on) < self.p.started_on)  # fmt: skip

    def vorhaben(self) -> str:
        """What the process does to the concept: 'Fortschreibung' of an existing one;
        'Erarbeitung' of a first one (or the plan's own noun, e.g. 'Erstellung')."""
        if not self.erstmals():
            return "Fortschreibung"
        head = self.plan.title.split(" ", 1)[0]
        return head if head in PROCESS_NOUNS and head != "Fortschreibung" else "Erarbeitung"

    def titel(self) -> str:
        """'Fortschreibung des Integrationskonzepts der Stadt Waiblingen': the plan's title with
        the process's noun ('Erarbeitung des …' for a first concept), owned by the town as the
        concept's title says; a note in brackets stays at the end."""
        match = re.fullmatch(r"(.*?)(\s*\([^()]*\))?", self.plan.title.strip())
        base, note = (match.group(1), match.group(2) or "") if match else (self.plan.title, "")
        head, _, rest = base.partition(" ")
        if head in PROCESS_NOUNS and rest:
            base = f"{self.vorhaben()} {rest}"
        name = self.konzept_name()
        owner = self.konzept.title[len(name):].strip() \
            if self.konzept.title.startswith(name) else ""  # fmt: skip
        if not owner.startswith(("der ", "des ")):
            owner = f"der Stadt {self.kommune.name}"
        return f"{base} {owner}{note}"

    def all(self, model, *where, order=None) -> list:
        query = select(model).where(*where)
        if order is not None:
            query = query.order_by(order)
        return list(self.s.exec(query).all())

    @_once
    def versions(self) -> list[KonzeptVersion]:
        return self.all(KonzeptVersion, KonzeptVersion.konzept_id == self.konzept.id,
                        order=KonzeptVersion.year)  # fmt: skip

    @_once
    def stages(self) -> list[Stage]:
        return self.all(Stage, Stage.fortschreibung_id == self.p.id, order=Stage.position)

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages() if s.key == key), None)

    def plan_stage(self, key: str) -> StageDef:
        return plan_of(self.p.plan).stage(key)

    @_once
    def vorlagen(self) -> dict[str, Vorlage]:
        """The process's Vorlagen by stage key, in one query (a paper cites the earlier ones)."""
        out: dict[str, Vorlage] = {}
        for row in self.all(Vorlage, Vorlage.fortschreibung_id == self.p.id, order=Vorlage.id):
            out.setdefault(row.stage_key, row)
        return out

    def vorlage(self, stage_key: str) -> Vorlage | None:
        return self.vorlagen().get(stage_key)

    @_once
    def _beratungen(self) -> dict[int | None, list[tuple[Beratung, Sitzung, Gremium]]]:
        """The Beratungsfolge of every Vorlage of the process, by the Vorlage's id."""
        ids = [v.id for v in self.vorlagen().values()]
        out: dict[int | None, list[tuple[Beratung, Sitzung, Gremium]]] = {i: [] for i in ids}
        for row in self.s.exec(
            select(Beratung, Sitzung, Gremium)
            .join(Sitzung, col(Sitzung.id) == Beratung.sitzung_id)
            .join(Gremium, col(Gremium.id) == Sitzung.gremium_id)
            .where(col(Beratung.vorlage_id).in_(ids)).order_by(col(Beratung.position))
        ):  # fmt: skip
            out[row[0].vorlage_id].append(row)
        return out

    def beratungen(self, vorlage: Vorlage) -> list[tuple[Beratung, Sitzung, Gremium]]:
        return self._beratungen()[vorlage.id]

    @_once
    def bound_sitzung(self, name: str) -> tuple[Sitzung, Gremium] | None:
        """The Sitzung the scenario binds to the plan's Sitzung ``name`` (a postponed gate's
        binding follows it to the later one), with its Gremium, in one query."""
        row = self.s.exec(
            select(Sitzung, Gremium)
            .join(SitzungBinding, col(SitzungBinding.sitzung_id) == Sitzung.id)
            .join(Gremium, col(Gremium.id) == Sitzung.gremium_id)
            .where(SitzungBinding.fortschreibung_id == self.p.id, SitzungBinding.name == name)
        ).first()  # fmt: skip
        return (row[0], row[1]) if row is not None else None

    @_once
    def decisions(self, stage: Stage) -> list[GateDecision]:
        return self.all(GateDecision, GateDecision.stage_id == stage.id,
                        order=GateDecision.decided_on)  # fmt: skip

    @_once
    def handlungsfelder(self) -> list[Handlungsfeld]:
        return self.all(Handlungsfeld, Handlungsfeld.fortschreibung_id == self.p.id,
                        order=Handlungsfeld.position)  # fmt: skip

    @_once
    def arbeitsgruppen(self) -> list[Arbeitsgruppe]:
        return self.all(Arbeitsgruppe, Arbeitsgruppe.fortschreibung_id == self.p.id,
                        order=Arbeitsgruppe.position)  # fmt: skip

    @_once
    def schluesselprojekte(self) -> dict[int | None, list[Schluesselprojekt]]:
        """The Schlüsselprojekte of every Arbeitsgruppe, by its id, in one query."""
        ids = [ag.id for ag in self.arbeitsgruppen()]
        out: dict[int | None, list[Schluesselprojekt]] = {i: [] for i in ids}
        for row in self.all(Schluesselprojekt, col(Schluesselprojekt.arbeitsgruppe_id).in_(ids),
                            order=Schluesselprojekt.position):  # fmt: skip
            out[row.arbeitsgruppe_id].append(row)
        return out

    @_once
    def workshop(self) -> Workshop | None:
        rows = self.all(Workshop, Workshop.fortschreibung_id == self.p.id)
        return rows[0] if rows else None

    @_once
    def personen(self) -> dict[int | None, Person]:
        """The Kommune's people by id, in one query (signers, contacts, moderators)."""
        return {p.id: p for p in self.all(Person, Person.kommune_id == self.kommune.id)}

    def person(self, person_id: int | None) -> Person | None:
        if not person_id:
            return None
        return self.personen().get(person_id) or self.s.get(Person, person_id)

    @_once
    def role_holder(self, role: str) -> Person | None:
        rows = self.all(Role, Role.fortschreibung_id == self.p.id, Role.role == role)
        return self.person(rows[0].person_id) if rows else None

    @_once
    def task(self, key: str) -> Task | None:
        rows = self.all(Task, Task.fortschreibung_id == self.p.id, Task.key == key)
        return rows[0] if rows else None


# --- common parts --------------------------------------------------------------------------


def common(f: Facts) -> Context:
    p = f.p
    partner = p.partner + (f", Leitung: {p.partner_contact}" if p.partner_contact else "")
    return {
        "kommune": {"name": f.kommune.name, "bundesland": f.kommune.bundesland,
                    "bezeichnung": f"Stadt {f.kommune.name}"},
        "konzept": {"title": f.konzept.title, "kind": f.konzept.kind, "name": f.konzept_name(),
                    "fortschreibung_titel": f.titel(), "erstmals": f.erstmals()},
        "prozess": {"key": p.key, "plan": plan_of(p.plan).title,
                    "vorhaben": f.vorhaben(), "partner": p.partner,
                    "partner_kontakt": p.partner_contact,
                    "partner_zeile": partner or "keine",
                    "beginn": p.started_on},
    }  # fmt: skip


def person_ctx(person: Person | None) -> Context:
    if person is None:
        return {"name": "", "name_umgekehrt": "", "email": "", "funktion": "", "fachbereich": "",
                "fachbereich_zeile": "", "anrede": ""}  # fmt: skip
    return {
        "name": person.name, "name_umgekehrt": _reversed_name(person.name),
        "email": person.email or "", "funktion": person.funktion, "anrede": person.anrede,
        "fachbereich": person.fachbereich,
        "fachbereich_zeile": f"Fachbereich {person.fachbereich}" if person.fachbereich else "",
    }  # fmt: skip


def gendered(person: Person | None, masculine: str) -> str:
    """'Ansprechpartner' -> 'Ansprechpartnerin' for Frau, as is for Herr, 'Ansprechpartner/in'
    when nobody (or no Anrede) is known."""
    anrede = person.anrede if person else ""
    return {"Frau": f"{masculine}in", "Herr": masculine}.get(anrede, f"{masculine}/in")


def handlungsfelder_ctx(f: Facts) -> list[Context]:
    return [{"nummer": i, "title": h.title} for i, h in enumerate(f.handlungsfelder(), 1)]


# --- the Begründung ------------------------------------------------------------------------


Section = dict[str, Any]
LIST_MARK = "[[Liste]]"  # in an author's section: where the recorded lists stand


def section(title: str, prose: list[str], data: list[dict[str, Any]] | None = None) -> Section:
    return {"title": title, "prose": prose, "data": data or []}


def _with_lists(own: str, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The author's paragraphs with the recorded lists where ``[[Liste]]`` says, else after."""
    blocks: list[dict[str, Any]] = []
    placed = False
    for para in paragraphs(own):
        if para == LIST_MARK:
            blocks += data if not placed else []
            placed = True
        else:
            blocks.append(text(para.replace(LIST_MARK, "").strip()))
    return blocks if placed else blocks + data


def apply_overrides(sections: list[Section], overrides: dict[str, str]) -> list[Context]:
    """User text replaces a section's prose; recorded lists stay; new titles are appended.

    A section with nothing to say (no prose, no lists, no user text) is left out.
    """
    known = {s["title"] for s in sections}
    merged = [
        {"title": s["title"],
         "blocks": _with_lists(overrides[s["title"]], s["data"]) if s["title"] in overrides
         else [text(x) for x in s["prose"]] + s["data"]}
        for s in sections
    ]  # fmt: skip
    merged += [{"title": t, "blocks": _with_lists(v, [])} for t, v in overrides.items()
               if t not in known]  # fmt: skip
    return [m for m in merged if m["blocks"]]


def rueckblick(f: Facts) -> Section:
    versions = f.earlier_versions()
    if not versions:
        return section("Rückblick", [f"Das Konzept {_quoted(f.konzept.title)} wird in "
                                     f"{f.kommune.name} erstmals erarbeitet."])  # fmt: skip
    first, *later = versions
    name = f.konzept_name()
    label = first.label if first.label.startswith(name) else f"{name} {_quoted(first.label)}"
    fragment = f" {_bracketed(first.note)}" if first.note and not sentences(first.note) else ""
    prose = [f"{f.kommune.name} besitzt mit dem bisherigen {label}{fragment} einen "
             "richtungsweisenden Kompass, der die Grundlage für die Fortschreibung darstellt."]
    notes = [first.note] if first.note and not fragment else []
    notes += [v.note if sentences(v.note) else f"{v.label}: {v.note or 'abgeschlossen'}."
              for v in later]  # fmt: skip
    if notes:
        prose.append(" ".join(notes))
    return section("Rückblick", prose)


def _opens_with_resolution(f: Facts) -> bool:
    """Whether the plan's first stage is the council's Grundsatzbeschluss: it has a Vorlage of
    its own, or a Sitzung decides its gate. The resolution is then told in the Fortschreibung
    section (seed 002: "… wurde der Fortschreibung … zugestimmt"), never as a step of the
    Verlauf, whose first step is the first thing done after it."""
    first = f.plan.first
    return len(f.plan.stages) > 1 and (
        bool(first.gate.sitzung) or f.vorlage(first.key) is not None)  # fmt: skip


def _approved_as_object(betreff: str) -> str:
    """The dative object of "… wurde … zugestimmt": the Betreff (or title) is usually
    "Fortschreibung des …" or "Erarbeitung eines …", so "der …"; else "dem Vorhaben „…“"."""
    return f"der {betreff}" if betreff.startswith(PROCESS_NOUNS) \
        else f"dem Vorhaben {_quoted(betreff)}"  # fmt: skip


def _resolution_without_vorlage(f: Facts) -> str:
    """'In der Sitzung des HptA vom 31.08.2017 wurde der Fortschreibung … zugestimmt.': the
    council's approval of the first gate, when it had no Vorlage of its own to cite.

    Only what the paper may say as of its date and in public: nothing before the approval is
    recorded, and nothing when the deciding Sitzung was nichtöffentlich (a Vorlage only ever
    before nichtöffentliche Sitzungen is not cited either). The Sitzung is the one the plan
    says decides the gate; the gate's reference is left out, as it may be a Vorlage's or a
    Beschluss's number.
    """
    spec = f.plan.first
    stage = f.stage(spec.key)
    if not (_opens_with_resolution(f) and spec.gate.sitzung and stage is not None):
        return ""
    if not any(d.outcome == "approve" and f.known(d.decided_on) for d in f.decisions(stage)):
        return ""
    bound = f.bound_sitzung(spec.gate.sitzung)
    if bound is None or not bound[0].oeffentlich:
        return ""
    sitzung, gremium = bound
    return (f"In der Sitzung {genitive(gremium)} vom {short_de(sitzung.start.date())} wurde "
            f"{_approved_as_object(f.titel())} zugestimmt.")  # fmt: skip


def grundsatzbeschluss(f: Facts) -> str:
    """'In den Sitzungen des BSV vom 05.04.2017 (Sitzungsvorlage BSV 3/2017) und …'."""
    first = f.vorlage(f.plan.first.key)
    if first is None:
        return _resolution_without_vorlage(f)
    # The paper may go out publicly (OParl's mainFile): it cites only the public Beratungen
    # of the earlier Vorlage, as the public API shows them (oparl.objects.beratung_shown);
    # a Vorlage only ever before nichtöffentliche Sitzungen is not cited at all.
    public = [(b, s, g) for b, s, g in f.beratungen(first) if b.oeffentlich and s.oeffentlich]
    if not public:
        return ""
    parts = []
    for n, (_beratung, sitzung, gremium) in enumerate(public):
        ref = f" ({first.art} {first.reference})" if n == 0 else ""
        parts.append(f"{genitive(gremium)} vom {short_de(sitzung.start.date())}{ref}")
    stage = f.stage(first.stage_key)
    decided = [d for d in f.decisions(stage) if d.outcome == "approve"
               and f.known(d.decided_on)] if stage else []  # fmt: skip
    verb, tail = ("wurde", "zugestimmt") if decided else ("soll", "zugestimmt werden")
    where = "In der Sitzung" if len(parts) == 1 else "In den Sitzungen"
    return f"{where} {join_de(parts)} {verb} {_approved_as_object(first.betreff)} {tail}."


_ARTICLES = (("institut", "das"), ("büro", "das"), ("zentrum", "das"), ("amt", "das"),
             ("akademie", "die"), ("hochschule", "die"), ("universität", "die"),
             ("agentur", "die"), ("gesellschaft", "die"), ("gmbh", "die"), ("stiftung", "die"),
             ("verein", "den"), ("verband", "den"))  # fmt: skip


def _accusative(name: str) -> str:
    """'Institut für …' -> 'das Institut für …'; a name with no known head noun stays bare."""
    head = name.split()[0].lower() if name.split() else ""
    article = next((a for suffix, a in _ARTICLES if head.endswith(suffix)), "")
    return f"{article} {name}" if article else name


def funding_sentence(f: Facts, proposal: bool) -> str:
    p = f.p
    if not (p.funding_source or p.funding_amount):
        return ""
    amount = f" in Höhe von {euro(p.funding_amount)}" if p.funding_amount else ""
    source = f" im Rahmen der {_quoted(p.funding_source)}" if p.funding_source else ""
    applied = f.known(p.funding_applied_on) or (p.funding_applied_on is None and not proposal)
    if f.known(p.funding_granted_on):
        state = "wurde ein Förderantrag{what} gestellt und bewilligt"
    elif applied:
        state = "wurde ein Förderantrag{what} gestellt"
    else:
        state = "wird ein Förderantrag{what} gestellt"
    return f"Zur Finanzierung {state.format(what=source + amount)}."


def partner_sentence(f: Facts, proposal: bool) -> str:
    p = f.p
    if not p.partner:
        return ""
    contact = ""
    if p.partner_contact:
        person = next((x for x in f.personen().values()
                       if x.name == p.partner_contact), None)  # fmt: skip
        title = {"Frau": "Frau ", "Herr": "Herrn "}.get(person.anrede if person else "", "")
        contact = f" unter Leitung von {title}{p.partner_contact}"
    if proposal:
        return f"Für die externe wissenschaftliche Begleitung soll {_accusative(p.partner)}" \
               f"{contact} gewonnen werden."
    return f"Für die externe wissenschaftliche Begleitung wurde {_accusative(p.partner)}" \
           f"{contact} gewonnen."


def fortschreibung(f: Facts, proposal: bool = False) -> Section:
    """Resolution, funding, partner, emphasis, Handlungsfelder; ``proposal``: before it."""
    p = f.p
    prose = [] if proposal else [s for s in [grundsatzbeschluss(f)] if s]
    prose += [s for s in (funding_sentence(f, proposal), partner_sentence(f, proposal)) if s]
    prose += list(p.schwerpunkte)
    fields = f.handlungsfelder()
    data = []
    if fields:
        verb = "sind vorgesehen" if proposal else "wurden definiert"
        prose.append(f"Folgende Handlungsfelder {verb}:")
        data = [item(f"{i}.", h.title) for i, h in enumerate(fields, 1)]
    data += [text(x) for x in p.leitgedanken]
    return section(f.vorhaben(), prose, data)


def _ag_session_span(f: Facts) -> tuple[int, dt.datetime | None, dt.datetime | None]:
    ids = [ag.id for ag in f.arbeitsgruppen()]
    if not ids:
        return 0, None, None
    rows = f.all(AgSitzung, col(AgSitzung.arbeitsgruppe_id).in_(ids), order=AgSitzung.start)
    return len(rows), (rows[0].start if rows else None), (rows[-1].start if rows else None)


NUMBERS = ("null", "eine", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
           "zehn", "elf", "zwölf")  # fmt: skip
NOMINATIVE = ("erste", "zweite", "dritte", "vierte", "fünfte", "sechste", "siebte")


def _number(n: int) -> str:
    return NUMBERS[n] if n < len(NUMBERS) else str(n)


def invited_dative(workshop: Workshop) -> str:
    """Who was invited, to follow "aus": the dative the scenario gives, else its list of
    organisations as names after "den Bereichen" (a list after a colon would break the
    sentence it stands in: "Gemeinsam mit … aus folgenden Bereichen: A, B und C wollen wir")."""
    if workshop.teilnehmerkreis:
        return workshop.teilnehmerkreis
    names = list(workshop.invited_organisations)
    if not names:
        return ""
    return f"dem Bereich {names[0]}" if len(names) == 1 else f"den Bereichen {join_de(names)}"


def _workshop_step(f: Facts, acc: str, workshop: Workshop) -> list[str]:
    who = (f"aus {invited_dative(workshop)}" if workshop.teilnehmerkreis
           or workshop.invited_organisations else "aus Verwaltung und Bürgerschaft")
    out = [f"Den {acc} Schritt bildete der {workshop.title} am "
           f"{short_de(workshop.start.date())} mit Vertreterinnen und Vertretern {who}."]
    groups = f.arbeitsgruppen()
    # one group is named, several are counted; none recorded: no sentence about groups
    if len(groups) == 1:
        out.append(f"Hier wurde die Arbeitsgruppe {_quoted(groups[0].title)} gebildet.")
    elif groups:
        out.append(f"Hier wurden {_number(len(groups))} Arbeitsgruppen zu den verschiedenen "
                   "Themenschwerpunkten gebildet.")  # fmt: skip
    if workshop.ag_moderation and groups:
        these = "diese Arbeitsgruppe" if len(groups) == 1 else "diese Arbeitsgruppen"
        verb = "Moderiert wurde" if len(groups) == 1 else "Moderiert wurden"
        out.append(f"{verb} {these} durch {workshop.ag_moderation}.")
    if workshop.schulung:
        out.append("Für die Moderatorinnen und Moderatoren fand im Vorfeld eine Schulung durch "
                   f"{workshop.schulung} statt.")  # fmt: skip
    return out


def _ag_findings(f: Facts) -> str:
    """'Dabei wurden …': only what the working groups recorded (inventory, recommendations,
    Schlüsselprojekte), in the words of seed 002."""
    groups = f.arbeitsgruppen()
    ids = [ag.id for ag in groups]
    found = []
    if any(ag.bestandsaufnahme.strip() for ag in groups):
        found.append("die bestehenden Angebote vorgestellt und diskutiert")
    if ids and f.all(Empfehlung, col(Empfehlung.arbeitsgruppe_id).in_(ids)):
        found.append("Empfehlungen erarbeitet")
    if any(f.schluesselprojekte().values()):
        found.append("Vorschläge für Schlüsselprojekte gemacht")
    return f"Dabei wurden {join_de(found)}." if found else ""


def _ag_step(f: Facts, acc: str, nom: str, stage: Stage) -> list[str]:
    """The working groups' step: their sessions counted (0, 1, n) and what they recorded."""
    groups = f.arbeitsgruppen()
    if not groups:
        return [f"Der {nom} Schritt war die Phase {_quoted(stage.title)}."]
    where = (f" der Arbeitsgruppe {_quoted(groups[0].title)}" if len(groups) == 1
             else " zu den einzelnen Handlungsfeldern")  # fmt: skip
    count, first, last = _ag_session_span(f)
    if count and first and last:
        span = (f" am {short_de(first.date())}" if first.date() == last.date()
                else f" zwischen dem {short_de(first.date())} und dem {short_de(last.date())}")
        workshop = f.workshop()
        moderated = any(ag.moderator_id for ag in groups) or bool(
            workshop and workshop.ag_moderation)  # fmt: skip
        noun = ("moderierte " if moderated else "") + "Arbeitsgruppensitzung" + \
            ("" if count == 1 else "en")  # fmt: skip
        verb = "bildete" if count == 1 else "bildeten"
        out = [f"Den {acc} Schritt {verb} {_number(count)} {noun}{span}{where}."]
    else:  # no session recorded: the groups' work, without a number or dates
        whose = (f"der Arbeitsgruppe {_quoted(groups[0].title)}" if len(groups) == 1
                 else "der Arbeitsgruppen zu den einzelnen Handlungsfeldern")  # fmt: skip
        out = [f"Den {acc} Schritt bildete die Arbeit {whose}."]
    findings = _ag_findings(f)
    return out + ([findings] if findings else [])


def _step_text(f: Facts, stage: Stage, spec: StageDef, n: int) -> str:
    """One step of the process in the words of seed 002 ('Den ersten Schritt bildete …')."""
    acc = ORDINALS[n] if n < len(ORDINALS) else f"{n + 1}."
    nom = NOMINATIVE[n] if n < len(NOMINATIVE) else f"{n + 1}."
    workshop = f.workshop()
    if spec.verlauf == "workshop" and workshop is not None:
        out = _workshop_step(f, acc, workshop)
    elif spec.verlauf == "arbeitsgruppen":
        out = _ag_step(f, acc, nom, stage)
    elif spec.verlauf == "auswertung":
        out = [f"Der {nom} Schritt bestand in der Auswertung und Verschriftlichung der "
               "Ergebnisse."]  # fmt: skip
    else:
        out = [f"Der {nom} Schritt war die Phase {_quoted(stage.title)}."]
    if stage.ergebnis and f.known(stage.closed_on):
        out.append(" ".join(stage.ergebnis.split()))
    return " ".join(out)


def verlauf(f: Facts, vorlage: Vorlage | None) -> Section:
    """The steps between the Grundsatzbeschluss (if the plan starts with one) and this Vorlage:
    what each did, as the plan says which facts tell it; log remarks never appear."""
    told = {vorlage.stage_key if vorlage is not None else f.plan.last.key}
    if _opens_with_resolution(f):  # with or without a Vorlage of its own: no "Phase" step
        told.add(f.plan.first.key)
    steps = [st for st in f.stages() if st.key not in told
             and (st.opened_on is None or f.known(st.opened_on) or f.as_of is None)]  # fmt: skip
    prose = [_step_text(f, st, f.plan.stage(st.key), n) for n, st in enumerate(steps)]
    return section(f"Verlauf des {f.vorhaben()}sprozesses", prose)


def _results_by_group(f: Facts) -> list[dict[str, Any]]:
    blocks = []
    for ag in f.arbeitsgruppen():
        projects = f.schluesselprojekte()[ag.id]
        if not projects:
            continue
        blocks.append(heading(f"Handlungsfeld {_quoted(ag.title)}"))
        for project in projects:
            blocks += [text(x) for x in paragraphs(project.description or project.title)]
    return blocks


def fazit(f: Facts) -> Section:
    lists = _results_by_group(f)
    prose = ["Es wurden zahlreiche Ideen und Empfehlungen eingebracht. Eine erste Orientierung "
             "geben die vorgeschlagenen Schlüsselprojekte für die jeweiligen "
             "Handlungsfelder:"] if lists else []  # fmt: skip
    return section("Fazit", prose, lists)


def wie_weiter(f: Facts, vorlage: Vorlage) -> Section:
    prose = []
    steps = [f"{g.name} am {short_de(s.start.date())} ({b.role.value})"
             for b, s, g in f.beratungen(vorlage)]  # fmt: skip
    if steps:
        prose.append(f"Die Vorlage wird in folgender Beratungsfolge behandelt: {join_de(steps)}.")
    prose.append("Über die weiteren Schritte werden die Beteiligten fortlaufend informiert.")
    return section("Wie geht es weiter", prose)


def finanzen(f: Facts) -> list[str]:
    p, lines = f.p, []
    if p.budget_amount and (p.budget_on is None or f.known(p.budget_on)):
        note = p.budget_note or f"für Maßnahmen der {f.vorhaben()}"
        lines.append(f"{note[0].upper()}{note[1:]} sind {euro(p.budget_amount)} eingestellt.")
    if p.funding_amount:
        state = ("bewilligt" if f.known(p.funding_granted_on)
                 else "beantragt" if f.known(p.funding_applied_on) else "zu beantragen")
        source = f" {_bracketed(p.funding_source)}" if p.funding_source else ""
        lines.append(f"Fördermittel{source}: {euro(p.funding_amount)}, {state}.")
    return lines or ["Keine."]


def begruendung_final(f: Facts, vorlage: Vorlage) -> list[Section]:
    return [rueckblick(f), fortschreibung(f), verlauf(f, vorlage), fazit(f),
            wie_weiter(f, vorlage)]  # fmt: skip


def begruendung_start(f: Facts, vorlage: Vorlage) -> list[Section]:
    """The Grundsatzbeschluss: why revise, what the process will be, with its planned dates."""
    # A stage's description is printed only when the plan gives whole sentences: a note
    # ("Thementische je Handlungsfeld; …") is the planner's, not a sentence of a council paper.
    ablauf = [item(f"{i}.", f"{st.title}: {' '.join(st.description.split())}"
                   if sentences(st.description) and ";" not in st.description else st.title)
              for i, st in enumerate(f.plan.stages, 1)]  # fmt: skip
    dates = _planned_dates(f)
    closing = [f"Geplante Termine: {'; '.join(dates)}."] if dates else []
    return [
        rueckblick(f),
        fortschreibung(f, proposal=True),
        section(
            "Geplanter Ablauf",
            [f"Die {f.vorhaben()} gliedert sich in folgende Schritte:"],
            ablauf + [text(x) for x in closing],
        ),  # fmt: skip
    ]


def _planned_dates(f: Facts) -> list[str]:
    dates = []
    workshop = f.workshop()
    if workshop is not None:
        dates.append(f"{workshop.title} am {short_de(workshop.start.date())}")
    final = f.vorlage(f.plan.last.key)
    if final is not None:
        dates += [f"{b.role.value} {_dative(g)} am {short_de(s.start.date())}"
                  for b, s, g in f.beratungen(final)]  # fmt: skip
    return dates


FINANZEN = "Finanzielle Auswirkungen"
BETREFF, VORSCHLAG = "Betreff", "Beschlussvorschlag"


@dataclass(frozen=True)
class Draft:
    """One section of a Vorlage: the text generated from the process and whether it has lists."""

    title: str
    generated: str
    has_lists: bool


def _vorlage_or_error(f: Facts, stage_key: str) -> Vorlage:
    vorlage = f.vorlage(stage_key)
    if vorlage is None:
        problem = f"das Szenario hat keine Vorlage für die Phase {quoted(stage_key)}"
        raise InputError(f.p.key, f"vorlagen[{stage_key}]", problem)
    return vorlage


def paper_date(f: Facts, vorlage: Vorlage) -> dt.date:
    """The day a Vorlage is dated and states its facts as of: the author's ``dated``, else the
    Vorlagenschluss of the first Sitzung of its Beratungsfolge, else the day it is written.

    A clerk's paper always carries a date. Without the author's, the Vorlagenschluss is the
    honest one: the paper is at the council office by then, so it cannot be dated later, and
    it is the plan's own rule for a paper sent out (dated by the due day of the task that
    sends it). It is also the same on every run: a paper regenerated tomorrow from the same
    facts stays the same version instead of becoming a new one dated tomorrow. Only a Vorlage
    without any Beratung (a scenario always gives one) is dated the day it is generated.
    """
    if vorlage.dated:
        return vorlage.dated
    beratungen = f.beratungen(vorlage)
    if not beratungen:
        return dt.date.today()
    _beratung, sitzung, gremium = min(beratungen, key=lambda row: row[1].start)
    return vorlagenschluss_of(for_kommune(f.kommune), sitzung, gremium)


def _is_final(f: Facts, stage_key: str) -> bool:
    return stage_key != f.plan.first.key or len(f.plan.stages) == 1


def drafts(session: Session, process: Fortschreibung, stage_key: str) -> list[Draft]:
    """Every section an author may own, as generated from the process as of the Vorlage's date:
    the Betreff and Beschlussvorschlag as the scenario gave them, each Begründung section,
    the Finanzielle Auswirkungen. The editor, the CLI and the staleness check share this."""
    f = Facts(session, process)
    vorlage = _vorlage_or_error(f, stage_key)
    f.as_of = paper_date(f, vorlage)  # as the rendered paper states them
    scenario: dict[str, Any] = next((v for v in (process.scenario or {}).get("vorlagen", [])
                     if v.get("stage") == stage_key), {})  # fmt: skip
    build = begruendung_final if _is_final(f, stage_key) else begruendung_start
    out = [Draft(BETREFF, scenario.get("betreff", vorlage.betreff), False),
           Draft(VORSCHLAG, scenario.get("beschlussvorschlag", vorlage.beschlussvorschlag),
                 False)]  # fmt: skip
    out += [Draft(s["title"], "\n\n".join(s["prose"]), bool(s["data"])) for s in build(f, vorlage)]
    out.append(Draft(FINANZEN, "\n\n".join(finanzen(f)), False))
    return out


def stale_sections(session: Session, process: Fortschreibung, stage_key: str) -> list[str]:
    """Sections the author has edited whose draft from the process has changed since: a newer
    fact would change them, so they are flagged, never silently overwritten."""
    f = Facts(session, process)
    vorlage = _vorlage_or_error(f, stage_key)
    versions = f.all(VorlageVersion, VorlageVersion.vorlage_id == vorlage.id,
                     order=col(VorlageVersion.version).desc())  # fmt: skip
    if not versions:
        return []
    now = {d.title: d.generated for d in drafts(session, process, stage_key)}
    seen: set[str] = set()
    stale = []
    for version in versions:  # the newest basis of each section counts
        for title, basis in (version.basis or {}).items():
            if title in seen:
                continue
            seen.add(title)
            edited = title in vorlage.begruendung or title in (BETREFF, VORSCHLAG)
            if edited and title in now and now[title] != basis:
                stale.append(title)
    return [d for d in now if d in stale]


def _signatures(f: Facts, vorlage: Vorlage, author: Person | None) -> list[Context]:
    """The signature block: who co-signs, then the author as Ersteller/in."""
    rows = [{"funktion": m.get("funktion", ""), "name": m.get("name", "")}
            for m in vorlage.mitzeichnung]  # fmt: skip
    if author is not None:
        rows.append({"funktion": gendered(author, "Ersteller"), "name": author.name})
    return rows


def vorlage_ctx(f: Facts, stage_key: str, final: bool) -> Context:
    vorlage = _vorlage_or_error(f, stage_key)
    f.as_of = dated = paper_date(f, vorlage)
    author = f.person(vorlage.author_id)
    sections = (begruendung_final if final else begruendung_start)(f, vorlage)
    fin = finanzen(f)
    if FINANZEN in vorlage.begruendung:
        fin = paragraphs(vorlage.begruendung[FINANZEN])
    overrides = {k: v for k, v in vorlage.begruendung.items() if k != FINANZEN}
    return {
        **common(f),
        "vorlage": {
            "art": vorlage.art, "reference": vorlage.reference, "fachbereich": vorlage.fachbereich,
            "betreff": vorlage.betreff, "beschlussvorschlag": vorlage.beschlussvorschlag,
            "datum": dated,
            "ort_datum": f"{f.kommune.name}, {short_de(dated)}",
        },
        "beratungsfolge": [
            {"gremium": g.name, "gremium_kurz": g.short, "datum": s.start.date(),
             "rolle": b.role.value,
             "oeffentlichkeit": "öffentlich" if b.oeffentlich else "nichtöffentlich"}
            for b, s, g in f.beratungen(vorlage)
        ],
        "begruendung": apply_overrides(sections, overrides),
        "finanzen": fin,
        "ansprechpartner": {**person_ctx(author),
                            "bezeichnung": gendered(author, "Ansprechpartner")},
        "beteiligte": list(vorlage.beteiligte),
        "zeichnung": _signatures(f, vorlage, author),
        "anlagen": list(vorlage.anlagen) or ["keine"],
        "eigenschaften": properties(vorlage.betreff, author, dated),
    }  # fmt: skip


def properties(title: str, author: Person | None, dated: dt.date | None) -> Context:
    """The Word file's title, author and creation date: the paper's, not the generator's."""
    return {"titel": title, "autor": author.name if author else "", "datum": dated}


# --- builders per kind ---------------------------------------------------------------------


def beschlussvorlage(
    session: Session, process: Fortschreibung, kind: str, stage_key: str
) -> Context:
    f = Facts(session, process)
    return vorlage_ctx(f, plan_of(process.plan).first.key, final=False)


def sitzungsvorlage(
    session: Session, process: Fortschreibung, kind: str, stage_key: str
) -> Context:
    f = Facts(session, process)
    return vorlage_ctx(f, plan_of(process.plan).last.key, final=True)


def vorlage_stage(process: Fortschreibung, kind: str) -> str | None:
    """The stage whose Vorlage the document ``kind`` prints: the Beschlussvorlage the first
    stage's, the Sitzungsvorlage the last one's; None for a kind that prints no Vorlage."""
    plan = plan_of(process.plan)
    return {"beschlussvorlage": plan.first.key, "sitzungsvorlage": plan.last.key}.get(kind)


def _workshop_or_error(f: Facts) -> Workshop:
    workshop = f.workshop()
    if workshop is None:
        raise InputError(f.p.key, "workshop", "das Szenario beschreibt keinen Workshop")
    return workshop


def workshop_ctx(f: Facts) -> Context:
    w = _workshop_or_error(f)
    return {
        "title": w.title, "datum": w.start, "ort": w.place or "wird noch bekannt gegeben",
        "moderation": w.moderation or "Projektleitung",
        "eingeladen": list(w.invited_organisations),
        "eingeladen_text": invited_dative(w) or "der Stadtgesellschaft",
        "erwartete_teilnehmer": w.expected_participants or 0,
    }  # fmt: skip


def workshop_einladung(
    session: Session, process: Fortschreibung, kind: str, stage_key: str
) -> Context:
    f = Facts(session, process)
    w = _workshop_or_error(f)
    # The plan names the task that sends the invitation: its due date dates the letter.
    sender = f.plan.sender_of(kind)
    sent = f.task(sender.key) if sender else None
    sent_on = sent.due if sent and sent.due else w.start.date() - dt.timedelta(days=28)
    absender = f.role_holder("projektleitung")
    return {
        **common(f), "workshop": workshop_ctx(f), "handlungsfelder": handlungsfelder_ctx(f),
        "absender": person_ctx(absender),
        "einladung": {"datum": sent_on, "ort_datum": f"{f.kommune.name}, {short_de(sent_on)}",
                      "antwort_bis": w.start.date() - dt.timedelta(days=7)},
        "eigenschaften": properties(f"Einladung zum {w.title}", absender, sent_on),
    }  # fmt: skip


def _default_programme(f: Facts, start: dt.datetime) -> list[Context]:
    """Programme of a kickoff as the seeds describe it, when the scenario gives none."""
    steps = [(0, "Begrüßung"),
             (15, "Anlass und Ziele der Erarbeitung" if f.erstmals()
              else "Rückblick auf das bisherige Konzept und Ziele der Fortschreibung"),
             (45, f"Einführung in den Prozess {_bracketed(f.p.partner or 'Projektleitung')}"),
             (75, "Thementische je Handlungsfeld: Bestandsaufnahme und erste Ideen"),
             (150, "Pause"), (165, "Vorstellung der Ergebnisse, Bildung der Arbeitsgruppen"),
             (210, "Ausblick und Verabschiedung")]  # fmt: skip
    return [{"zeit": f"{start + dt.timedelta(minutes=m):%H:%M} Uhr", "titel": t} for m, t in steps]


def workshop_programm(
    session: Session, process: Fortschreibung, kind: str, stage_key: str
) -> Context:
    f = Facts(session, process)
    w = _workshop_or_error(f)
    # the scenario's format says time/item (schemas/scenario.json)
    given = [{"zeit": str(p.get("time", "")), "titel": str(p.get("item", ""))}
             for p in w.programme]  # fmt: skip
    return {**common(f), "workshop": workshop_ctx(f), "handlungsfelder": handlungsfelder_ctx(f),
            "programm": given or _default_programme(f, w.start),
            "eigenschaften": properties(f"Programm: {w.title}", f.role_holder("projektleitung"),
                                        w.start.date())}  # fmt: skip


def workshop_teilnehmerliste(
    session: Session, process: Fortschreibung, kind: str, stage_key: str
) -> Context:
    f = Facts(session, process)
    w = _workshop_or_error(f)
    rows = [{"nummer": i, "name": n, "organisation": ""} for i, n in enumerate(w.participants, 1)]
    # Blank lines to sign in on: as many as expected, at least a page.
    blanks = max((w.expected_participants or 0) - len(rows), 0 if rows else 20)
    start = len(rows)
    rows += [{"nummer": start + i, "name": "", "organisation": ""} for i in range(1, blanks + 1)]
    return {**common(f), "workshop": workshop_ctx(f), "teilnehmer": rows,
            "eigenschaften": properties(f"Teilnehmerliste: {w.title}",
                                        f.role_holder("projektleitung"),
                                        w.start.date())}  # fmt: skip


def _ag_ctx(ag: Arbeitsgruppe, fields: dict[int, str], moderator: Person | None,
            sessions: list[AgSitzung], projects: list[Schluesselprojekt],
            advice: list[Empfehlung]) -> Context:  # fmt: skip
    return {
        "key": ag.key, "title": ag.title, "handlungsfeld": fields.get(ag.handlungsfeld_id, ""),
        "moderation": (f"{moderator.name} ({moderator.email})" if moderator and moderator.email
                       else moderator.name if moderator else "Projektleitung"),
        "sitzungen": [{"nummer": s.number, "datum": s.start, "ort": s.place,
                       "notizen": paragraphs(s.notes)} for s in sessions],
        "ort_offen": any(not s.place for s in sessions),
        "bestandsaufnahme": paragraphs(ag.bestandsaufnahme),
        "empfehlungen": [{"nummer": i, "text": e.text} for i, e in enumerate(advice, 1)],
        "schluesselprojekte": [{"title": p.title, "beschreibung": paragraphs(p.description)}
                               for p in projects],
        "ergebnis": paragraphs(ag.ergebnis),
    }  # fmt: skip


def arbeitsgruppen_ctx(f: Facts) -> list[Context]:
    fields = {ident(h): h.title for h in f.handlungsfelder()}
    ags = f.arbeitsgruppen()
    ids = [ag.id for ag in ags]
    # each child table (and the moderators) once for all Arbeitsgruppen, not once per AG
    sessions = _by_ag(f.all(AgSitzung, col(AgSitzung.arbeitsgruppe_id).in_(ids),
                            order=AgSitzung.number))  # fmt: skip
    projects = _by_ag(f.all(Schluesselprojekt, col(Schluesselprojekt.arbeitsgruppe_id).in_(ids),
                            order=Schluesselprojekt.position))  # fmt: skip
    advice = _by_ag(f.all(Empfehlung, col(Empfehlung.arbeitsgruppe_id).in_(ids),
                          order=Empfehlung.position))  # fmt: skip
    moderators = {ident(p): p for p in f.all(Person, col(Person.id).in_(
        {ag.moderator_id for ag in ags if ag.moderator_id}))}  # fmt: skip
    return [_ag_ctx(ag, fields, moderators.get(ag.moderator_id or 0),
                    sessions.get(ident(ag), []), projects.get(ident(ag), []),
                    advice.get(ident(ag), [])) for ag in ags]  # fmt: skip


def _sent_on(f: Facts, kind: str, stage_key: str) -> dict[str, dt.date | None]:
    """The day each group's letter ``kind`` goes out, by the group's key: the due date of the
    task the plan names as sending it (one per group, or one for all), else the day the
    stage opened; None when neither is known yet."""
    sender = f.plan.sender_of(kind)
    stage = f.stage(stage_key)
    fallback = stage.opened_on if stage else None
    if sender is None:
        return {ag.key: fallback for ag in f.arbeitsgruppen()}
    keys = [f"{sender.key}__{ag.key}" for ag in f.arbeitsgruppen()] + [sender.key]
    due = {t.key: t.due for t in f.all(Task, Task.fortschreibung_id == f.p.id,
                                       col(Task.key).in_(keys))}  # fmt: skip
    return {ag.key: due.get(f"{sender.key}__{ag.key}") or due.get(sender.key) or fallback
            for ag in f.arbeitsgruppen()}  # fmt: skip


def _by_ag(rows: list[Any]) -> dict[int, list[Any]]:
    """Rows of an Arbeitsgruppe's child table by its id, each list in the rows' order."""
    out: dict[int, list[Any]] = {}
    for row in rows:
        out.setdefault(row.arbeitsgruppe_id, []).append(row)
    return out


def ag_dokument(session: Session, process: Fortschreibung, kind: str, stage_key: str) -> Context:
    f = Facts(session, process)
    workshop = f.workshop()
    lead = f.role_holder("projektleitung")
    first = f.all(AgSitzung, col(AgSitzung.arbeitsgruppe_id).in_(
        [ag.id for ag in f.arbeitsgruppen()]), order=AgSitzung.start)  # fmt: skip
    groups = arbeitsgruppen_ctx(f)
    if kind == "ag_einladung":  # each group's letter dated as the workshop's invitation is
        sent = _sent_on(f, kind, stage_key)
        for ag in groups:
            day = sent.get(ag["key"])
            ag["ort_datum"] = f"{f.kommune.name}, {short_de(day)}" if day else ""
    return {**common(f), "arbeitsgruppen": groups, "absender": person_ctx(lead),
            "workshop": {"title": workshop.title if workshop else "Auftaktworkshop"},
            "eigenschaften": properties(KINDS[kind].title if kind in KINDS else kind, lead,
                                        first[0].start.date() if first else None)}  # fmt: skip


def _ergebnisse_kapitel(f: Facts) -> Section:
    data = []
    for ag in arbeitsgruppen_ctx(f):
        data.append(heading(f"Arbeitsgruppe {_quoted(ag['title'])}"))
        if not (ag["bestandsaufnahme"] or ag["empfehlungen"] or ag["schluesselprojekte"]
                or ag["ergebnis"]):  # no heading standing alone over nothing
            data.append(text("Für diese Arbeitsgruppe sind keine Ergebnisse verzeichnet."))
        data += [text(x) for x in ag["bestandsaufnahme"]]
        if ag["empfehlungen"]:
            many = len(ag["empfehlungen"]) > 1
            data.append(text(f"Die Arbeitsgruppe empfiehlt{':' if many else ''}"
                             f"{'' if many else ' Folgendes:'}"))  # fmt: skip
            data += [item(f"{e['nummer']}.", e["text"]) for e in ag["empfehlungen"]]
        for p in ag["schluesselprojekte"]:
            data.append(text(f"Schlüsselprojekt {_quoted(p['title'])}:"))
            data += [text(x) for x in p["beschreibung"]]
        data += [text(x) for x in ag["ergebnis"]]
    return section("Ergebnisse der Arbeitsgruppen", [], data)


def abschlussbericht(
    session: Session, process: Fortschreibung, kind: str, stage_key: str
) -> Context:
    f = Facts(session, process)
    # the report is as of the close of the stage whose gate lists it
    stage = f.stage(stage_key) or f.stages()[-1]
    stand = stage.closed_on or stage.opened_on or process.started_on
    final = f.vorlage(f.plan.last.key)
    sections = [rueckblick(f), fortschreibung(f), verlauf(f, final), _ergebnisse_kapitel(f)]
    if final is not None:
        sections.append(wie_weiter(f, final))
    return {**common(f), "bericht": {"stand": short_de(stand)},
            "kapitel": apply_overrides(sections, {}),
            "eigenschaften": properties(f"Abschlussbericht: {f.konzept.title}",
                                        f.role_holder("projektleitung"), stand)}  # fmt: skip


def stage_bericht(session: Session, process: Fortschreibung, kind: str, stage_key: str) -> Context:
    """Generic: a stage, its tasks with German dates and the gate decision."""
    f = Facts(session, process)
    spec = f.plan_stage(stage_key)  # first: a key the plan does not know raises KeyError
    stage = required(f.stage(stage_key), f"Phase {quoted(stage_key)}")
    tasks = f.all(Task, Task.stage_id == stage.id, order=Task.position)
    span = " bis ".join(short_de(d) for d in (stage.opened_on, stage.closed_on) if d)
    outcome = {"approve": "genehmigt", "send_back": "zurückverwiesen", "postpone": "vertagt"}
    return {
        **common(f),
        "dokument": {"kind": kind, "titel": f"Bericht zur Phase {_quoted(stage.title)}"},
        "stage": {"key": stage.key, "title": stage.title, "zeitraum": span or "noch nicht begonnen",
                  "beschreibung": paragraphs(spec.description)},
        "aufgaben": [{"title": t.title, "zustaendig": _name(f, t.assignee_id),
                      "faellig": short_de(t.due) if t.due else "",
                      "erledigt": short_de(t.done_on) if t.state == TaskState.done and t.done_on
                      else "offen"} for t in tasks],
        "gate": {"title": spec.gate.title,
                 "condition": spec.gate.condition,
                 "entscheidungen": [
                     f"{short_de(d.decided_on)}: {outcome.get(d.outcome.value, d.outcome.value)}"
                     f"{f' ({d.reference})' if d.reference else ''}"
                     f"{f', {d.remarks}' if d.remarks else ''}" for d in f.decisions(stage)
                 ] or ["Noch nicht entschieden."]},
        "eigenschaften": properties(f"Bericht zur Phase {_quoted(stage.title)}",
                                    f.role_holder("projektleitung"),
                                    stage.closed_on or stage.opened_on),
    }  # fmt: skip


def _name(f: Facts, person_id: int | None) -> str:
    person = f.person(person_id)
    return person.name if person else ""


def _current_stage_key(f: Facts) -> str:
    current = f.s.get(Stage, f.p.current_stage_id) if f.p.current_stage_id else None
    return current.key if current else f.stages()[-1].key


def _sachstandsbericht(session: Session, process: Fortschreibung, kind: str,
                       stage_key: str) -> Context:  # fmt: skip
    from .doc_sachstand import build  # it builds on this module's parts

    return build(session, process, kind, stage_key)


# --- registry ------------------------------------------------------------------------------


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("beschlussvorlage", "Beschlussvorlage (Grundsatzbeschluss)", "beschlussvorlage",
         beschlussvorlage),
    Kind("workshop_einladung", "Einladung zum Auftaktworkshop", "workshop_einladung",
         workshop_einladung),
    Kind("workshop_programm", "Programm des Auftaktworkshops", "workshop_programm",
         workshop_programm),
    Kind("workshop_teilnehmerliste", "Teilnehmerliste des Auftaktworkshops",
         "workshop_teilnehmerliste", workshop_teilnehmerliste),
    Kind("ag_einladung", "Einladungen der Arbeitsgruppen", "ag_einladung", ag_dokument),
    Kind("ag_protokoll", "Protokolle der Arbeitsgruppen", "ag_protokoll", ag_dokument),
    Kind("abschlussbericht", "Abschlussbericht", "abschlussbericht", abschlussbericht),
    Kind("sitzungsvorlage", "Sitzungsvorlage", "sitzungsvorlage", sitzungsvorlage),
    Kind("stage_bericht", "Bericht einer Phase", "stage_bericht", stage_bericht),
    Kind("sachstandsbericht", "Sachstandsbericht zur Umsetzung", "sachstandsbericht",
         _sachstandsbericht),
)}  # fmt: skip


def kind_title(kind: str) -> str:
    """A document kind as people name it ("Beschlussvorlage (Grundsatzbeschluss)"); a kind
    this version does not know (one an older database recorded) from its key."""
    return KINDS[kind].title if kind in KINDS else kind.replace("_", " ").capitalize()


def stage_of(process: Fortschreibung, kind: str) -> str | None:
    """The stage whose gate lists ``kind`` among its documents."""
    stage = plan_of(process.plan).stage_of_document(kind)
    return stage.key if stage else None


def kind_for(process: Fortschreibung, kind: str) -> Kind:
    """The registered kind; a kind only the plan names gets the generic stage report.

    Anything else is an error, so a typo on the command line does not quietly produce a
    generic report.
    """
    if kind in KINDS:
        return KINDS[kind]
    if stage_of(process, kind) is not None:
        generic = KINDS["stage_bericht"]
        return Kind(kind, kind, kind, generic.build)
    raise InputError("docs", "kind", f"unbekannte Dokumentart {quoted(kind)}; bekannt: "
                     f"{', '.join(sorted(set(KINDS) | set(plan_kinds(process))))}")  # fmt: skip


def plan_kinds(process: Fortschreibung) -> list[str]:
    return plan_of(process.plan).document_kinds


def default_stage(session: Session, process: Fortschreibung, kind: str) -> str:
    """The stage a document belongs to: the gate that lists it, else the current stage."""
    key = stage_of(process, kind)
    if key:
        return key
    return _current_stage_key(Facts(session, process))


def build_context(
    session: Session, process: Fortschreibung, kind: str, stage_key: str | None = None
) -> Context:
    stage = stage_key or default_stage(session, process, kind)
    return clean(kind_for(process, kind).build(session, process, kind, stage))
