"""Every process's deadlines at once, after a holiday-calendar change: ``recompute_all``.

The same computation as ``engine.recompute`` per process, in bulk: one query per table as
plain driver rows, one timeline computed per distinct set of inputs (Kommunen with the same
calendar, plan, start, Sitzung days and stage dates share it), executemany writes.
``tests/test_recompute_fast.py`` holds it equal to ``engine.recompute`` process by process.
Like the engine, it never commits: ``services.recompute_all`` does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Select, Text, bindparam, cast, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy import text as sa_text
from sqlalchemy.engine import Dialect
from sqlmodel import Session, col

from .calendar import for_kommune
from .engine import TaskSpecs, bound_query, plain_date, task_specs, timeline_from_specs
from .models import (
    Event,
    Fortschreibung,
    Kommune,
    Sitzung,
    SitzungBinding,
    Stage,
    Task,
    TaskState,
    Termin,
)
from .plan_types import plan_of


def recompute_all(session: Session, *, actor: str, reason: str) -> int:
    """Recompute the deadlines of every process (after a holiday-calendar change).

    The same computation as ``recompute`` for each process, in bulk: one query per table as
    plain driver rows, one timeline computed per distinct set of inputs (Kommunen with the same
    calendar, plan, start, Sitzung days and stage dates share it), executemany writes.
    """
    session.flush()
    rows = _AllRows(session)
    codec = rows.codec
    shared: dict[tuple[Any, ...], _Computed] = {}
    # Values go to the driver as the columns' types would convert them (each distinct one once).
    task_updates: list[dict[str, Any]] = []
    stage_updates: list[dict[str, Any]] = []
    logged: list[dict[str, Any]] = []
    at = codec.event_at(dt.datetime.now(dt.UTC))
    befores: dict[dt.date | None, Any] = {}
    afters: dict[dt.date, Any] = {}
    open_ = TaskState.open
    empty: _Rows = []
    for pid, kommune_id, started_raw, plan_index in rows.processes:
        stages = rows.stages.get(pid, empty)
        tasks = rows.tasks.get(pid, empty)
        stage_key = dict(map(_STAGE_ID_KEY, stages))
        inputs = (
            rows.calendar_keys[kommune_id], started_raw, plan_index,
            tuple(map(_STAGE_SPEC, stages)),
            tuple(map(stage_key.get, map(_TASK_STAGE, tasks))), tuple(map(_TASK_SPEC, tasks)),
            rows.bound.get(pid, ()), rows.termine.get(pid, ()),
        )  # fmt: skip
        computed = shared.get(inputs)
        if computed is None:
            computed = shared[inputs] = _compute(rows, inputs)
        # Most processes have nothing to change: compared at once, row by row only if not.
        if list(map(_TASK_DUE, tasks)) != computed.dues_db:
            for t, expected in zip(tasks, computed.dues, strict=True):
                if t[8] == expected[1]:
                    continue
                old = None if t[8] is None else codec.date(t[8])
                new, new_db = expected
                if old == new:  # stored in another spelling of the same day
                    continue
                task_updates.append({"b_id": t[1], "b_due": new_db})
                if codec.task_state(t[9]) == open_:
                    before = befores.get(old)
                    if before is None:
                        before = befores[old] = codec.event_json({"due": plain_date(old)})
                    after = afters.get(new)
                    if after is None:
                        after = afters[new] = codec.event_json(
                            {"due": new.isoformat(), "reason": reason})
                    logged.append({
                        "fortschreibung_id": pid, "at": at, "actor": actor,
                        "action": "due_changed", "entity": "Task", "entity_id": t[1],
                        "before": before, "after": after,
                    })  # fmt: skip
        if list(map(_STAGE_PLANNED, stages)) != computed.starts_db:
            for s, (start, start_db) in zip(stages, computed.starts, strict=True):
                raw = s[5]
                if raw != start_db and (raw is None or codec.date(raw) != start):
                    stage_updates.append({"b_id": s[1], "b_start": start_db})
    if codec.arrays:
        _write_arrays(session, task_updates, stage_updates, logged)
    else:
        task, stage = Task.__table__, Stage.__table__  # type: ignore[attr-defined]
        _executemany(session, update(task).where(task.c.id == bindparam("b_id"))
                     .values(due=bindparam("b_due")), task_updates)  # fmt: skip
        _executemany(session, update(stage).where(stage.c.id == bindparam("b_id"))
                     .values(planned_start=bindparam("b_start")), stage_updates)  # fmt: skip
        _executemany(session, insert(Event.__table__), logged)  # type: ignore[attr-defined]
    session.expire_all()  # the identity map holds the old due dates
    return len(task_updates)


# Columns of the bulk rows (see _AllRows): stage (process, id, key, opened, closed, planned),
# task (process, id, stage id, key, anchor, ref, offset, unit, due, state).
_STAGE_ID_KEY = itemgetter(1, 2)
_STAGE_SPEC = itemgetter(2, 3, 4)
_STAGE_PLANNED = itemgetter(5)
_TASK_STAGE = itemgetter(2)
_TASK_SPEC = itemgetter(3, 4, 5, 6, 7)
_TASK_DUE = itemgetter(8)
_FIRST = itemgetter(0)


def _write_arrays(session: Session, tasks: list[dict[str, Any]], stages: list[dict[str, Any]],
                  logged: list[dict[str, Any]]) -> None:  # fmt: skip
    """PostgreSQL: each table's changes in one statement from arrays (a pipelined row costs
    ~50 µs). The events of one run share their actor, action, entity and time."""
    for table, column, values in (("task", "due", [(v["b_id"], v["b_due"]) for v in tasks]),
                                  ("stage", "planned_start",
                                   [(v["b_id"], v["b_start"]) for v in stages])):  # fmt: skip
        if values:
            session.execute(sa_text(
                f"UPDATE {table} SET {column} = u.value FROM unnest(CAST(:ids AS BIGINT[]), "
                f"CAST(:vals AS DATE[])) AS u(id, value) WHERE {table}.id = u.id"
            ), {"ids": [v[0] for v in values], "vals": [v[1] for v in values]})  # fmt: skip
    if not logged:
        return
    texts: dict[int, str] = {}  # the events share a few before/after dicts: each dumped once

    def dumped(value: dict[str, Any]) -> str:
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = json.dumps(value)  # what the JSON column would send
        return text

    first = logged[0]
    session.execute(sa_text(
        "INSERT INTO event (fortschreibung_id, at, actor, action, entity, entity_id, before, "
        "after) SELECT u.pid, :at, :actor, :action, :entity, u.eid, CAST(u.b AS JSON), "
        "CAST(u.a AS JSON) FROM unnest(CAST(:pids AS BIGINT[]), CAST(:eids AS BIGINT[]), "
        "CAST(:befores AS TEXT[]), CAST(:afters AS TEXT[])) AS u(pid, eid, b, a)"
    ), {
        "at": first["at"], "actor": first["actor"], "action": first["action"],
        "entity": first["entity"], "pids": [e["fortschreibung_id"] for e in logged],
        "eids": [e["entity_id"] for e in logged],
        "befores": [dumped(e["before"]) for e in logged],
        "afters": [dumped(e["after"]) for e in logged],
    })  # fmt: skip


def _executemany(session: Session, statement: Any, params: list[dict[str, Any]]) -> None:
    """``statement`` once per entry of ``params`` on the session's connection, in one driver
    executemany. The values must be as the driver takes them (``_Codec``): SQLAlchemy's
    per-row parameter processing costs more than the database's work."""
    if not params:
        return
    conn = session.connection()
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(params[0]))
    names = compiled.positiontup
    rows = [tuple([p[n] for n in names]) for p in params] if compiled.positional else params
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(str(compiled), rows)
    finally:
        cursor.close()


