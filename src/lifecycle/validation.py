"""JSON-Schema validation of YAML documents with errors that name file, field and line.

Patterns are matched strictly: a schema pattern ending in ``$`` means the end of the text,
not "before a trailing newline" as in Python's ``re`` (a key ``"bsv\\n"`` is refused).
Messages are German.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema import validators

from .words import quoted
from .yamlio import Document

# Dates the engine works with: wide enough for any real process, narrow enough that working-day
# arithmetic and public-holiday tables never run off the calendar (year 1, year 9999).

# Names that become parts of file names: document kinds, keys, template names.
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}")


def is_safe_name(value: object) -> bool:
    return isinstance(value, str) and SAFE_NAME.fullmatch(value) is not None


@lru_cache(maxsize=64)
def _strict(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _strict(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


@lru_cache(maxsize=8)
def schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("lifecycle.schemas").joinpath(f"{name}.json").read_text())


def validator_for(schema_part: dict[str, Any]):
    return _Validator(schema_part)


def validate(doc: Document, schema_name: str) -> None:
    validator = _Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path)))
    if not errors:
        return
    err = _deepest(jsonschema.exceptions.best_match(errors))
    raise doc.error(list(err.absolute_path), explain(err))


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a oneOf (a verlauf step), the error of the branch the item meant, not the item."""
    while err.validator == "oneOf" and err.context and isinstance(err.instance, dict):
        branches: dict[int, list[jsonschema.ValidationError]] = {}
        for sub in err.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        meant = None
        for index, subs in branches.items():
            branch = err.schema["oneOf"][index]
            required = branch.get("required", [])
            if required and required[0] in err.instance:  # the discriminating key (decide/done)
                meant = subs
                break
        if meant is None:
            return err
        err = jsonschema.exceptions.best_match(meant)
    return err


def explain(err: jsonschema.ValidationError) -> str:
    """A German problem text for one schema error."""
    v, instance, sch = err.validator, err.instance, err.schema
    if v == "additionalProperties":
        extra = sorted(set(instance) - set(sch.get("properties", {})))
        return f"unbekannter Schlüssel {', '.join(map(_literal, extra))}"
    if v == "required":
        missing = err.message.removesuffix(" is a required property")
        with contextlib.suppress(ValueError, SyntaxError):  # jsonschema names it by its repr
            missing = _literal(ast.literal_eval(missing))
        return f"{missing} fehlt (Pflichtfeld)"
    if v == "pattern":
        expected = sch.get("description") or sch["pattern"]
        return f"{_shown(instance)} hat das falsche Format (erwartet: {expected})"
    if v == "minLength" and instance == "":
        return "darf nicht leer sein"
    if v == "minLength":
        return f"{_shown(instance)} ist zu kurz"
    if v == "maxLength":
        return f"{_shown(instance)} ist zu lang (höchstens {err.validator_value} Zeichen)"
    if v == "not":
        return "entweder „days“ oder „working_days“ angeben, nicht beides"
    if v == "type":
        expected = _expected_type(err.validator_value)
        return f"{_shown(instance)} ist {_type_de(instance)}, erwartet {expected}"
    if v == "enum":
        return f"{_shown(instance)} ist keiner von {', '.join(map(_literal, err.validator_value))}"
    if v == "const":
        return f"{_shown(instance)} ist nicht {_literal(err.validator_value)}"
    if v == "minimum":
        return f"{_shown(instance)} ist kleiner als {err.validator_value}"
    if v == "maximum":
        return f"{_shown(instance)} ist größer als {err.validator_value}"
    if v == "minItems":
        return f"braucht mindestens {err.validator_value} Einträge"
    if v == "maxItems":
        return f"höchstens {err.validator_value} Einträge"
    if v == "minProperties":
        return f"braucht mindestens {err.validator_value} Schlüssel"
    if v == "oneOf":
        return "passt zu keiner der erlaubten Formen"
    return err.message


_TYPES_DE = {
    "string": "Text",
    "integer": "eine ganze Zahl",
    "number": "eine Zahl",
    "boolean": "true oder false",
    "object": "eine Zuordnung (Schlüssel: Wert)",
    "array": "eine Liste",
    "null": "leer (null)",
}


def _expected_type(value: str | list[str]) -> str:
    names = [value] if isinstance(value, str) else value
    return " oder ".join(_TYPES_DE.get(n, n) for n in names)


def _type_de(instance: Any) -> str:
    if instance is None:
        return "leer (null)"
    if isinstance(instance, bool):
        return "ein Wahrheitswert"
    if isinstance(instance, int):
        return "eine ganze Zahl"
    if isinstance(instance, float):
        return "eine Zahl"
    if isinstance(instance, str):
        return "Text"
    if isinstance(instance, list):
        return "eine Liste"
    if isinstance(instance, dict):
        return "eine Zuordnung"
    return type(instance).__name__


def _shown(instance: Any) -> str:
    if isinstance(instance, dict | list):
        text = _type_de(instance)
        return text[0].upper() + text[1:]
    if isinstance(instance, str) and len(instance) > 58:
        return quoted(instance[:57] + "…")
    return _literal(instance)


def _literal(value: Any) -> str:
    """A value as the YAML file spells it: a text in German quotes (what it holds that does
    not show as itself escaped), null, true, false, a number as written."""
    if isinstance(value, str):
        return quoted(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
