"""Turn a checked scenario and its plan into rows: the first state of a Fortschreibung.

Kommune, Gremien, Sitzungen and Personen are shared between the processes of a Kommune and
reused by key; everything else belongs to the new process. Due dates are left to
``engine.recompute``; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, col, select

from .deadlines import DueOutOfRange, StageSpec, Timeline
from .errors import InputError, Refused
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
from .words import quoted


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(map(str, value))
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(quoted, value)) or "(keine)"
    return quoted(value)


def instantiate(session: Session, data: dict[str, Any], plan: Plan) -> Fortschreibung:
    """Add the rows of a new process (flushed, not committed) and return it.

    The rows go in with one executemany per table (ids come back with RETURNING), the due
    dates and projected stage starts computed before they are written (``engine.recompute``
    would find nothing to change); the Kommune's shared rows are looked up in one query per
    table, and not at all for a Kommune that is new.
    """
    return _Starter(session, data, plan).run()


class _Starter:
    def __init__(self, session: Session, data: dict[str, Any], plan: Plan):
        self.s, self.d, self.plan = session, data, plan

    def run(self) -> Fortschreibung:
        self.s.flush()  # whatever the session holds goes first, as an ORM flush would do
        # Core statements on the session's connection (its transaction), without the ORM's
        # per-statement work: none of them loads or changes an ORM object.
        self.db = self.s.connection()
        self.driver = _driver_for(self.db)
        self.wrote = False  # whether this transaction has written (holds SQLite's write lock)
        self.kommune, kommune_is_new = self._kommune()
        self.new_kommune = kommune_is_new
        self.gremien = self._shared(Gremium, self.d["gremien"], self._gremium_values,
                                    ("name", "short", "kind", "vorlagenschluss_working_days"))
        self.sitzungen = self._shared(Sitzung, self.d["sitzungen"], self._sitzung_values,
                                      ("gremium_id", "start", "oeffentlich"))
        self.personen = self._shared(Person, self.d["personen"], self._person_values,
                                     ("name", "email"))
        self.pid = self._process()
        self._roles()
        self._bindings()
        self._content()
        current = self._stages_and_tasks()
        # The process as the session's own object, from the values just written (no SELECT):
        # the same object an ORM insert would have left in the session.
        process = Fortschreibung(**{**self.process_row, "id": self.pid,
                                    "current_stage_id": current})  # fmt: skip
        make_transient_to_detached(process)
        self.s.add(process)
        return process

    # --- writing rows ------------------------------------------------------------------------

    def _insert(self, model: type[SQLModel], rows: list[dict[str, Any]],
                keyed: tuple[str, str] | None = None) -> list[int]:  # fmt: skip
        """Insert ``rows`` with one statement; with ``keyed``, their ids in the order of ``rows``.

        ``keyed`` names the owner column and the key column of a UNIQUE (owner, key): the ids
        come back by RETURNING as (id, key) pairs, so the order RETURNING gives them in does
        not matter (with sort_by_parameter_order SQLite would run one statement per row).
        """
        if not rows:
            return []
        full = [_complete(model, r) for r in rows]
        self.wrote = True
        if self.driver is not None:
            return self.driver.insert(model, full, keyed[1] if keyed else None)
        if keyed is None:
            self.db.execute(_insert_of(model), full)
            return []
        result = self.db.execute(_insert_of(model, keyed[1]), full)
        ids = {k: i for i, k in result}
        return [ids[r[keyed[1]]] for r in full]

    # --- a Kommune's shared rows -------------------------------------------------------------

    def _kommune(self) -> tuple[_Shared, bool]:
        k = self.d["kommune"]
        values = {
            "name": k["name"],
            "bundesland": k["bundesland"],
            "closing_days": list(k.get("closing_days", [])),
        }
        found = self.db.execute(
            sa_select(*_cols(Kommune, "id", "name", "bundesland", "closing_days")).where(
                col(Kommune.key) == k["key"])
        ).first()  # fmt: skip
        if found is None:
            (kid,) = self._insert(Kommune, [{"key": k["key"], **values}], ("key", "key"))
            return _Shared(kid, values), True
        row = found._asdict()
        _check_shared(Kommune, k["key"], row, values, ("name", "bundesland", "closing_days"))
        return _Shared(row["id"], row), False

    def _shared(self, model: type[SQLModel], items: list[dict[str, Any]], values_of: Any,
                shared: tuple[str, ...]) -> dict[str, _Shared]:  # fmt: skip
        """Gremien, Sitzungen or Personen by key: the stored row (checked) or a new one."""
        wanted = [(x["key"], values_of(x)) for x in items]
        stored: dict[str, dict[str, Any]] = {}
        if not self.new_kommune and wanted:
            names = ("id", "key", *wanted[0][1])
            kid = model.kommune_id  # type: ignore[attr-defined]
            key = model.key  # type: ignore[attr-defined]
            for row in self.db.execute(sa_select(*_cols(model, *names)).where(
                    kid == self.kommune.id, col(key).in_([k for k, _ in wanted]))):  # fmt: skip
                stored[row.key] = row._asdict()
        out: dict[str, _Shared] = {}
        new: dict[str, dict[str, Any]] = {}
        for key, values in wanted:
            if key in stored:
                _check_shared(model, key, stored[key], values, shared)
                out[key] = _Shared(stored[key]["id"], stored[key])
            elif key in new:  # a key given twice: the first one is the row, the second must agree
                _check_shared(model, key, new[key], values, shared)
            else:
                new[key] = values
        rows = [{"kommune_id": self.kommune.id, "key": k, **v} for k, v in new.items()]
        ids = self._insert(model, rows, ("kommune_id", "key"))
        for (key, values), new_id in zip(new.items(), ids, strict=True):
            out[key] = _Shared(new_id, values)
        return out

    def _gremium_values(self, g: dict) -> dict[str, Any]:
        return {
            "name": g["name"],
            "short": g["short"],
            "kind": g["kind"],
            "vorlagenschluss_working_days": g.get("vorlagenschluss_working_days", 10),
        }

    def _sitzung_values(self, x: dict) -> dict[str, Any]:
        return {
            "gremium_id": self.gremien[x["gremium"]].id,
            "start": dt.datetime.fromisoformat(x["start"]),
            "place": x.get("place", ""),
            "oeffentlich": x.get("oeffentlich", True),
        }

    def _person_values(self, p: dict) -> dict[str, Any]:
        return {
            "name": p["name"],
            "email": p.get("email"),
            "fachbereich": p.get("fachbereich", ""),
            "funktion": p.get("funktion", ""),
            "anrede": p.get("anrede", ""),
        }

    # --- the process -------------------------------------------------------------------------

    def _process(self) -> int:
        k = self.d["konzept"]
        konzept_id = None
        if not self.new_kommune:
            konzept_id = self.db.execute(sa_select(col(Konzept.id)).where(
                col(Konzept.kommune_id) == self.kommune.id, col(Konzept.kind) == k["kind"])
            ).scalar()  # fmt: skip
        known: set[str] = set()
        if konzept_id is None:
            (konzept_id,) = self._insert(
                Konzept, [{"kommune_id": self.kommune.id, "kind": k["kind"], "title": k["title"]}],
                ("kommune_id", "kind"),
            )
        else:
            known = set(self.db.execute(sa_select(col(KonzeptVersion.label)).where(
                col(KonzeptVersion.konzept_id) == konzept_id)).scalars())  # fmt: skip
        self.konzept_id = konzept_id
        self._insert(KonzeptVersion, [
            {"konzept_id": konzept_id, "label": v["label"], "year": v["year"],
             "note": v.get("note", "")}
            for v in k.get("versionen", []) if v["label"] not in known
        ])  # fmt: skip
        f = self.d["fortschreibung"]
        self.started_on = dt.date.fromisoformat(f["started"])
        self.process_row = _complete(Fortschreibung, {
            "key": self.d["key"],
            "kommune_id": self.kommune.id,
            "konzept_id": konzept_id,
            "plan_name": self.plan.name,
            "plan": dict(self.plan.data),
            "scenario": self.d,
            "started_on": self.started_on,
            "partner": f.get("partner", ""),
            "partner_contact": f.get("partner_contact", ""),
            "funding_source": f.get("funding", {}).get("source", ""),
            "funding_amount": f.get("funding", {}).get("amount"),
            "budget_amount": f.get("budget", {}).get("amount"),
            "budget_note": f.get("budget", {}).get("note", ""),
            "funding_applied_on": _day(f.get("funding", {}).get("applied")),
            "funding_granted_on": _day(f.get("funding", {}).get("granted")),
            "budget_on": _day(f.get("budget", {}).get("on")),
            "schwerpunkte": list(f.get("schwerpunkte", [])),
            "leitgedanken": list(f.get("leitgedanken", [])),
        })  # fmt: skip
        self.first_stage_id = None
        if self.wrote and self.db.dialect.name == "sqlite":
            # SQLite gives a new row max(id) + 1, and this transaction holds the database's
            # write lock since its first INSERT: the stages' ids are known before they are
            # written, so the process row is written once, with its current stage.
            self.first_stage_id = 1 + (self.db.execute(_MAX_STAGE_ID).scalar_one() or 0)
            self.process_row["current_stage_id"] = self.first_stage_id
        (pid,) = self._insert(Fortschreibung, [self.process_row], ("key", "key"))
        return pid

    def _roles(self) -> None:
        self._insert(Role, [
            {"fortschreibung_id": self.pid, "role": role, "person_id": self.personen[key].id}
            for role, keys in self.d["rollen"].items() for key in keys
        ])  # fmt: skip

    def _bindings(self) -> None:
        f = self.d["fortschreibung"]
        self.bound = [(name, self.sitzungen[key]) for name, key in f.get("sitzungen", {}).items()]
        self._insert(SitzungBinding, [
            {"fortschreibung_id": self.pid, "name": name, "sitzung_id": sitzung.id}
            for name, sitzung in self.bound
        ])  # fmt: skip
        self.termine = {name: dt.date.fromisoformat(value)
                        for name, value in f.get("termine", {}).items()}  # fmt: skip
        self._insert(Termin, [
            {"fortschreibung_id": self.pid, "name": name, "on": on}
            for name, on in self.termine.items()
        ])  # fmt: skip

    def _content(self) -> None:
        pid = self.pid
        felder = self.d.get("handlungsfelder", [])
        ids = self._insert(Handlungsfeld, [
            {"fortschreibung_id": pid, "key": h["key"], "title": h["title"], "position": i}
            for i, h in enumerate(felder)
        ], ("fortschreibung_id", "key"))  # fmt: skip
        field_ids = {h["key"]: i for h, i in zip(felder, ids, strict=True)}
        ags = self.d.get("arbeitsgruppen", [])
        ag_ids = self._insert(Arbeitsgruppe, [
            {"fortschreibung_id": pid, "handlungsfeld_id": field_ids[a["handlungsfeld"]],
             "key": a["key"], "title": a["title"], "position": i,
             "moderator_id": self.personen[a["moderator"]].id if a.get("moderator") else None,
             "bestandsaufnahme": a.get("bestandsaufnahme", ""), "ergebnis": a.get("ergebnis", "")}
            for i, a in enumerate(ags)
        ], ("fortschreibung_id", "key"))  # fmt: skip
        self.ags = [_Ag(a["key"], a["title"], self.personen[a["moderator"]].id
                        if a.get("moderator") else None) for a in ags]  # fmt: skip
        sessions, empfehlungen, projekte = [], [], []
        for a, ag_id in zip(ags, ag_ids, strict=True):
            sessions += [{"arbeitsgruppe_id": ag_id, "number": n,
                          "start": dt.datetime.fromisoformat(start)}
                         for n, start in enumerate(a.get("sitzungen", []), 1)]  # fmt: skip
            empfehlungen += [{"arbeitsgruppe_id": ag_id, "position": n, "text": text}
                             for n, text in enumerate(a.get("empfehlungen", []))]  # fmt: skip
            projekte += [{"arbeitsgruppe_id": ag_id, "position": n, "title": p["title"],
                          "description": p.get("description", "")}
                         for n, p in enumerate(a.get("schluesselprojekte", []))]  # fmt: skip
        self._insert(AgSitzung, sessions)
        self._insert(Empfehlung, empfehlungen)
        self._insert(Schluesselprojekt, projekte)
        if w := self.d.get("workshop"):
            self._insert(Workshop, [{
                "fortschreibung_id": pid,
                "title": w["title"],
                "start": dt.datetime.fromisoformat(w["start"]),
                "place": w.get("place", ""),
                "moderation": w.get("moderation", ""),
                "invited_organisations": w.get("invited_organisations", []),
                "participants": w.get("participants", []),
                "expected_participants": w.get("expected_participants"),
                "programme": w.get("programme", []),
                "teilnehmerkreis": w.get("teilnehmerkreis", ""),
                "ag_moderation": w.get("ag_moderation", ""),
                "schulung": w.get("schulung", ""),
            }])  # fmt: skip
        self._vorlagen(self.d.get("vorlagen", []))

    def _vorlagen(self, vorlagen: list[dict[str, Any]]) -> None:
        def person(key: str) -> _Shared:
            return self.personen[key]

        ids = self._insert(Vorlage, [{
            "fortschreibung_id": self.pid,
            "stage_key": v["stage"],
            "reference": v["reference"],
            "art": v.get("art", "Sitzungsvorlage"),
            "betreff": v["betreff"],
            "beschlussvorschlag": v["beschlussvorschlag"],
            "fachbereich": v["fachbereich"],
            "author_id": person(v["author"]).id if v.get("author") else None,
            "dated": dt.date.fromisoformat(v["dated"]) if v.get("dated") else None,
            "begruendung": v.get("begruendung", {}),
            "anlagen": v.get("anlagen", []),
            "beteiligte": v.get("beteiligte", []),
            "mitzeichnung": [{"funktion": person(k).values["funktion"],
                              "name": person(k).values["name"]}
                             for k in v.get("mitzeichnung", [])],
        } for v in vorlagen], ("fortschreibung_id", "stage_key"))  # fmt: skip
        self._insert(Beratung, [
            {"vorlage_id": vid, "position": n, "sitzung_id": self.sitzungen[b["sitzung"]].id,
             "role": BeratungRole(b["role"]),
             "oeffentlich": b.get("oeffentlich",
                                  self.sitzungen[b["sitzung"]].values["oeffentlich"])}
            for v, vid in zip(vorlagen, ids, strict=True)
            for n, b in enumerate(v["beratungsfolge"])
        ])  # fmt: skip

    def _assignee(self, role: str, ag: _Ag | None) -> int | None:
        if ag is not None and role == "moderation" and ag.moderator_id:
            return ag.moderator_id
        keys = self.d["rollen"].get(role) or self.d["rollen"].get("projektleitung") or []
        return self.personen[keys[0]].id if keys else None

    def _stages_and_tasks(self) -> int:
        """Stages and tasks, due dates and projected starts included; the first stage's id."""
        ergebnisse = self.d["fortschreibung"].get("ergebnisse") or {}
        stages = [
            {"fortschreibung_id": self.pid, "key": st.key, "title": st.title, "position": i,
             "ergebnis": ergebnisse.get(st.key, ""),
             "state": StageState.open if i == 0 else StageState.pending,
             "opened_on": self.started_on if i == 0 else None}
            for i, st in enumerate(self.plan.stages)
        ]  # fmt: skip
        tasks: list[tuple[int, dict[str, Any]]] = []  # (stage index, row)
        for i, st in enumerate(self.plan.stages):
            position = 0
            for t in st.tasks:
                for unit in self._units(t):
                    tasks.append((i, self._task(st.key, t, unit, position)))
                    position += 1
        try:
            dues, starts = self._timeline(stages, [row for _, row in tasks])
        except DueOutOfRange as exc:  # name the plan: the solver knows only the task
            raise InputError(f"Plan {self.plan.name}", exc.field, exc.problem) from None
        for stage in stages:
            stage["planned_start"] = starts[stage["key"]]
        if self.first_stage_id is not None:
            stage_ids = [self.first_stage_id + i for i in range(len(stages))]
            self._insert(Stage, [{"id": i, **row} for i, row in zip(stage_ids, stages,
                                                                      strict=True)])  # fmt: skip
        else:
            stage_ids = self._insert(Stage, stages, ("fortschreibung_id", "key"))
        rows = []
        for i, row in tasks:
            spec = row.pop("_spec")
            rows.append({**row, "stage_id": stage_ids[i], "due": dues[spec.key]})
        self._insert(Task, rows)
        if self.first_stage_id is None:
            self.db.execute(update(Fortschreibung).where(col(Fortschreibung.id) == self.pid)
                           .values(current_stage_id=stage_ids[0]))  # fmt: skip
        return stage_ids[0]

    def _timeline(self, stages: list[dict[str, Any]], tasks: list[dict[str, Any]]
                  ) -> tuple[dict[str, dt.date], dict[str, dt.date]]:  # fmt: skip
        """The due dates ``engine.recompute`` computes for the new rows, before they exist."""
        from .calendar import for_kommune

        calendar = for_kommune(_CalendarOf(self.kommune.values["bundesland"],
                                           self.kommune.values["closing_days"]))  # fmt: skip
        specs = [row["_spec"] for row in tasks]
        gremium_days = {g.id: g.values["vorlagenschluss_working_days"]
                        for g in self.gremien.values()}  # fmt: skip
        return Timeline(
            calendar=calendar,
            started_on=self.started_on,
            stages=[
                StageSpec(st.key, [s.key for s in specs if s.stage == st.key], st.gate.sitzung,
                          stage["opened_on"], None)
                for st, stage in zip(self.plan.stages, stages, strict=True)
            ],
            tasks={s.key: s for s in specs},
            sitzungen={name: s.values["start"].date() for name, s in self.bound},
            vorlagenschluss_days={name: gremium_days[s.values["gremium_id"]]
                                  for name, s in self.bound},
            termine=dict(self.termine),
        ).compute()  # fmt: skip

    def _units(self, t: TaskDef) -> list[_Unit | None]:
        """One task per Arbeitsgruppe, per person responsible for an open Maßnahme, or one."""
        if t.for_each == "arbeitsgruppe":
            return [_Unit(ag.key, ag.title, self._assignee(t.role, ag)) for ag in self.ags]
        if t.for_each == "verantwortliche":
            from .models import Massnahme, MassnahmeStatus

            ids = self.s.exec(select(Massnahme.responsible_person_id).where(
                Massnahme.konzept_id == self.konzept_id,
                col(Massnahme.responsible_person_id).is_not(None),
                col(Massnahme.status).not_in([MassnahmeStatus.erledigt,
                                              MassnahmeStatus.zurueckgestellt]),
            ).distinct()).all()  # fmt: skip
            people = self.s.exec(select(Person).where(col(Person.id).in_(list(ids)))).all()
            return [_Unit(p.key, p.name, p.id) for p in sorted(people, key=lambda p: p.key)]
        return [None]

    def _task(self, stage_key: str, t: TaskDef, unit: _Unit | None,
              position: int) -> dict[str, Any]:  # fmt: skip
        key = f"{t.key}__{unit.key}" if unit else t.key
        spec = task_spec(stage_key, t, key)
        return {
            "fortschreibung_id": self.pid,
            "key": key,
            "title": f"{unit.title}: {t.title}" if unit else t.title,
            "role": t.role,
            "assignee_id": unit.assignee if unit else self._assignee(t.role, None),
            "required": t.required,
            "anchor_kind": spec.anchor,
            "anchor_ref": spec.ref,
            "offset": spec.offset,
            "offset_unit": spec.unit,
            "position": position,
            "_spec": spec,
        }


