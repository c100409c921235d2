"""JSON-Schema validation of YAML documents with errors that name file, field and line."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

from .yamlio import Document


@lru_cache(maxsize=8)
def schema(name: str) -> dict[str, Any]:
    return json.loads(resources.files("lifecycle.schemas").joinpath(f"{name}.json").read_text())


def validate(doc: Document, schema_name: str) -> None:
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(doc.data), key=lambda e: list(map(str, e.path)))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    raise doc.error(list(err.absolute_path), _explain(err))


def _explain(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"unknown key {', '.join(map(repr, extra))}"
    if err.validator == "required":
        return err.message.replace("is a required property", "is missing (required)")
    if err.validator == "pattern":
        expected = err.schema.get("description") or err.schema["pattern"]
        return f"{err.instance!r} has the wrong format (expected {expected})"
    if err.validator == "minLength" and err.instance == "":
        return "must not be empty"
    if err.validator == "not":
        return "give either 'days' or 'working_days', not both"
    return err.message
