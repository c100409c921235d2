"""YAML loading that keeps line numbers, so an error can point at the offending line.

Every file is read with limits before anything else looks at it: a regular file (not a
folder, a device or a pipe), at most MAX_BYTES, no NUL byte, nesting at most MAX_DEPTH deep,
at most MAX_NODES nodes once aliases are expanded (no "billion laughs"), every mapping key a
string and none twice, no .nan/.inf. Each problem is an InputError naming file and line.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError
from .texts import text_problem

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
                f"Schlüssel {shown!r} ist kein Text (Zahl, null, Liste oder Wahrheitswert)",
                _line(key_node.start_mark),
            )
        key = key_node.value
        if key in seen:
            raise _Limit(
                f"Schlüssel {key!r} doppelt (zuerst in Zeile {seen[key]})",
                _line(key_node.start_mark),
            )
        seen[key] = _line(key_node.start_mark)


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise _Limit(f"{node.value!r} ist keine endliche Zahl", _line(node.start_mark))
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
        raise InputError(source, "", f"ungültiges YAML: {exc.problem}", _line(mark)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else exc.character
        raise InputError(source, "", f"unzulässiges Steuerzeichen {char}", line) from None
    except yaml.YAMLError as exc:
        raise InputError(source, "", f"ungültiges YAML: {exc}") from None
    except (ValueError, OverflowError):  # e.g. an integer with more than 4300 digits
        raise InputError(source, "", "Wert nicht lesbar (Zahl mit zu vielen Ziffern?)") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines, source)
    return Document(source, data, lines)
