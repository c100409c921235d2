"""words.quoted: how a German message names what the user typed or what the plan calls it.

In German quotes („…“), never Python's repr ('…'); and, as repr did, everything in it that
would not show as itself (a line break, NUL, a right-to-left mark) spelled as its escape, so
the message stays one line and the user sees what they typed.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.words import quoted

# The escapes quoted writes, and a backslash doubled where it would read as one.
_ESCAPE = re.compile(r"\\(?:([nrt\\])|x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8}))")


def read_back(shown: str) -> str:
    """The text a quoted text was made of: the inverse of ``quoted`` for texts."""
    assert shown.startswith("„") and shown.endswith("“"), shown
    named = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}

    def one(m: re.Match[str]) -> str:
        if m[1]:
            return named[m[1]]
        return chr(int(m[2] or m[3] or m[4], 16))

    return _ESCAPE.sub(one, shown[1:-1])


# Any code point, lone surrogates included, with the awkward ones made likely.
AWKWARD = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\xa0", "\xad", "\u200b",
           "\u200f", "\u202e", "\u2028", "\u2029", "\ufeff", "\ud800", "\udcfc", "\U000e0001",
           "\\", "\\n", "\\x41", "\\u200f", "„", "“", "'", '"', " ", "ä", "ß", "\u0301",
           "€"]  # fmt: skip
TEXTS = st.lists(
    st.one_of(st.sampled_from(AWKWARD), st.characters(exclude_categories=())), max_size=30
).map("".join)


@given(TEXTS)
def test_any_text_is_one_line_in_german_quotes_and_reads_back(text):
    shown = quoted(text)
    assert shown.startswith("„") and shown.endswith("“")
    assert len(shown.splitlines()) == 1, shown
    assert all(ch == " " or ch.isprintable() for ch in shown), ascii(shown)
    assert read_back(shown) == text


@given(TEXTS)
def test_every_printable_character_shows_as_itself_and_no_other_is_there(text):
    shown = quoted(text)
    for ch in text:
        if ch == " " or ch.isprintable():
            assert ch in shown
        else:
            assert ch not in shown
            assert f"{ord(ch):02x}" in shown or ch in "\n\r\t"


@pytest.mark.parametrize(("value", "shown"), [
    ("ratsbeschluss", "„ratsbeschluss“"),
    ("ratsbeschluss\n", "„ratsbeschluss\\n“"),  # a trailing newline, pasted along
    ("BSV\t3/2017", "„BSV\\t3/2017“"),
    ("gr-2017\x00", "„gr-2017\\x00“"),
    ("waiblingen-2017\u200f", "„waiblingen-2017\\u200f“"),  # a right-to-left mark
    ("m\udcfcller", "„m\\udcfcller“"),  # a lone surrogate: Latin-1 bytes read as UTF-8
    ("Rathaus\xa0Waiblingen", "„Rathaus\\xa0Waiblingen“"),  # looks like a blank, is not
    ("a\u2028b", "„a\\u2028b“"),  # a line separator would break the line
    ("C:\\vorlagen", "„C:\\vorlagen“"),  # a backslash stays where it reads as itself …
    ("C:\\neu", "„C:\\\\neu“"),  # … and is doubled where it would read as an escape
    ("„Zitat“", "„„Zitat““"),
    ("", "„“"),
])  # fmt: skip
def test_texts(value, shown):
    assert quoted(value) == shown


class Farbe(enum.Enum):
    rot = "rot"


@pytest.mark.parametrize(("value", "shown"), [
    (dt.date(2017, 12, 14), "14.12.2017"),
    (dt.date(1, 1, 1), "01.01.0001"),
    (dt.datetime(2017, 12, 14, 18, 0), "14.12.2017 18:00"),
    (dt.datetime(1, 1, 1, 0, 30), "01.01.0001 00:30"),
    (dt.datetime(2017, 12, 14, 18, 0, 5), "14.12.2017 18:00:05"),
    (dt.time(17, 30), "17:30"),
    (None, "(leer)"),
    (True, "ja"),
    (False, "nein"),
    (3, "3"),
    (2.5, "2,5"),
    (Farbe.rot, "„rot“"),
    (PurePosixPath("/srv/vorlagen"), "„/srv/vorlagen“"),
])  # fmt: skip
def test_values_that_are_not_text_as_german_writes_them(value, shown):
    assert quoted(value) == shown
