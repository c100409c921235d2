"""A generated corpus of bad scenarios: the Waiblingen scenario, one field at a time dropped,
duplicated, retyped or pushed to an extreme value (hypothesis).

The property, for every mutant: ``lifecycle start`` exits 0 and the process is there and can
be shown, or it exits 2 with exactly one line on stderr and every table of the database as it
was — never a traceback, never exit 70 (internal error) or any other code.

The CLI runs in-process (``lifecycle.cli.run``, the function behind the console script, with
stdout/stderr captured): a subprocess costs ~1.4 s of interpreter and import start-up per
example, in-process ~0.25 s for a start and far less for a refusal, so 150 examples fit in
well under a minute. tests/test_bad_input.py runs the real subprocess for the classes of
issue 9. Each example gets its own copy of a database migrated once, so a successful start
never leaks into the next example. LIFECYCLE_CORPUS_EXAMPLES raises the count for a long run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import WAIBLINGEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.cli import run
from lifecycle.db import engine_for
from lifecycle.yamlio import loads

EXAMPLES = int(os.environ.get("LIFECYCLE_CORPUS_EXAMPLES", "150"))
BASE = loads(WAIBLINGEN.read_text(encoding="utf-8"), str(WAIBLINGEN)).data


# --- a YAML writer that can say what yaml.dump cannot: duplicate and non-string keys -----------


class Pairs(list):
    """A mapping written as its (key, value) pairs: keys may repeat or be of any type."""


def to_yaml(value: Any) -> str:
    """Flow-style YAML (JSON-like), every string double-quoted, so types stay as given."""
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{_key(k)}: {to_yaml(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return to_yaml(Pairs(value.items()))
    if isinstance(value, list):
        return "[" + ", ".join(to_yaml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _key(key: Any) -> str:
    return to_yaml(key) if not isinstance(key, str) else json.dumps(key, ensure_ascii=False)


# --- mutations -------------------------------------------------------------------------------


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path] if path else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):  # the first items stand for the rest
            out += _paths(v, (*path, i))
    return out


PATHS = _paths(BASE)

STRANGE_TEXT = [
    "", " ", "x" * 10_000, "bsv\n", "bsv\r\n", "../../../../tmp/x", "/etc/passwd", "C:\\x",
    "S.yaml:100: :100: [red]x[/red] [/]", "😀", "Ä" * 300, "a\tb", "\u202e", "0", "null",
    "2017-02-30", "0001-01-01", "9999-12-31", "2017-03-01T00:00Z", "2017-03-01 24:00",
    "2017-03-01 17:00+02:00", "ortolf", "bsv-2017-12-06", "BSV 3/2017\n",
    "ute@waiblingen.example\n", "{{ 7*7 }}", "{% for x in range(10**9) %}{% endfor %}",
]  # fmt: skip
STRANGE_NUMBERS = [
    0, -1, 1, 10**9, -(10**6), 10**30, -(10**30), 2**63, 1.5, -0.0, 1e308, math.nan,
    math.inf, -math.inf,
]  # fmt: skip
RETYPES = [None, True, False, 0, 1.5, "", "x", [], {}, [1], {"a": 1}, [None], {"": None}]


def _parent(data: Any, path: tuple) -> tuple[Any, Any]:
    node = data
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


def mutate(data: Any, path: tuple, op: str, new: Any) -> Any:
    """Apply one mutation in place; returns the data to write (may contain Pairs)."""
    parent, last = _parent(data, path)
    if op == "drop":
        del parent[last]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(last, json.loads(json.dumps(parent[last])))
        else:  # the same key twice in one mapping, the copy with another value
            pairs = Pairs(parent.items())
            pairs.append((last, new))
            _replace(data, path[:-1], pairs)
    elif op == "rekey":  # a key that is not a string: null, a number, a boolean
        pairs = Pairs((new if k == last else k, v) for k, v in parent.items())
        _replace(data, path[:-1], pairs)
    else:  # retype / extreme
        parent[last] = new
    return data


def _replace(data: Any, path: tuple, value: Any) -> None:
    if not path:
        data.clear()
        data["__pairs__"] = value
        return
    parent, last = _parent(data, path)
    parent[last] = value


def _unwrap_root(data: Any) -> Any:
    return data["__pairs__"] if isinstance(data, dict) and "__pairs__" in data else data


mutations = st.one_of(
    st.tuples(st.sampled_from(PATHS), st.just("drop"), st.none()),
    st.tuples(st.sampled_from(PATHS), st.just("duplicate"), st.sampled_from(RETYPES)),
    st.tuples(st.sampled_from(PATHS), st.just("retype"), st.sampled_from(RETYPES)),
    st.tuples(st.sampled_from(PATHS), st.just("extreme"), st.sampled_from(STRANGE_TEXT)),
    st.tuples(st.sampled_from(PATHS), st.just("extreme"), st.sampled_from(STRANGE_NUMBERS)),
    st.tuples(
        st.sampled_from(PATHS), st.just("rekey"), st.sampled_from([None, 1, 1.5, True])
    ),
)


# --- the property ----------------------------------------------------------------------------


def dump(db: Path) -> dict[str, list]:
    """Every row of every table, in a stable order."""
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"'))) for t in sorted(tables)}
    finally:
        con.close()


def cli(db: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = os.environ.get("LIFECYCLE_DATABASE_URL")
    os.environ["LIFECYCLE_DATABASE_URL"] = f"sqlite:///{db}"
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(args))
    finally:
        if old is None:
            os.environ.pop("LIFECYCLE_DATABASE_URL", None)
        else:
            os.environ["LIFECYCLE_DATABASE_URL"] = old
        engine_for.cache_clear()  # one engine per example's database; none kept around
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "template.db"
    engine_for(f"sqlite:///{path}").dispose()  # migrated once; each example copies it
    engine_for.cache_clear()
    return path


def check_start(template_db: Path, work: Path, text: str, name: str) -> None:
    scenario = work / f"{name}.yaml"
    scenario.write_text(text, encoding="utf-8")
    db = work / f"{name}.db"
    shutil.copy(template_db, db)
    before = dump(db)
    code, out, err = cli(db, "start", str(scenario))
    lines = err.strip().splitlines()
    assert "Traceback" not in err + out, err
    assert "Interner Fehler" not in err, _log_of(err)
    if code == 0:
        assert lines == [], err
        key = BASE["key"] if "gestartet" in out else None
        assert key and f"Fortschreibung {key} gestartet" in out.replace("\n", " "), out
        after = dump(db)
        assert len(after["fortschreibung"]) == len(before["fortschreibung"]) + 1
        assert_valid_process(db, key)
    else:
        assert code == 2, f"exit {code}: {err}"
        assert len(lines) == 1 and lines[0].startswith("lifecycle: "), err
        assert dump(db) == before, "refused, but the database changed"


def assert_valid_process(db: Path, key: str) -> None:
    """The started process can be loaded and its status computed for a day in its course.

    (Through the API, not `lifecycle status`: how the status table renders user text is
    that command's business; this corpus is about what `start` accepts.)
    """
    from sqlmodel import Session

    from lifecycle import lookups
    from lifecycle.status import process_status

    url = f"sqlite:///{db}"
    try:
        with Session(engine_for(url)) as s:
            process = lookups.get_process(s, key)
            for day in (process.started_on, process.started_on + dt.timedelta(days=250)):
                process_status(s, process, day)
    finally:
        engine_for(url).dispose()
        engine_for.cache_clear()


def _log_of(err: str) -> str:
    path = err.rsplit("Details in ", 1)[-1].strip()
    try:
        return err + Path(path).read_text(encoding="utf-8")
    except OSError:
        return err


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same corpus on every CI run; a failure reproduces
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.lists(mutations, min_size=1, max_size=2))
def test_start_exits_0_or_2_with_one_line_and_an_unchanged_database(
    template_db, tmp_path, changes
):
    data = json.loads(json.dumps(BASE))
    for path, op, new in changes:
        try:
            mutate(data, path, op, new)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # an earlier mutation removed or retyped this path
    text = to_yaml(_unwrap_root(data))
    check_start(template_db, tmp_path, text, f"m{abs(hash(text)) % 10**8}")


def test_the_unmutated_scenario_starts(template_db, tmp_path):
    check_start(template_db, tmp_path, to_yaml(BASE), "original")


@pytest.mark.parametrize("section", list(BASE))
def test_each_top_level_section_dropped(template_db, tmp_path, section):
    data = {k: v for k, v in BASE.items() if k != section}
    check_start(template_db, tmp_path, to_yaml(data), f"ohne-{section}")