def _cols(model: type[SQLModel], *names: str) -> list[Any]:
    table = model.__table__  # type: ignore[attr-defined]
    return [table.c[name] for name in names]


def _check_shared(model: type[SQLModel], key: str, stored: dict[str, Any],
                  given: dict[str, Any], shared: tuple[str, ...]) -> None:  # fmt: skip
    """For the names in ``shared`` an existing row must say what the scenario says: a second
    scenario for a Kommune with another Bundesland or other Sitzung dates is refused rather
    than silently ignored."""
    for name in shared:
        if _normal(stored[name]) != _normal(given[name]):
            raise Refused(
                f"{model.__name__} {quoted(key)} gibt es schon mit {name} = "
                f"{_shown(stored[name])}; das Szenario sagt {_shown(given[name])}. Szenario an "
                "die gespeicherten Daten angleichen (gemeinsame Daten einer Kommune)"
            )


_MAX_STAGE_ID = sa_select(func.coalesce(func.max(col(Stage.id)), 0))


@cache
def _insert_of(model: type[SQLModel], key: str | None = None) -> Any:
    """The INSERT of ``model`` (built once); with ``key``, returning (id, key)."""
    table = model.__table__  # type: ignore[attr-defined]
    return insert(table) if key is None else insert(table).returning(table.c.id, table.c[key])