@dataclass(frozen=True)
class _Computed:
    """One timeline's results, aligned with its process's task and stage rows.

    ``dues``: per task row, the due date and its value as the database driver returns it;
    ``starts``: the same per stage row.
    """

    dues: tuple[tuple[dt.date, Any], ...]
    starts: tuple[tuple[dt.date, Any], ...]
    dues_db: list[Any]  # the driver's values alone, to compare a process's rows at once
    starts_db: list[Any]


def _compute(rows: _AllRows, inputs: tuple[Any, ...]) -> _Computed:
    """The timeline of one set of inputs, as ``build_timeline`` builds it from a process."""
    calendar_key, started_raw, plan_index, stages, task_stages, task_rest, bound, termine = inputs
    codec = rows.codec
    tl = timeline_from_specs(
        for_kommune(_KommuneCalendar(*calendar_key)),
        codec.date(started_raw),
        rows.gates(plan_index),
        [(key, codec.day(opened), codec.day(closed)) for key, opened, closed in stages],
        rows.task_specs(task_stages, task_rest),
        bound,
        [(name, codec.date(on)) for name, on in termine],
    )
    dues, starts = tl.compute()
    due_list = list(map(dues.__getitem__, map(_FIRST, task_rest)))  # per task row, by its key
    start_list = [starts[s[0]] for s in stages]
    dues_db = list(map(codec.date_db, due_list))
    starts_db = list(map(codec.date_db, start_list))
    return _Computed(dues=tuple(zip(due_list, dues_db, strict=True)),
                     starts=tuple(zip(start_list, starts_db, strict=True)),
                     dues_db=dues_db, starts_db=starts_db)  # fmt: skip


