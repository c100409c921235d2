"""YAML loading that keeps line numbers, so an error can point at the offending line.

Every file is read with limits before anything else looks at it: a regular file (not a
folder, a device or a pipe), at most MAX_BYTES, no NUL byte, nesting at most MAX_DEPTH deep,
at most MAX_NODES nodes once aliases are expanded (no "billion laughs"), every mapping key a
string and none twice, no .nan/.inf. Each problem is an InputError naming file and line.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .texts import text_problem
from .words import quoted

log = logging.getLogger("lifecycle.yamlio")
MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Limit(Exception):
    """A limit of the reader was hit; carries the problem and the line."""

    def __init__(self, problem: str, line: int | None):
        super().__init__(problem)
        self.problem, self.line = problem, line


def _line(mark) -> int | None:
    return mark.line + 1 if mark is not None else None


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, no implicit dates, and the limits above.

    YAML 1.1 reads ``on``/``no`` as booleans (a key ``on:`` would vanish), and we parse dates
    ourselves so that an impossible one gets a clear error.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None and getattr(target, "_weight", None) is None:
                raise _Limit(
                    f"Alias *{event.anchor} steht in seinem eigenen Anker (Zyklus)",
                    _line(event.start_mark),
                )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(
                f"zu tief verschachtelt (mehr als {MAX_DEPTH} Ebenen)", _line(event.start_mark)
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if getattr(node, "_weight", None) is None:
            node._weight = 1 + sum(_weight_of(child) for child in _children(node))
            if node._weight > MAX_NODES:
                raise _Limit(
                    f"zu groß nach Auflösen der Aliase (mehr als {MAX_NODES} Knoten)",
                    _line(event.start_mark),
                )
        return node

    def construct_object(self, node, deep=False):
        self.constructing = node  # for the line of a value no constructor can read
        return super().construct_object(node, deep)

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        _check_keys(node)
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _weight_of(node: yaml.Node) -> int:
    weight = getattr(node, "_weight", None)
    if weight is None:  # still being composed: an alias to an enclosing anchor
        raise _Limit("Alias verweist auf einen Knoten, der ihn enthält", _line(node.start_mark))
    return weight


def _check_keys(node: yaml.MappingNode) -> None:
    seen: dict[str, int | None] = {}
    for key_node, _value in node.value:
        if key_node.tag == _MERGE:
            continue
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
            shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "…"
            raise _Limit(
                f"Schlüssel {quoted(shown)} ist kein Text (Zahl, null, Liste oder Wahrheitswert)",
                _line(key_node.start_mark),
            )
        key = key_node.value
        if key in seen:
            raise _Limit(
                f"Schlüssel {quoted(key)} doppelt (zuerst in Zeile {seen[key]})",
                _line(key_node.start_mark),
            )
        seen[key] = _line(key_node.start_mark)


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise _Limit(f"{quoted(node.value)} ist keine endliche Zahl", _line(node.start_mark))
    return value


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_Loader.yaml_implicit_resolvers = {
    ch: [
        (tag, _BOOL if tag == "tag:yaml.org,2002:bool" else rx)
        for tag, rx in resolvers
        if tag != "tag:yaml.org,2002:timestamp"
    ]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}


# PyYAML's problems in German, most specific first (matched against context and problem);
# anything else is "Syntaxfehler". The English text goes to the log.
_Say = Callable[[re.Match[str]], str]
_PROBLEMS: list[tuple[re.Pattern[str], _Say]] = [(re.compile(p), say) for p, say in [
    (r"could not determine a constructor for the tag '([^']*)'",
     lambda m: f"Typ-Angabe {_tag(m[1])} ist nicht erlaubt (nur Text, Zahlen, Wahrheitswerte, "
               "Listen und Abschnitte)"),
    (r"expected ',' or '\]', but", lambda m: "eine Liste [ … ] ist nicht geschlossen: "
                                              "„,“ oder „]“ fehlt"),
    (r"expected ',' or '\}', but", lambda m: "ein Abschnitt { … } ist nicht geschlossen: "
                                              "„,“ oder „}“ fehlt"),
    (r"mapping values are not allowed here",
     lambda m: "ein Doppelpunkt an unerwarteter Stelle (Einrückung prüfen; ein Text mit „: “ "
               "gehört in Anführungszeichen)"),
    (r"found character '\\t' that cannot start any token",
     lambda m: "ein Tabulator; YAML rückt nur mit Leerzeichen ein"),
    (r"found character '(.)' that cannot start any token",
     lambda m: f"ein Wert darf nicht mit {quoted(m[1])} beginnen (in Anführungszeichen setzen)"),
    (r"found undefined alias '([^']*)'", lambda m: f"unbekannter Alias *{m[1]}"),
    (r"found duplicate anchor '([^']*)'", lambda m: f"Anker &{m[1]} doppelt"),
    (r"while scanning a (?:double-)?quoted scalar found unexpected end of stream",
     lambda m: "ein Anführungszeichen wird nicht geschlossen"),
    (r"found unknown escape character '(.)'",
     lambda m: f"unbekannte Escape-Sequenz \\{m[1]} in doppelten Anführungszeichen"),
    (r"while scanning an? (?:anchor|alias) expected alphabetic or numeric",
     lambda m: "nach & oder * fehlt der Name des Ankers"),
    (r"expected a single document", lambda m: "mehr als ein Dokument (---) in der Datei"),
    (r"expected '<document start>', but found",
     lambda m: "Zeichen nach dem Ende des Dokuments (eine Klammer zu viel?)"),
    (r"expected <block end>|did not find expected (?:key|'-' indicator)|could not find expected "
     r"':'|expected <block mapping start>",
     lambda m: "die Einrückung passt nicht (oder nach einem Schlüssel fehlt „:“)"),
    (r"found unhashable key", lambda m: "ein Schlüssel ist eine Liste oder ein Abschnitt"),
    (r"for merging", lambda m: "„<<“ verlangt einen Abschnitt oder eine Liste von Abschnitten"),
    (r"failed to decode base64", lambda m: "ein !!binary-Wert ist kein Base64"),
    (r"expected a (?:scalar|sequence|mapping)|expected a sequence of mappings",
     lambda m: "eine Typ-Angabe (!!…) passt nicht zum Wert"),
]]  # fmt: skip


def _tag(tag: str) -> str:
    return quoted(tag.replace("tag:yaml.org,2002:", "!!"))


def _german(exc: yaml.MarkedYAMLError) -> str:
    said = " ".join(str(part) for part in (exc.context, exc.problem) if part)
    mark = exc.problem_mark or exc.context_mark
    column = f" (Spalte {mark.column + 1})" if mark is not None else ""
    log.info("YAML refused: %s", str(exc).replace("\n", " "))
    return next((say(found) for pattern, say in _PROBLEMS if (found := pattern.search(said))),
                "Syntaxfehler") + column  # fmt: skip


class Document:
    """Parsed YAML data plus a map from field path to line number."""

    def __init__(self, source: str, data: Any, lines: dict[tuple, int]):
        self.source, self.data, self._lines = source, data, lines

    def line(self, path: tuple | list) -> int | None:
        path = tuple(path)
        while path and path not in self._lines:
            path = path[:-1]
        return self._lines.get(path)

    def error(self, path: tuple | list, problem: str) -> InputError:
        return InputError(self.source, format_path(path), problem, self.line(path))


def format_path(path: tuple | list) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], source: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        _check_text(node, path, source)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            lines[child] = key_node.start_mark.line + 1
            _check_text(key_node, child, source)
            _walk(value_node, child, lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, source)


def _check_text(node: yaml.Node, path: tuple, source: str) -> None:
    """The YAML reader refuses control characters written raw, but a double-quoted escape
    ("\\0", "\\e", "\\ud800") makes them: each text is checked once it is read."""
    if problem := text_problem(node.value) if isinstance(node.value, str) else None:
        raise InputError(source, format_path(path), problem, node.start_mark.line + 1)



def read_limited(path: str | Path, source: str | None = None, *, field: str = "") -> str:
    """The text of a regular file of at most MAX_BYTES; anything else is an InputError."""
    from .files import read_limited_bytes

    source = source or str(path)
    raw = read_limited_bytes(path, MAX_BYTES, source=source, field=field, regular_only=True)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(source, field, f"keine UTF-8-Textdatei ({exc.reason} an Byte "
                         f"{exc.start})") from None  # fmt: skip


def load(path: str | Path, source: str | None = None) -> Document:
    source = source or str(path)
    return loads(read_limited(path, source), source)


def loads(text: str, source: str) -> Document:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InputError(source, "", f"zu groß (mehr als {MAX_BYTES // (1024 * 1024)} MiB)")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError(source, "", "enthält ein NUL-Byte", line)
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _Limit as exc:
        raise InputError(source, "", exc.problem, exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InputError(source, "", f"ungültiges YAML: {_german(exc)}", _line(mark)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else exc.character
        raise InputError(source, "", f"unzulässiges Steuerzeichen {char}", line) from None
    except yaml.YAMLError as exc:
        log.info("YAML refused: %s", exc)
        raise InputError(source, "", "ungültiges YAML") from None
    except (ValueError, OverflowError, TypeError, AttributeError, IndexError, KeyError):
        # an integer with more than 4300 digits; a type tag the value does not fit (!!int x,
        # !!int with no value, !!bool x, !!timestamp x): PyYAML's constructors fail with a
        # plain Python error
        node = getattr(loader, "constructing", None)
        raise InputError(source, "", "Wert nicht lesbar (eine Zahl mit zu vielen Ziffern oder "
                         "eine Typ-Angabe wie !!int, die nicht zum Wert passt)",
                         _line(node.start_mark) if node is not None else None) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines, source)
    return Document(source, data, lines)
