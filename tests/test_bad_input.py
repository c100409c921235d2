"""Issue 9: every class of bad input is refused with exit 2, one German line naming file (and
line), field and problem, and an unchanged database; a bug is one line and exit 70.

Most cases run the CLI in-process (``lifecycle.cli.run``, what the console script calls) on a
real SQLite file; the exit-code and stderr contract of the real process is checked by
subprocess where it matters (usage errors, internal errors, rich's emoji and markup).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, WAIBLINGEN, template_with_document_xml
from test_bad_input_corpus import cli, dump

TEXT = WAIBLINGEN.read_text(encoding="utf-8")
PLAN = (ROOT / "src/lifecycle/plans/integrationskonzept.yaml").read_text(encoding="utf-8")


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "lifecycle.db"
    code, _, err = cli(path, "status")  # an empty, migrated database
    assert code == 0, err
    return path


@pytest.fixture
def started(db) -> Path:
    code, _, err = cli(db, "start", str(WAIBLINGEN))
    assert code == 0, err
    return db


def refused(db: Path, *args: str, expect: tuple[str, ...] = ()) -> str:
    """Run; assert exit 2, exactly one line on stderr containing ``expect``, nothing changed."""
    before = dump(db) if db.exists() else None
    code, out, err = cli(db, *args)
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err}{out}"
    assert len(lines) == 1 and lines[0].startswith("lifecycle: "), err
    assert "Traceback" not in err and "Interner Fehler" not in err, err
    for part in expect:
        assert part in lines[0], lines[0]
    if before is not None:
        assert dump(db) == before, "refused, but the database changed"
    return lines[0]


def scenario(tmp_path: Path, text: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def with_plan(tmp_path: Path, plan_text: str) -> str:
    (tmp_path / "plan.yaml").write_text(plan_text, encoding="utf-8")
    return scenario(tmp_path, TEXT.replace("plan: integrationskonzept", "plan: plan.yaml"))


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- 1. path traversal -----------------------------------------------------------------------


class TestPathTraversal:
    def test_a_document_kind_that_is_a_path_is_refused_where_the_plan_is_read(self, db, tmp_path):
        plan = PLAN.replace("documents: [beschlussvorlage]", 'documents: ["../../../../tmp/x"]')
        line = refused(db, "start", with_plan(tmp_path, plan))
        assert "plan.yaml:" in line and "gate.documents[0]" in line
        assert "„../../../../tmp/x“ hat das falsche Format (erwartet: eine Dokumentart" in line

    def test_a_stored_plan_with_a_path_as_kind_writes_nothing_outside(self, started, tmp_path):
        con = sqlite3.connect(started)
        (plan,) = con.execute("SELECT plan FROM fortschreibung").fetchone()
        evil = f"../../../../{tmp_path.name}-x"
        con.execute(
            "UPDATE fortschreibung SET plan = ?",
            (plan.replace('"beschlussvorlage"]', f'"{evil}"]'),),
        )
        con.commit()
        con.close()
        out = tmp_path / "out"
        refused(started, "docs", "generate", evil, "--out", str(out),
                expect=("kind", "unzulässige Dokumentart"))  # fmt: skip
        assert not list(tmp_path.parent.glob(f"{tmp_path.name}-x*"))
        refused(started, "docs", "generate", "../sitzungsvorlage", "--out", str(out),
                expect=("unzulässige Dokumentart",))  # fmt: skip


# --- 2. what used to be a traceback ----------------------------------------------------------


class TestNoTraceback:
    @pytest.mark.parametrize(("old", "new", "field"), [
        ("  bundesland: BW\n", "  bundesland: BW\n  closing_days: [2017-02-30]\n",
         "kommune.closing_days[0]: unmögliches Datum „2017-02-30“"),
        ("started: 2017-03-01", "started: 0001-03-01", "fortschreibung.started: „0001-03-01“"),
        ("started: 2017-03-01", "started: 9999-03-01", "Jahr 9999 außerhalb"),
        ('start: "2017-12-14 18:00"', 'start: "9999-12-14 18:00"', "sitzungen[3].start"),
    ])  # fmt: skip
    def test_impossible_and_extreme_dates_in_a_scenario(self, db, tmp_path, old, new, field):
        text = TEXT.replace(old, new, 1)
        path = scenario(tmp_path, text)
        line = refused(db, "start", path, expect=(field,))
        assert line.startswith(f"lifecycle: {path}:")

    @pytest.mark.parametrize("args", [
        ("status", "--today", "0001-01-01"),
        ("status", "--today", "9999-12-31"),
        ("reschedule", "bsv-2017-12-06", "9999-12-06"),
        ("reschedule", "bsv-2017-12-06", "0001-12-06 17:00"),
        ("tasks", "--today", "2017-02-30"),
    ])  # fmt: skip
    def test_extreme_dates_on_the_command_line(self, started, args):
        refused(started, *args, expect=("außerhalb" if "-02-30" not in args[-1] else "unmöglich",))

    @pytest.mark.parametrize("offset", ["working_days: 1000000000", "days: -1000000"])
    def test_a_working_day_offset_of_a_billion(self, db, tmp_path, offset):
        old = "due: {anchor: stage_start, days: 21}"
        plan = PLAN.replace(old, f"due: {{anchor: stage_start, {offset}}}", 1)
        assert plan != PLAN
        refused(db, "start", with_plan(tmp_path, plan), expect=("plan.yaml:", ".due.", "ist"))

    def test_an_alias_bomb(self, db, tmp_path):
        pairs = zip("abcdefgh", "bcdefghi", strict=True)
        bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in pairs
        )
        refused(db, "start", scenario(tmp_path, bomb), expect=("Aliase",))

    def test_nesting_ten_thousand_deep(self, db, tmp_path):
        refused(db, "start", scenario(tmp_path, "[" * 10_000 + "]" * 10_000),
                expect=("zu tief verschachtelt",))  # fmt: skip

    def test_a_nul_byte(self, db, tmp_path):
        text = TEXT.replace("name: Waiblingen", "name: Waib\x00lingen")
        refused(db, "start", scenario(tmp_path, text),
                expect=(f":{line_of(text, 'Waib' + chr(0))}:", "NUL-Byte"))  # fmt: skip

    @pytest.mark.parametrize("escape, code", [("\\0", "U+0000"), ("\\a", "U+0007"),
                                              ("\\e", "U+001B"), ("\\x7f", "U+007F")])
    def test_a_control_character_written_as_a_yaml_escape(self, db, tmp_path, escape, code):
        """Raw control characters the YAML reader refuses; its double-quoted escapes make them
        all the same, and a name with one would break the Word file and the e-mail header."""
        text = TEXT.replace("name: Waiblingen", f'name: "Waib{escape}lingen"')
        line = line_of(text, 'name: "Waib')
        refused(db, "start", scenario(tmp_path, text),
                expect=(f":{line}: kommune.name:",
                        f"unzulässiges Steuerzeichen {code}"))  # fmt: skip

    def test_a_tab_and_a_line_break_in_a_text_stay_allowed(self, db, tmp_path):
        """A line break in a sentence (a Beschlussvorschlag) is fine; in a name it is not
        (tests/test_cli_edges.py: a name is one line in a calendar, a table, a header)."""
        text = TEXT.replace("name: Waiblingen", 'name: "Waib\\tlingen"').replace(
            "beschlussvorschlag: Der Fortschreibung", 'beschlussvorschlag: "Erstens.\\nDer '
            'Fortschreibung', 1).replace("wird zugestimmt.\n", 'wird zugestimmt."\n', 1)
        code, _, err = cli(db, "start", scenario(tmp_path, text))
        assert code == 0, err

    def test_null_and_integer_keys_in_one_mapping(self, db, tmp_path):
        text = TEXT.replace("kommune:\n", "kommune:\n  null: 1\n  2: 3\n", 1)
        refused(db, "start", scenario(tmp_path, text),
                expect=(f":{line_of(text, 'null: 1')}:", "ist kein Text"))  # fmt: skip

    def test_a_folder_a_device_or_proc_where_a_file_is_expected(self, db, tmp_path):
        refused(db, "start", str(tmp_path), expect=("ist ein Ordner",))
        refused(db, "start", "/dev/null", expect=("keine gewöhnliche Datei",))
        refused(db, "start", "/proc/self/status", expect=("/proc/self/status",))
        (tmp_path / "plan.yaml").mkdir()
        path = scenario(tmp_path, TEXT.replace("plan: integrationskonzept", "plan: plan.yaml"))
        refused(db, "start", path, expect=("plan.yaml", "ist ein Ordner"))

    def test_output_and_settings_that_are_not_what_they_should_be(self, started, tmp_path):
        a_file = tmp_path / "datei"
        a_file.write_text("x")
        refused(started, "docs", "generate", "beschlussvorlage", "--out", str(a_file),
                expect=("--out", "ist kein Ordner"))  # fmt: skip
        os.environ["LIFECYCLE_OUTPUT"] = "/dev/null"
        try:
            refused(started, "docs", "generate", "beschlussvorlage",
                    expect=("LIFECYCLE_OUTPUT", "ist kein Ordner"))  # fmt: skip
        finally:
            del os.environ["LIFECYCLE_OUTPUT"]
        refused(started, "calendar", "export", "-o", str(tmp_path), expect=("ist ein Ordner",))
        for settings, problem in ((tmp_path, "ist ein Ordner"), ("/dev/null", "gewöhnliche")):
            os.environ["LIFECYCLE_SETTINGS"] = str(settings)
            try:
                refused(started, "remind", "--today", "2017-11-08",
                        expect=("LIFECYCLE_SETTINGS", problem))  # fmt: skip
            finally:
                del os.environ["LIFECYCLE_SETTINGS"]

    def test_duplicates_only_the_database_would_notice(self, db, tmp_path):
        two = TEXT.replace("  - stage: vorlage\n", "  - stage: ratsbeschluss\n", 1)
        refused(db, "start", scenario(tmp_path, two),
                expect=("vorlagen[1].stage", "hat schon eine Vorlage"))  # fmt: skip
        twice = TEXT.replace("projektleitung: [ortolf]", "projektleitung: [ortolf, ortolf]")
        refused(db, "start", scenario(tmp_path, twice),
                expect=("rollen.projektleitung[1]", "doppelt"))  # fmt: skip

    @pytest.mark.parametrize("ref", [":", "waiblingen-2017:", str(10**30), "²", "p:\n", "1.5"])
    def test_task_references(self, started, ref):
        refused(started, "done", ref, "--on", "2017-03-14", expect=("AUFGABE",))

    @pytest.mark.parametrize("date", ["2017-12-13T17:00Z", "2017-12-13 17:00+01:00"])
    def test_reschedule_with_a_time_zone(self, started, date):
        refused(started, "reschedule", "bsv-2017-12-06", date, expect=("ohne Zeitzone",))

    def test_database_urls_and_files_we_cannot_use(self, tmp_path):
        text = tmp_path / "text.db"
        text.write_text("hallo\n")
        noise = tmp_path / "noise.db"
        noise.write_bytes(os.urandom(4096))
        good = tmp_path / "good.db"
        assert cli(good, "status")[0] == 0
        truncated = tmp_path / "truncated.db"
        con = sqlite3.connect(good)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        whole = good.read_bytes()
        truncated.write_bytes(whole[: len(whole) // 2 + 100])
        newer = tmp_path / "newer.db"
        con = sqlite3.connect(newer)
        con.execute("CREATE TABLE alembic_version (version_num TEXT)")
        con.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
        con.commit()
        con.close()
        cases = {
            "garbage": ("LIFECYCLE_DATABASE_URL", "keine Datenbank-URL"),
            "nosuchdb://x/y": ("unbekannter Datenbanktyp",),
            "postgresql+psycopg://u:geheim@127.0.0.1:1/db": ("nicht erreichbar", "***"),
            f"sqlite:///{text}": ("keine SQLite-Datenbank",),
            f"sqlite:///{noise}": ("keine SQLite-Datenbank",),
            f"sqlite:///{truncated}": ("keine lesbare",),
            f"sqlite:///{newer}": ("Schemastand „9999_from_the_future“",),
            f"sqlite:///{tmp_path}": ("ist ein Ordner",),
        }
        for url, expect in cases.items():
            line = _with_url(url, "status", label=url)
            for part in expect:
                assert part in line, line
            assert "geheim" not in line
        tables = sqlite3.connect(newer).execute("SELECT count(*) FROM sqlite_master").fetchone()
        assert tables == (1,)

    def test_templates_that_break(self, started, tmp_path):
        folder = tmp_path / "vorlagen"
        folder.mkdir()
        shipped = ROOT / "templates/docx/beschlussvorlage.docx"
        with zipfile.ZipFile(shipped) as src:
            xml = src.read("word/document.xml")
            items = [(i, src.read(i.filename)) for i in src.infolist()]

        def write(document_xml: bytes) -> None:
            with zipfile.ZipFile(folder / "beschlussvorlage.docx", "w") as dst:
                for info, data in items:
                    own = info.filename == "word/document.xml"
                    dst.writestr(info, document_xml if own else data)

        write(xml[:-40])  # not well-formed
        refused(started, "docs", "generate", "beschlussvorlage", "--templates", str(folder),
                "--out", str(tmp_path / "o"), expect=("beschlussvorlage.docx",))  # fmt: skip
        loop = b"<w:p><w:r><w:t>{% for i in range(10**9) %}x{% endfor %}</w:t></w:r></w:p>"
        write(xml.replace(b"</w:body>", loop + b"</w:body>"))
        refused(started, "docs", "generate", "beschlussvorlage", "--templates", str(folder),
                "--out", str(tmp_path / "o"), expect=("nicht erlaubt",))  # fmt: skip
        assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.docx"))


def _with_url(url: str, *args: str, label: str = "") -> str:
    env = os.environ | {"LIFECYCLE_DATABASE_URL": url}
    proc = subprocess.run([sys.executable, "-m", "lifecycle", *args], capture_output=True,
                          text=True, env=env, timeout=60)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, f"{label}: {proc.stderr}{proc.stdout}"
    return lines[0]


# --- 3. accepted silently, but wrong ---------------------------------------------------------


class TestNotSilently:
    @pytest.mark.parametrize(("old", "new", "key"), [
        ("key: waiblingen-2017\n", "key: waiblingen-2017\nkey: waiblingen-2018\n", "key"),
        ("  name: Waiblingen\n", "  name: Waiblingen\n  name: Waiblingen-Süd\n", "name"),
        ("{key: bildung, title: Zugang zu Sprache und Bildung}",
         "{key: bildung, title: Zugang zu Sprache und Bildung, key: x}", "key"),
    ])  # fmt: skip
    def test_duplicate_keys_name_file_and_line(self, db, tmp_path, old, new, key):
        text = TEXT.replace(old, new, 1)
        line_no = line_of(text, new.splitlines()[-1])
        path = scenario(tmp_path, text)
        refused(db, "start", path, expect=(f"{path}:{line_no}:", f"Schlüssel „{key}“ doppelt"))

    @pytest.mark.parametrize(("old", "new", "expect"), [
        ("auftaktworkshop: 2017-07-07", "auftaktworkshop: 2017-12-20",
         "fortschreibung.termine.auftaktworkshop: Termin am 2017-12-20 liegt nicht vor"),
        ("      - {sitzung: bsv-2017-12-06, role: Vorberatung}\n"
         "      - {sitzung: gr-2017-12-14, role: Entscheidung}",
         "      - {sitzung: bsv-2017-12-06, role: Entscheidung}\n"
         "      - {sitzung: gr-2017-12-14, role: Vorberatung}",
         "vorlagen[1].beratungsfolge[1].role: Vorberatung nach der Entscheidung"),
        ("  - {decide: arbeitsgruppen,",
         "  - {done: gibt_es_nicht, on: 2017-10-01, by: ortolf}\n  - {decide: arbeitsgruppen,",
         "verlauf[2].done: unbekannte(s) Aufgabe des Plans „gibt_es_nicht“"),
        ("  plan: integrationskonzept\n",
         "  plan: integrationskonzept\n  reminders: {escalate_to: hausmeister}\n",
         "fortschreibung.reminders.escalate_to: der Plan kennt keine Rolle „hausmeister“"),
        ("  - {key: ortolf,", '  - {key: "ortolf\\n",', "personen[0].key: „ortolf\\n“"),
        ("email: ute.ortolf@waiblingen.example", 'email: "ute.ortolf@waiblingen.example\\n"',
         "personen[0].email"),
        ("reference: BSV 3/2017\n", 'reference: "BSV 3/2017\\n"\n', "vorlagen[0].reference"),
        ("amount: 15000,", "amount: .nan,", "„.nan“ ist keine endliche Zahl"),
        ("budget: {amount: 5000,", "budget: {amount: .inf,", "„.inf“ ist keine endliche Zahl"),
        ("  - {decide: auswertung, on: 2017-11-13, outcome: approve,",
         "  - {decide: auswertung, on: 2017-11-13, outcome: vielleicht,",
         "verlauf[3].outcome: „vielleicht“ ist keiner von"),
    ])  # fmt: skip
    def test_refused_with_the_field_at_fault(self, db, tmp_path, old, new, expect):
        assert old in TEXT
        refused(db, "start", scenario(tmp_path, TEXT.replace(old, new, 1)), expect=(expect,))

    @pytest.mark.parametrize("documents", ['[""]', "[beschlussvorlage, beschlussvorlage]",
                                           '["Beschluss Vorlage"]'])  # fmt: skip
    def test_plan_document_kinds_empty_or_malformed(self, db, tmp_path, documents):
        plan = PLAN.replace("documents: [beschlussvorlage]", f"documents: {documents}")
        refused(db, "start", with_plan(tmp_path, plan), expect=("gate.documents",))

    @pytest.mark.parametrize(("old", "new", "field"), [
        ("{massnahme: offener-treff,", '{massnahme: "offener-treff\\n",', "verlauf[0].massnahme"),
        ("{messung: integrationskurse,", '{messung: "integrationskurse ",', "verlauf[5].messung"),
    ])  # fmt: skip
    def test_a_verlauf_key_of_the_umsetzung_with_a_newline_or_a_blank(self, db, tmp_path, old,
                                                                      new, field):  # fmt: skip
        """Such a step was accepted at start and failed only when the demo replayed it."""
        text = (ROOT / "examples/waiblingen-umsetzung-2018.yaml").read_text(encoding="utf-8")
        assert old in text
        refused(db, "start", scenario(tmp_path, text.replace(old, new, 1)),
                expect=(field, "hat das falsche Format"))  # fmt: skip

    def test_done_by_nobody_and_a_reference_with_a_newline(self, started):
        refused(started, "done", "waiblingen-2017:foerderantrag_stellen", "--on", "2017-03-14",
                "--by", "niemand", expect=("keine Person „niemand“",))  # fmt: skip
        refused(started, "decide", "waiblingen-2017", "ratsbeschluss", "approve", "--on",
                "2017-04-27", "--reference", "BSV 3/2017\n", "--force", "x",
                expect=("--reference",))  # fmt: skip

    def test_reschedule_before_the_process_began(self, started):
        refused(started, "reschedule", "bsv-2017-12-06", "2017-02-01",
                expect=("liegt vor dem Beginn der Fortschreibung „waiblingen-2017“",))  # fmt: skip

    def test_a_second_scenario_for_the_kommune_with_other_data(self, started, tmp_path):
        other = TEXT.replace("key: waiblingen-2017", "key: waiblingen-2019").replace(
            "bundesland: BW", "bundesland: BY"
        )
        refused(started, "start", scenario(tmp_path, other),
                expect=("Kommune „waiblingen“", "bundesland", "„BW“", "„BY“"))  # fmt: skip
        moved = TEXT.replace("key: waiblingen-2017", "key: waiblingen-2019").replace(
            'start: "2017-12-14 18:00"', 'start: "2017-12-15 18:00"'
        )
        refused(started, "start", scenario(tmp_path, moved),
                expect=("Sitzung „gr-2017-12-14“", "start"))  # fmt: skip

    def test_another_applications_sqlite_file_gets_none_of_our_tables(self, tmp_path):
        foreign = tmp_path / "crm.db"
        con = sqlite3.connect(foreign)
        con.execute("CREATE TABLE kunden (id INTEGER PRIMARY KEY, name TEXT)")
        con.commit()
        con.close()
        line = _with_url(f"sqlite:///{foreign}", "status")
        assert "gehört einer anderen Anwendung" in line
        names = sqlite3.connect(foreign).execute("SELECT name FROM sqlite_master").fetchall()
        assert names == [("kunden",)]


# --- 4. remind: settings before the database; exit 3 when not all was sent -------------------


class TestRemind:
    @pytest.mark.parametrize(("env", "expect"), [
        ({"LIFECYCLE_SMTP_PORT": "abc"}, "LIFECYCLE_SMTP_PORT=„abc“"),
        ({"LIFECYCLE_SMTP_SECURITY": "tls"}, "LIFECYCLE_SMTP_SECURITY=„tls“"),
        ({"LIFECYCLE_TIMEZONE": "Europe/Waiblingen"}, "keine bekannte Zeitzone"),
        ({"LIFECYCLE_MAIL_FROM": "niemand"}, "LIFECYCLE_MAIL_FROM=„niemand“"),
        ({"LIFECYCLE_SETTINGS": "/nirgends/s.toml"}, "Datei nicht gefunden"),
        ({"LIFECYCLE_SETTINGS": "BROKEN"}, "kein gültiges TOML"),
        ({"LIFECYCLE_SETTINGS": "UNKNOWN"}, "LIFECYCLE_SMTP_HOTS"),
    ])  # fmt: skip
    def test_bad_settings_change_nothing(self, started, tmp_path, env, expect):
        files = {"BROKEN": "LIFECYCLE_SMTP_HOST = \n", "UNKNOWN": 'LIFECYCLE_SMTP_HOTS = "x"\n'}
        env = dict(env)
        if env.get("LIFECYCLE_SETTINGS") in files:
            path = tmp_path / "s.toml"
            path.write_text(files[env["LIFECYCLE_SETTINGS"]])
            env["LIFECYCLE_SETTINGS"] = str(path)
        env.setdefault("LIFECYCLE_SMTP_HOST", "127.0.0.1")
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            refused(started, "remind", "--today", "2017-11-08", expect=(expect,))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def test_unreachable_mail_server_exits_3(self, started):
        env = os.environ | {"LIFECYCLE_DATABASE_URL": f"sqlite:///{started}",
                            "LIFECYCLE_SMTP_HOST": "127.0.0.1", "LIFECYCLE_SMTP_PORT": "1",
                            "COLUMNS": "200"}  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "lifecycle", "remind", "--today",
                               "2017-11-08"], capture_output=True, text=True, env=env,
                              timeout=120)  # fmt: skip
        assert proc.returncode == 3, proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr and "warten" in proc.stdout


# --- 5. messages reach the user intact --------------------------------------------------------


def _subprocess(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"LIFECYCLE_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "lifecycle", *args], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


class TestMessages:
    def test_line_100_is_not_an_emoji_and_brackets_are_not_markup(self, tmp_path):
        body = TEXT.replace("bundesland: BW", "bundesland: '[red]XY[/red] :100:'")
        text = "# Zeile\n" * (100 - line_of(body, "bundesland")) + body
        assert line_of(text, "bundesland") == 100
        path = scenario(tmp_path, text)
        proc = _subprocess(tmp_path / "l.db", "start", path)
        assert proc.returncode == 2
        [line] = proc.stderr.strip().splitlines()
        assert f"{path}:100: kommune.bundesland:" in line
        assert "[red]XY[/red] :100:" in line and "💯" not in line

    def test_an_error_in_a_verlauf_step_names_the_key_not_the_step(self, db, tmp_path):
        step = "outcome: approve, by: ortolf}"
        text = TEXT.replace(step, step[:-1] + ", wer: x}", 1)
        line = refused(db, "start", scenario(tmp_path, text))
        assert "verlauf[2]: unbekannter Schlüssel „wer“" in line and "remarks" not in line


# --- 6. usage errors, 7. internal errors ------------------------------------------------------


# Words of PyYAML, Jinja, lxml and the csv module that must not reach a user.
ENGLISH = ("could not", "expected", "found", "constructor", "undefined", "unsafe", "token",
           "Maximum", "Error", "field larger", "but got", "stream", "attribute")  # fmt: skip


class TestGermanMessages:
    """The CLI says what the web app says: one German line for each class of broken file."""

    @pytest.mark.parametrize(("old", "new", "expect"), [
        (None, "!!python/object/apply:os.system ['id']\n",
         ":1: ungültiges YAML: Typ-Angabe „!!python/object/apply:os.system“ ist nicht erlaubt"),
        ("kommune:\n", "kommune: [\n", "ungültiges YAML: eine Liste [ … ] ist nicht geschlossen"),
        ("  bundesland: BW\n", "\tbundesland: BW\n", "ungültiges YAML: ein Tabulator"),
        ("started: 2017-03-01", "started: !!timestamp x",
         "Wert nicht lesbar (eine Zahl mit zu vielen Ziffern oder eine Typ-Angabe"),
        ("started: 2017-03-01", "started: !!int x", "Typ-Angabe wie !!int"),
        ("name: Waiblingen", 'name: "Waib\\qlingen"', "unbekannte Escape-Sequenz \\q"),
    ])  # fmt: skip
    def test_a_broken_scenario(self, db, tmp_path, old, new, expect):
        text = new if old is None else TEXT.replace(old, new, 1)
        line = refused(db, "start", scenario(tmp_path, text), expect=(expect, "s.yaml:"))
        assert not [w for w in ENGLISH if w in line.replace(new.strip(), "")], line

    @pytest.mark.parametrize(("paragraph", "expect"), [
        ("{{ ''.__class__ }}", "nicht erlaubt: der Zugriff auf '__class__'"),
        ("{{ vorlage.betreff | }}", "Syntaxfehler im Platzhalter: hier fehlt ein Name"),
        ("{{ vorlage.betreff | round }}", "ein Platzhalter passt nicht zu seinem Wert"),
        ("{{ gibtsnicht }}", "unbekanntes Feld 'gibtsnicht'"),
    ])  # fmt: skip
    def test_a_broken_template(self, started, tmp_path, paragraph, expect):
        run = f"<w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p>".encode()
        folder = template_with_document_xml(
            ROOT / "templates/docx/beschlussvorlage.docx", tmp_path / "vorlagen",
            lambda data: data.replace(b"</w:body>", run + b"</w:body>"))  # fmt: skip
        line = refused(started, "docs", "generate", "beschlussvorlage", "--templates",
                       str(folder), "--out", str(tmp_path / "o"),
                       expect=("beschlussvorlage.docx", expect, "Absatz "))  # fmt: skip
        assert not [w for w in ENGLISH if w in line.split(" (Absatz ")[0]], line


class TestUsageAndInternalErrors:
    @pytest.mark.parametrize(("args", "expect"), [
        (["start"], "Aufruf: SCENARIO fehlt"),
        (["gibtsnicht"], "Aufruf: unbekannter Befehl „gibtsnicht“"),
        (["tasks", "--limit", "abc"], "Aufruf: ungültiger Wert für --limit: keine ganze Zahl"),
        (["tasks", "--gibtsnicht"], "Aufruf: unbekannte Option --gibtsnicht"),
    ])  # fmt: skip
    def test_one_line_exit_2_no_usage_box(self, tmp_path, args, expect):
        proc = _subprocess(tmp_path / "u.db", *args)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
        assert expect in proc.stderr and "Usage" not in proc.stderr and "╭" not in proc.stderr

    def test_a_bug_is_one_line_exit_70_and_a_log_file(self, tmp_path):
        code = (
            "import sys, lifecycle.status as st\n"
            "def boom(*a, **k):\n    raise ZeroDivisionError('simulated bug')\n"
            "st.overview = boom\n"
            "from lifecycle.cli import main\nmain(['status'])\n"
        )
        env = os.environ | {"LIFECYCLE_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
                            "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=120)  # fmt: skip
        assert proc.returncode == 70
        [line] = proc.stderr.strip().splitlines()
        assert line.startswith("lifecycle: Interner Fehler (ZeroDivisionError), Details in ")
        log = Path(line.rsplit("Details in ", 1)[1])
        assert log.is_file() and "simulated bug" in log.read_text()
        assert "Traceback" in log.read_text() and "Traceback" not in proc.stderr
