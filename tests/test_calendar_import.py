"""lifecycle.calendar loads holidays' German module only, with the package's very results.

``holidays.Germany`` runs ``holidays.countries``, which imports every country (~70 ms on
the ``status`` path); the calendar loads ``holidays/countries/germany.py`` alone. Each way
runs in its own fresh interpreter (what is imported depends on what ran before), and both
must name the same holidays on the same days for every Bundesland.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from conftest import child_env

DAYS = "[dt.date(1995, 1, 1) + dt.timedelta(days=i) for i in range((dt.date(2041, 1, 1) - dt.date(1995, 1, 1)).days)]"  # noqa: E501

PACKAGE_WAY = f"""
import datetime as dt, json, holidays
from lifecycle.calendar import BUNDESLAENDER  # only the names (nothing loaded yet)
days = {DAYS}
out = {{}}
for land in BUNDESLAENDER:
    h = holidays.Germany(subdiv=land, language="de")
    out[land] = [[d.isoformat(), h.get(d)] for d in days]
print(json.dumps(out))
"""

CALENDAR_WAY = f"""
import datetime as dt, json, sys
from lifecycle.calendar import BUNDESLAENDER, WorkCalendar
days = {DAYS}
out = {{}}
for land in BUNDESLAENDER:
    cal = WorkCalendar(land)
    out[land] = [[d.isoformat(), cal.holiday_name(d), cal.is_working_day(d)] for d in days]
loaded = sorted(m for m in sys.modules if m.startswith("holidays.countries"))
print(json.dumps({{"days": out, "loaded": loaded}}))
"""


def _run(code: str) -> object:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=child_env())  # fmt: skip
    return json.loads(done.stdout)


def test_same_holidays_as_the_package_its_own_way_and_only_germany_loaded():
    package = _run(PACKAGE_WAY)
    calendar = _run(CALENDAR_WAY)
    assert isinstance(package, dict) and isinstance(calendar, dict)
    assert calendar["loaded"] == ["holidays.countries.germany"]
    assert set(calendar["days"]) == set(package) and len(package) == 16
    for land, days in calendar["days"].items():
        assert len(days) == len(package[land]) > 16_000
        for (day, name, working), (same_day, package_name) in zip(days, package[land],
                                                                  strict=True):  # fmt: skip
            assert (day, name) == (same_day, package_name), land
            weekday = dt.date.fromisoformat(day).weekday()
            assert working == (weekday < 5 and package_name is None), (land, day)
    # the Länder differ where they should (Fronleichnam in BW, not in Berlin)
    assert dict(d[:2] for d in calendar["days"]["BW"])["2024-05-30"] == "Fronleichnam"
    assert dict(d[:2] for d in calendar["days"]["BE"])["2024-05-30"] is None


def test_the_german_module_is_loaded_alone_in_this_interpreter_too(monkeypatch):
    """The loader itself, in-process (so that coverage tools see it): with no holidays country
    module loaded, it loads germany.py under its own name and not the countries package."""
    from lifecycle import calendar

    for name in [m for m in sys.modules if m.startswith("holidays.countries")]:
        monkeypatch.delitem(sys.modules, name)
    germany = calendar._germany()
    assert "holidays.countries" not in sys.modules
    module = sys.modules["holidays.countries.germany"]
    assert germany is module.Germany and module.__file__.endswith("countries/germany.py")
    assert germany(subdiv="BW", language="de").get(dt.date(2017, 10, 31)) == "Reformationstag"
    assert calendar._germany() is germany  # found again, not loaded again
