"""Council calendar arithmetic: working days per Bundesland, Vorlagenschluss, due dates.

Holidays come from the ``holidays`` package; a Bundesland is its subdivision code ("BW").
Saturday and Sunday are never working days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import holidays

BUNDESLAENDER: dict[str, str] = {
    "BB": "Brandenburg",
    "BE": "Berlin",
    "BW": "Baden-Württemberg",
    "BY": "Bayern",
    "HB": "Bremen",
    "HE": "Hessen",
    "HH": "Hamburg",
    "MV": "Mecklenburg-Vorpommern",
    "NI": "Niedersachsen",
    "NW": "Nordrhein-Westfalen",
    "RP": "Rheinland-Pfalz",
    "SH": "Schleswig-Holstein",
    "SL": "Saarland",
    "SN": "Sachsen",
    "ST": "Sachsen-Anhalt",
    "TH": "Thüringen",
}


class WorkCalendar:
    """Working days of one Bundesland, optionally with extra closing days of the Rathaus."""

    def __init__(self, bundesland: str, extra_closed: frozenset[dt.date] = frozenset()):
        if bundesland not in BUNDESLAENDER:
            raise ValueError(
                f"unknown Bundesland {bundesland!r}; expected one of {', '.join(BUNDESLAENDER)}"
            )
        self.bundesland = bundesland
        self.extra_closed = extra_closed
        self._holidays = holidays.Germany(subdiv=bundesland, language="de")

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in self._holidays and day not in self.extra_closed

    def holiday_name(self, day: dt.date) -> str | None:
        return self._holidays.get(day)

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after (n > 0) or before (n < 0) ``day``; n == 0 rolls back."""
        if n == 0:
            return self.roll_back(day)
        step = dt.timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return day

    def roll_back(self, day: dt.date) -> dt.date:
        """A due date on a weekend or holiday moves to the working day before."""
        while not self.is_working_day(day):
            day -= dt.timedelta(days=1)
        return day

    def vorlagenschluss(self, sitzung_day: dt.date, working_days: int) -> dt.date:
        """Last day a Vorlage may reach the council office for a Sitzung on ``sitzung_day``."""
        return self.add_working_days(sitzung_day, -working_days)


@lru_cache(maxsize=256)
def for_bundesland(bundesland: str, closing_days: tuple[str, ...] = ()) -> WorkCalendar:
    return WorkCalendar(bundesland, frozenset(dt.date.fromisoformat(d) for d in closing_days))


class _HasCalendar(Protocol):
    """A Kommune row, or anything else that names a Bundesland and closing days."""

    @property
    def bundesland(self) -> str: ...

    @property
    def closing_days(self) -> Sequence[str] | None: ...


def for_kommune(kommune: _HasCalendar) -> WorkCalendar:
    """The working days of a Kommune: its Bundesland's holidays and its own closing days."""
    return for_bundesland(kommune.bundesland, tuple(sorted(kommune.closing_days or ())))


class _Sitzung(Protocol):
    @property
    def start(self) -> dt.datetime: ...


class _Gremium(Protocol):
    @property
    def vorlagenschluss_working_days(self) -> int: ...


def vorlagenschluss_of(cal: WorkCalendar, sitzung: _Sitzung, gremium: _Gremium) -> dt.date:
    """The Vorlagenschluss of ``sitzung``: the one rule every view and the reminders use.

    ``cal`` is the calendar of the Sitzung's Kommune (``for_kommune``); ``gremium`` is the
    Sitzung's Gremium, whose ``vorlagenschluss_working_days`` count back from the Sitzung's day.
    ORM rows and plain result rows alike (anything with ``start`` and the working days).
    """
    return _vorlagenschluss(cal, sitzung.start.date(), gremium.vorlagenschluss_working_days)


@lru_cache(maxsize=4096)
def _vorlagenschluss(cal: WorkCalendar, day: dt.date, working_days: int) -> dt.date:
    # Calendars are shared and immutable (``for_bundesland`` caches them), so bulk scans over
    # many processes sharing a few Sitzungen count the working days once per Sitzung.
    return cal.vorlagenschluss(day, working_days)