class _KommuneCalendar(NamedTuple):
    bundesland: str
    closing_days: tuple[str, ...] | None


def _same(value: Any) -> Any:
    return value


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` remembering its results (a bulk run converts a few hundred days 10⁵ times)."""
    known: dict[Any, Any] = {}

    def memoised(value: Any) -> Any:
        result = known.get(value, known)
        if result is known:
            result = known[value] = convert(value)
        return result

    return memoised


class _Codec:
    """Driver values to Python values and back, as the columns' types convert them.

    The bulk queries fetch plain driver rows (SQLite: dates as text); a value is converted
    only where it is used, by the very processors SQLAlchemy would apply to the column.
    """

    def __init__(self, dialect: Dialect):
        def impl(column: Any) -> Any:
            return column.type.dialect_impl(dialect)

        due = impl(Task.__table__.c.due)  # type: ignore[attr-defined]
        start = impl(Sitzung.__table__.c.start)  # type: ignore[attr-defined]
        state = impl(Task.__table__.c.state)  # type: ignore[attr-defined]
        self.date: Callable[[Any], Any] = due.result_processor(dialect, None) or _same
        to_db = due.bind_processor(dialect)
        self.date_db: Callable[[Any], Any] = _same if to_db is None else _memoised(to_db)
        self.datetime: Callable[[Any], Any] = start.result_processor(dialect, None) or _same
        self.task_state: Callable[[Any], Any] = state.result_processor(dialect, None) or _same
        # PostgreSQL takes the changes as arrays (``_write_arrays``): the events' values stay
        # as they are.
        self.arrays = dialect.name == "postgresql"
        event = Event.__table__.c  # type: ignore[attr-defined]
        self.event_at: Callable[[Any], Any] = _same
        self.event_json: Callable[[Any], Any] = _same
        if not self.arrays:
            self.event_at = impl(event.at).bind_processor(dialect) or _same
            self.event_json = impl(event.before).bind_processor(dialect) or _same

    def day(self, raw: Any) -> dt.date | None:
        return None if raw is None else self.date(raw)


class _AllRows:
    """Every row the deadlines of all processes depend on, grouped by process, as plain
    driver tuples (an ORM or typed row per task costs more than the whole computation)."""

    def __init__(self, session: Session):
        conn = session.connection()
        self.codec = codec = _Codec(conn.dialect)
        raw = conn.connection.cursor()
        try:
            def fetch(query: Select[Any]) -> list[tuple[Any, ...]]:
                raw.execute(str(query.compile(dialect=conn.dialect,
                                              compile_kwargs={"literal_binds": True})))
                return raw.fetchall()  # type: ignore[return-value]

            plans: dict[str, int] = {}
            self._plan_texts: list[str] = []
            self.processes: list[tuple[int, int, Any, int]] = []
            for pid, kommune_id, started_raw, plan_text in fetch(sa_select(
                col(Fortschreibung.id), col(Fortschreibung.kommune_id),
                col(Fortschreibung.started_on), cast(col(Fortschreibung.plan), Text),
            ).order_by(col(Fortschreibung.id))):  # fmt: skip
                index = plans.get(plan_text)
                if index is None:
                    index = plans[plan_text] = len(self._plan_texts)
                    self._plan_texts.append(plan_text)
                self.processes.append((pid, kommune_id, started_raw, index))
            self._gates: dict[int, dict[str, str | None]] = {}
            self._task_specs: dict[tuple[Any, ...], TaskSpecs] = {}
            self.calendar_keys = {
                kid: (land, _closing_days(days))
                for kid, land, days in fetch(sa_select(
                    col(Kommune.id), col(Kommune.bundesland),
                    cast(col(Kommune.closing_days), Text)))
            }  # fmt: skip
            self.stages = _grouped(fetch(sa_select(*map(col, (
                Stage.fortschreibung_id, Stage.id, Stage.key, Stage.opened_on, Stage.closed_on,
                Stage.planned_start))).order_by(col(Stage.position), col(Stage.id))))  # fmt: skip
            self.tasks = _grouped(fetch(sa_select(*map(col, (
                Task.fortschreibung_id, Task.id, Task.stage_id, Task.key, Task.anchor_kind,
                Task.anchor_ref, Task.offset, Task.offset_unit, Task.due, Task.state))
            ).order_by(col(Task.id))))  # fmt: skip
            bound: dict[int, list[tuple[str, dt.date, int]]] = defaultdict(list)
            for pid, name, start, days in fetch(
                bound_query().order_by(col(SitzungBinding.id))
            ):
                bound[pid].append((name, codec.datetime(start).date(), days))
            self.bound = {pid: tuple(b) for pid, b in bound.items()}
            termine: dict[int, list[tuple[str, Any]]] = defaultdict(list)
            for pid, name, on in fetch(sa_select(
                col(Termin.fortschreibung_id), col(Termin.name), col(Termin.on)
            ).order_by(col(Termin.id))):  # fmt: skip
                termine[pid].append((name, on))
            self.termine = {pid: tuple(t) for pid, t in termine.items()}
        finally:
            raw.close()

    def task_specs(self, stages: tuple[Any, ...], rest: tuple[Any, ...]) -> TaskSpecs:
        """``task_specs`` of each distinct set of tasks (the stage key and the rest of each
        task) once: most processes share one."""
        specs = self._task_specs.get((stages, rest))
        if specs is None:
            tasks = [(stage, *more) for stage, more in zip(stages, rest, strict=True)]
            specs = self._task_specs[(stages, rest)] = task_specs(tasks)
        return specs

    def gates(self, plan_index: int) -> dict[str, str | None]:
        """The gate Sitzung of each stage of a distinct stored plan (decoded once)."""
        gates = self._gates.get(plan_index)
        if gates is None:
            plan = plan_of(json.loads(self._plan_texts[plan_index]))
            gates = self._gates[plan_index] = {s.key: s.gate.sitzung for s in plan.stages}
        return gates


def _closing_days(text: str | None) -> tuple[str, ...] | None:
    days = None if text is None else json.loads(text)
    return None if days is None else tuple(days)


_Rows = list[tuple[Any, ...]]


def _grouped(rows: list[tuple[Any, ...]]) -> dict[int, _Rows]:
    """Rows by their first column (the process), in query order."""
    groups: dict[int, _Rows] = {}
    for row in rows:
        group = groups.get(row[0])
        if group is None:
            groups[row[0]] = [row]
        else:
            group.append(row)
    return groups
