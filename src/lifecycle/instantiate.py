"""Turn a checked scenario and its plan into rows: the first state of a Fortschreibung.

Kommune, Gremien, Sitzungen and Personen are shared between the processes of a Kommune and
reused by key; everything else belongs to the new process. Due dates are left to
``engine.recompute``; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from .errors import Refused
from .models import (
    AgSitzung,
    Arbeitsgruppe,
    Beratung,
    BeratungRole,
    Empfehlung,
    Fortschreibung,
    Gremium,
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
    StageState,
    Task,
    Termin,
    Vorlage,
    Workshop,
)
from .plan import task_spec
from .plan_types import Plan, TaskDef
from .typing_helpers import ident


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(map(str, value))
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def _shown(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return repr(value)


def instantiate(session: Session, data: dict[str, Any], plan: Plan) -> Fortschreibung:
    """Add the rows of a new process (flushed, not committed) and return it."""
    return _Starter(session, data, plan).run()


class _Starter:
    def __init__(self, session: Session, data: dict[str, Any], plan: Plan):
        self.s, self.d, self.plan = session, data, plan

    def run(self) -> Fortschreibung:
        self.kommune = self._kommune()
        self.gremien = {g["key"]: self._gremium(g) for g in self.d["gremien"]}
        self.sitzungen = {x["key"]: self._sitzung(x) for x in self.d["sitzungen"]}
        self.personen = {p["key"]: self._person(p) for p in self.d["personen"]}
        process = self._process()
        self.process = process
        self._roles()
        self._bindings()
        self._content()
        self._stages_and_tasks()
        return process

    def _get_or_add(self, model, where: dict[str, Any], values: dict[str, Any], shared=()):
        """The existing row (a Kommune's shared data) or a new one.

        For the names in ``shared`` an existing row must say what the scenario says: a second
        scenario for a Kommune with another Bundesland or other Sitzung dates is refused
        rather than silently ignored.
        """
        query = select(model).filter_by(**where)
        row = self.s.exec(query).first()
        if row is None:
            row = model(**where, **values)
            self.s.add(row)
            self.s.flush()
            return row
        for name in shared:
            stored, given = getattr(row, name), values[name]
            if _normal(stored) != _normal(given):
                label = model.__name__
                raise Refused(
                    f"{label} {where.get('key')!r} gibt es schon mit {name} = "
                    f"{_shown(stored)}; das Szenario sagt {_shown(given)}. Szenario an die "
                    "gespeicherten Daten angleichen (gemeinsame Daten einer Kommune)"
                )
        return row

    def _kommune(self) -> Kommune:
        k = self.d["kommune"]
        return self._get_or_add(
            Kommune,
            {"key": k["key"]},
            {
                "name": k["name"],
                "bundesland": k["bundesland"],
                "closing_days": list(k.get("closing_days", [])),
            },
            shared=("name", "bundesland", "closing_days"),
        )

    def _gremium(self, g: dict) -> Gremium:
        return self._get_or_add(
            Gremium,
            {"kommune_id": self.kommune.id, "key": g["key"]},
            {
                "name": g["name"],
                "short": g["short"],
                "kind": g["kind"],
                "vorlagenschluss_working_days": g.get("vorlagenschluss_working_days", 10),
            },
            shared=("name", "short", "kind", "vorlagenschluss_working_days"),
        )

    def _sitzung(self, x: dict) -> Sitzung:
        return self._get_or_add(
            Sitzung,
            {"kommune_id": self.kommune.id, "key": x["key"]},
            {
                "gremium_id": self.gremien[x["gremium"]].id,
                "start": dt.datetime.fromisoformat(x["start"]),
                "place": x.get("place", ""),
                "oeffentlich": x.get("oeffentlich", True),
            },
            shared=("gremium_id", "start", "oeffentlich"),
        )

    def _person(self, p: dict) -> Person:
        return self._get_or_add(
            Person,
            {"kommune_id": self.kommune.id, "key": p["key"]},
            {
                "name": p["name"],
                "email": p.get("email"),
                "fachbereich": p.get("fachbereich", ""),
                "funktion": p.get("funktion", ""),
                "anrede": p.get("anrede", ""),
            },
            shared=("name", "email"),
        )

    def _process(self) -> Fortschreibung:
        k = self.d["konzept"]
        konzept = self._get_or_add(
            Konzept, {"kommune_id": self.kommune.id, "kind": k["kind"]}, {"title": k["title"]}
        )
        known = {
            v.label
            for v in self.s.exec(
                select(KonzeptVersion).where(KonzeptVersion.konzept_id == konzept.id)
            )
        }
        for v in k.get("versionen", []):
            if v["label"] not in known:
                self.s.add(
                    KonzeptVersion(
                        konzept_id=konzept.id,
                        label=v["label"],
                        year=v["year"],
                        note=v.get("note", ""),
                    )
                )
        f = self.d["fortschreibung"]
        process = Fortschreibung(
            key=self.d["key"],
            kommune_id=ident(self.kommune),
            konzept_id=konzept.id,
            plan_name=self.plan.name,
            plan=dict(self.plan.data),
            scenario=self.d,
            started_on=dt.date.fromisoformat(f["started"]),
            partner=f.get("partner", ""),
            partner_contact=f.get("partner_contact", ""),
            funding_source=f.get("funding", {}).get("source", ""),
            funding_amount=f.get("funding", {}).get("amount"),
            budget_amount=f.get("budget", {}).get("amount"),
            budget_note=f.get("budget", {}).get("note", ""),
            funding_applied_on=_day(f.get("funding", {}).get("applied")),
            funding_granted_on=_day(f.get("funding", {}).get("granted")),
            budget_on=_day(f.get("budget", {}).get("on")),
            schwerpunkte=list(f.get("schwerpunkte", [])),
            leitgedanken=list(f.get("leitgedanken", [])),
        )
        self.s.add(process)
        self.s.flush()
        return process

    def _roles(self) -> None:
        for role, keys in self.d["rollen"].items():
            for key in keys:
                self.s.add(
                    Role(
                        fortschreibung_id=ident(self.process),
                        role=role,
                        person_id=ident(self.personen[key]),
                    )
                )

    def _bindings(self) -> None:
        f = self.d["fortschreibung"]
        for name, key in f.get("sitzungen", {}).items():
            self.s.add(
                SitzungBinding(
                    fortschreibung_id=ident(self.process),
                    name=name,
                    sitzung_id=ident(self.sitzungen[key]),
                )
            )
        for name, value in f.get("termine", {}).items():
            self.s.add(
                Termin(
                    fortschreibung_id=ident(self.process),
                    name=name,
                    on=dt.date.fromisoformat(value),
                )
            )

    def _content(self) -> None:
        pid = ident(self.process)
        fields = {}
        for i, h in enumerate(self.d.get("handlungsfelder", [])):
            fields[h["key"]] = Handlungsfeld(
                fortschreibung_id=pid, key=h["key"], title=h["title"], position=i
            )
            self.s.add(fields[h["key"]])
        self.s.flush()
        self.ags: list[Arbeitsgruppe] = []
        for i, a in enumerate(self.d.get("arbeitsgruppen", [])):
            self.ags.append(self._arbeitsgruppe(i, a, fields[a["handlungsfeld"]]))
        if w := self.d.get("workshop"):
            self.s.add(
                Workshop(
                    fortschreibung_id=pid,
                    title=w["title"],
                    start=dt.datetime.fromisoformat(w["start"]),
                    place=w.get("place", ""),
                    moderation=w.get("moderation", ""),
                    invited_organisations=w.get("invited_organisations", []),
                    participants=w.get("participants", []),
                    expected_participants=w.get("expected_participants"),
                    programme=w.get("programme", []),
                    teilnehmerkreis=w.get("teilnehmerkreis", ""),
                    ag_moderation=w.get("ag_moderation", ""),
                    schulung=w.get("schulung", ""),
                )
            )
        for v in self.d.get("vorlagen", []):
            self._vorlage(v)

    def _arbeitsgruppe(self, i: int, a: dict, field: Handlungsfeld) -> Arbeitsgruppe:
        moderator = self.personen[a["moderator"]].id if a.get("moderator") else None
        ag = Arbeitsgruppe(
            fortschreibung_id=ident(self.process),
            handlungsfeld_id=ident(field),
            key=a["key"],
            title=a["title"],
            position=i,
            moderator_id=moderator,
            bestandsaufnahme=a.get("bestandsaufnahme", ""),
            ergebnis=a.get("ergebnis", ""),
        )
        self.s.add(ag)
        self.s.flush()
        ag_id = ident(ag)
        for n, start in enumerate(a.get("sitzungen", []), 1):
            self.s.add(
                AgSitzung(arbeitsgruppe_id=ag_id, number=n, start=dt.datetime.fromisoformat(start))
            )
        for n, text in enumerate(a.get("empfehlungen", [])):
            self.s.add(Empfehlung(arbeitsgruppe_id=ag_id, position=n, text=text))
        for n, p in enumerate(a.get("schluesselprojekte", [])):
            self.s.add(
                Schluesselprojekt(
                    arbeitsgruppe_id=ag_id,
                    position=n,
                    title=p["title"],
                    description=p.get("description", ""),
                )
            )
        return ag

    def _vorlage(self, v: dict) -> None:
        vorlage = Vorlage(
            fortschreibung_id=ident(self.process),
            stage_key=v["stage"],
            reference=v["reference"],
            art=v.get("art", "Sitzungsvorlage"),
            betreff=v["betreff"],
            beschlussvorschlag=v["beschlussvorschlag"],
            fachbereich=v["fachbereich"],
            author_id=self.personen[v["author"]].id if v.get("author") else None,
            dated=dt.date.fromisoformat(v["dated"]) if v.get("dated") else None,
            begruendung=v.get("begruendung", {}),
            anlagen=v.get("anlagen", []),
            beteiligte=v.get("beteiligte", []),
            mitzeichnung=[{"funktion": self.personen[k].funktion, "name": self.personen[k].name}
                          for k in v.get("mitzeichnung", [])],
        )
        self.s.add(vorlage)
        self.s.flush()
        for n, b in enumerate(v["beratungsfolge"]):
            sitzung = self.sitzungen[b["sitzung"]]
            self.s.add(
                Beratung(
                    vorlage_id=ident(vorlage),
                    position=n,
                    sitzung_id=ident(sitzung),
                    role=BeratungRole(b["role"]),
                    oeffentlich=b.get("oeffentlich", sitzung.oeffentlich),
                )
            )

    def _assignee(self, role: str, ag: Arbeitsgruppe | None) -> int | None:
        if ag is not None and role == "moderation" and ag.moderator_id:
            return ag.moderator_id
        keys = self.d["rollen"].get(role) or self.d["rollen"].get("projektleitung") or []
        return self.personen[keys[0]].id if keys else None

    def _stages_and_tasks(self) -> None:
        for i, st in enumerate(self.plan.stages):
            stage = Stage(
                fortschreibung_id=ident(self.process), key=st.key, title=st.title, position=i,
                ergebnis=(self.d["fortschreibung"].get("ergebnisse") or {}).get(st.key, ""),
            )
            if i == 0:
                stage.state, stage.opened_on = StageState.open, self.process.started_on
            self.s.add(stage)
            self.s.flush()
            if i == 0:
                self.process.current_stage_id = stage.id
            position = 0
            for t in st.tasks:
                for unit in self._units(t):
                    self._task(stage, st.key, t, unit, position)
                    position += 1

    def _units(self, t: TaskDef) -> list[_Unit | None]:
        """One task per Arbeitsgruppe, per person responsible for an open Maßnahme, or one."""
        if t.for_each == "arbeitsgruppe":
            return [_Unit(ag.key, ag.title, self._assignee(t.role, ag)) for ag in self.ags]
        if t.for_each == "verantwortliche":
            from .models import Massnahme, MassnahmeStatus

            ids = self.s.exec(select(Massnahme.responsible_person_id).where(
                Massnahme.konzept_id == self.process.konzept_id,
                col(Massnahme.responsible_person_id).is_not(None),
                col(Massnahme.status).not_in([MassnahmeStatus.erledigt,
                                              MassnahmeStatus.zurueckgestellt]),
            ).distinct()).all()  # fmt: skip
            people = self.s.exec(select(Person).where(col(Person.id).in_(list(ids)))).all()
            return [_Unit(p.key, p.name, p.id) for p in sorted(people, key=lambda p: p.key)]
        return [None]

    def _task(self, stage: Stage, stage_key: str, t: TaskDef, unit: _Unit | None,
              position: int) -> None:  # fmt: skip
        key = f"{t.key}__{unit.key}" if unit else t.key
        spec = task_spec(stage_key, t, key)
        self.s.add(
            Task(
                fortschreibung_id=ident(self.process),
                stage_id=ident(stage),
                key=key,
                title=f"{unit.title}: {t.title}" if unit else t.title,
                role=t.role,
                assignee_id=unit.assignee if unit else self._assignee(t.role, None),
                required=t.required,
                anchor_kind=spec.anchor,
                anchor_ref=spec.ref,
                offset=spec.offset,
                offset_unit=spec.unit,
                position=position,
            )
        )


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


@dataclass(frozen=True)
class _Unit:
    """What a task is repeated for: an Arbeitsgruppe, or a person responsible for Maßnahmen."""

    key: str
    title: str
    assignee: int | None
