"""Scenarios: one municipality's concrete Fortschreibung, checked against its plan.

Every check runs before anything touches the database, so a bad file changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import markup
from .calendar import BUNDESLAENDER
from .dates import check_year
from .errors import InputError
from .plan import BUILTIN, load_plan
from .plan_types import Plan
from .validation import validate
from .words import quoted
from .yamlio import Document, load

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


@dataclass
class Scenario:
    source: str
    data: dict[str, Any]
    plan: Plan

    @property
    def key(self) -> str:
        return self.data["key"]


def parse_date(doc: Document, path: list, value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise doc.error(path, f"unmögliches Datum {quoted(value)}") from None
    if problem := check_year(day):
        raise doc.error(path, f"{quoted(value)}: {problem}")
    return day


def parse_datetime(doc: Document, path: list, value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise doc.error(path, f"unmögliches Datum/Uhrzeit {quoted(value)}") from None
    if moment.tzinfo is not None:
        raise doc.error(path, f"{quoted(value)}: bitte ohne Zeitzone (Ortszeit der Kommune)")
    if problem := check_year(moment.date()):
        raise doc.error(path, f"{quoted(value)}: {problem}")
    return moment


def load_scenario(path: str | Path) -> Scenario:
    doc = load(path)
    if not isinstance(doc.data, dict):
        raise InputError(doc.source, "", "ein Szenario muss auf oberster Ebene eine Zuordnung sein")
    validate(doc, "scenario")
    plan = _load_plan_of(doc, Path(path))
    _Checker(doc, plan).run()
    _resolve_templates(doc, Path(path))
    return Scenario(doc.source, doc.data, plan)


def _resolve_templates(doc: Document, path: Path) -> None:
    """A scenario's template folder is relative to the scenario file; keep it absolute."""
    if "templates" not in doc.data:
        return
    try:
        folder = (path.parent / doc.data["templates"]).expanduser().resolve()
        exists, is_dir = folder.exists(), folder.is_dir()
    except (OSError, ValueError, RuntimeError) as exc:
        raise doc.error(["templates"], f"Vorlagenordner nicht lesbar ({exc})") from None
    if not exists:
        raise doc.error(["templates"], f"Vorlagenordner {quoted(folder)} existiert nicht")
    if not is_dir:
        raise doc.error(["templates"], f"{quoted(folder)} ist kein Ordner")
    doc.data["templates"] = str(folder)


def _load_plan_of(doc: Document, path: Path) -> Plan:
    ref = doc.data["fortschreibung"]["plan"]
    if ref in BUILTIN:
        return load_plan(ref)
    try:
        candidate = (path.parent / ref).resolve()
        exists = candidate.exists()
    except (OSError, ValueError, RuntimeError):
        exists = False
    if not exists:
        raise doc.error(
            ["fortschreibung", "plan"],
            f"weder ein mitgelieferter Plan ({', '.join(BUILTIN)}) noch eine Datei: {quoted(ref)}",
        )
    return load_plan(candidate)


