"""One use case, one transaction: commit what the block did, or roll all of it back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from .errors import Refused


@contextmanager
def transaction(session: Session) -> Iterator[None]:
    """Commit what the block did, or roll all of it back."""
    try:
        yield
        session.commit()
    except IntegrityError as exc:
        # Checks run under the row lock, so this means a change the checks cannot see (a
        # concurrent insert of the same key): the database's constraint is the last word.
        session.rollback()
        raise Refused(
            "die Änderung widerspricht dem gespeicherten Stand (gleichzeitig geändert?); "
            "nichts wurde gespeichert"
        ) from exc
    except BaseException:
        session.rollback()
        raise
