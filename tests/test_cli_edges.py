"""The CLI at the edges of its input: bytes that are not UTF-8, files that are pipes, folders
that cannot be written, numbers and dates out of range, settings that break late.

The contract of tests/test_bad_input.py holds for each class: exit 2, one German line on
stderr, the database unchanged; never a traceback, never exit 70. Most cases run the CLI
in-process (``lifecycle.cli.run``); where the process itself matters (argv as bytes, stdin,
stdout) a real subprocess.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import ROOT, WAIBLINGEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bad_input import db as db  # noqa: F401 (the same fixtures and check as there)
from test_bad_input import refused
from test_bad_input import started as started  # noqa: F401
from test_bad_input_corpus import cli, dump

from lifecycle import cli as cli_module


def process(db: Path, *args: str | bytes, stdin: bytes = b"",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """The real command line (arguments may be bytes, as a shell passes them)."""
    environment = os.environ | {"LIFECYCLE_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200",
                                "NO_COLOR": "1"} | (env or {})  # fmt: skip
    return subprocess.run([sys.executable, "-m", "lifecycle", *args], input=stdin,
                          capture_output=True, env=environment, cwd=ROOT, timeout=120)  # fmt: skip


def one_line(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    err = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == code, f"exit {proc.returncode}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lifecycle: "), err
    assert "Traceback" not in err and "Interner Fehler" not in err, err
    return lines[0]


# --- D1: arguments that are not UTF-8 ---------------------------------------------------------

# Each command that takes free text, with the bytes of a Latin-1 "ü" where the text goes.
LATIN1 = "m\udcfcller"  # what Python makes of b"m\xfcller" (surrogateescape)
NOT_UTF8_COMMANDS = [
    ["tasks", "--person", LATIN1],
    ["status", LATIN1],
    ["decide", "waiblingen-2017", "ratsbeschluss", "send_back", "--on", "2017-03-20",
     "--reason", LATIN1],
    ["done", "waiblingen-2017:foerderantrag_stellen", "--by", LATIN1],
    ["reassign", "waiblingen-2017:partner_anfragen", LATIN1],
    ["reschedule", LATIN1, "2017-12-13"],
    ["log", LATIN1],
    ["sitzungen", f"--kommune={LATIN1}"],
    ["calendar", "export", "--person", LATIN1, "-o", "x.ics"],
    ["user", "add", "fritz", "--admin", "--display-name", LATIN1, "--password-stdin"],
]


class TestArgumentsThatAreNotUtf8:
    @pytest.mark.parametrize("args", NOT_UTF8_COMMANDS, ids=lambda a: a[0])
    def test_each_command_refuses_them_naming_the_argument(self, started, args):
        line = refused(started, *args, expect=("kein UTF-8-Text", "m\\xfcller"))
        number = args.index(LATIN1) + 1 if LATIN1 in args else len(args)
        assert f"Argument {number} " in line

    def test_the_real_process_gets_bytes(self, started):
        before = dump(started)
        proc = process(started, "decide", "waiblingen-2017", "ratsbeschluss", "send_back",
                       "--on", "2017-03-20", "--reason", b"Finanzierung kl\xe4ren")  # fmt: skip
        line = one_line(proc)
        assert "Argument 8 „Finanzierung kl\\xe4ren“ (nach --reason) ist kein UTF-8-Text" in line
        assert dump(started) == before

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(args=st.lists(st.text(max_size=8), max_size=4), where=st.integers(0, 4),
           byte=st.integers(0x80, 0xFF))  # fmt: skip
    def test_any_argument_anywhere(self, db, args, where, byte):
        bad = f"x{chr(0xDC00 + byte)}y"
        line = refused(db, "tasks", *args[:where], bad, *args[where:])
        assert f"x\\x{byte:02x}y" in line

    def test_the_crash_log_takes_any_command_line(self, tmp_path, monkeypatch):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        log = cli_module._write_traceback(ValueError("boom"), ["status", LATIN1, "\ud800"])
        text = log.read_text(encoding="utf-8")
        assert "status m\\udcfcller \\ud800" in text and "ValueError: boom" in text


# --- D2: lone surrogates in a scenario; D14: a password from stdin or from no terminal --------

TEXT = WAIBLINGEN.read_text(encoding="utf-8")


class TestSurrogatesInAScenario:
    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(code=st.integers(0xD800, 0xDFFF),
           place=st.sampled_from(["name: Waiblingen", "short: BSV", "name: Gemeinderat",
                                  "title: Integrationskonzept der Stadt Waiblingen"]))
    def test_a_yaml_escape_of_a_surrogate_is_refused_naming_the_field(self, db, tmp_path, code,
                                                                      place):  # fmt: skip
        key, value = place.split(": ")
        text = TEXT.replace(place, f'{key}: "{value}\\u{code:04x}"', 1)
        path = tmp_path / "s.yaml"
        path.write_text(text, encoding="utf-8")
        refused(db, "start", str(path), expect=(f"{path}:", f".{key}: ",
                                                f"unzulässiges Zeichen U+{code:04X}"))  # fmt: skip


def users_in(db: Path) -> dict[str, str]:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return dict(con.execute('SELECT name, password_hash FROM "user"').fetchall())
    finally:
        con.close()


class TestPasswordFromStdin:
    def test_bytes_that_are_not_utf8_are_refused(self, db):
        before = dump(db)
        proc = process(db, "user", "add", "fritz", "--admin", "--password-stdin",
                       stdin=b"\xffsecretpassword123\n")  # fmt: skip
        assert "--password-stdin: kein UTF-8-Text (Byte 0xff an Stelle 1)" in one_line(proc)
        assert dump(db) == before

    @pytest.mark.parametrize("rest", [b"\r\n", b"\n", b"", b"\r\nsecond line\n"])
    def test_one_line_ending_is_stripped_windows_or_unix(self, db, rest):
        from lifecycle import passwords

        proc = process(db, "user", "add", "winuser", "--admin", "--password-stdin",
                       stdin=b"secretpassword123" + rest)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        stored = users_in(db)["winuser"]
        assert passwords.verify(stored, "secretpassword123")

    def test_no_terminal_and_no_password_stdin_is_one_line(self, db):
        before = dump(db)
        environment = os.environ | {"LIFECYCLE_DATABASE_URL": f"sqlite:///{db}"}
        proc = subprocess.run([sys.executable, "-m", "lifecycle", "user", "add", "hans",
                               "--admin"], stdin=subprocess.DEVNULL, capture_output=True,
                              env=environment, timeout=120, start_new_session=True)  # fmt: skip
        line = one_line(proc)
        assert "kein Terminal" in line and "--password-stdin" in line
        assert b"GetPassWarning" not in proc.stderr
        assert dump(db) == before

    @pytest.mark.parametrize(("field", "value", "expect"), [
        ("display_name", "Fritz\nMeier", "Anzeigename: Zeilenumbruch"),
        ("display_name", "Fritz\x1b[31m", "Anzeigename: unzulässiges Steuerzeichen U+001B"),
        ("password", "secretpassword\ud800", "Passwort: unzulässiges Zeichen U+D800"),
    ])  # fmt: skip
    def test_the_service_refuses_what_no_line_or_database_holds(self, session, field, value,
                                                                 expect):  # fmt: skip
        from lifecycle import services
        from lifecycle.errors import InputError

        given = {"password": "ein-langes-passwort", "display_name": ""} | {field: value}
        with pytest.raises(InputError, match=re.escape(expect)):
            services.add_user(session, "fritz", admin=True, actor="test", **given)


# --- D3: `oparl export` replaces a previous export only ----------------------------------------


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}  # fmt: skip


class TestOparlExportTarget:
    def test_a_previous_export_is_replaced_whole_and_an_empty_folder_taken(self, started,
                                                                           tmp_path):
        from lifecycle.oparl.service import MARKER

        target = tmp_path / "oparl"
        target.mkdir()  # empty: fine
        assert cli(started, "oparl", "export", str(target))[0] == 0
        assert (target / MARKER).is_file() and (target / "system.json").is_file()
        (target / "body" / "stale.json").write_text("{}")  # left from an older export
        code, _, err = cli(started, "oparl", "export", str(target))
        assert code == 0, err
        assert not (target / "body" / "stale.json").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".oparl")]

    def test_an_export_written_before_the_marker_is_recognised(self, started, tmp_path):
        from lifecycle.oparl.service import MARKER

        target = tmp_path / "oparl"
        assert cli(started, "oparl", "export", str(target))[0] == 0
        (target / MARKER).unlink()
        code, _, err = cli(started, "oparl", "export", str(target))
        assert code == 0, err and (target / MARKER).is_file()

    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(name=st.text(st.characters(codec="utf-8", exclude_characters="/\x00"),
                        min_size=1, max_size=20).filter(lambda n: n not in (".", "..")),
           with_export=st.booleans())  # fmt: skip
    def test_a_folder_with_any_other_file_is_refused_and_kept(self, started, tmp_path, name,
                                                              with_export):  # fmt: skip
        import shutil
        import tempfile

        from lifecycle.oparl.service import MARKER

        target = Path(tempfile.mkdtemp(dir=tmp_path)) / "oparl"
        if with_export:
            assert cli(started, "oparl", "export", str(target))[0] == 0
            (target / MARKER).unlink()  # without the marker, only an export's own names pass
        else:
            target.mkdir()
        if name in {p.name for p in target.iterdir()} or name == MARKER:
            return
        (target / name).write_bytes(b"thesis")
        before = tree(target)
        refused(started, "oparl", "export", str(target),
                expect=(str(target), "kein früherer OParl-Export"))  # fmt: skip
        assert tree(target) == before
        shutil.rmtree(target.parent)

    def test_a_file_a_pipe_or_a_link_to_a_file_is_refused_and_kept(self, started, tmp_path):
        plain = tmp_path / "thesis.txt"
        plain.write_text("thesis")
        pipe = tmp_path / "pipe"
        os.mkfifo(pipe)
        link = tmp_path / "link"
        link.symlink_to(plain)
        for target, kind in ((plain, "ist eine Datei"), (pipe, "kein Ordner"),
                             (link, "ist eine Datei")):  # fmt: skip
            refused(started, "oparl", "export", str(target), expect=(kind,))
        assert plain.read_text() == "thesis" and pipe.is_fifo() and link.is_symlink()


# --- D4: an output folder nobody may write to: one shared check --------------------------------


@pytest.fixture
def unwritable(tmp_path):
    """A folder nobody may write into, not even root (immutable; chmod for everyone else)."""
    import shutil

    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)]).returncode != 0:
        pytest.skip("root, and no chattr +i here to make a folder unwritable")
    yield folder
    subprocess.run([chattr, "-i", str(folder)], check=True)


class TestUnwritableOutput:
    @pytest.mark.parametrize("args", [
        ["docs", "generate", "beschlussvorlage", "--process", "waiblingen-2017", "--out", "{d}"],
        ["docs", "generate", "beschlussvorlage", "--process", "waiblingen-2017", "--out",
         "{d}/neu"],
        ["backup", "{d}/b.db"],
        ["oparl", "export", "{d}/op"],
        ["calendar", "export", "-o", "{d}/x.ics"],
        ["massnahmen", "export", "waiblingen-2017", "-o", "{d}/m.csv"],
    ], ids=lambda a: " ".join(a[:2]))  # fmt: skip
    def test_each_command_answers_one_line_and_writes_nothing(self, started, unwritable, args):
        line = refused(started, *(a.format(d=unwritable) for a in args),
                       expect=(str(unwritable), "nicht schreibbar"))  # fmt: skip
        assert "nicht erlaubt" in line or "keine Berechtigung" in line
        assert list(unwritable.iterdir()) == []

    def test_a_write_failing_midway_names_the_file_and_another_file_stays_a_bug(self, tmp_path):
        import errno

        from lifecycle.errors import InputError
        from lifecycle.files import writing

        folder = tmp_path / "out"
        full = "No space left on device"
        with pytest.raises(InputError, match="kein Platz mehr"), writing(folder, "--out"):
            raise OSError(errno.ENOSPC, full, str(folder / "a.docx"))
        with pytest.raises(OSError), writing(folder, "--out"):  # another file: not the user's
            raise OSError(errno.ENOSPC, full, "/elsewhere/x")


# --- D6: size limits hold for pipes and devices too: at most limit + 1 bytes are read ---------


def feed_pipe(path: Path, data: bytes) -> tuple[threading.Thread, list[int]]:
    """A FIFO at ``path`` fed ``data`` by a thread; returns it and the bytes it got rid of."""
    os.mkfifo(path)
    written = [0]

    def feed() -> None:
        try:
            with open(path, "wb") as fh:
                for start in range(0, len(data), 65536):
                    written[0] += fh.write(data[start:start + 65536])
        except BrokenPipeError:  # the reader had enough
            pass

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread, written


class TestSizeLimitsOfPipes:
    def test_vorlage_edit_from_a_pipe_of_two_megabytes_is_refused(self, started, tmp_path):
        thread, _ = feed_pipe(tmp_path / "fifo", b"a" * 2_000_000)
        refused(started, "vorlage", "edit", "waiblingen-2017", "ratsbeschluss", "--section",
                "Rückblick", "--file", str(tmp_path / "fifo"),
                expect=("--file: größer als 512 KB",))  # fmt: skip
        thread.join(10)

    def test_vorlage_edit_from_a_small_pipe_is_stored(self, started, tmp_path):
        thread, _ = feed_pipe(tmp_path / "fifo", "Ein Rückblick.\n".encode())
        code, _, err = cli(started, "vorlage", "edit", "waiblingen-2017", "ratsbeschluss",
                           "--section", "Rückblick", "--file", str(tmp_path / "fifo"))  # fmt: skip
        assert code == 0, err
        thread.join(10)

    def test_massnahmen_import_stops_reading_at_its_limit(self, started, tmp_path):
        from lifecycle.massnahmen_csv import MAX_BYTES

        thread, written = feed_pipe(tmp_path / "fifo", b"x;" * (20 * MAX_BYTES))
        refused(started, "massnahmen", "import", "waiblingen-2017", str(tmp_path / "fifo"),
                expect=("größer als 5 MiB",))  # fmt: skip
        thread.join(10)
        assert written[0] < 2 * MAX_BYTES  # the rest of the 200 MiB was never read

    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(limit=st.integers(0, 300_000), extra=st.integers(-3, 3), pipe=st.booleans())
    def test_whatever_the_file_is_the_limit_is_what_was_read(self, tmp_path, limit, extra,
                                                             pipe):  # fmt: skip
        import tempfile

        from lifecycle.errors import InputError
        from lifecycle.files import read_limited_bytes

        size = max(0, limit + extra)
        data = bytes(i % 251 for i in range(size))
        path = Path(tempfile.mkdtemp(dir=tmp_path)) / "input"
        thread = None
        if pipe:
            thread, _ = feed_pipe(path, data)
        else:
            path.write_bytes(data)
        if size <= limit:
            assert read_limited_bytes(path, limit) == data
        else:
            with pytest.raises(InputError, match="zu groß"):
                read_limited_bytes(path, limit)
        if thread is not None:
            thread.join(10)


# --- D8: a name is one line: refused at the scenario, made one line where it goes out ---------

# Where the Waiblingen scenario has a name: (text around it, the name, field in the error).
NAMES = [
    ("name: Waiblingen", "Waiblingen", "kommune.name"),
    ("name: Gemeinderat", "Gemeinderat", "gremien[1].name"),
    ("short: BSV", "BSV", "gremien[0].short"),
    ("name: Ute Ortolf", "Ute Ortolf", "personen[0].name"),
    ("title: Integrationskonzept der Stadt Waiblingen", "Integrationskonzept der Stadt Waiblingen",
     "konzept.title"),
    ("title: Zugang zu Sprache und Bildung", "Zugang zu Sprache und Bildung",
     "handlungsfelder[0].title"),
    ("    fachbereich: Bürgerengagement\n    author", "Bürgerengagement",
     "vorlagen[0].fachbereich"),
    ("title: Runder Tisch Vielfalt", "Runder Tisch Vielfalt", "umsetzung.massnahmen[0].title"),
]


class TestNamesOfOneLine:
    @settings(max_examples=30, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(place=st.sampled_from(NAMES), brk=st.sampled_from(["\\n", "\\r", "\\r\\n", "\\u2028",
                                                               "\\u2029", "\\x85"]),
           at_end=st.booleans())  # fmt: skip
    def test_a_line_break_in_a_name_is_refused_naming_the_field(self, db, tmp_path, place, brk,
                                                                at_end):  # fmt: skip
        where, value, field = place
        broken = f"{value}{brk}" if at_end else f"{value[:3]}{brk}{value[3:]}"
        assert where in TEXT
        text = TEXT.replace(where, where.replace(value, f'"{broken}"'), 1)
        path = tmp_path / "s.yaml"
        path.write_text(text, encoding="utf-8")
        refused(db, "start", str(path), expect=(f": {field}: ", "in einer Zeile"))

    def test_a_name_with_a_line_break_from_elsewhere_goes_out_on_one_line(self, started,
                                                                           tmp_path):  # fmt: skip
        import sqlite3

        con = sqlite3.connect(started)
        con.execute("UPDATE kommune SET name = 'Waib\nlingen\r\nRems'")
        con.commit()
        con.close()
        out = tmp_path / "k.ics"
        code, _, err = cli(started, "calendar", "export", "-o", str(out))
        assert code == 0, err
        assert b"X-WR-CALNAME:Waib lingen Rems: Fortschreibung waiblingen-2017" in out.read_bytes()


# --- D9: a number of rows: one range for every --limit -----------------------------------------


class TestLimits:
    @settings(max_examples=30, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(limit=st.one_of(st.integers(max_value=-1), st.integers(min_value=1_000_001),
                           st.just(10**20), st.just(-(2**63))),
           command=st.sampled_from([["log", "waiblingen-2017"], ["tasks"]]))  # fmt: skip
    def test_outside_0_to_a_million_is_refused_alike(self, started, limit, command):
        refused(started, *command, "--limit", str(limit),
                expect=(f"--limit: {limit} liegt nicht zwischen 0 und 1000000",))  # fmt: skip

    @pytest.mark.parametrize("limit", ["0", "1", "1000000"])
    def test_inside_it_shows_at_most_that_many(self, started, limit):
        code, out, err = cli(started, "log", "waiblingen-2017", "--limit", limit)
        assert code == 0, err
        code, out, err = cli(started, "tasks", "--limit", limit)
        assert code == 0, err


# --- D10: `oparl sync` against malformed addresses and hostile servers --------------------------


class TestOparlSyncAddresses:
    @pytest.mark.parametrize(("url", "expect"), [
        ("http://127.0.0.1:abc/system", "Port ist keine Zahl"),
        ("http://127.0.0.1:99999/system", "Port ist keine Zahl"),
        ("http://[::1/system", "IPv6"),
        ("http://[::zz]/system", "IPv6"),
        ("http://ris example/system", "Leerraum"),
        ("http://ris%20x.example/system", "unzulässige Zeichen"),
        ("http://a..b/system", "Rechnername „a..b“ ungültig"),
        (f"http://{'a' * 64}.example/system", "länger als 63 Zeichen"),
        ("http://ris.example/sys\ntem", "Steuerzeichen (U+000A)"),
        ("http://ris.example/sys tem", "Leerraum"),
        ("http://admin:geheim@ris.example/system", "Passwort in der Adresse"),
        ("ftp://ris.example/system", "keine http(s)-Adresse"),
        ("http:///system", "keine http(s)-Adresse"),
    ])  # fmt: skip
    def test_a_malformed_address_is_one_line_before_any_connection(self, started, url, expect):
        refused(started, "oparl", "sync", url, "--kommune", "waiblingen",
                expect=("URL: ", expect))  # fmt: skip

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(st.one_of(st.text(max_size=40),
                     st.builds(lambda h, p, rest: f"http://{h}{p}/{rest}",
                               st.text(max_size=70), st.text(":[]0123456789abc", max_size=8),
                               st.text(max_size=10))))  # fmt: skip
    def test_any_text_is_a_usable_address_or_an_input_error(self, text):
        from urllib.parse import urlsplit

        from lifecycle.errors import InputError
        from lifecycle.oparl.sync import check_url

        try:
            url = check_url(text)
        except InputError:
            return
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.hostname
        _ = parts.port  # parses
        url.encode("ascii")  # what goes on the wire

    def test_a_broken_chunked_answer_stops_the_sync_in_one_line(self, started, monkeypatch):
        import socketserver

        monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")  # the server is on loopback

        class Broken(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.rfile.readline()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")  # fmt: skip

        with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Broken) as server:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_address[1]}/system"
            refused(started, "oparl", "sync", url, "--kommune", "waiblingen",
                    expect=("unvollständig oder fehlerhaft",))  # fmt: skip
            server.shutdown()


# --- D11: mail settings checked before anything is written; a claim given back untried -------


class TestMailSettings:
    @pytest.mark.parametrize("host", ["a..b", ".ris", "ris example", "a" * 64 + ".example",
                                      "ris.example/", "host:25", "ris\u2028x"])  # fmt: skip
    def test_a_host_nobody_can_connect_to_is_refused_before_anything(self, started, host,
                                                                      monkeypatch):  # fmt: skip
        monkeypatch.setenv("LIFECYCLE_SMTP_HOST", host)
        refused(started, "remind", "--today", "2017-05-02",
                expect=("LIFECYCLE_SMTP_HOST=",))  # fmt: skip

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(st.text(max_size=80))
    def test_a_host_the_check_lets_through_can_be_encoded_for_the_wire(self, host):
        from lifecycle.hosts import ascii_host, host_problem

        if host_problem(host) is None:
            ascii_host(host).encode("ascii")
            host.encode("idna")

    def test_a_settings_error_while_sending_gives_every_claim_back(self, session, waiblingen):
        """Exactly once: a row claimed but never sent is queued again at once (not after
        STALE_CLAIM), and the next run sends each row once."""
        from collections import Counter

        from smtp_server import SmtpServer
        from sqlmodel import select

        from lifecycle import mail, services
        from lifecycle.models import Reminder

        day = dt.date(2017, 11, 8)

        class Unusable(mail.Mailer):
            def connect(self):
                raise mail.ConfigError("LIFECYCLE_SMTP_HOST='x': keine Verbindung möglich")

        def rows() -> list[Reminder]:
            session.expire_all()
            return list(session.exec(select(Reminder)))

        with SmtpServer() as server:
            settings = mail.settings_from(server.env() | {"LIFECYCLE_SMTP_PORT": str(server.port)})
            first = services.run_reminders(session, day, settings=settings,
                                           mailer=Unusable(settings))  # fmt: skip
            assert first.config_error and first.sent == 0 and len(server.inbox) == 0
            assert {str(r.state) for r in rows()} == {"planned"}
            assert all(r.attempts == 0 and r.claim_token is None for r in rows())
            second = services.run_reminders(session, day, settings=settings)
            assert second.sent == len(rows()) == len(server.inbox) > 0
            ids = Counter(str(m["Message-ID"]) for m in server.inbox.messages)
            assert set(ids.values()) == {1}  # each reminder once


# --- D12: a chain of due dates stays inside the years the engine handles ---------------------

KLIMA_PLAN = (ROOT / "tests/plans/klimaschutzkonzept.yaml").read_text(encoding="utf-8")
KLIMA = (ROOT / "tests/scenarios/musterstadt-klima.yaml").read_text(encoding="utf-8")


def chained(tmp_path: Path, offset: int, links: int) -> str:
    """The Musterstadt scenario on the Klimaschutz plan plus ``links`` tasks, each ``offset``
    days after the one before."""
    anchor = "        due: {anchor: task, ref: daten_sammeln, working_days: 15}\n"
    chain = "".join(
        f"      - {{key: c{i}, title: Kette {i}, role: gutachter, due: {{anchor: task, "
        f"ref: {'bilanz_erstellen' if i == 0 else f'c{i - 1}'}, days: {offset}}}}}\n"
        for i in range(links))  # fmt: skip
    (tmp_path / "plan.yaml").write_text(KLIMA_PLAN.replace(anchor, anchor + chain, 1))
    path = tmp_path / "s.yaml"
    path.write_text(KLIMA.replace("plan: ../plans/klimaschutzkonzept.yaml", "plan: plan.yaml"))
    return str(path)


class TestDueDateChains:
    @pytest.mark.parametrize(("offset", "year"), [(1500, "2204"), (-1500, "1946")])
    def test_a_chain_out_of_range_refuses_the_start(self, db, tmp_path, offset, year):
        refused(db, "start", chained(tmp_path, offset, 100),
                expect=("Plan klimaschutzkonzept: c", f"Jahr {year} außerhalb von 1950 bis 2200"))

    def test_a_long_chain_inside_the_range_starts(self, db, tmp_path):
        code, _, err = cli(db, "start", chained(tmp_path, 1500, 3))
        assert code == 0, err

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(start=st.dates(dt.date(1950, 1, 1), dt.date(2200, 12, 31)),
           steps=st.lists(st.tuples(st.integers(-1500, 1500), st.booleans()), max_size=60))
    def test_every_due_is_in_range_or_the_chain_is_refused(self, start, steps):
        from lifecycle.calendar import WorkCalendar
        from lifecycle.dates import check_year
        from lifecycle.deadlines import DueOutOfRange, StageSpec, TaskSpec, Timeline

        tasks = {"t0": TaskSpec("t0", "s", "stage_start")}
        for i, (offset, working) in enumerate(steps, 1):
            tasks[f"t{i}"] = TaskSpec(f"t{i}", "s", "task", f"t{i - 1}",
                                      max(-1000, min(1000, offset)) if working else offset,
                                      "working_days" if working else "days")  # fmt: skip
        timeline = Timeline(WorkCalendar("BW"), start, [StageSpec("s", list(tasks))], tasks,
                            {}, {})  # fmt: skip
        try:
            dues, _ = timeline.compute()
        except DueOutOfRange as exc:
            assert "außerhalb von 1950 bis 2200" in exc.problem
            return
        assert all(check_year(d) is None for d in dues.values())


# --- D15: a blank --force reason is no reason, for every caller -------------------------------

BLANKS = st.text(st.sampled_from(" \t\n\r\u00a0\u2003\u3000"), min_size=1, max_size=6)


class TestBlankForceReasons:
    @settings(max_examples=8, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(blank=BLANKS)
    def test_decide_and_reschedule_refuse_it_as_if_none_was_given(self, started, blank):
        refused(started, "decide", "waiblingen-2017", "ratsbeschluss", "approve", "--on",
                "2017-04-27", "--reference", "BSV 3/2017", "--force", blank,
                expect=("müssen erst diese Aufgaben erledigt sein",))  # fmt: skip
        refused(started, "reschedule", "bsv-2017-12-06", "2017-12-10", "--force", blank,
                expect=("ein Sonntag", "--force GRUND"))  # fmt: skip

    def test_start_refuses_it_for_a_sitzung_on_a_sunday(self, db, tmp_path):
        path = tmp_path / "s.yaml"
        path.write_text(TEXT.replace('start: "2017-12-06 17:00"', 'start: "2017-12-10 17:00"'),
                        encoding="utf-8")  # fmt: skip
        refused(db, "start", str(path), "--force", " \t ", expect=("ein Sonntag",))

    def test_the_service_logs_a_reason_without_its_blanks(self, session, waiblingen):
        from sqlmodel import select

        from lifecycle import services
        from lifecycle.errors import Refused
        from lifecycle.models import Event

        given = {"outcome": "approve", "on": dt.date(2017, 4, 27), "by": "raible",
                 "reference": "BSV 3/2017"}
        with pytest.raises(Refused, match="müssen erst diese Aufgaben erledigt sein"):
            services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", **given,
                                 force_reason="\u00a0 ")  # fmt: skip
        decision = services.decide_gate(session, "waiblingen-2017", "ratsbeschluss", **given,
                                        force_reason="  im Altverfahren erledigt \n")  # fmt: skip
        assert decision.forced_reason == "im Altverfahren erledigt"
        logged = session.exec(select(Event).where(Event.action == "gate_approve")).one()
        assert "im Altverfahren erledigt" in str(logged.after) and " \\n" not in str(logged.after)


# --- D16: a database URL's password is never shown, also when the URL is malformed ----------


def run_with_url(url: str, *args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from lifecycle.db import engine_for

    out, err = io.StringIO(), io.StringIO()
    old = os.environ.get("LIFECYCLE_DATABASE_URL")
    os.environ["LIFECYCLE_DATABASE_URL"] = url
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_module.run(list(args))
    finally:
        if old is None:
            os.environ.pop("LIFECYCLE_DATABASE_URL", None)
        else:
            os.environ["LIFECYCLE_DATABASE_URL"] = old
        engine_for.cache_clear()
    return code, out.getvalue(), err.getvalue()


class TestDatabasePasswordsStaySecret:
    @settings(max_examples=40, deadline=None, database=None, derandomize=True)
    @given(secret=st.text(st.sampled_from("abcXYZ019!$%&()*+,;=~@:#?"), min_size=1, max_size=12),
           shape=st.sampled_from(["postgresql://admin:{pw}@db.example:port/lifecycle",
                                  "postgresql://admin:{pw}@db.example:99999999/lifecycle",
                                  "postgresql://admin:{pw}@[::1/lifecycle",
                                  "admin:{pw}@db.example"]))  # fmt: skip
    def test_status_doctor_and_config_show_mask_it(self, secret, shape):
        from lifecycle import ops

        password = f"Pw{secret}Q7"
        url = shape.format(pw=password)
        code, out, err = run_with_url(url, "status")
        assert code == 2 and password not in err + out, err
        assert "***" in err
        check = ops.check_database(url)
        assert not check.ok and password not in f"{check.detail} {check.where}"
        [shown] = [s.value for s in ops.effective_settings({"LIFECYCLE_DATABASE_URL": url})
                   if s.key == "LIFECYCLE_DATABASE_URL"]  # fmt: skip
        assert password not in shown and "***" in shown


# --- stdout that cannot be written: a reader gone (141, quiet), a full disk (74, one line) ---


class TestOutputThatCannotBeWritten:
    @pytest.mark.parametrize("args", [["status", "waiblingen-2017", "--today", "2017-11-08"],
                                      ["log", "waiblingen-2017"], ["tasks"], ["--help"]],
                             ids=lambda a: a[0])  # fmt: skip
    def test_a_reader_that_went_away_ends_it_quietly_with_141(self, started, args):
        environment = os.environ | {"LIFECYCLE_DATABASE_URL": f"sqlite:///{started}"}
        proc = subprocess.Popen([sys.executable, "-m", "lifecycle", *args], cwd=ROOT,
                                env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # like `| head -c 0`: gone before anything was written
        err = proc.stderr.read()
        assert proc.wait(120) == 141, err
        assert err == b""

    @pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
    @pytest.mark.parametrize("args", [["status", "waiblingen-2017", "--today", "2017-11-08"],
                                      ["log", "waiblingen-2017"]], ids=lambda a: a[0])
    def test_a_full_disk_is_one_line_and_74(self, started, args):
        environment = os.environ | {"LIFECYCLE_DATABASE_URL": f"sqlite:///{started}"}
        with open("/dev/full", "w") as full:  # reading it is harmless; writing fails: ENOSPC
            proc = subprocess.run([sys.executable, "-m", "lifecycle", *args], cwd=ROOT,
                                  env=environment, stdout=full, stderr=subprocess.PIPE,
                                  timeout=120)  # fmt: skip
        assert "Ausgabe nicht schreibbar: kein Platz mehr" in one_line(proc, 74)


# --- decomposed Unicode (NFD) on the command line means the same as composed (NFC) -----------


class TestDecomposedArguments:
    def test_a_section_typed_decomposed_is_the_section(self, started, tmp_path):
        import unicodedata

        text = tmp_path / "r.txt"
        text.write_text("Ein Rückblick.\n", encoding="utf-8")
        section = unicodedata.normalize("NFD", "Rückblick")
        assert section != "Rückblick"
        code, out, err = cli(started, "vorlage", "edit", "waiblingen-2017", "ratsbeschluss",
                             "--section", section, "--file", str(text))  # fmt: skip
        assert code == 0, err
        assert "Rückblick" in out

    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(name=st.text(st.sampled_from("aouAOUäöüÄÖÜéñç-"), min_size=1, max_size=10))
    def test_nfd_and_nfc_get_the_same_answer(self, started, name):
        import unicodedata

        answers = {cli(started, "tasks", "--person", unicodedata.normalize(form, name))[2]
                   for form in ("NFC", "NFD")}  # fmt: skip
        assert len(answers) == 1, answers


# --- a date an older version stored, out of the feed's years: left out and named, exit 0 -----


def store(db: Path, sql: str, *params: object) -> None:
    """A row as an older version wrote it, before today's checks refused such values."""
    import sqlite3

    con = sqlite3.connect(db)
    con.execute(sql, params)
    con.commit()
    con.close()


