"""Every OParl object we publish is checked against the OParl 1.1 JSON Schema first.

The schema files ship in ``lifecycle/schemas/oparl`` (draft-07, ``$id``
https://schema.oparl.org/1.1/<Type>, ``$ref`` to sibling ``<Type>.json``); a local
``referencing`` registry resolves them, nothing is fetched. On top of the schema, the checks
real clients rely on: ``date-time`` with a time zone, ``url`` absolute http(s), ``date`` a
calendar day, and no empty strings anywhere (a field without a value is left out).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from ..errors import LifecycleError
from ..words import quoted
from .lists import INTERNAL_LISTS

SCHEMA_BASE = "https://schema.oparl.org/1.1/"
TYPES = ("AgendaItem", "Body", "Consultation", "File", "LegislativeTerm", "Location", "Meeting",
         "Membership", "Organization", "Paper", "Person", "System")  # fmt: skip
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


class InvalidObject(LifecycleError):
    """An OParl object that does not validate: names the object and the field."""

    def __init__(self, object_id: str, field: str, problem: str):
        self.object_id, self.field, self.problem = object_id, field, problem
        super().__init__(f"OParl-Objekt {object_id}: Feld {field or '(Objekt)'}: {problem}")


def type_name(obj: Mapping[str, Any]) -> str:
    """'Meeting' for an object of type https://schema.oparl.org/1.1/Meeting."""
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind.startswith(SCHEMA_BASE):
        return ""
    return kind.removeprefix(SCHEMA_BASE)


def _schema_text(name: str) -> dict[str, Any]:
    folder = resources.files("lifecycle.schemas") / "oparl"
    data: dict[str, Any] = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        return False
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


@lru_cache(maxsize=1)
def _validators() -> dict[str, Any]:
    from jsonschema import Draft7Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    checker.checks("date")(_is_date)
    checker.checks("url")(_is_url)
    schemas = {name: _schema_text(name) for name in TYPES}
    registry: Registry[Any] = Registry()
    for name, schema in schemas.items():
        resource = Resource.from_contents(schema, default_specification=DRAFT7)
        # $id is .../Meeting, the $refs say Meeting.json: both name the same file
        registry = registry.with_resources(
            [(f"{SCHEMA_BASE}{name}", resource), (f"{SCHEMA_BASE}{name}.json", resource)]
        )
    return {
        name: Draft7Validator(schema, registry=registry, format_checker=checker)
        for name, schema in schemas.items()
    }


def _empty_strings(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if not value.strip():
            yield path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _empty_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _empty_strings(item, f"{path}[{i}]")


def _path(error: Any) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


MISSING = "fehlt (Pflichtfeld)"


def problems(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Everything wrong with one object: (field, problem) pairs; empty when it is valid."""
    name = type_name(obj)
    if name not in TYPES:
        return [("type", f"unbekannter OParl-Typ {quoted(obj.get('type'))}")]
    found: list[tuple[str, str]] = []
    for error in sorted(_validators()[name].iter_errors(obj), key=lambda e: list(e.path)):
        field = _path(error)
        if error.validator == "required":
            missing = re.search(r"'([^']+)' is a required property", error.message)
            field = (
                f"{field}.{missing[1]}" if field and missing else (missing[1] if missing else field)
            )
            found.append((field, MISSING))
        elif error.validator == "format":
            found.append((field, f"kein gültiges {quoted(error.validator_value)}: "
                                 f"{quoted(error.instance)}"))
        else:
            found.append((field, error.message))
    found += [(field, "leere Zeichenkette (Feld weglassen)") for field in _empty_strings(obj, "")]
    return found


def check(obj: Mapping[str, Any], omitted: tuple[str, ...] = ()) -> None:
    """Raise InvalidObject naming the object and its first bad field; the fields ``omitted``
    (the internal lists a client asked to leave out) may be missing."""
    bad = [(field, problem) for field, problem in problems(obj)
           if not (field in omitted and problem == MISSING)]  # fmt: skip
    if bad:
        field, problem = bad[0]
        raise InvalidObject(str(obj.get("id", "(ohne id)")), field, problem)


def check_list_page(page: Mapping[str, Any], *, omit_internal: bool = False) -> None:
    """A list page: data, pagination, links, and every object in data valid (without its
    internal lists, if the client asked to omit them: ``omit_internal``)."""
    for key in ("data", "pagination", "links"):
        if key not in page:
            raise InvalidObject(str(page.get("links", {}).get("self", "(Liste)")), key, "fehlt")
    for item in page["data"]:
        if item.get("deleted") is True:
            check_tombstone(item)
        else:
            check(item, INTERNAL_LISTS.get(type_name(item), ()) if omit_internal else ())


def check_tombstone(obj: Mapping[str, Any]) -> None:
    """A deleted object: id, type, created, modified, deleted and nothing else."""
    check(obj)
    extra = set(obj) - {"id", "type", "created", "modified", "deleted"}
    if extra:
        raise InvalidObject(str(obj["id"]), sorted(extra)[0], "gelöschtes Objekt mit Inhalt")
    for key in ("created", "modified"):
        if key not in obj:
            raise InvalidObject(str(obj["id"]), key, "fehlt (gelöschtes Objekt)")
