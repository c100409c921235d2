import datetime as dt

import pytest

from lifecycle.calendar import WorkCalendar, for_bundesland

D = dt.date


class TestVorlagenschluss:
    def test_known_answer_bw(self):
        assert WorkCalendar("BW").vorlagenschluss(D(2017, 12, 6), 10) == D(2017, 11, 22)

    @pytest.mark.parametrize("land", ["BW", "NW"])
    def test_known_answer_november(self, land):
        assert WorkCalendar(land).vorlagenschluss(D(2017, 11, 6), 10) == D(2017, 10, 19)

    def test_reformationstag_2017_skipped_everywhere(self):
        # 31.10.2017 was a one-off nationwide holiday: 10 working days before 14.11.2017
        cal = WorkCalendar("HH")  # Hamburg: no Allerheiligen on 01.11.
        assert not cal.is_working_day(D(2017, 10, 31))
        assert cal.vorlagenschluss(D(2017, 11, 14), 10) == D(2017, 10, 30)

    def test_holidays_differ_by_bundesland(self):
        allerheiligen = D(2024, 11, 1)
        assert not WorkCalendar("NW").is_working_day(allerheiligen)
        assert WorkCalendar("BE").is_working_day(allerheiligen)


class TestRollBack:
    def test_weekend_moves_to_friday(self):
        assert WorkCalendar("BW").roll_back(D(2017, 12, 10)) == D(2017, 12, 8)

    def test_christmas_moves_before_holidays(self):
        # 24.12.2017 Sunday, 25./26.12. holidays -> Friday 22.12.
        assert WorkCalendar("BW").roll_back(D(2017, 12, 26)) == D(2017, 12, 22)

    def test_working_day_stays(self):
        assert WorkCalendar("BW").roll_back(D(2017, 12, 14)) == D(2017, 12, 14)

    def test_holiday_moves_one_day_back_at_a_time(self):
        # Fronleichnam 15.06.2017 (Thursday, BW) -> Wednesday 14.06., not Tuesday 13.06.
        assert WorkCalendar("BW").roll_back(D(2017, 6, 15)) == D(2017, 6, 14)
        # Pfingstmontag 05.06.2017 -> over the weekend to Friday 02.06.
        assert WorkCalendar("BW").roll_back(D(2017, 6, 5)) == D(2017, 6, 2)


def test_holiday_names_are_german():
    cal = WorkCalendar("BW")
    assert cal.bundesland == "BW"
    assert cal.holiday_name(D(2017, 6, 5)) == "Pfingstmontag"
    assert cal.holiday_name(D(2017, 6, 6)) is None


class TestWorkingDays:
    def test_forward_and_back_are_inverse_on_working_days(self):
        cal = WorkCalendar("BW")
        day = D(2017, 11, 22)
        assert cal.add_working_days(cal.add_working_days(day, 10), -10) == day

    def test_closing_days_are_not_working_days(self):
        cal = for_bundesland("BW", ("2017-11-23",))
        assert not cal.is_working_day(D(2017, 11, 23))
        assert cal.vorlagenschluss(D(2017, 12, 6), 10) == D(2017, 11, 21)


def test_unknown_bundesland_is_refused():
    with pytest.raises(ValueError, match="unknown Bundesland 'XX'; expected one of BB, BE, BW, "):
        WorkCalendar("XX")


class TestMemo:
    """A calendar remembers its answers (bulk runs ask the same ones 10⁵ times), each under its
    own question, and forgets them all once it holds ``_MEMO_LIMIT`` (a server runs for months)."""

    DAYS = [D(2017, 1, 1) + dt.timedelta(days=i) for i in range(400)]

    def test_remembered_answers_are_the_answers_of_a_fresh_calendar(self):
        cal = WorkCalendar("BY")
        for n in (3, -3, 0, 10, -10, 1):  # the same days under other n first
            for day in self.DAYS[::7]:
                cal.add_working_days(day, n)
        for n in (-10, 0, 1, 3):
            for day in self.DAYS[::7]:
                assert cal.add_working_days(day, n) == WorkCalendar("BY").add_working_days(day, n)
        assert [cal.is_working_day(d) for d in self.DAYS] == [
            WorkCalendar("BY").is_working_day(d) for d in self.DAYS
        ]

    def test_each_answer_is_remembered_once(self):
        cal = WorkCalendar("BW")
        counted = []
        count = cal._add_working_days

        def counting(day: dt.date, n: int) -> dt.date:
            counted.append((day, n))
            return count(day, n)

        cal._add_working_days = counting  # type: ignore[method-assign]
        for day in self.DAYS[:30]:
            cal.is_working_day(day)
            cal.is_working_day(day)
            assert cal.add_working_days(day, 2) == cal.add_working_days(day, 2)
        assert counted == [(day, 2) for day in self.DAYS[:30]]  # each question worked out once
        assert len(cal._added) == 30
        assert set(cal._working) >= set(self.DAYS[:30])

    def test_the_memo_is_emptied_at_its_limit(self, monkeypatch):
        monkeypatch.setattr("lifecycle.calendar._MEMO_LIMIT", 5)
        cal, fresh = WorkCalendar("NW"), WorkCalendar("NW")
        sizes_working, sizes_added = [], []
        for day in self.DAYS[:40]:
            assert cal.add_working_days(day, -1) == fresh._add_working_days(day, -1)
            assert cal.is_working_day(day) == (day.weekday() < 5 and not fresh.holiday_name(day))
            sizes_working.append(len(cal._working))
            sizes_added.append(len(cal._added))
        assert max(sizes_working) == 5 and max(sizes_added) == 5
        assert 1 in sizes_added  # emptied, then filled again
