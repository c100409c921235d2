"""Who may do what: local user accounts and their grants per Kommune or Fortschreibung."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from . import _core  # noqa: F401  (the tables these refer to)
from ._base import Row


class GrantRole(StrEnum):
    """What a user may do where (German in the pages: words.GRANT_ROLE_DE)."""

    viewer = "viewer"  # sees the Kommune's processes
    projektleitung = "projektleitung"  # changes one process: tasks, gates, documents, Vorlagen
    sitzungsdienst = "sitzungsdienst"  # moves the Kommune's Sitzungen, decides its gates
    admin = "admin"  # everything, everywhere: users, new processes, templates


class User(Row, table=True):
    """A local account. ``password_hash`` is argon2id; empty for accounts of an external login."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    display_name: str = ""
    password_hash: str = ""
    is_admin: bool = False
    active: bool = True
    # the generation of the user's web sessions: logging out counts it up, which ends every
    # session of the user (web/security.py)
    session_epoch: int = 0
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class Grant(Row, table=True):
    """A role of a user in a Kommune, or in one Fortschreibung of it (project lead)."""

    __table_args__ = (UniqueConstraint("user_id", "role", "kommune_id", "fortschreibung_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id")
    role: GrantRole
    kommune_id: int = Field(foreign_key="kommune.id", index=True)
    fortschreibung_id: int | None = Field(default=None, foreign_key="fortschreibung.id")


class LoginFailure(Row, table=True):
    """Failed logins in a row for one submitted name, whether an account has that name or not
    (the lock must not tell which names exist). ``name_key`` is a keyed hash of the name, so a
    password typed into the name field is not kept; old rows are forgotten (web/security.py)."""

    name_key: str = Field(primary_key=True)
    failures: int = 0
    locked_until: dt.datetime | None = None
    last_failed: dt.datetime = Field(index=True)
