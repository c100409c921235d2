"""Which Sitzungen the RIS has cancelled: one answer for every view of a Sitzung.

``lifecycle oparl sync`` keeps a Sitzung the RIS cancels while a process still uses it (bound
to it, or in the Beratungsfolge of a Vorlage); the row stays as it was, and the cancellation
is recorded only in the event log: ``oparl_cancelled``, and ``oparl_reinstated`` when the RIS
lists the Sitzung as taking place again. A Sitzung is cancelled while the last of these
events is a cancellation.

The OParl export (``cancelled: true``), the calendar feeds (STATUS:CANCELLED), the web pages,
the CLI listings ("abgesagt") and the daily reminder scan (no Vorlagenschluss reminder for a
cancelled Sitzung) all ask ``cancelled_sitzungen``; the outbox reads ``last_word`` with each
row it delivers (a queued Vorlagenschluss reminder of a Sitzung cancelled since is not sent).
The engine asks it too: a cancelled Sitzung is no new target of a process (no gate postponed
to it, no plan Sitzung bound to it: ``engine.refuse_cancelled``, ``lookups.postpone_targets``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Integer, Select, String, column, func, select, table
from sqlmodel import Session

from .typing_helpers import chunks

# The event actions of oparl sync: the RIS cancelled a Sitzung; the RIS listed it again.
CANCELLED = "oparl_cancelled"
REINSTATED = "oparl_reinstated"
# A row removed (models.Event.DELETED): SQLite may give its id to the next new Sitzung, which
# the removed row's cancellation must not mark.
DELETED = "oparl_deleted"
_LAST_WORD = (CANCELLED, REINSTATED, DELETED)

# The event log as a plain table: `lifecycle status` and `lifecycle sitzungen` ask this
# without declaring the log's part of the models (lifecycle.models._record is lazy).
_event = table(
    "event",
    column("id", Integer),
    column("entity", String),
    column("entity_id", Integer),
    column("action", String),
)


def cancelled_sitzungen(session: Session, sitzung_ids: Iterable[int] | None = None) -> set[int]:
    """The ids among ``sitzung_ids`` (None: among all Sitzungen) of the Sitzungen the RIS has
    cancelled and not reinstated. One query for any number (per IN_LIST ids)."""
    if sitzung_ids is None:
        return _ask(session, None)
    ids = sorted(set(sitzung_ids))
    return {found for chunk in chunks(ids) for found in _ask(session, chunk)}


def _ask(session: Session, ids: Sequence[int] | None) -> set[int]:
    """Of each Sitzung (of ``ids``; None: of all) the last event that has a say, through
    ix_event_entity; the Sitzungen where it is a cancellation."""
    e = _event.c
    last = select(func.max(e.id)).where(e.entity == "Sitzung", e.action.in_(_LAST_WORD))
    if ids is not None:
        last = last.where(e.entity_id.in_(ids))
    query = select(e.entity_id).where(
        e.id.in_(last.group_by(e.entity_id)), e.action == CANCELLED)  # fmt: skip
    return {ident for ident in session.execute(query).scalars() if ident is not None}


def last_word(sitzung_id: Any) -> Select[Any]:
    """The RIS's last word on one Sitzung: CANCELLED, REINSTATED, DELETED, or no row. A SELECT
    for a Sitzung id, a bound parameter or a column of an enclosing query (the outbox reads it
    as a scalar subquery with the row it delivers), through ix_event_entity. The Sitzung is
    cancelled when it is CANCELLED, as in ``cancelled_sitzungen``."""
    e = _event.c
    return (
        select(e.action)
        .where(e.entity == "Sitzung", e.entity_id == sitzung_id, e.action.in_(_LAST_WORD))
        .order_by(e.id.desc())
        .limit(1)
    )