def feed_uids(path: Path) -> set[str]:
    from icalendar import Calendar

    return {str(ev["uid"]) for ev in Calendar.from_ical(path.read_bytes()).walk("VEVENT")}


class TestCalendarWithADateOutOfRange:
    """The calendar feed is exported again and again, often unattended: a record with a date
    it cannot write is left out and named in one warning line; the rest goes out, exit 0."""

    @pytest.mark.parametrize("start", ["9999-12-31 23:00:00.000000", "0001-01-01 00:30:00.000000"])
    @pytest.mark.parametrize("public", [[], ["--public"]], ids=["intern", "public"])
    def test_a_sitzung_out_of_range_is_left_out_and_named(self, started, tmp_path, start, public):
        store(started, "UPDATE sitzung SET start = ? WHERE key = 'gr-2017-12-14'", start)
        before = dump(started)
        out = tmp_path / "k.ics"
        code, said, err = cli(started, "calendar", "export", "-o", str(out), *public)
        assert code == 0, err
        year = int(start[:4])
        assert err.splitlines() == [
            "lifecycle: Warnung: nicht im Kalender: Sitzung waiblingen:gr-2017-12-14, Beginn: "
            f"Jahr {year} außerhalb von 1950 bis 2200"
        ]
        uids = feed_uids(out)
        assert not any("gr-2017-12-14" in uid for uid in uids), uids  # nor its Vorlagenschluss
        assert "sitzung-waiblingen-bsv-2017-12-06@lifecycle.invalid" in uids
        assert said.strip() == f"{out}: {len(uids)} Termine"
        assert dump(started) == before

    def test_a_deadline_out_of_range_is_left_out_and_named(self, started, tmp_path):
        store(started, "UPDATE task SET due = '9999-12-31' WHERE key = 'foerderantrag_stellen'")
        out = tmp_path / "k.ics"
        code, _, err = cli(started, "calendar", "export", "-o", str(out))
        assert code == 0, err
        assert err.splitlines() == [
            "lifecycle: Warnung: nicht im Kalender: Aufgabe waiblingen-2017:foerderantrag_stellen"
            ", Frist: Jahr 9999 außerhalb von 1950 bis 2200"
        ]
        uids = feed_uids(out)
        assert "task-waiblingen-2017-foerderantrag_stellen@lifecycle.invalid" not in uids
        assert "task-waiblingen-2017-partner_anfragen@lifecycle.invalid" in uids


