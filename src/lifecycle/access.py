"""Who may see and do what: roles per Kommune and per Fortschreibung.

A user sees only the Kommunen granted to them; everything else does not exist for them
(``NotFound``, a 404 on the web), so a Waiblingen project lead cannot even learn that a
Völklingen process exists. What they see but may not change is ``Forbidden`` (403).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import ColumnElement, false, or_
from sqlmodel import Session, col, select

from .errors import Forbidden, NotFound
from .models import Fortschreibung, Grant, GrantRole, User


class Action(StrEnum):
    view = "view"
    work = "work"  # complete and reassign tasks, generate documents
    decide = "decide"  # decide a gate
    edit_vorlage = "edit_vorlage"
    move_sitzung = "move_sitzung"
    administer = "administer"  # users, new processes, templates
    read_internal = "read_internal"  # a Maßnahme's internal note, wherever it is shown


# Which role allows which action, besides the administrator who may do everything.
ALLOWED: Mapping[Action, frozenset[GrantRole]] = {
    Action.view: frozenset(GrantRole),
    Action.work: frozenset({GrantRole.projektleitung, GrantRole.sitzungsdienst}),
    Action.decide: frozenset({GrantRole.projektleitung, GrantRole.sitzungsdienst}),
    Action.edit_vorlage: frozenset({GrantRole.projektleitung, GrantRole.sitzungsdienst}),
    Action.move_sitzung: frozenset({GrantRole.sitzungsdienst}),
    Action.administer: frozenset(),
    # the administration of a process, not its readers: the Maßnahme pages, their CSV and the
    # Prozess page's event log show the internal note by this one rule. At least everyone who
    # may work: the Maßnahme's edit form carries the note.
    Action.read_internal: frozenset({GrantRole.projektleitung, GrantRole.sitzungsdienst}),
}


@dataclass(frozen=True)
class Scope:
    """Where a user may do an action: every process of ``kommune_ids`` (a role in the Kommune)
    and the processes of ``process_ids`` (a role in that process only)."""

    kommune_ids: frozenset[int]
    process_ids: frozenset[int]

    def covers(self, kommune_id: int, process_id: int | None) -> bool:
        return kommune_id in self.kommune_ids or (
            process_id is not None and process_id in self.process_ids
        )

    def processes(self) -> ColumnElement[bool]:
        """The same rule as a condition on ``Fortschreibung`` rows, for lists of processes."""
        found = []
        if self.kommune_ids:
            found.append(col(Fortschreibung.kommune_id).in_(sorted(self.kommune_ids)))
        if self.process_ids:
            found.append(col(Fortschreibung.id).in_(sorted(self.process_ids)))
        return or_(false(), *found)


@dataclass(frozen=True)
class Principal:
    """A logged-in user with their grants, loaded once per request."""

    user_id: int
    name: str
    display_name: str
    is_admin: bool = False
    kommune_roles: Mapping[int, frozenset[GrantRole]] = field(default_factory=dict)
    process_roles: Mapping[int, frozenset[GrantRole]] = field(default_factory=dict)
    process_kommune: Mapping[int, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.display_name or self.name

    def kommunen(self) -> frozenset[int] | None:
        """The Kommunen this user sees; None for an administrator (all of them)."""
        if self.is_admin:
            return None
        return frozenset(self.kommune_roles) | frozenset(self.process_kommune.values())

    def sees(self, kommune_id: int) -> bool:
        seen = self.kommunen()
        return seen is None or kommune_id in seen

    def roles(self, kommune_id: int, process_id: int | None = None) -> frozenset[GrantRole]:
        roles = self.kommune_roles.get(kommune_id, frozenset())
        if process_id is not None:
            roles |= self.process_roles.get(process_id, frozenset())
        return roles

    def scope(self, action: Action = Action.view) -> Scope | None:
        """Where the user may do ``action``; None for an administrator (everywhere).

        The one rule for a single process (``may``) and for lists of them (the Übersicht,
        Meine Aufgaben, the Sitzungsdienst's Vorlagen): a list shows what its pages open.
        """
        if self.is_admin:
            return None
        allowed = ALLOWED[action]
        kommunen = frozenset(k for k, roles in self.kommune_roles.items() if roles & allowed)
        processes = frozenset(p for p, roles in self.process_roles.items() if roles & allowed)
        return Scope(kommunen, processes)

    def may(self, action: Action, kommune_id: int, process_id: int | None = None) -> bool:
        if not self.sees(kommune_id):
            return False
        scope = self.scope(action)
        return scope is None or scope.covers(kommune_id, process_id)

    def require(self, action: Action, kommune_id: int, process_id: int | None = None) -> None:
        """NotFound where the user sees nothing, Forbidden where they see but may not act."""
        if not self.sees(kommune_id):
            raise NotFound("nicht gefunden (oder nicht für Sie freigegeben)")
        if not self.may(action, kommune_id, process_id):
            raise Forbidden("dafür fehlt Ihnen die Berechtigung")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("das dürfen nur Administratorinnen und Administratoren")


def load_principal(session: Session, user: User) -> Principal:
    assert user.id is not None
    kommune_roles: dict[int, set[GrantRole]] = defaultdict(set)
    process_roles: dict[int, set[GrantRole]] = defaultdict(set)
    process_kommune: dict[int, int] = {}
    for grant in session.exec(select(Grant).where(Grant.user_id == user.id)):
        if grant.fortschreibung_id is None:
            kommune_roles[grant.kommune_id].add(grant.role)
        else:
            process_roles[grant.fortschreibung_id].add(grant.role)
            process_kommune[grant.fortschreibung_id] = grant.kommune_id
    return Principal(
        user.id, user.name, user.display_name, user.is_admin,
        {k: frozenset(v) for k, v in kommune_roles.items()},
        {k: frozenset(v) for k, v in process_roles.items()},
        process_kommune,
    )  # fmt: skip


def require_process(
    session: Session, principal: Principal, process_key: str, action: Action = Action.view
) -> Fortschreibung:
    """The process by key, if the user may do ``action`` on it (404/403 otherwise)."""
    from .lookups import get_process

    try:
        process = get_process(session, process_key)
    except NotFound:
        raise NotFound("nicht gefunden (oder nicht für Sie freigegeben)") from None
    principal.require(action, process.kommune_id, process.id)
    return process
