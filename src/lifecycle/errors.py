"""The two ways the engine says no."""

from __future__ import annotations


class LifecycleError(Exception):
    """Base of every error the engine raises on purpose."""


class InputError(LifecycleError):
    """A plan, scenario or argument is malformed; names the file, field and problem."""

    def __init__(self, source: str, field: str, problem: str, line: int | None = None):
        self.source, self.field, self.problem, self.line = source, field, problem, line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class Refused(LifecycleError):
    """A transition that is not allowed in the current state; nothing was changed."""
