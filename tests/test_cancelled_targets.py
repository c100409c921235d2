"""A Sitzung the RIS has cancelled is no new target (lifecycle.engine.refuse_cancelled).

A gate is not postponed to it (services, `lifecycle decide ... postpone --to`, the web's gate
form, which no longer offers it) and no plan Sitzung is bound to it (`lifecycle oparl bind`);
each refusal changes nothing. Once the RIS reinstates the Sitzung it is a target again.
Moving the cancelled Sitzung itself (`lifecycle reschedule`) stays allowed: it changes the
Sitzung's own date, not where a process goes, and the Sitzung stays cancelled in every view
(tests/test_oparl_reinstated.py). The cancellations come from a real sync against a loopback
RIS, as in tests/test_ris_cancelled.py.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlmodel import Session, select
from test_ris_cancelled import _postpone_options, flat, ris
from web_support import client_for, dump, make_app, token_of

from lifecycle import services
from lifecycle.cli import run
from lifecycle.db import engine_for
from lifecycle.errors import Refused
from lifecycle.models import Sitzung, SitzungBinding

PROCESS = "waiblingen-2017"
CANCELLED_GR = "gr-2017-12-14"
REFUSAL = ("die Sitzung „gr-2017-12-14“ am 14.12.2017 ist im Ratsinformationssystem abgesagt; "
           "bitte eine andere Sitzung wählen")  # fmt: skip
# the gate of the Ratsbeschluss hangs at the Gemeinderat of 27.04.2017 (beschluss_entscheidung)
POSTPONE = {"outcome": "postpone", "on": dt.date(2017, 4, 27), "by": "sitzungsdienst",
            "postpone_to": CANCELLED_GR}  # fmt: skip


@pytest.fixture(autouse=True)
def _loopback_ris(monkeypatch) -> None:
    """The fake RIS listens on 127.0.0.1, which a real sync refuses."""
    monkeypatch.setenv("LIFECYCLE_OPARL_ALLOW_PRIVATE", "1")


def bound_to(session: Session, name: str) -> str:
    session.expire_all()
    return session.exec(
        select(Sitzung.key).join(SitzungBinding, SitzungBinding.sitzung_id == Sitzung.id)
        .where(SitzungBinding.name == name)
    ).one()  # fmt: skip


# --- postpone ---------------------------------------------------------------------------------


def test_a_gate_is_not_postponed_to_a_cancelled_sitzung_and_is_after_the_reinstatement(
    session, waiblingen, db_url
):
    with ris() as say:
        say(session, True)
        before = dump(db_url)
        with pytest.raises(Refused, match=f"^{re.escape(REFUSAL)}$"):
            services.decide_gate(session, PROCESS, "ratsbeschluss", **POSTPONE)
        assert dump(db_url) == before  # no decision, no binding moved, no event logged
        assert bound_to(session, "beschluss_entscheidung") == "gr-2017-04-27"
        say(session, False)  # the RIS lists it again: a target like any other
    services.decide_gate(session, PROCESS, "ratsbeschluss", **POSTPONE)
    assert bound_to(session, "beschluss_entscheidung") == CANCELLED_GR


def test_the_cli_refuses_with_one_german_line_and_exit_2(session, waiblingen, db_url, capsys):
    with ris() as say:
        say(session, True)
    capsys.readouterr()
    before = dump(db_url)
    code = run(["decide", PROCESS, "ratsbeschluss", "postpone", "--to", CANCELLED_GR,
                "--on", "2017-04-27"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert REFUSAL in err and "\n" not in err, err
    assert dump(db_url) == before


def test_the_gate_form_does_not_offer_it_and_a_forged_post_changes_nothing(db_url):
    app = make_app(db_url)
    lead = client_for(app, "ortolf")
    with ris() as say, Session(engine_for(db_url)) as s:
        say(s, True)
        options = _postpone_options(s)
        page = flat(lead.get(f"/prozess/{PROCESS}").text)
        before = dump(db_url)
        response = lead.post(f"/prozess/{PROCESS}/gate/ratsbeschluss", data={
            "csrf_token": token_of(lead), "ergebnis": "postpone", "datum": "2017-04-27",
            "vertagen_auf": CANCELLED_GR})  # fmt: skip
        after = dump(db_url)
        say(s, False)
        reinstated = _postpone_options(s)
    assert not [o for o in options if CANCELLED_GR in o], options
    assert f'<option value="{CANCELLED_GR}">' not in page
    assert response.status_code == 409, response.text
    assert REFUSAL[1:] in flat(response.text)  # the page begins the sentence with a capital
    assert after == before
    assert "Donnerstag, 14. Dezember 2017, 18:00 Uhr (gr-2017-12-14)" in reinstated


# --- oparl bind -------------------------------------------------------------------------------


def test_bind_refuses_a_cancelled_sitzung_and_changes_nothing(session, waiblingen, db_url,
                                                              capsys):  # fmt: skip
    with ris() as say:
        say(session, True)
        capsys.readouterr()
        before = dump(db_url)
        code = run(["oparl", "bind", PROCESS, "beschluss_entscheidung", CANCELLED_GR])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert REFUSAL in err and "\n" not in err, err
        assert dump(db_url) == before
        say(session, False)
    assert run(["oparl", "bind", PROCESS, "beschluss_entscheidung", CANCELLED_GR]) == 0
    assert bound_to(session, "beschluss_entscheidung") == CANCELLED_GR
