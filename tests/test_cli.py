"""The CLI as a user runs it: a real subprocess against a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, WAIBLINGEN, run_python


def run(db_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = os.environ | {"LIFECYCLE_DATABASE_URL": db_url, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "lifecycle", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def row_counts(db_url: str) -> dict[str, int]:
    import sqlite3

    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    con.close()
    return counts


@pytest.fixture
def started(db_url):
    run(db_url, "start", str(WAIBLINGEN))
    return db_url


class TestStatus:
    def test_shows_the_2017_timeline_in_german(self, started):
        out = run(started, "status", "waiblingen-2017", "--today", "2017-11-08").stdout
        assert "Stand: Mittwoch, 8. November 2017" in out
        assert "Mittwoch, 6. Dezember 2017, 17:00 Uhr" in out
        assert "Donnerstag, 14. Dezember 2017, 18:00 Uhr" in out
        assert "Mi., 22.11.2017" in out  # Vorlagenschluss BSV
        assert "Do., 30.11.2017" in out  # Vorlagenschluss Gemeinderat
        assert "Offenes Gate: Ratsbeschluss" in out
        assert "Überfällig" in out

    def test_single_process_is_shown_without_argument(self, started):
        out = run(started, "status", "--today", "2017-03-01").stdout
        assert "waiblingen-2017" in out and "Phasen" in out

    def test_does_not_import_prefect(self, started):
        code = (
            "import sys; from lifecycle.cli import main; sys.argv=['lifecycle','status',"
            "'--today','2017-11-08'];\ntry: main()\nexcept SystemExit: pass\n"
            "heavy = {'prefect', 'fastapi', 'uvicorn', 'argon2', 'docxtpl', 'selenium'}\n"
            "assert not heavy & set(sys.modules), heavy & set(sys.modules); print('clean')"
        )
        proc = run_python(code, started)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith("clean")

    def test_after_the_process_walked_through(self, started):
        run(
            started,
            "decide",
            "waiblingen-2017",
            "ratsbeschluss",
            "approve",
            "--on",
            "2017-04-27",
            "--reference",
            "BSV 3/2017",
            "--force",
            "Aufgaben im Altverfahren erledigt",
            "--by",
            "sitzungsdienst",
        )
        out = run(started, "status", "waiblingen-2017", "--today", "2017-05-02").stdout
        assert "freigegeben 27.04.2017 (BSV 3/2017)" in out
        assert "Offenes Gate: Auftaktworkshop" in out


class TestCommands:
    def test_tasks_done_log(self, started):
        out = run(started, "tasks", "--person", "ortolf", "--today", "2017-03-01").stdout
        assert "Förderantrag stellen" in out and "15.03.2017" in out
        run(started, "done", "waiblingen-2017:foerderantrag_stellen", "--on", "2017-03-10")
        out = run(started, "tasks", "--overdue", "--today", "2017-03-16").stdout
        assert "Förderantrag" not in out and "Externe wissenschaftliche" in out
        log = run(started, "log", "waiblingen-2017").stdout
        assert "Aufgabe erledigt" in log and "Prozess gestartet" in log

    def test_decide_names_the_stage_by_its_title(self, started):
        """The confirmation is a German sentence: the stage as the plan titles it, in German
        quotes, not the plan's key in Python's quotes (was: Gate 'ratsbeschluss': …)."""
        args = ["waiblingen-2017", "ratsbeschluss", "send_back", "--on", "2017-03-20"]
        out = run(started, "decide", *args, "--reason", "Finanzierung klären").stdout
        said = "Gate der Phase „Ratsbeschluss“: zurückgegeben am Montag, 20. März 2017"
        assert out.strip() == said
        assert "'" not in out

    def test_a_command_leaves_its_changes_in_the_database_file(self, started, tmp_path):
        """Each command closes its connections before the process exits (the CLI skips the
        collector's pass at shutdown, which used to close them): SQLite folds its log back
        into the file, and a plain copy of the file alone holds the newest change."""
        import sqlite3

        path = Path(started.removeprefix("sqlite:///"))
        for args in (("done", "waiblingen-2017:foerderantrag_stellen", "--on", "2017-03-10"),
                     ("status", "waiblingen-2017")):  # fmt: skip
            run(started, *args)
            assert not path.with_name(path.name + "-wal").exists(), args
        copy = tmp_path / "copy.db"
        copy.write_bytes(path.read_bytes())
        con = sqlite3.connect(copy)
        state = con.execute("SELECT state FROM task WHERE key = 'foerderantrag_stellen'").fetchone()
        con.close()
        assert state == ("done",)

    def test_reschedule_recomputes(self, started):
        out = run(started, "reschedule", "bsv-2017-12-06", "2017-12-13").stdout
        assert "Mittwoch, 13. Dezember 2017" in out and "Fristen neu berechnet" in out
        out = run(started, "status", "waiblingen-2017", "--today", "2017-11-08").stdout
        assert "Mi., 29.11.2017" in out

    def test_user_text_is_printed_as_written_not_as_markup(self, db_url, tmp_path):
        """Brackets and colons in names are text: no markup error, no emoji, nothing lost."""
        text = (WAIBLINGEN.read_text()
                .replace("short: BSV", "short: '[/]BSV[bold]'")
                .replace("name: Waiblingen", "name: 'Waiblingen :100: [red]'"))  # fmt: skip
        path = tmp_path / "markup.yaml"
        path.write_text(text)
        run(db_url, "start", str(path))
        status = run(db_url, "status", "waiblingen-2017", "--today", "2017-11-08").stdout
        assert "Waiblingen :100: [red]" in status and "[/]BSV[bold]" in status
        sitzungen = run(db_url, "sitzungen", "--today", "2017-11-01").stdout
        assert "[/]BSV[bold]" in sitzungen
        overview = run(db_url, "status", "--today", "2017-11-08").stdout
        assert "waiblingen-2017" in overview


class TestBadInput:
    """Exit code 2, one line naming file, field and problem; the database unchanged."""

    def assert_refused(self, db_url, *args, expect: str):
        before = row_counts(db_url)
        proc = run(db_url, *args, check=False)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert expect in lines[0]
        assert row_counts(db_url) == before

    def bad_scenario(self, tmp_path: Path, change) -> str:
        data = yaml.safe_load(WAIBLINGEN.read_text().replace("on: 2017", "'on': 2017"))
        change(data)
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        return str(path)

    def test_bad_scenario(self, started, tmp_path):
        path = self.bad_scenario(tmp_path, lambda d: d["kommune"].update(bundesland="XY"))
        self.assert_refused(started, "start", path, expect=f"{path}:")
        self.assert_refused(
            started, "start", path, expect="kommune.bundesland: unbekanntes Bundesland „XY“"
        )

    def test_bad_email(self, db_url, tmp_path):
        run(db_url, "status")  # creates the empty database
        path = self.bad_scenario(tmp_path, lambda d: d["personen"][0].update(email="ute@"))
        expect = "personen[0].email: ungültige E-Mail-Adresse"
        self.assert_refused(db_url, "start", path, expect=expect)

    def test_start_twice(self, started):
        self.assert_refused(started, "start", str(WAIBLINGEN), expect="gibt es schon")

    def test_decide_closed_gate_and_bad_reference(self, started):
        self.assert_refused(
            started,
            "decide",
            "waiblingen-2017",
            "ratsbeschluss",
            "approve",
            "--on",
            "2017-04-27",
            "--reference",
            "BSV3-2017",
            "--force",
            "x",
            expect="nicht die erwartete Form",
        )
        self.assert_refused(
            started,
            "decide",
            "waiblingen-2017",
            "vorlage",
            "approve",
            "--on",
            "2017-12-14",
            expect="hat noch nicht begonnen",
        )
        self.assert_refused(
            started,
            "decide",
            "nirgendwo-2017",
            "vorlage",
            "approve",
            expect="keine Fortschreibung „nirgendwo-2017“",
        )
        self.assert_refused(
            started, "decide", "waiblingen-2017", "vorlage", "maybe", expect="„maybe“ ist keins von"
        )

    def test_a_refusal_names_in_german_quotes(self, started):
        """A refusal is a German sentence: what it names in „…“, not in Python's quotes ('…'),
        on one line, exit 2; the stage by its plan title, the process by its key."""
        again = run(started, "start", str(WAIBLINGEN), check=False)
        assert again.returncode == 2, again.stdout + again.stderr
        assert again.stderr.splitlines() == [
            "lifecycle: die Fortschreibung „waiblingen-2017“ gibt es schon (gestartet am "
            "01.03.2017)"
        ]
        decide = ["decide", "waiblingen-2017", "ratsbeschluss", "approve", "--on", "2017-04-27",
                  "--reference", "GR 1/2017", "--force", "Test"]  # fmt: skip
        run(started, *decide)
        closed = run(started, *decide, check=False)
        assert closed.returncode == 2, closed.stdout + closed.stderr
        [line] = closed.stderr.splitlines()
        assert line.startswith("lifecycle: das Gate der Phase „Ratsbeschluss“ ist schon "
                               "geschlossen (freigegeben am 27.04.2017 von ")  # fmt: skip
        assert "'" not in again.stderr + closed.stderr

    def test_bad_dates(self, started):
        self.assert_refused(
            started, "status", "--today", "2017-13-01", expect="--today: unmögliches Datum"
        )
        self.assert_refused(
            started, "reschedule", "bsv-2017-12-06", "06.12.2017", expect="ist kein Datum"
        )
        self.assert_refused(
            started,
            "done",
            "waiblingen-2017:foerderantrag_stellen",
            "--on",
            "gestern",
            expect="--on: „gestern“ ist kein Datum",
        )

    def test_days_ahead_out_of_range(self, started):
        for days in ("0", "999999999"):
            self.assert_refused(started, "sitzungen", "--today", "2017-11-01", "--days", days,
                                expect="liegt nicht zwischen 1 und 3660 Tagen")  # fmt: skip

    def test_reschedule_breaking_beratungsfolge(self, started):
        self.assert_refused(
            started,
            "reschedule",
            "bsv-2017-12-06",
            "2017-12-20",
            expect="bricht die Beratungsfolge",
        )
