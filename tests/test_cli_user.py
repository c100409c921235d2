"""`lifecycle user add`: the first administrator and the people of a Kommune, from the shell."""

from __future__ import annotations

import os
import subprocess
import sys

import typer
from conftest import ROOT, WAIBLINGEN
from sqlmodel import Session, select

from lifecycle import passwords
from lifecycle.db import engine_for
from lifecycle.models import Grant, GrantRole, User


def lifecycle(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = os.environ | {"LIFECYCLE_DATABASE_URL": db_url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "lifecycle", *args], input=stdin, text=True,
                          capture_output=True, env=env, cwd=ROOT, timeout=120)  # fmt: skip


def users(db_url: str) -> dict[str, tuple[bool, list[tuple[str, int | None]]]]:
    with Session(engine_for(db_url)) as s:
        return {
            u.name: (u.is_admin, [(str(g.role), g.fortschreibung_id) for g in s.exec(
                select(Grant).where(Grant.user_id == u.id))])
            for u in s.exec(select(User))
        }  # fmt: skip


def test_the_first_administrator_and_a_project_lead(db_url):
    assert lifecycle(db_url, "start", str(WAIBLINGEN)).returncode == 0
    admin = lifecycle(db_url, "user", "add", "admin", "--admin", "--password-stdin",
                      stdin="ein-langes-passwort\n")  # fmt: skip
    assert admin.returncode == 0 and "Benutzer admin angelegt" in admin.stdout
    lead = lifecycle(db_url, "user", "add", "ortolf", "--role", "projektleitung", "--kommune",
                     "waiblingen", "--process", "waiblingen-2017", "--password-stdin",
                     stdin="noch-ein-passwort\n")  # fmt: skip
    assert lead.returncode == 0, lead.stderr
    found = users(db_url)
    assert found["admin"] == (True, [])
    assert found["ortolf"][0] is False
    [(role, process_id)] = found["ortolf"][1]
    assert role == GrantRole.projektleitung and process_id is not None
    with Session(engine_for(db_url)) as s:
        stored = s.exec(select(User).where(User.name == "ortolf")).one().password_hash
    assert stored.startswith("$argon2id$") and passwords.verify(stored, "noch-ein-passwort")


def test_bad_input_is_one_german_line_and_changes_nothing(db_url):
    lifecycle(db_url, "start", str(WAIBLINGEN))
    cases = [
        (["admin", "--admin"], "kurz\n", "mindestens 10 Zeichen"),
        (["Admin!", "--admin"], "ein-langes-passwort\n", "nur Kleinbuchstaben"),
        (["ortolf", "--role", "projektleitung", "--kommune", "nirgends"],
         "ein-langes-passwort\n", "keine Kommune „nirgends“"),
        (["ortolf", "--role", "chef", "--kommune", "waiblingen"], "ein-langes-passwort\n",
         "chef"),
        (["ortolf", "--role", "viewer"], "ein-langes-passwort\n", "--kommune"),
        (["ortolf"], "ein-langes-passwort\n", "--admin"),
    ]  # fmt: skip
    for args, password, expected in cases:
        result = lifecycle(db_url, "user", "add", *args, "--password-stdin", stdin=password)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, (args, result.stderr)
        assert expected in lines[0], (args, lines)
    assert users(db_url) == {}
    lifecycle(db_url, "user", "add", "admin", "--admin", "--password-stdin",
              stdin="ein-langes-passwort\n")  # fmt: skip
    twice = lifecycle(db_url, "user", "add", "admin", "--admin", "--password-stdin",
                      stdin="ein-langes-passwort\n")  # fmt: skip
    assert twice.returncode == 2 and "gibt es schon" in twice.stderr
    assert list(users(db_url)) == ["admin"]


def test_lifecycle_web_marks_the_cookie_secure_when_asked(db_url, monkeypatch):
    """--secure-cookie / --no-secure-cookie, else LIFECYCLE_WEB_SECURE_COOKIE, else off."""
    import uvicorn
    from typer.testing import CliRunner

    from lifecycle import cli_web

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(app))
    monkeypatch.setenv("LIFECYCLE_DATABASE_URL", db_url)
    monkeypatch.setenv("LIFECYCLE_WEB_SECRET", "s" * 40)
    app = typer.Typer()
    app.command()(cli_web.web)
    for args, env, secure in (([], "", False), ([], "1", True), (["--secure-cookie"], "", True),
                              (["--no-secure-cookie"], "ja", False)):  # fmt: skip
        monkeypatch.setenv("LIFECYCLE_WEB_SECURE_COOKIE", env)
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        [session] = [m for m in started.pop().user_middleware if "session_cookie" in m.kwargs]
        assert session.kwargs["https_only"] is secure, (args, env)
    monkeypatch.setenv("LIFECYCLE_WEB_SECURE_COOKIE", "vielleicht")
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2 and started == []
