import datetime as dt

from lifecycle.dates import euro, long_de, short_de, weekday_short_de


def test_german_dates():
    day = dt.date(2017, 12, 14)
    assert long_de(day) == "Donnerstag, 14. Dezember 2017"
    assert short_de(day) == "14.12.2017"
    assert weekday_short_de(day) == "Do., 14.12.2017"


def test_euro():
    assert euro(15000) == "15.000\xa0€"
    assert euro(1234.5) == "1.234,50\xa0€"