class TestStatusWithADateOutOfRange:
    """`lifecycle status` shows what it can of a process whose database holds a Sitzung outside
    the engine's years (an older version's row: year 1 overflowed the Vorlagenschluss, exit 70;
    9999 is left out alike, as the calendar export does) and names that Sitzung in one warning
    line, exit 0."""

    WARNING = ("lifecycle: Warnung: nicht angezeigt: Sitzung waiblingen:gr-2017-12-14, Beginn: "
               "Jahr {year} außerhalb von 1950 bis 2200 (korrigieren mit lifecycle reschedule "
               "KOMMUNE:SITZUNG DATUM)")  # fmt: skip

    @pytest.mark.parametrize("start", ["0001-01-01 00:30:00.000000", "9999-12-31 23:00:00.000000"])
    @pytest.mark.parametrize("args", [["status", "--today", "2017-11-08"],
                                      ["status", "waiblingen-2017", "--today", "2017-11-08"]],
                             ids=["alone", "named"])  # fmt: skip
    def test_the_sitzung_is_left_out_and_named(self, started, start, args, capsys, monkeypatch):
        from lifecycle.db import engine_for

        store(started, "UPDATE sitzung SET start = ? WHERE key = 'gr-2017-12-14'", start)
        before = dump(started)
        monkeypatch.setenv("LIFECYCLE_DATABASE_URL", f"sqlite:///{started}")
        for run in (cli_module.run, cli_module._run_typer):  # the fast path and typer's
            code = run(list(args))
            said, err = capsys.readouterr()
            assert code == 0, err
            assert err.splitlines() == [self.WARNING.format(year=int(start[:4]))]
            assert "Phasen" in said and "Ratsbeschluss" in said and "Sitzungskalender" in said
            # the other Sitzungen (Wednesday, Thursday), not this one (Monday 1.1.1, Friday
            # 31.12.9999)
            assert "Mittwoch, 6." in said and "Donnerstag, 27." in said
            assert "Montag, 1." not in said and "Freitag, 31." not in said
        engine_for.cache_clear()
        assert dump(started) == before

    def test_a_real_status_exits_0_and_reschedule_repairs_the_row(self, started):
        store(started, "UPDATE sitzung SET start = ? WHERE key = 'gr-2017-12-14'",
              "0001-01-01 00:30:00.000000")  # fmt: skip
        shown = process(started, "status")
        assert shown.returncode == 0, shown.stderr
        assert shown.stderr.decode().splitlines() == [self.WARNING.format(year=1)]
        assert process(started, "reschedule", "waiblingen:gr-2017-12-14",
                       "2017-12-14 18:00").returncode == 0  # fmt: skip
        repaired = process(started, "status")
        assert repaired.returncode == 0 and repaired.stderr == b"", repaired.stderr


def test_docs_without_a_process_answer_in_german(db, tmp_path):
    line = refused(db, "docs", "list")
    assert "noch keine Fortschreibung gestartet" in line
