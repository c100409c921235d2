"""Council calendar arithmetic: working days per Bundesland, Vorlagenschluss, due dates.

Holidays come from the ``holidays`` package; a Bundesland is its subdivision code ("BW").
Saturday and Sunday are never working days.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
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


_GERMANY_MODULE = "holidays.countries.germany"


def _germany() -> type[holidays.HolidayBase]:
    """The ``holidays`` class of Germany, without loading every other country.

    ``holidays.Germany`` (and ``from holidays.countries.germany import …``) runs the package
    ``holidays.countries``, whose ``__init__`` imports all ~250 countries (~70 ms). The German
    module itself only needs ``holidays``' base modules, so it is loaded from its file under its
    own name: a later import of ``holidays.countries`` finds it in ``sys.modules`` and uses the
    very same class. When the package's layout differs, the ordinary way.
    """
    module = sys.modules.get(_GERMANY_MODULE)
    if module is None:
        path = Path(holidays.__file__).parent / "countries" / "germany.py"
        spec = importlib.util.spec_from_file_location(_GERMANY_MODULE, path)
        if spec is None or spec.loader is None or not path.is_file():  # pragma: no cover
            return holidays.Germany
        module = importlib.util.module_from_spec(spec)
        sys.modules[_GERMANY_MODULE] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:  # pragma: no cover - a half-run module must not stay registered
            del sys.modules[_GERMANY_MODULE]
            raise
    germany: type[holidays.HolidayBase] = module.Germany
    return germany


# Memo sizes per calendar: a long-running server forgets, a bulk recompute never needs to.
_MEMO_LIMIT = 200_000


class WorkCalendar:
    """Working days of one Bundesland, optionally with extra closing days of the Rathaus.

    A calendar never changes once built (``for_bundesland`` shares them), so it remembers
    every answer of its working-day arithmetic: bulk recomputes and reminder scans ask the same
    questions for thousands of processes.
    """

    def __init__(self, bundesland: str, extra_closed: frozenset[dt.date] = frozenset()):
        if bundesland not in BUNDESLAENDER:
            raise ValueError(
                f"unknown Bundesland {bundesland!r}; expected one of {', '.join(BUNDESLAENDER)}"
            )
        self.bundesland = bundesland
        self.extra_closed = extra_closed
        self._holidays = _germany()(subdiv=bundesland, language="de")
        self._working: dict[dt.date, bool] = {}
        self._added: dict[tuple[dt.date, int], dt.date] = {}

    def is_working_day(self, day: dt.date) -> bool:
        known = self._working.get(day)
        if known is None:
            known = (
                day.weekday() < 5 and day not in self._holidays and day not in self.extra_closed
            )
            if len(self._working) >= _MEMO_LIMIT:
                self._working.clear()
            self._working[day] = known
        return known

    def holiday_name(self, day: dt.date) -> str | None:
        return self._holidays.get(day)

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after (n > 0) or before (n < 0) ``day``; n == 0 rolls back."""
        key = (day, n)
        known = self._added.get(key)
        if known is None:
            known = self._add_working_days(day, n)
            if len(self._added) >= _MEMO_LIMIT:
                self._added.clear()
            self._added[key] = known
        return known

    def _add_working_days(self, day: dt.date, n: int) -> dt.date:
        if n == 0:
            return self._roll_back(day)
        step = dt.timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return day

    def roll_back(self, day: dt.date) -> dt.date:
        """A due date on a weekend or holiday moves to the working day before."""
        return self.add_working_days(day, 0)

    def _roll_back(self, day: dt.date) -> dt.date:
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
