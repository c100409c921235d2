"""German messages for what a Word template can get wrong: the file, its XML, its Jinja.

``documents.render`` turns each error into one sentence that names the template and, where
Jinja knows it, the paragraph with its text (``docx_render.where``). Jinja, lxml and
python-docx speak English; their own words go to the log only. The CLI and the web app show
the same sentence (the CLI as its one line on stderr, exit 2).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import jinja2
from jinja2.sandbox import MAX_RANGE
from lxml import etree

from .docx_render import UnreadableTemplate, where

log = logging.getLogger("lifecycle.documents")

# "'buergermeister' is undefined", "'dict object' has no attribute 'aktenzeichen'"
_UNDEFINED = re.compile(r"'(?:[^']+ object' has no attribute '([^']+)'|([^']+)' is undefined)")

_Say = Callable[[re.Match[str]], str]
# Jinja's syntax errors, most specific first; anything else is "fehlerhaft geschrieben".
_SYNTAX: list[tuple[re.Pattern[str], _Say]] = [(re.compile(p, re.IGNORECASE), say) for p, say in [
    (r"block that needs to be closed is '(\w+)'",
     lambda m: f"{{% {m[1]} … %}} wird nicht geschlossen (es fehlt {{% end{m[1]} %}})"),
    (r"end of template, expected 'end of print statement'",
     lambda m: "ein Platzhalter {{ … }} wird nicht geschlossen"),
    (r"end of template", lambda m: "die Vorlage endet mitten in einem Platzhalter oder Befehl"),
    (r"unknown tag '(end(\w+))'",
     lambda m: f"{{% {m[1]} %}} ohne ein {{% {m[2]} … %}} davor"),
    (r"unknown tag '([^']+)'", lambda m: f"unbekannter Befehl {{% {m[1]} %}}"),
    (r"no filter named '([^']+)'", lambda m: f"unbekannter Filter '{m[1]}'"),
    (r"no test named '([^']+)'", lambda m: f"unbekannter Test '{m[1]}'"),
    (r"expected token 'end of print statement'",
     lambda m: "ein Platzhalter {{ … }} ist nicht richtig geschlossen"),
    (r"expected token 'end of statement block'",
     lambda m: "ein Befehl {% … %} ist nicht richtig geschlossen"),
    (r"expected token 'name'", lambda m: "hier fehlt ein Name (etwa nach „|“ oder „.“)"),
    (r"expected an expression", lambda m: "im Platzhalter fehlt, was er ausgeben soll"),
    (r"unexpected char '(.+?)' at", lambda m: f"unerwartetes Zeichen {m[1]}"),
    (r"unexpected '([^']+)', expected '([^']+)'",
     lambda m: f"unerwartetes „{m[1]}“, erwartet „{m[2]}“"),
    (r"unexpected '([^']+)'", lambda m: f"unerwartetes „{m[1]}“"),
]]  # fmt: skip
_UNSAFE = re.compile(r"access to attribute '([^']+)'")


def message(name: str, exc: BaseException) -> str:
    """The German sentence for ``exc``, raised compiling or rendering template ``name``."""
    place = where(exc)
    at = f" ({place})" if place else ""
    if isinstance(exc, UnreadableTemplate):
        detail = exc.detail
        text = f"Vorlage {name} ist keine lesbare Word-Datei: {exc}"
    elif isinstance(exc, jinja2.UndefinedError):
        found = _UNDEFINED.search(str(exc))
        field = f"'{found[1] or found[2]}'" if found else ""
        text = (f"Vorlage {name}: unbekanntes Feld {field}".rstrip() +
                f"{at} (ein Name, den der Kontext des Dokuments nicht hat)")  # fmt: skip
    elif isinstance(exc, jinja2.TemplateSyntaxError):
        said = next((say(m) for pattern, say in _SYNTAX
                     if (m := pattern.search(exc.message or ""))), "fehlerhaft geschrieben")
        text = f"Vorlage {name}: Syntaxfehler im Platzhalter: {said}{at}"
    elif isinstance(exc, jinja2.exceptions.SecurityError):
        unsafe = _UNSAFE.search(str(exc))
        what = f"der Zugriff auf '{unsafe[1]}'" if unsafe else "ein Zugriff"
        text = (f"Vorlage {name}: nicht erlaubt: {what}; eine Vorlage liest nur die Felder des "
                f"Dokuments{at}")  # fmt: skip
    elif isinstance(exc, OverflowError):  # the sandbox's range() limit
        text = (f"Vorlage {name}: nicht erlaubt: eine Schleife über mehr als "
                f"{MAX_RANGE:,} Werte{at}".replace(",", "."))  # fmt: skip
    elif isinstance(exc, RecursionError):
        text = f"Vorlage {name}: nicht erlaubt: ein Makro ruft sich endlos selbst auf{at}"
    elif isinstance(exc, ArithmeticError):
        text = f"Vorlage {name}: eine Rechnung im Platzhalter geht nicht (etwa durch 0){at}"
    elif isinstance(exc, etree.LxmlError):
        text = (f"Vorlage {name}: ihre Platzhalter ergeben ungültiges Word-XML (etwa ein "
                "{% if %} oder {% for %} über Absatzgrenzen; dafür gibt es {%p … %})")  # fmt: skip
    elif isinstance(exc, jinja2.TemplateError):
        text = f"Vorlage {name}: fehlerhafter Platzhalter{at}"
    else:  # TypeError, ValueError, KeyError, AttributeError, IndexError: e.g. round on text
        text = (f"Vorlage {name}: ein Platzhalter passt nicht zu seinem Wert (etwa ein Filter "
                f"für Zahlen oder Daten auf einem Text){at}")  # fmt: skip
    if not isinstance(exc, UnreadableTemplate):
        detail = f"{type(exc).__name__}: {exc}"
    log.info("template %s refused: %s", name, detail or exc)
    return text


# What documents.render hands to ``message``: everything else is a bug, not the template's.
TEMPLATE_ERRORS: tuple[type[BaseException], ...] = (
    UnreadableTemplate, jinja2.TemplateError, etree.LxmlError, OverflowError, RecursionError,
    ArithmeticError, TypeError, ValueError, KeyError, AttributeError, IndexError,
)  # fmt: skip