class _Checker:
    def __init__(self, doc: Document, plan: Plan):
        self.doc, self.plan, self.d = doc, plan, doc.data

    def run(self) -> None:
        self._kommune()
        self._closing_days()
        self.gremien = self._unique("gremien")
        self.personen = self._unique("personen")
        self.sitzungen = self._unique("sitzungen")
        self.sitzung_days = self._sitzungen()
        self._personen()
        self._rollen()
        self.started = parse_date(
            self.doc, ["fortschreibung", "started"], self.d["fortschreibung"]["started"]
        )
        self._bindings()
        self.handlungsfelder = self._unique("handlungsfelder")
        self._arbeitsgruppen()
        self._workshop()
        self._vorlagen()
        self._verlauf()
        self._reminders()
        self._facts()
        self._umsetzung()
        self._markup(self.d, [])

    def err(self, path: list, problem: str) -> InputError:
        return self.doc.error(path, problem)

    def _kommune(self) -> None:
        land = self.d["kommune"]["bundesland"]
        if land not in BUNDESLAENDER:
            raise self.err(
                ["kommune", "bundesland"],
                f"unbekanntes Bundesland {quoted(land)}; erwartet eines von "
                f"{', '.join(BUNDESLAENDER)}",
            )

    def _closing_days(self) -> None:
        for i, value in enumerate(self.d["kommune"].get("closing_days", [])):
            parse_date(self.doc, ["kommune", "closing_days", i], value)

    def _unique(self, section: str) -> dict[str, int]:
        seen: dict[str, int] = {}
        for i, item in enumerate(self.d.get(section, [])):
            if item["key"] in seen:
                raise self.err([section, i, "key"], f"Schlüssel {quoted(item['key'])} doppelt")
            seen[item["key"]] = i
        return seen

    def _ref(self, path: list, value: str, known: dict | set, what: str) -> None:
        if value not in known:
            raise self.err(path, f"unbekannte(s) {what} {quoted(value)}")

    def _sitzungen(self) -> dict[str, dt.date]:
        days = {}
        for i, s in enumerate(self.d["sitzungen"]):
            self._ref(["sitzungen", i, "gremium"], s["gremium"], self.gremien, "Gremium")
            days[s["key"]] = parse_datetime(self.doc, ["sitzungen", i, "start"], s["start"]).date()
        return days

    def _personen(self) -> None:
        for i, p in enumerate(self.d["personen"]):
            email = p.get("email")
            if email is not None and not EMAIL.fullmatch(email):
                raise self.err(["personen", i, "email"],
                               f"ungültige E-Mail-Adresse {quoted(email)}")

    def _rollen(self) -> None:
        for role, keys in self.d["rollen"].items():
            if role not in self.plan.roles:
                raise self.err(["rollen", role], f"der Plan kennt keine Rolle {quoted(role)}")
            seen: set[str] = set()
            for j, key in enumerate(keys):
                self._ref(["rollen", role, j], key, self.personen, "Person")
                if key in seen:
                    raise self.err(["rollen", role, j],
                                   f"Person {quoted(key)} doppelt in dieser Rolle")
                seen.add(key)
        for role in ("projektleitung",):
            if role in self.plan.roles and role not in self.d["rollen"]:
                raise self.err(["rollen"], f"Rolle {quoted(role)} fehlt (Pflichtfeld)")

    def _bindings(self) -> None:
        f = self.d["fortschreibung"]
        bound = f.get("sitzungen", {})
        for name, key in bound.items():
            path = ["fortschreibung", "sitzungen", name]
            if name not in self.plan.sitzungen:
                raise self.err(path, f"der Plan kennt keine Sitzung {quoted(name)}")
            self._ref(path, key, self.sitzungen, "Sitzung")
            if self.sitzung_days[key] < self.started:
                raise self.err(
                    path, f"Sitzung {quoted(key)} liegt vor dem Beginn {self.started.isoformat()}"
                )
        termine = f.get("termine", {})
        for name, value in termine.items():
            path = ["fortschreibung", "termine", name]
            if name not in self.plan.termine:
                raise self.err(path, f"der Plan kennt keinen Termin {quoted(name)}")
            if parse_date(self.doc, path, value) < self.started:
                raise self.err(path, f"{value} liegt vor dem Beginn {self.started.isoformat()}")
        for stage in self.plan.stages:
            for task_key, due in [(t.key, t.due) for t in stage.tasks]:
                ref = due.ref
                if due.anchor in ("sitzung", "vorlagenschluss") and ref not in bound:
                    raise self.err(
                        ["fortschreibung", "sitzungen"],
                        f"Aufgabe {quoted(task_key)} hängt an der Sitzung {quoted(ref)}, "
                        "die das Szenario keiner Sitzung zuordnet",
                    )
                if due.anchor == "termin" and ref not in termine:
                    raise self.err(
                        ["fortschreibung", "termine"],
                        f"Aufgabe {quoted(task_key)} hängt am Termin {quoted(ref)}, "
                        "den das Szenario nicht angibt",
                    )
            gate_sitzung = stage.gate.sitzung
            if gate_sitzung and gate_sitzung not in bound:
                raise self.err(
                    ["fortschreibung", "sitzungen"],
                    f"das Gate von {quoted(stage.key)} wird in der Sitzung "
                    f"{quoted(gate_sitzung)} entschieden, die das Szenario nicht zuordnet",
                )
        self.bound_days = {n: self.sitzung_days[k] for n, k in bound.items()}
        self._check_order()
        self._termine_before_submission(termine)

    def _submission(self) -> tuple[str, dt.date] | None:
        """The plan's last bound Sitzung: where the finished concept is decided."""
        names = [n for n in self.plan.sitzungen if n in self.bound_days]
        return (names[-1], self.bound_days[names[-1]]) if names else None

    def _termine_before_submission(self, termine: dict[str, str]) -> None:
        submission = self._submission()
        if submission is None:
            return
        name, day = submission
        for termin, value in termine.items():
            if dt.date.fromisoformat(value) >= day:
                raise self.err(
                    ["fortschreibung", "termine", termin],
                    f"Termin am {value} liegt nicht vor der abschließenden Sitzung "
                    f"{quoted(name)} am {day.isoformat()}",
                )

    def _check_order(self) -> None:
        names = list(self.plan.sitzungen)
        bound = [(n, self.bound_days[n]) for n in names if n in self.bound_days]
        for (a, day_a), (b, day_b) in zip(bound, bound[1:], strict=False):
            if day_b < day_a:
                raise self.err(
                    ["fortschreibung", "sitzungen", b],
                    f"Sitzung {quoted(b)} ({day_b.isoformat()}) liegt vor {quoted(a)} "
                    f"({day_a.isoformat()}); die Reihenfolge des Plans ist {', '.join(names)}",
                )

    def _arbeitsgruppen(self) -> None:
        self._unique("arbeitsgruppen")
        for i, ag in enumerate(self.d.get("arbeitsgruppen", [])):
            self._ref(
                ["arbeitsgruppen", i, "handlungsfeld"],
                ag["handlungsfeld"],
                self.handlungsfelder,
                "Handlungsfeld",
            )
            if "moderator" in ag:
                self._ref(
                    ["arbeitsgruppen", i, "moderator"], ag["moderator"], self.personen, "Person"
                )
            for j, start in enumerate(ag.get("sitzungen", [])):
                day = parse_datetime(self.doc, ["arbeitsgruppen", i, "sitzungen", j], start).date()
                if day < self.started:
                    raise self.err(
                        ["arbeitsgruppen", i, "sitzungen", j],
                        f"{start} liegt vor dem Beginn {self.started.isoformat()}",
                    )

    def _workshop(self) -> None:
        w = self.d.get("workshop")
        if not w:
            return
        day = parse_datetime(self.doc, ["workshop", "start"], w["start"]).date()
        if day < self.started:
            raise self.err(
                ["workshop", "start"], f"{w['start']} liegt vor dem Beginn des Prozesses"
            )
        # The submission goes to the last bound Sitzung of the plan: the workshop must come first.
        submission = self._submission()
        if submission is not None and day >= submission[1]:
            name, sitzung_day = submission
            raise self.err(
                ["workshop", "start"],
                f"Workshop am {day.isoformat()} liegt nicht vor der abschließenden "
                f"Sitzung {quoted(name)} am {sitzung_day.isoformat()}",
            )

    def _vorlagen(self) -> None:
        stages = {s.key for s in self.plan.stages}
        per_stage: dict[str, int] = {}
        for i, v in enumerate(self.d.get("vorlagen", [])):
            path = ["vorlagen", i]
            self._ref([*path, "stage"], v["stage"], stages, "Phase")
            if v["stage"] in per_stage:
                raise self.err(
                    [*path, "stage"],
                    f"Phase {quoted(v['stage'])} hat schon eine Vorlage "
                    f"(vorlagen[{per_stage[v['stage']]}])",
                )
            per_stage[v["stage"]] = i
            if "author" in v:
                self._ref([*path, "author"], v["author"], self.personen, "Person")
            for j, key in enumerate(v.get("mitzeichnung", [])):
                self._ref([*path, "mitzeichnung", j], key, self.personen, "Person")
            if "dated" in v:
                parse_date(self.doc, [*path, "dated"], v["dated"])
            previous: dt.date | None = None
            decided = False
            for j, b in enumerate(v["beratungsfolge"]):
                bpath = [*path, "beratungsfolge", j]
                self._ref([*bpath, "sitzung"], b["sitzung"], self.sitzungen, "Sitzung")
                day = self.sitzung_days[b["sitzung"]]
                if previous and day < previous:
                    raise self.err(
                        [*bpath, "sitzung"],
                        f"Sitzung {quoted(b['sitzung'])} liegt vor der Sitzung davor",
                    )
                if decided and b["role"] == "Vorberatung":
                    raise self.err(
                        [*bpath, "role"], "Vorberatung nach der Entscheidung der Beratungsfolge"
                    )
                decided = decided or b["role"] == "Entscheidung"
                previous = day

    def _verlauf(self) -> None:
        stages = {s.key for s in self.plan.stages}
        tasks: set[str] = set()
        ag_keys = [ag["key"] for ag in self.d.get("arbeitsgruppen", [])]
        for stage in self.plan.stages:
            for t in stage.tasks:
                if t.for_each == "arbeitsgruppe":
                    tasks.update(f"{t.key}__{ag}" for ag in ag_keys)
                else:
                    tasks.add(t.key)
        previous = self.started
        for i, step in enumerate(self.d.get("verlauf", [])):
            path = ["verlauf", i]
            day = parse_date(self.doc, [*path, "on"], step["on"])
            if day < previous:
                problem = f"{step['on']} liegt vor dem Schritt davor ({previous.isoformat()})"
                raise self.err([*path, "on"], problem)
            previous = day
            self._ref([*path, "by"], step["by"], self.personen, "Person")
            if "done" in step:
                self._ref([*path, "done"], step["done"], tasks, "Aufgabe des Plans")
            if "decide" in step:
                self._ref([*path, "decide"], step["decide"], stages, "Phase")
                if "postpone_to" in step:
                    self._ref(
                        [*path, "postpone_to"], step["postpone_to"], self.sitzungen, "Sitzung"
                    )

    def _facts(self) -> None:
        """Dated facts in order; findings only for stages the plan has."""
        f = self.d["fortschreibung"]
        funding = f.get("funding") or {}
        days = {k: parse_date(self.doc, ["fortschreibung", "funding", k], funding[k])
                for k in ("applied", "granted") if k in funding}  # fmt: skip
        if len(days) == 2 and days["granted"] < days["applied"]:
            raise self.err(["fortschreibung", "funding", "granted"],
                           "bewilligt vor dem Tag, an dem der Antrag gestellt wurde")  # fmt: skip
        if "on" in (f.get("budget") or {}):
            parse_date(self.doc, ["fortschreibung", "budget", "on"], f["budget"]["on"])
        stages = {s.key for s in self.plan.stages}
        for key in f.get("ergebnisse") or {}:
            self._ref(["fortschreibung", "ergebnisse", key], key, stages, "Phase")

    def _umsetzung(self) -> None:
        """Maßnahmen details: people known, dates in order, Schlüsselprojekte that exist."""
        block = self.d.get("umsetzung") or {}
        projects = {p["title"] for ag in self.d.get("arbeitsgruppen", [])
                    for p in ag.get("schluesselprojekte", [])}  # fmt: skip
        keys: dict[str, int] = {}
        for i, m in enumerate(block.get("massnahmen", [])):
            path = ["umsetzung", "massnahmen", i]
            if "responsible_person" in m:
                self._ref([*path, "responsible_person"], m["responsible_person"], self.personen,
                          "Person")  # fmt: skip
            if "schluesselprojekt" in m and m["schluesselprojekt"] not in projects:
                raise self.err([*path, "schluesselprojekt"], "kein Schlüsselprojekt der "
                               "Arbeitsgruppen heißt "
                               f"{quoted(m['schluesselprojekt'])}")  # fmt: skip
            days = {k: parse_date(self.doc, [*path, k], m[k]) for k in ("start", "target")
                    if k in m}  # fmt: skip
            if len(days) == 2 and days["target"] < days["start"]:
                raise self.err([*path, "target"], "Zieltermin vor dem Beginn")
            if "key" in m:
                if m["key"] in keys:
                    raise self.err([*path, "key"], f"Schlüssel {quoted(m['key'])} steht schon in "
                                   f"umsetzung.massnahmen[{keys[m['key']]}]")  # fmt: skip
                keys[m["key"]] = i
        seen: set[str] = set()
        for i, ind in enumerate(block.get("indikatoren", [])):
            if ind["key"] in seen:
                raise self.err(["umsetzung", "indikatoren", i, "key"],
                               f"Indikator {quoted(ind['key'])} doppelt")  # fmt: skip
            seen.add(ind["key"])

    def _markup(self, value: object, path: list) -> None:
        """Every text of the scenario: a ``**`` that opens bold must close it."""
        if isinstance(value, str):
            found = markup.problem(value)
            if found:
                raise self.err(path, found)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._markup(item, [*path, key])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._markup(item, [*path, i])

    def _reminders(self) -> None:
        block = self.d["fortschreibung"].get("reminders") or {}
        role = block.get("escalate_to")
        if role is not None and role not in self.plan.roles:
            raise self.err(
                ["fortschreibung", "reminders", "escalate_to"],
                f"der Plan kennt keine Rolle {quoted(role)}; bekannt: {', '.join(self.plan.roles)}",
            )
