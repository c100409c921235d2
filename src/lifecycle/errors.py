"""The ways lifecycle says no: one hierarchy, messages in German.

Every error raised on purpose is a ``LifecycleError``; adapters map the kind, not the class:

- ``InputError``: a file, setting or argument is malformed (CLI exit 2, web 400/422);
- ``NotFound``: a named thing does not exist (CLI exit 2, web 404);
- ``Refused``: the thing exists, but a rule says no in its current state (CLI exit 2, web 409);
- ``Forbidden``: the user may not do this (web 403);
- ``Unavailable``: a system part we depend on (SMTP, LibreOffice, Prefect) did not work.

A refused use case has changed nothing: the services roll its transaction back.
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Base of every error lifecycle raises on purpose; ``str()`` is the user's message."""


class InputError(LifecycleError):
    """A plan, scenario, setting or argument is malformed; names the file, field and problem."""

    def __init__(self, source: str, field: str, problem: str, line: int | None = None):
        self.source, self.field, self.problem, self.line = source, field, problem, line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class NotFound(LifecycleError):
    """A process, stage, task, person, Sitzung or Kommune of that name does not exist."""


class Refused(LifecycleError):
    """A transition that is not allowed in the current state; nothing was changed."""


class NeedsReason(Refused):
    """Refused unless a reason is given (``--force GRUND``; a Begründung field on the web)."""


class Forbidden(LifecycleError):
    """The user is not allowed to do this (not logged in, wrong role, not their Kommune)."""


class Unavailable(LifecycleError):
    """A system part lifecycle depends on (mail server, LibreOffice, Prefect) did not work."""
