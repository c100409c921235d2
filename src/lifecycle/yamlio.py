"""YAML loading that keeps line numbers, so an error can point at the offending line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and no implicit dates.

    YAML 1.1 reads ``on``/``no`` as booleans (a key ``on:`` would vanish), and we parse dates
    ourselves so that an impossible one gets a clear error.
    """


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


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            _walk(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def load(path: str | Path, source: str | None = None) -> Document:
    path = Path(path)
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(source, "", "file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(source, "", f"not UTF-8 text ({exc.reason})") from None
    return loads(text, source)


def loads(text: str, source: str) -> Document:
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise InputError(source, "", f"invalid YAML: {exc.problem}", line) from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return Document(source, data, lines)
