"""Scenarios: one municipality's concrete Fortschreibung, checked against its plan.

Every check runs before anything touches the database, so a bad file changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .calendar import BUNDESLAENDER
from .errors import InputError
from .plan import BUILTIN, load_plan
from .validation import validate
from .yamlio import Document, load

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


@dataclass
class Scenario:
    source: str
    data: dict[str, Any]
    plan: dict[str, Any]

    @property
    def key(self) -> str:
        return self.data["key"]


def parse_date(doc: Document, path: list, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise doc.error(path, f"impossible date {value!r}") from None


def parse_datetime(doc: Document, path: list, value: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise doc.error(path, f"impossible date/time {value!r}") from None


def load_scenario(path: str | Path) -> Scenario:
    doc = load(path)
    if not isinstance(doc.data, dict):
        raise InputError(doc.source, "", "a scenario must be a mapping at the top level")
    validate(doc, "scenario")
    plan = _load_plan_of(doc, Path(path))
    _Checker(doc, plan).run()
    _resolve_templates(doc, Path(path))
    return Scenario(doc.source, doc.data, plan)


def _resolve_templates(doc: Document, path: Path) -> None:
    """A scenario's template folder is relative to the scenario file; keep it absolute."""
    if "templates" not in doc.data:
        return
    folder = (path.parent / doc.data["templates"]).expanduser().resolve()
    if not folder.is_dir():
        raise doc.error(["templates"], f"template folder {str(folder)!r} does not exist")
    doc.data["templates"] = str(folder)


def _load_plan_of(doc: Document, path: Path) -> dict[str, Any]:
    ref = doc.data["fortschreibung"]["plan"]
    if ref in BUILTIN:
        return load_plan(ref)
    candidate = (path.parent / ref).resolve()
    if not candidate.exists():
        raise doc.error(["fortschreibung", "plan"], f"no built-in plan or file {ref!r}")
    return load_plan(candidate)


