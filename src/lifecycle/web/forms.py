"""Reading posted forms: the CSRF check first, then German errors for each field."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from ..dates import check_year
from ..errors import InputError
from ..words import quoted
from . import security

MAX_FIELD = 100_000  # characters in one text field (a Begründung section is long, not a book)
MAX_UPLOAD = 5 * 2**20


async def checked_form(request: Request) -> FormData:
    """The posted form after the CSRF check; refused before anything reads the database."""
    form = await request.form(max_files=2, max_fields=200, max_part_size=MAX_UPLOAD + 1024)
    security.check_csrf(request, form)
    return form


def text(form: FormData, name: str, label: str, *, required: bool = True,
         max_length: int = 2000) -> str:  # fmt: skip
    value = form.get(name, "")
    if not isinstance(value, str):
        raise InputError("Formular", label, "ist kein Text")
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise InputError("Formular", label, "fehlt")
    if len(value) > max_length:
        raise InputError("Formular", label, f"ist zu lang (höchstens {max_length} Zeichen)")
    if "\x00" in value:
        raise InputError("Formular", label, "enthält ein NUL-Zeichen")
    return value


def line(form: FormData, name: str, label: str, *, required: bool = True) -> str:
    """One line of text: no line breaks (a reference, a name, a key)."""
    value = text(form, name, label, required=required, max_length=200)
    if "\n" in value or any(ord(c) < 32 for c in value):
        raise InputError("Formular", label, "ohne Zeilenumbrüche und Steuerzeichen, bitte")
    return value


ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
GERMAN_DAY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")


def day(form: FormData, name: str, label: str, *, german: bool = False) -> dt.date:
    """A date field as browsers send it (ISO); with ``german`` also typed as TT.MM.JJJJ.

    The years the engine handles are those of every other input (dates.check_year).
    """
    value = line(form, name, label)
    iso, typed = ISO_DAY.fullmatch(value), GERMAN_DAY.fullmatch(value) if german else None
    try:
        if iso:
            parsed = dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        elif typed:
            parsed = dt.date(int(typed[3]), int(typed[2]), int(typed[1]))
        else:
            raise ValueError(value)
    except ValueError:
        raise InputError("Formular", label,
                         f"{quoted(value)} ist kein Datum (TT.MM.JJJJ)") from None
    if problem := check_year(parsed):
        raise InputError("Formular", label, problem)
    return parsed


def upload(form: FormData, name: str, label: str) -> tuple[str, bytes]:
    value: Any = form.get(name)
    if not isinstance(value, UploadFile) or not value.filename:
        raise InputError("Formular", label, "keine Datei ausgewählt")
    data = value.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InputError("Formular", label, "die Datei ist zu groß (höchstens 5 MiB)")
    return value.filename, data
