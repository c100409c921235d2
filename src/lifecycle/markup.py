"""The one markup of scenario and author text: ``**bold**`` becomes a bold run in Word.

Everything else is literal: ``&``, ``<``, quotes, Jinja braces and emoji appear as typed.
A ``**`` that does not close is an error, never half a page in bold.
"""

from __future__ import annotations

BOLD = "**"


def problem(text: str) -> str | None:
    """A German description of what is wrong with the markup of ``text``, or None."""
    if text.count(BOLD) % 2 == 0:
        return None
    at = text.rfind(BOLD)
    excerpt = text[at : at + 30].replace("\n", " ")
    return f"Fettdruck wird nicht geschlossen: „{excerpt}“ braucht ein zweites **"


def runs(text: str) -> list[tuple[str, bool]]:
    """``text`` as (part, bold) runs; empty parts are dropped."""
    parts = text.split(BOLD)
    if len(parts) % 2 == 0:  # unbalanced: checked on input; here the rest stays literal
        parts = [*parts[:-2], BOLD.join(parts[-2:])]
    return [(part, i % 2 == 1) for i, part in enumerate(parts) if part]


def plain(text: str) -> str:
    """``text`` without its markup."""
    return "".join(part for part, _bold in runs(text))