class _DriverRows:
    """SQLite: a process's INSERTs on the driver's cursor, in the session's transaction.

    A new process is ~110 rows in ~20 statements. SQLAlchemy's executemany checks and converts
    every parameter of every row (about 15 µs a row here), which is more than SQLite's own
    work. The values are converted by the very bind processors SQLAlchemy would apply (dates,
    times, enums, JSON, booleans), found once per column; tests/test_instantiate_driver.py
    holds the stored bytes equal to those of the Core path. PostgreSQL keeps the Core path.
    """

    def __init__(self, connection: Connection):
        self.dialect = connection.dialect
        self.cursor = connection.connection.cursor()

    def insert(self, model: type[SQLModel], rows: list[dict[str, Any]],
               key: str | None) -> list[int]:  # fmt: skip
        """Insert ``rows`` (all with the same columns); with ``key``, their ids in row order."""
        table = model.__table__  # type: ignore[attr-defined]
        names = tuple(rows[0])
        if any(len(row) != len(names) for row in rows):  # pragma: no cover - a caller's bug
            raise ValueError(f"rows of {table.name} with different columns")
        values = itemgetter(*names)
        converted = _processors(self.dialect, table, names)
        params: list[Any] = []
        for row in rows:
            one = list(values(row)) if len(names) > 1 else [values(row)]
            for i, process in converted:
                one[i] = process(one[i])
            params += one
        head = _insert_head(self.dialect, table, names)
        group = "(" + ", ".join("?" * len(names)) + ")"
        returning = f" RETURNING id, {self.dialect.identifier_preparer.quote(key)}" if key else ""
        ids: dict[Any, int] = {}
        # One statement of many rows: SQLite's executemany steps a statement per row.
        width = len(names) * _ROWS_PER_STATEMENT
        for start in range(0, len(params), width):
            chunk = params[start:start + width]
            self.cursor.execute(
                f"{head} VALUES {', '.join([group] * (len(chunk) // len(names)))}{returning}",
                chunk)  # fmt: skip
            if key:
                ids.update((k, i) for i, k in self.cursor.fetchall())
        return [ids[row[key]] for row in rows] if key else []


