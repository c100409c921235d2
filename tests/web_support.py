"""Shared by the web tests: an app on a fresh database, users in every role, logging in.

Waiblingen (BW) and Völklingen (SL) are started; the users:

- ``admin``: administrator;
- ``ortolf``: project lead of waiblingen-2017;
- ``sd``: Sitzungsdienst of Waiblingen;
- ``gast``: viewer of Waiblingen;
- ``fremd``: project lead of voelklingen-2017 (another Kommune).
"""

from __future__ import annotations

import html
import re
import shutil
import sqlite3
import tempfile
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from lifecycle import services
from lifecycle.db import engine_for
from lifecycle.scenario import load_scenario
from lifecycle.web import create_app

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "richtig-geheim"
USERS = {
    "admin": {"admin": True},
    "ortolf": {"grants": [("projektleitung", "waiblingen", "waiblingen-2017")]},
    "sd": {"grants": [("sitzungsdienst", "waiblingen", None)]},
    "gast": {"grants": [("viewer", "waiblingen", None)]},
    "fremd": {"grants": [("projektleitung", "voelklingen", "voelklingen-2017")]},
}


def make_app(db_url: str):
    """Both processes started, the users added, on the SQLite file of ``db_url``; the app.

    The database is built once per test session and copied for each test (the five argon2
    hashes and two starts cost a second or two); tests share nothing but that starting point.
    """
    target = Path(db_url.removeprefix("sqlite:///"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_prepared(), target)
    return create_app(db_url, secret="test-secret-" + "x" * 32)


@lru_cache(maxsize=1)
def _prepared() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="lifecycle-web-test-"))
    url = f"sqlite:///{folder / 'start.db'}"
    with Session(engine_for(url)) as s:
        for name in ("waiblingen-2017", "voelklingen-2017"):
            services.start(s, load_scenario(ROOT / "examples" / f"{name}.yaml"), actor="test")
        for name, spec in USERS.items():
            services.add_user(s, name, password=PASSWORD, display_name=name.title(),
                              admin=spec.get("admin", False), grants=spec.get("grants", []),
                              actor="test")  # fmt: skip
    engine_for(url).dispose()
    with sqlite3.connect(folder / "start.db") as raw:  # one file: fold the WAL back in
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.execute("PRAGMA journal_mode=DELETE")
    return folder / "start.db"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "every page with a form carries the CSRF token"
    return found.group(1)


def client_for(app, user: str | None) -> TestClient:
    """A browser session; logged in as ``user`` unless None (anonymous)."""
    client = TestClient(app, follow_redirects=False)
    if user is not None:
        token = csrf(client.get("/anmelden").text)
        response = client.post("/anmelden", data={"csrf_token": token, "name": user,
                                                 "passwort": PASSWORD, "weiter": "/"})  # fmt: skip
        assert response.status_code == 303, response.text
    return client


def notice(client: TestClient, response) -> str:
    """The German notice a POST-redirect-GET leaves: the page it redirects to shows it once
    (from the session; the address carries none)."""
    assert response.status_code == 303, response.text
    target = response.headers["location"]
    assert "hinweis" not in target
    shown = re.findall(r'<p class="hinweis" role="status">(.*?)</p>', client.get(target).text,
                       re.S)  # fmt: skip
    assert len(shown) == 1, shown
    return html.unescape(shown[0])


def token_of(client: TestClient, path: str = "/") -> str:
    """The session's CSRF token, read from a page the client may see."""
    response = client.get(path)
    return csrf(response.text)


def dump(db_url: str) -> dict[str, list]:
    """Every row of every table: to prove a refused request changed nothing."""
    with engine_for(db_url).connect() as conn:
        return {
            t: conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1')).fetchall()
            for t in SQLModel.metadata.tables
            # login bookkeeping (failed attempts, sessions) is not a change of the process
            if t not in ("user", "loginfailure")
        }


class _Tables(HTMLParser):
    """Each table's column headings and, per body row, each cell's data-label (a cell that
    spans columns, like "Keine Sitzungen.", aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[list[str], list[list[str | None]]]] = []
        self.section: str | None = None
        self.heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(([], []))
        elif tag in ("thead", "tbody"):
            self.section = tag
        elif tag == "tr" and self.section == "tbody":
            self.tables[-1][1].append([])
        elif tag == "th" and self.section == "thead":
            self.heading = []
        elif tag in ("td", "th") and self.section == "tbody" and "colspan" not in dict(attrs):
            self.tables[-1][1][-1].append(dict(attrs).get("data-label"))

    def handle_data(self, data: str) -> None:
        if self.heading is not None:
            self.heading.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self.heading is not None:
            self.tables[-1][0].append(" ".join("".join(self.heading).split()))
            self.heading = None
        elif tag in ("thead", "tbody"):
            self.section = None


def assert_cells_labelled(page: str) -> int:
    """Every cell of a table with column headings has its column's heading as data-label
    (the phone's layout stacks the cells and shows it in front); how many such tables."""
    parser = _Tables()
    parser.feed(page)
    tables = [(headings, rows) for headings, rows in parser.tables if headings]
    for headings, rows in tables:
        assert rows, headings
        for row in rows:
            assert not row or row == headings, (headings, row)  # [] : one cell spans them all
    return len(tables)
