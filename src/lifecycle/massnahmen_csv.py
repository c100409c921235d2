"""Maßnahmen as CSV, one format both ways: a Fachbereich updates the sheet and loads it back.

The format is German Excel's: ``;`` between fields, dates as 14.12.2017, amounts with a
decimal comma. Export writes UTF-8 with a byte order mark (Excel then shows umlauts right);
import reads UTF-8 with or without BOM and Excel's Windows-1252. An export loaded back
changes nothing (round trip without loss).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from sqlmodel import Session

from . import umsetzung
from .errors import InputError, NotFound
from .models import Fortschreibung, Massnahme
from .words import quoted

log = logging.getLogger("lifecycle.massnahmen_csv")
# column -> field of the Maßnahme
COLUMNS = {
    "Schlüssel": "key",
    "Handlungsfeld": "handlungsfeld",
    "Maßnahme": "title",
    "Verantwortlich": "responsible",
    "Beginn": "start_date",
    "Zieltermin": "target_date",
    "Haushaltsstelle": "budget_line",
    "Betrag": "budget_amount",
    "Status": "status",
    "Fortschritt": "progress",
    "Sachstand": "public_text",
    "Interne Notiz": "internal_note",
}
MAX_BYTES = 5 * 2**20
# A cell Excel would run as a formula ("=HYPERLINK(…)"): exported behind an apostrophe, which
# the import takes off again. A text that itself begins with one gets a second (lossless).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def export(massnahmen: list[Massnahme]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for m in massnahmen:
        writer.writerow([_cell(getattr(m, field)) for field in COLUMNS.values()])
    return "\ufeff" + out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, umsetzung.MassnahmeStatus):
        return value.value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


# The csv module's problems in German; the English text goes to the log.
_CSV_PROBLEMS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"field larger than field limit \((\d+)\)"),
     lambda m: f"ein Feld ist länger als {int(m[1]):,} Zeichen".replace(",", ".")),
    (re.compile(r"expected after '\"'"),
     lambda m: "nach einem schließenden Anführungszeichen muss „;“ folgen"),
    (re.compile(r"unexpected end of data"),
     lambda m: "ein Anführungszeichen wird nicht geschlossen"),
    (re.compile(r"new-line character seen in unquoted field"),
     lambda m: "ein Zeilenumbruch in einem Feld ohne Anführungszeichen"),
]  # fmt: skip


def _csv_problem(exc: csv.Error) -> str:
    log.info("CSV refused: %s", exc)
    said = str(exc)
    return next((say(m) for pattern, say in _CSV_PROBLEMS if (m := pattern.search(said))),
                "Anführungszeichen und Trennzeichen prüfen")  # fmt: skip


def decode(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 as Excel writes it."""
    if len(data) > MAX_BYTES:
        raise InputError(source, "", f"größer als {MAX_BYTES // 2**20} MiB")
    if data.startswith(b"\xef\xbb\xbf"):  # says UTF-8: then it must be, no guessing
        try:
            return data[3:].decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            line = data[3 : 3 + exc.start].count(b"\n") + 1
            raise InputError(source, f"Zeile {line}", "beginnt mit der UTF-8-Kennung (BOM), "
                             f"enthält aber kein gültiges UTF-8 (Byte {exc.start + 4})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        if "\ufffd" in text:
            raise InputError(source, "", "weder UTF-8 noch Windows-1252 lesbar") from None
        return text


def parse(data: bytes, source: str) -> list[tuple[int, dict[str, str]]]:
    """(line, column -> text) of each row; the header must name only known columns."""
    text = decode(data, source)
    if "\x00" in text:
        raise InputError(source, "", "enthält Nullbytes: keine CSV-Datei")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(source, "Zeile 1", "die Datei ist leer") from None
    except csv.Error as exc:
        raise InputError(source, "Zeile 1", f"keine CSV-Kopfzeile ({_csv_problem(exc)})") from None
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise InputError(source, "Zeile 1", f"unbekannte Spalte {quoted(unknown[0])}; erlaubt: "
                         f"{', '.join(COLUMNS)}")  # fmt: skip
    if "Schlüssel" not in header:
        raise InputError(source, "Zeile 1", "die Spalte „Schlüssel“ fehlt")
    if len(set(header)) != len(header):
        raise InputError(source, "Zeile 1", "eine Spalte steht doppelt in der Kopfzeile")
    rows = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(source, f"Zeile {reader.line_num}",
                                 f"{len(row)} Felder statt {len(header)}")  # fmt: skip
            rows.append((reader.line_num, dict(zip(header, row, strict=True))))
    except csv.Error as exc:
        raise InputError(source, f"Zeile {reader.line_num}",
                         f"kein gültiges CSV ({_csv_problem(exc)})") from None  # fmt: skip
    return rows


def updates(session: Session, process: Fortschreibung, rows: list[tuple[int, dict[str, str]]],
            source: str) -> Iterator[tuple[str, dict[str, Any]]]:  # fmt: skip
    """(key, checked field values) per row; every problem names file, line and column."""
    seen: dict[str, int] = {}
    planned = []
    for line, row in rows:
        key = row["Schlüssel"].strip()
        where = f"Zeile {line}"
        if key in seen:
            raise InputError(source, where,
                             f"Schlüssel {quoted(key)} steht schon in Zeile {seen[key]}")
        seen[key] = line
        try:
            umsetzung.get(session, process, key)
        except NotFound as exc:
            raise InputError(source, where, str(exc)) from None
        values = {}
        for column, text in row.items():
            field = COLUMNS[column]
            if field == "key":
                continue
            try:
                values[field] = _value(field, text.strip())
                umsetzung.check_values({field: values[field]})
            except InputError as exc:
                raise InputError(source, f"{where}, Spalte {column}", exc.problem) from None
        planned.append((key, values))
    yield from planned


def _value(field: str, text: str) -> Any:
    if field in ("start_date", "target_date"):
        if not text:
            return None
        try:
            return dt.datetime.strptime(text, "%d.%m.%Y").date()
        except ValueError:
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                raise InputError("", field, f"{quoted(text)} ist kein Datum (TT.MM.JJJJ)") from None
    if field == "budget_amount":
        if not text:
            return None
        number = text.replace("€", "").replace(" ", "")
        number = number.replace(".", "").replace(",", ".") if "," in number else number
        try:
            value = float(number)
        except ValueError:
            raise InputError("", field, f"{quoted(text)} ist kein Betrag") from None
        return umsetzung.check_amount(value, typed=text)
    return text[1:] if text.startswith("'") else text
