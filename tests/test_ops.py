"""Operating an installation: `lifecycle doctor`, `config show`, `backup` (and its restore)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, WAIBLINGEN
from smtp_server import SmtpServer, free_port

from lifecycle import ops

BIN = Path(sys.executable).parent
NOTHING = ("PREFECT_API_URL", "LIFECYCLE_SMTP_HOST", "LIFECYCLE_SETTINGS", "LIFECYCLE_TEMPLATES",
           "LIFECYCLE_SMTP_PASSWORD", "LIFECYCLE_WEB_SECRET")  # fmt: skip


def lifecycle(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in NOTHING}
    full.update(env)
    return subprocess.run([str(BIN / "lifecycle"), *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def started(db_url) -> str:
    """A SQLite database with Waiblingen started (migrated to head)."""
    done = lifecycle("start", str(WAIBLINGEN), LIFECYCLE_DATABASE_URL=db_url)
    assert done.returncode == 0, done.stderr
    return db_url


# --- doctor ----------------------------------------------------------------------------------


def test_doctor_names_every_missing_part_one_line_each(tmp_path):
    """A fresh install with nothing configured: every part that is missing is named."""
    done = lifecycle(
        "doctor", LIFECYCLE_DATABASE_URL=f"sqlite:///{tmp_path / 'nie-angelegt.db'}",
        LIFECYCLE_TEMPLATES=str(tmp_path / "gibt-es-nicht"), PATH=str(tmp_path),
    )  # fmt: skip

    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 5, done.stdout
    assert all(line.startswith("FEHLT") for line in lines), done.stdout
    names = ["Datenbank", "Prefect-API", "Mailserver", "Vorlagen", "LibreOffice"]
    assert [n for n, line in zip(names, lines, strict=True) if n in line] == names
    assert "PREFECT_API_URL ist nicht gesetzt" in lines[1]
    assert "LIFECYCLE_SMTP_HOST ist nicht gesetzt" in lines[2]
    assert "gibt-es-nicht" in lines[3]
    assert done.stderr.strip() == ("lifecycle: es fehlt: Datenbank, Prefect-API, Mailserver, "
                                   "Vorlagen, LibreOffice")  # fmt: skip
    assert not (tmp_path / "nie-angelegt.db").exists(), "doctor creates nothing"


def test_checks_pass_for_a_migrated_database_a_mail_server_and_the_templates(started):
    """The parts without Prefect (the whole doctor runs in tests/test_shared_install.py)."""
    with SmtpServer() as smtp:
        checks = [ops.check_database(started), ops.check_smtp(smtp.env()),
                  ops.check_templates()]  # fmt: skip
        assert len(smtp.inbox) == 0, "EHLO only, no mail"
    assert all(c.ok for c in checks), [c.line for c in checks]
    assert "(aktuell)" in checks[0].line
    assert f"Mailserver 127.0.0.1:{smtp.port}" in checks[1].line


def test_a_deployment_whose_code_cannot_be_imported_is_named():
    assert ops.entrypoint_problem("lifecycle.flows.stages.stage_flow") is None
    missing = ops.entrypoint_problem("lifecycle.flows.gibtsnicht.stage_flow")
    assert missing is not None and "nicht importierbar (ModuleNotFoundError" in missing
    renamed = ops.entrypoint_problem("lifecycle.flows.stages.alter_flow")
    assert renamed is not None and "alter_flow fehlt in lifecycle.flows.stages" in renamed
    path = ops.entrypoint_problem("flows/stages.py:stage_flow")
    assert path is not None and "kein Modulpfad" in path


def test_doctor_wrong_prefect_url_and_mail_server_down(started, request):
    """A URL without /api (the UI's) and a URL nobody answers; a mail port nobody listens on."""
    from prefect_harness import server_url

    api = server_url(request)
    without_api = api.removesuffix("/api")
    assert "endet auf /api" in (ops.prefect_api_problem(without_api) or "")
    nobody = f"http://127.0.0.1:{free_port()}/api"
    done = lifecycle("doctor", LIFECYCLE_DATABASE_URL=started, PREFECT_API_URL=nobody,
                     LIFECYCLE_SMTP_HOST="127.0.0.1", LIFECYCLE_SMTP_PORT=str(free_port()))
    assert done.returncode == 1
    assert f"Prefect-API {nobody} nicht erreichbar" in done.stdout
    assert "Mailserver 127.0.0.1" in done.stdout and "nicht erreichbar" in done.stdout
    assert done.stdout.splitlines()[0].startswith("ok")  # the database is fine


def test_database_check_does_not_migrate_and_names_a_missing_pg_database(tmp_path, pg_url):
    empty = tmp_path / "leer.db"
    sqlite3.connect(empty).close()
    check = ops.check_database(f"sqlite:///{empty}")
    assert not check.ok and "ohne Schema" in check.detail
    assert sqlite3.connect(empty).execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)

    missing = pg_url.rsplit("/", 1)[0] + "/gibt_es_nicht"
    check = ops.check_database(missing)
    assert not check.ok and "nicht erreichbar" in check.detail and "gibt_es_nicht" in check.detail
    assert "lifecycle:lifecycle@" not in check.line  # the password is masked


