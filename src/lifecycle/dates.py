"""German dates and money for documents, messages and the CLI."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency

# The years the engine handles: every date input (scenario, CLI, web, CSV) is checked by them.
MIN_YEAR, MAX_YEAR = 1950, 2200


def check_year(day: dt.date) -> str | None:
    """A problem text if ``day`` lies outside the years the engine handles, else None."""
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        return f"Jahr {day.year} außerhalb von {MIN_YEAR} bis {MAX_YEAR}"
    return None

LOCALE = "de_DE"

# Babel reads its pattern and locale tables on every call (6-12 µs); a day's text never
# changes, and a reminder run or a document names the same few days again and again.
_formatted = lru_cache(maxsize=4096)


@_formatted
def long_de(day: dt.date) -> str:
    """'Donnerstag, 14. Dezember 2017'."""
    return format_date(day, format="full", locale=LOCALE)


@_formatted
def short_de(day: dt.date) -> str:
    """'14.12.2017'."""
    return format_date(day, format="medium", locale=LOCALE)


@_formatted
def weekday_short_de(day: dt.date) -> str:
    """'Do., 14.12.2017' for tables."""
    return format_date(day, format="EE, dd.MM.yyyy", locale=LOCALE)


@_formatted
def month_de(day: dt.date) -> str:
    """'Dezember 2017'."""
    return format_date(day, format="MMMM yyyy", locale=LOCALE)


def euro(amount: float) -> str:
    """'15.000 €' for whole amounts, '1.234,50 €' otherwise."""
    fmt = "#,##0\xa0¤" if float(amount).is_integer() else "#,##0.00\xa0¤"
    return format_currency(amount, "EUR", format=fmt, locale=LOCALE, currency_digits=False)


BERLIN = ZoneInfo("Europe/Berlin")


def local_time(moment: dt.datetime) -> dt.datetime:
    """A logged UTC time (aware, or naive from SQLite) as the clock in the Rathaus shows it."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(BERLIN)