class _Checker:
    def __init__(self, doc: Document, plan: dict[str, Any]):
        self.doc, self.plan, self.d = doc, plan, doc.data

    def run(self) -> None:
        self._kommune()
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

    def err(self, path: list, problem: str) -> InputError:
        return self.doc.error(path, problem)

    def _kommune(self) -> None:
        land = self.d["kommune"]["bundesland"]
        if land not in BUNDESLAENDER:
            raise self.err(
                ["kommune", "bundesland"],
                f"unknown Bundesland {land!r}; expected one of {', '.join(BUNDESLAENDER)}",
            )

    def _unique(self, section: str) -> dict[str, int]:
        seen: dict[str, int] = {}
        for i, item in enumerate(self.d.get(section, [])):
            if item["key"] in seen:
                raise self.err([section, i, "key"], f"duplicate key {item['key']!r}")
            seen[item["key"]] = i
        return seen

    def _ref(self, path: list, value: str, known: dict | set, what: str) -> None:
        if value not in known:
            raise self.err(path, f"unknown {what} {value!r}")

    def _sitzungen(self) -> dict[str, dt.date]:
        days = {}
        for i, s in enumerate(self.d["sitzungen"]):
            self._ref(["sitzungen", i, "gremium"], s["gremium"], self.gremien, "Gremium")
            days[s["key"]] = parse_datetime(self.doc, ["sitzungen", i, "start"], s["start"]).date()
        return days

    def _personen(self) -> None:
        for i, p in enumerate(self.d["personen"]):
            email = p.get("email")
            if email is not None and not EMAIL.match(email):
                raise self.err(["personen", i, "email"], f"malformed e-mail address {email!r}")

    def _rollen(self) -> None:
        for role, keys in self.d["rollen"].items():
            if role not in self.plan["roles"]:
                raise self.err(["rollen", role], f"the plan has no role {role!r}")
            for j, key in enumerate(keys):
                self._ref(["rollen", role, j], key, self.personen, "person")
        for role in ("projektleitung",):
            if role in self.plan["roles"] and role not in self.d["rollen"]:
                raise self.err(["rollen"], f"role {role!r} is missing (required)")

    def _bindings(self) -> None:
        f = self.d["fortschreibung"]
        bound = f.get("sitzungen", {})
        for name, key in bound.items():
            path = ["fortschreibung", "sitzungen", name]
            if name not in self.plan.get("sitzungen", {}):
                raise self.err(path, f"the plan names no Sitzung {name!r}")
            self._ref(path, key, self.sitzungen, "Sitzung")
            if self.sitzung_days[key] < self.started:
                raise self.err(
                    path, f"Sitzung {key!r} is before the start {self.started.isoformat()}"
                )
        termine = f.get("termine", {})
        for name, value in termine.items():
            path = ["fortschreibung", "termine", name]
            if name not in self.plan.get("termine", {}):
                raise self.err(path, f"the plan names no Termin {name!r}")
            if parse_date(self.doc, path, value) < self.started:
                raise self.err(path, f"{value} is before the start {self.started.isoformat()}")
        for stage in self.plan["stages"]:
            needed = [(t["key"], t["due"]) for t in stage["tasks"]]
            for task_key, due in needed:
                ref = due.get("ref", "")
                if due["anchor"] in ("sitzung", "vorlagenschluss") and ref not in bound:
                    raise self.err(
                        ["fortschreibung", "sitzungen"],
                        f"task {task_key!r} is anchored to Sitzung {ref!r}, "
                        "which the scenario does not bind to a Sitzung",
                    )
                if due["anchor"] == "termin" and ref not in termine:
                    raise self.err(
                        ["fortschreibung", "termine"],
                        f"task {task_key!r} is anchored to Termin {ref!r}, "
                        "which the scenario does not give",
                    )
            gate_sitzung = stage["gate"].get("sitzung")
            if gate_sitzung and gate_sitzung not in bound:
                raise self.err(
                    ["fortschreibung", "sitzungen"],
                    f"gate of {stage['key']!r} is decided in Sitzung "
                    f"{gate_sitzung!r}, which the scenario does not bind",
                )
        self.bound_days = {n: self.sitzung_days[k] for n, k in bound.items()}
        self._check_order()

    def _check_order(self) -> None:
        names = list(self.plan.get("sitzungen", {}))
        bound = [(n, self.bound_days[n]) for n in names if n in self.bound_days]
        for (a, day_a), (b, day_b) in zip(bound, bound[1:], strict=False):
            if day_b < day_a:
                raise self.err(
                    ["fortschreibung", "sitzungen", b],
                    f"Sitzung {b!r} ({day_b.isoformat()}) is before {a!r} "
                    f"({day_a.isoformat()}); the plan's order is {', '.join(names)}",
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
                    ["arbeitsgruppen", i, "moderator"], ag["moderator"], self.personen, "person"
                )
            for j, start in enumerate(ag.get("sitzungen", [])):
                day = parse_datetime(self.doc, ["arbeitsgruppen", i, "sitzungen", j], start).date()
                if day < self.started:
                    raise self.err(
                        ["arbeitsgruppen", i, "sitzungen", j],
                        f"{start} is before the start {self.started.isoformat()}",
                    )

    def _workshop(self) -> None:
        w = self.d.get("workshop")
        if not w:
            return
        day = parse_datetime(self.doc, ["workshop", "start"], w["start"]).date()
        if day < self.started:
            raise self.err(
                ["workshop", "start"], f"{w['start']} is before the start of the process"
            )
        # The submission goes to the last bound Sitzung of the plan: the workshop must come first.
        last = list(self.bound_days.items())[-1:] if self.bound_days else []
        for name, sitzung_day in last:
            if day >= sitzung_day:
                raise self.err(
                    ["workshop", "start"],
                    f"workshop on {day.isoformat()} is not before the submission "
                    f"Sitzung {name!r} on {sitzung_day.isoformat()}",
                )

    def _vorlagen(self) -> None:
        stages = {s["key"] for s in self.plan["stages"]}
        for i, v in enumerate(self.d.get("vorlagen", [])):
            path = ["vorlagen", i]
            self._ref([*path, "stage"], v["stage"], stages, "stage")
            if "author" in v:
                self._ref([*path, "author"], v["author"], self.personen, "person")
            if "dated" in v:
                parse_date(self.doc, [*path, "dated"], v["dated"])
            previous: dt.date | None = None
            for j, b in enumerate(v["beratungsfolge"]):
                self._ref(
                    [*path, "beratungsfolge", j, "sitzung"], b["sitzung"], self.sitzungen, "Sitzung"
                )
                day = self.sitzung_days[b["sitzung"]]
                if previous and day < previous:
                    raise self.err(
                        [*path, "beratungsfolge", j, "sitzung"],
                        f"Sitzung {b['sitzung']!r} is before the one it follows",
                    )
                previous = day

    def _verlauf(self) -> None:
        stages = {s["key"] for s in self.plan["stages"]}
        previous = self.started
        for i, step in enumerate(self.d.get("verlauf", [])):
            path = ["verlauf", i]
            day = parse_date(self.doc, [*path, "on"], step["on"])
            if day < previous:
                problem = f"{step['on']} is before the step it follows ({previous.isoformat()})"
                raise self.err([*path, "on"], problem)
            previous = day
            self._ref([*path, "by"], step["by"], self.personen, "person")
            if "decide" in step:
                self._ref([*path, "decide"], step["decide"], stages, "stage")
                if "postpone_to" in step:
                    self._ref(
                        [*path, "postpone_to"], step["postpone_to"], self.sitzungen, "Sitzung"
                    )
