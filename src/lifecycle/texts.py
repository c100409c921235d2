"""What a text from outside (a scenario, a command line, a RIS) may hold to be stored.

Control characters break Word files, e-mail headers and terminals; a lone surrogate
("\\ud800", or a byte that is not UTF-8 smuggled in by surrogateescape) is no character at
all, and no UTF-8 file, database or e-mail can hold it. Tab, line feed and carriage return
stay allowed in texts; a name (one line: a Kommune, a person, a calendar's title) holds no
line break either.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile("[\n\r\x85\u2028\u2029]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a control character, a lone surrogate), else None."""
    if found := _CONTROL.search(text):
        return f"unzulässiges Steuerzeichen U+{ord(found.group()):04X}"
    if found := _SURROGATE.search(text):
        return f"unzulässiges Zeichen U+{ord(found.group()):04X} (einzelnes Surrogat, kein Text)"
    return None


def line_problem(text: str) -> str | None:
    """Why ``text`` cannot be a name of one line (as text_problem, or a line break), else None."""
    if problem := text_problem(text):
        return problem
    if found := _LINE_BREAK.search(text):
        return f"Zeilenumbruch (U+{ord(found.group()):04X}): hier ist nur eine Zeile erlaubt"
    return None


def one_line(text: str) -> str:
    """``text`` with every line break and run of blanks as one space (for a stored name that
    must go out on one line: a calendar's title, a header)."""
    return " ".join(_LINE_BREAK.sub(" ", text).split())