def _driver_for(connection: Connection) -> _DriverRows | None:
    return _DriverRows(connection) if connection.dialect.name == "sqlite" else None


# SQLite allows 32 766 parameters a statement; a chunk of rows stays well below.
_ROWS_PER_STATEMENT = 200


@lru_cache(maxsize=256)
def _processors(dialect: Dialect, table: Table, names: tuple[str, ...]
                ) -> tuple[tuple[int, Callable[[Any], Any]], ...]:  # fmt: skip
    """(position, bind processor) of each of ``names`` whose values SQLAlchemy converts."""
    found = ((i, table.c[n].type.dialect_impl(dialect).bind_processor(dialect))
             for i, n in enumerate(names))  # fmt: skip
    return tuple((i, p) for i, p in found if p is not None)


@lru_cache(maxsize=256)
def _insert_head(dialect: Dialect, table: Table, names: tuple[str, ...]) -> str:
    quote = dialect.identifier_preparer.quote
    return (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(n) for n in names)})")  # fmt: skip


_DEFAULTS: dict[type[SQLModel], tuple[dict[str, Any], tuple[str, ...]]] = {}


def _complete(model: type[SQLModel], row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every other column at the model's default (what the ORM would store)."""
    known: tuple[dict[str, Any], tuple[str, ...]] | None = _DEFAULTS.get(model)
    if known is None:
        plain: dict[str, Any] = {}
        made = []
        for name, info in model.model_fields.items():
            if name == "id" or info.is_required():
                continue
            if info.default_factory is not None:
                made.append(name)  # a new value per row (a fresh list, the time of writing)
            else:
                plain[name] = info.default
        known = _DEFAULTS[model] = (plain, tuple(made))
    out = {**known[0], **row}
    for name in known[1]:
        if name not in row:
            out[name] = model.model_fields[name].get_default(call_default_factory=True)
    return out


def _day(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


@dataclass(frozen=True)
class _Shared:
    """A row of a Kommune's shared data: its id and the values it has (stored or new)."""

    id: int
    values: dict[str, Any]


@dataclass(frozen=True)
class _CalendarOf:
    bundesland: str
    closing_days: list[str]


@dataclass(frozen=True)
class _Ag:
    key: str
    title: str
    moderator_id: int | None


@dataclass(frozen=True)
class _Unit:
    """What a task is repeated for: an Arbeitsgruppe, or a person responsible for Maßnahmen."""

    key: str
    title: str
    assignee: int | None