def test_libreoffice_missing_is_named():
    check = ops.check_libreoffice(which=lambda name: None)
    assert not check.ok and "soffice nicht gefunden" in check.detail


# --- config show -----------------------------------------------------------------------------


def test_config_show_masks_secrets_and_names_sources(tmp_path):
    settings = tmp_path / "lifecycle.toml"
    settings.write_text('LIFECYCLE_SMTP_HOST = "mail.rathaus.example"\n'
                        'LIFECYCLE_SMTP_PASSWORD = "geheim-aus-datei"\n')  # fmt: skip
    done = lifecycle(
        "config", "show", LIFECYCLE_SETTINGS=str(settings),
        LIFECYCLE_DATABASE_URL="postgresql+psycopg://lifecycle:pg-geheim@db/lifecycle",
        LIFECYCLE_WEB_SECRET="web-geheim", LIFECYCLE_SMTP_PORT="587",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    out = done.stdout
    for secret in ("geheim-aus-datei", "pg-geheim", "web-geheim"):
        assert secret not in out
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "postgresql+psycopg://lifecycle:***@db/lifecycle" in rows["LIFECYCLE_DATABASE_URL"]
    assert rows["LIFECYCLE_SMTP_HOST"].endswith("(Einstellungsdatei)")
    assert "mail.rathaus.example" in rows["LIFECYCLE_SMTP_HOST"]
    assert "********" in rows["LIFECYCLE_SMTP_PASSWORD"]
    assert rows["LIFECYCLE_SMTP_PORT"].endswith("(Umgebung)")
    assert rows["LIFECYCLE_TIMEZONE"].endswith("(Standard)")
    assert rows["PREFECT_API_URL"].endswith("(nicht gesetzt)")


def test_settings_file_with_unknown_key_is_one_line(tmp_path):
    settings = tmp_path / "lifecycle.toml"
    settings.write_text('LIFECYCLE_SMTP_HOST = "mail"\nLIFECYCLE_SMPT_PORT = 25\n')
    for command in (["config", "show"], ["doctor"]):
        done = lifecycle(*command, LIFECYCLE_SETTINGS=str(settings))
        assert done.returncode != 0
        assert "unbekannte(r) Schlüssel LIFECYCLE_SMPT_PORT" in done.stdout + done.stderr
    shown = lifecycle("config", "show", LIFECYCLE_SETTINGS=str(settings))
    assert shown.returncode == 2 and len(shown.stderr.strip().splitlines()) == 1


# --- backup and restore ----------------------------------------------------------------------


def _count(url: str, table: str) -> int:
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_backup_while_in_use_and_restore(started, tmp_path):
    decided = lifecycle("decide", "waiblingen-2017", "ratsbeschluss", "approve", "--on",
                        "2017-04-27", "--by", "sitzungsdienst", "--reference", "BSV 3/2017",
                        "--force", "Test", LIFECYCLE_DATABASE_URL=started)  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    target = tmp_path / "sicherung" / "lifecycle-2017-04-28.db"
    target.parent.mkdir()
    # A reader holds the database open, as the web app would, while the backup runs.
    holder = sqlite3.connect(started.removeprefix("sqlite:///"))
    holder.execute("BEGIN")
    holder.execute("SELECT count(*) FROM task").fetchone()
    try:
        done = lifecycle("backup", str(target), LIFECYCLE_DATABASE_URL=started)
    finally:
        holder.rollback()
        holder.close()
    assert done.returncode == 0, done.stderr
    assert f"Gesichert: {target}" in done.stdout

    # Afterwards the original moves on; the backup keeps the state of its moment.
    more = lifecycle("decide", "waiblingen-2017", "auftaktworkshop", "approve", "--on",
                     "2017-07-21", "--by", "ortolf", "--force", "Test",
                     LIFECYCLE_DATABASE_URL=started)  # fmt: skip
    assert more.returncode == 0, more.stderr

    restored = tmp_path / "wiederhergestellt.db"
    restored.write_bytes(target.read_bytes())  # the restore: copy the file into place
    url = f"sqlite:///{restored}"
    status = lifecycle("status", "waiblingen-2017", LIFECYCLE_DATABASE_URL=url)
    assert status.returncode == 0, status.stderr
    assert _count(url, "gatedecision") == 1 and _count(started, "gatedecision") == 2
    assert _count(url, "task") == _count(started, "task")
    again = lifecycle("decide", "waiblingen-2017", "auftaktworkshop", "approve", "--on",
                      "2017-07-21", "--by", "ortolf", "--force", "Test",
                      LIFECYCLE_DATABASE_URL=url)  # fmt: skip
    assert again.returncode == 0, "the restored database works on"


def test_backup_refuses_to_overwrite_and_names_pg_dump_for_postgresql(started, tmp_path, pg_url):
    target = tmp_path / "schon-da.db"
    target.write_text("alt")
    done = lifecycle("backup", str(target), LIFECYCLE_DATABASE_URL=started)
    assert done.returncode == 2 and "gibt es schon" in done.stderr
    assert target.read_text() == "alt"

    done = lifecycle("backup", str(tmp_path / "pg.dump"), LIFECYCLE_DATABASE_URL=pg_url)
    assert done.returncode == 2
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "pg_dump --format=custom" in line and "--host=127.0.0.1" in line
    assert pg_url.rsplit("/", 1)[1] in line and "lifecycle:lifecycle" not in line


# --- the example files in deploy/ ------------------------------------------------------------


def test_deploy_examples_are_accepted():
    """deploy/lifecycle.toml.example passes `config show`; the env example names known keys."""
    example = ROOT / "deploy" / "lifecycle.toml.example"
    done = lifecycle("config", "show", LIFECYCLE_SETTINGS=str(example))
    assert done.returncode == 0, done.stderr
    assert "PASSWORT" not in done.stdout and "mail.rathaus.local" in done.stdout
    env_keys = [line.split("=", 1)[0] for line in
                (ROOT / "deploy" / "lifecycle.env.example").read_text().splitlines()
                if line and not line.startswith("#")]  # fmt: skip
    lifecycle_keys = [k for k in env_keys if k.startswith("LIFECYCLE_")]
    assert lifecycle_keys and set(lifecycle_keys) <= set(ops.SETTINGS)
    assert all(" #" not in line for line in
               (ROOT / "deploy" / "lifecycle.env.example").read_text().splitlines()
               if line and not line.startswith("#")), "systemd keeps a trailing comment"
