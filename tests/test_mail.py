"""Mail settings and SMTP delivery against a real aiosmtpd server on loopback."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import icalendar
import pytest
from smtp_server import SmtpServer, free_port

from lifecycle import ical, mail


def test_settings_from_environment_with_defaults():
    s = mail.load_settings(
        {
            "LIFECYCLE_SMTP_HOST": "mail.example",
            "LIFECYCLE_SMTP_SECURITY": "ssl",
            "LIFECYCLE_MAIL_FROM": "fristen@stadt.example",
        }
    )
    assert (s.host, s.port, s.security, s.timezone) == ("mail.example", 465, "ssl", "Europe/Berlin")


def test_password_is_loaded_but_stays_out_of_repr():
    secret = "Geh31m-Kennwort!"
    s = mail.load_settings(
        {
            "LIFECYCLE_SMTP_HOST": "mail.example",
            "LIFECYCLE_SMTP_USER": "fristen",
            "LIFECYCLE_SMTP_PASSWORD": secret,
        }
    )
    assert s.password == secret and s.user == "fristen"
    assert "fristen" in repr(s)  # the repr shows the settings, just not the secret
    for shown in (repr(s), str(s), f"{s}", f"{s!r}"):
        assert secret not in shown and "password" not in shown


def test_settings_file_is_overridden_by_environment(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(
        'LIFECYCLE_SMTP_HOST = "file.example"\nLIFECYCLE_SMTP_PORT = 2525\n'
        'LIFECYCLE_DASHBOARD_URL = "https://fristen.example/"\n',
        encoding="utf-8",
    )
    s = mail.load_settings({"LIFECYCLE_SETTINGS": str(path), "LIFECYCLE_SMTP_HOST": "env.example"})
    assert (s.host, s.port, s.dashboard_url) == ("env.example", 2525, "https://fristen.example")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "LIFECYCLE_SMTP_HOST ist nicht gesetzt"),
        (
            {"LIFECYCLE_SMTP_HOST": "h", "LIFECYCLE_SMTP_SECURITY": "tls"},
            "erwartet eines von none, starttls, ssl",
        ),
        ({"LIFECYCLE_SMTP_HOST": "h", "LIFECYCLE_SMTP_PORT": "99999"}, "ist keine Portnummer"),
        ({"LIFECYCLE_SMTP_HOST": "h", "LIFECYCLE_MAIL_FROM": "nobody"}, "ist keine E-Mail-Adresse"),
        (
            {"LIFECYCLE_SMTP_HOST": "h", "LIFECYCLE_TIMEZONE": "Europe/Waiblingen"},
            "keine bekannte Zeitzone",
        ),
    ],
)
def test_bad_settings_are_config_errors(values, message):
    with pytest.raises(mail.ConfigError, match=message):
        mail.settings_from(values)


def test_unknown_key_in_settings_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('LIFECYCLE_SMTP_HOTS = "x"\n', encoding="utf-8")
    with pytest.raises(mail.ConfigError, match="unbekannte.*LIFECYCLE_SMTP_HOTS"):
        mail.load_settings({"LIFECYCLE_SETTINGS": str(path)})


@pytest.mark.parametrize("address", [None, "", "ute.ortolf", "ute ortolf@example.de", "a@b"])
def test_bad_addresses(address):
    with pytest.raises(mail.AddressError):
        mail.check_address("Ute Ortolf", address)


def _content() -> mail.Content:
    cal = ical.new_calendar("Frist")
    cal.add_component(
        ical.all_day_event(
            ical.uid_task("p", "t"),
            dt.date(2017, 11, 22),
            "Frist: Vorlage für Ausschuss einreichen",
        )
    )
    return mail.Content(
        subject="Erinnerung: Vorlagenschluss für den Ausschuss – Größe prüfen",
        greeting="Guten Tag Christiane Dürr,",
        paragraphs=["Bitte <prüfen> & senden."],
        items=["Vorlage BSV 21/2017"],
        link="https://fristen.example/process/p",
        ics=ical.finish(cal),
    )


def _settings(port: int, **extra: str) -> mail.MailSettings:
    return mail.settings_from(
        {
            "LIFECYCLE_SMTP_HOST": "127.0.0.1",
            "LIFECYCLE_SMTP_PORT": str(port),
            "LIFECYCLE_MAIL_FROM": "fristen@waiblingen.example",
            **extra,
        }
    )


def test_message_arrives_with_umlauts_html_and_ics():
    with SmtpServer() as server:
        settings = _settings(server.port)
        msg = mail.build_message(
            settings,
            "Christiane Dürr",
            "christiane.duerr@waiblingen.example",
            _content(),
            "<test-1@waiblingen.example>",
        )
        with mail.Mailer(settings) as mailer:
            mailer.send(msg)
        [got] = server.inbox.messages
        raw = server.inbox.raw[0]
    # headers travel RFC 2047-encoded (pure ASCII on the wire) and decode to the German text
    assert b"Gr\xc3\xb6\xc3\x9fe" not in raw.split(b"\r\n\r\n", 1)[0]
    assert got["Subject"] == "Erinnerung: Vorlagenschluss für den Ausschuss – Größe prüfen"
    assert got["To"].addresses[0].display_name == "Christiane Dürr"
    assert got["Message-ID"] == "<test-1@waiblingen.example>"
    plain = got.get_body(("plain",)).get_content()
    html = got.get_body(("html",)).get_content()
    assert (
        "Guten Tag Christiane Dürr," in plain
        and "Zum Vorgang: https://fristen.example/process/p" in plain
    )
    assert (
        "Bitte &lt;prüfen&gt; &amp; senden." in html
        and 'href="https://fristen.example/process/p"' in html
    )
    [att] = list(got.iter_attachments())
    assert att.get_filename() == "frist.ics" and att.get_content_type() == "text/calendar"
    [event] = icalendar.Calendar.from_ical(att.get_content()).walk("VEVENT")
    assert event.decoded("dtstart") == dt.date(2017, 11, 22)
    assert str(event["summary"]) == "Frist: Vorlage für Ausschuss einreichen"


def test_unreachable_server_is_a_server_error():
    settings = _settings(free_port())
    msg = mail.build_message(settings, "A", "a@b.example", _content(), "<x@y.example>")
    with (
        pytest.raises(mail.ServerError, match="nicht erreichbar"),
        mail.Mailer(settings, timeout=5) as m,
    ):
        m.send(msg)


@pytest.mark.filterwarnings("ignore:Requiring AUTH")
def test_authentication():
    with SmtpServer(auth=("fristen", "geheim")) as server:
        good = _settings(
            server.port, LIFECYCLE_SMTP_USER="fristen", LIFECYCLE_SMTP_PASSWORD="geheim"
        )
        bad = _settings(
            server.port, LIFECYCLE_SMTP_USER="fristen", LIFECYCLE_SMTP_PASSWORD="falsch"
        )
        msg = mail.build_message(good, "A", "a@b.example", _content(), "<x@y.example>")
        failed = pytest.raises(mail.ServerError, match="Anmeldung als „fristen“ fehlgeschlagen")
        with failed, mail.Mailer(bad) as m:
            m.send(msg)
        assert len(server.inbox) == 0
        with mail.Mailer(good) as m:
            m.send(msg)
        assert len(server.inbox) == 1


def test_a_name_with_a_line_break_fails_that_message_alone():
    """Refused before any header is built (both ways of building one would raise)."""
    with pytest.raises(mail.AddressError, match=r"^„Ute\\r\\nBcc: x@y.example“: Steuerzeichen "):
        mail.check_address("Ute\r\nBcc: x@y.example", "ute@waiblingen.example")
    assert mail.check_address("Ute Ortolf", " ute@waiblingen.example\n") == "ute@waiblingen.example"


@pytest.mark.parametrize("address", ["ute@waiblingen.example", "üte@waiblingen.example"])
def test_a_name_that_looks_like_an_encoded_word_shows_as_it_is(address):
    """Readers decode "=?…?=" also in a display name: "=?utf-8?q?evil=40x=2Ede?=" would show
    as "evil@x.de". It goes encoded, and decodes to itself; the address is the real one."""
    name = "=?utf-8?q?evil=40x=2Ede?="
    with SmtpServer(smtputf8=True) as server:
        settings = _settings(server.port)
        msg = mail.outgoing(settings, name, address, _content(), "<x@y.example>")
        with mail.Mailer(settings) as m:
            m.send(msg or mail.build_message(settings, name, address, _content(), "<x@y.example>"))
        [raw] = server.inbox.raw
        [(_, recipients)] = server.inbox.envelopes
    to = raw.split(b"\r\nTo: ", 1)[1].split(b"\r\nDate:", 1)[0]
    assert b"evil" not in to and recipients == [address]
    # (SMTPUTF8: the headers travel as UTF-8)
    parsed = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    [got] = parsed["To"].addresses
    assert (got.display_name, got.addr_spec) == (name, address)


def test_an_idn_sender_domain_is_encoded_and_a_broken_one_refused():
    values = {"LIFECYCLE_SMTP_HOST": "h", "LIFECYCLE_MAIL_FROM": "fristen@müller.example"}
    assert mail.settings_from(values).mail_from == "fristen@xn--mller-kva.example"
    broken = values | {"LIFECYCLE_MAIL_FROM": "fristen@" + "ü" * 64 + ".example"}
    with pytest.raises(mail.ConfigError, match="^LIFECYCLE_MAIL_FROM: die Domain der Adresse „"):
        mail.settings_from(broken)
