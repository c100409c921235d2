"""One place per rule: every view that shows a rule's result agrees with the others.

If a copy of the Vorlagenschluss rule, of "the Sitzungen of a process" or of a German label
comes back somewhere and drifts, one of these tests fails.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

from icalendar import Calendar
from sqlmodel import select

from lifecycle import engine, ical, lookups, reminders, words
from lifecycle.models import (
    Beratung,
    BeratungRole,
    Gremium,
    Kommune,
    Sitzung,
    SitzungBinding,
    Vorlage,
)
from lifecycle.sitzungsdienst import sitzungen_of, upcoming_sitzungen
from lifecycle.status import process_status

D = dt.date
ROOT = Path(__file__).resolve().parent.parent
VS_PREFIX, VS_SUFFIX = "vorlagenschluss-waiblingen-", f"@{ical.DOMAIN}"
SITZUNG_PREFIX = "sitzung-waiblingen-"


def _close_rathaus(session, *days: dt.date) -> None:
    kommune = session.exec(select(Kommune).where(Kommune.key == "waiblingen")).one()
    kommune.closing_days = [d.isoformat() for d in days]
    session.add(kommune)
    session.commit()


def _status(session, process) -> dict[str, dt.date]:
    by_start = {s.start: s.key for s in session.exec(select(Sitzung))}
    sitzungen = process_status(session, process, D(2017, 1, 2)).sitzungen
    return {by_start[s.start]: s.vorlagenschluss for s in sitzungen}


def _sitzungsdienst(session) -> dict[str, dt.date]:
    rows = upcoming_sitzungen(session, D(2017, 1, 1), kommune="waiblingen", days=366)
    return {r.key: r.vorlagenschluss for r in rows}


def _feed(session, process) -> Calendar:
    return Calendar.from_ical(ical.export(session, ical.FeedOptions(process=process.key)))


def _ical(session, process) -> dict[str, dt.date]:
    return {
        str(ev["uid"])[len(VS_PREFIX) : -len(VS_SUFFIX)]: ev["dtstart"].dt
        for ev in _feed(session, process).walk("VEVENT")
        if str(ev["uid"]).startswith(VS_PREFIX)
    }


def _reminders(session, expected: dict[str, dt.date]) -> dict[str, set[dt.date]]:
    """Vorlagenschluss per Sitzung as the reminder payloads carry it, scanning the days before."""
    seen: dict[str, set[dt.date]] = {}
    for day in sorted({vs - dt.timedelta(days=i) for vs in expected.values() for i in range(21)}):
        for p in reminders.find_due(session, day):
            if p.kind == "vorlagenschluss":
                key = p.payload["sitzung_key"]
                seen.setdefault(key, set()).add(D.fromisoformat(p.payload["vorlagenschluss"]))
    return seen


def _deadlines(session, process) -> dict[str, dt.date]:
    """The anchor of tasks due "n working days before the Vorlagenschluss": the deadline
    solver's, from the engine's query of the bound Sitzungen and the Kommune's calendar."""
    bound = session.execute(engine.bound_query().where(
        SitzungBinding.fortschreibung_id == process.id)).all()  # fmt: skip
    timeline = engine.timeline_of(
        lookups.calendar_of(session, process), process.started_on, {}, [], [],
        [(b.name, b.start.date(), b.vorlagenschluss_working_days) for b in bound], [],
    )  # fmt: skip
    keys = dict(
        session.exec(
            select(SitzungBinding.name, Sitzung.key)
            .join(Sitzung, Sitzung.id == SitzungBinding.sitzung_id)
            .where(SitzungBinding.fortschreibung_id == process.id)
        ).all()
    )
    return {keys[name]: timeline.vorlagenschluss(name) for name in timeline.sitzungen}


def test_all_views_agree_on_every_vorlagenschluss(session, waiblingen):
    # GR on Thursday 27.04.2017: ten working days back cross Ostermontag (17.04.), Karfreitag
    # (14.04.) and, here, a closing day of the Rathaus on Gründonnerstag (13.04.).
    _close_rathaus(session, D(2017, 4, 13))
    expected = {
        "bsv-2017-04-05": D(2017, 3, 22),
        "gr-2017-04-27": D(2017, 4, 10),
        "bsv-2017-12-06": D(2017, 11, 22),
        "gr-2017-12-14": D(2017, 11, 30),
    }
    assert _status(session, waiblingen) == expected
    assert _sitzungsdienst(session) == expected
    assert _ical(session, waiblingen) == expected
    assert _reminders(session, expected) == {k: {v} for k, v in expected.items()}
    assert _deadlines(session, waiblingen) == expected


def test_the_sitzungen_of_a_process_are_the_same_everywhere(session, waiblingen):
    # The Vorlage for the BSV is also to be heard in a Sitzung the plan never bound: it counts
    # as one of the process's Sitzungen on the status page, in the feed and for the reminders.
    bsv = session.exec(select(Gremium).where(Gremium.short == "BSV")).one()
    extra = Sitzung(
        key="bsv-2017-12-20",
        kommune_id=waiblingen.kommune_id,
        gremium_id=bsv.id,
        start=dt.datetime(2017, 12, 20, 17, 0),
        place="Rathaus Waiblingen, Sitzungssaal",
        oeffentlich=True,
    )
    session.add(extra)
    session.flush()
    vorlage = session.exec(
        select(Vorlage).where(
            Vorlage.fortschreibung_id == waiblingen.id, Vorlage.reference == "BSV 21/2017"
        )
    ).one()
    session.add(
        Beratung(
            vorlage_id=vorlage.id,
            sitzung_id=extra.id,
            position=9,
            role=BeratungRole.kenntnisnahme,
            oeffentlich=True,
        )
    )
    session.commit()

    shared = [s.key for s, _ in sitzungen_of(session, [waiblingen.id])[waiblingen.id]]
    assert shared == [
        "bsv-2017-04-05",
        "gr-2017-04-27",
        "bsv-2017-12-06",
        "gr-2017-12-14",
        "bsv-2017-12-20",
    ]
    status = process_status(session, waiblingen, D(2017, 1, 2)).sitzungen
    assert [s.start for s in status] == [
        session.exec(select(Sitzung.start).where(Sitzung.key == k)).one() for k in shared
    ]
    feed = {
        str(ev["uid"])[len(SITZUNG_PREFIX) : -len(VS_SUFFIX)]
        for ev in _feed(session, waiblingen).walk("VEVENT")
        if str(ev["uid"]).startswith(SITZUNG_PREFIX)
    }
    assert feed == set(shared)
    # 10 working days before Wednesday 20.12.2017: Wednesday 06.12.2017; reminded the day before
    found = reminders.find_due(session, D(2017, 12, 5))
    assert {
        (p.payload["sitzung_key"], p.payload["vorlagenschluss"])
        for p in found
        if p.kind == "vorlagenschluss"
    } >= {("bsv-2017-12-20", "2017-12-06")}


# --- German labels ----------------------------------------------------------------------------

# Keys whose German label belongs in words.py: states, outcomes, reminder kinds.
LABELLED_KEYS = (
    set(words.STATE_DE)
    | set(words.OUTCOME_DE)
    | set(words.REMINDER_KIND_DE)
    | set(words.REMINDER_STATE_DE)
)
# Documents word the gate outcome formally ("genehmigt"); left to the documents' owner.
KNOWN_ELSEWHERE = {"src/lifecycle/doc_context.py"}


WORDS = {
    v
    for d in (words.STATE_DE, words.OUTCOME_DE, words.REMINDER_KIND_DE, words.REMINDER_STATE_DE)
    for v in d.values()
}


def _looks_german(text: str) -> bool:
    # rich styles and other technical values are lower-case ASCII ("bold yellow")
    return text in WORDS or not text.isascii() or text != text.lower()


def _label_dicts(path: Path) -> list[int]:
    """Lines of dict literals mapping state/outcome/kind keys to German words."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Dict) or len(node.keys) < 2:
            continue
        keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
        values = [
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        ]
        if (
            len(keys) == len(node.keys)
            and len(values) == len(node.values)
            and sum(k in LABELLED_KEYS for k in keys) >= 2
            and any(_looks_german(v) for v in values)
        ):
            found.append(node.lineno)
    return found


def test_state_and_kind_labels_are_spelled_only_in_words():
    offenders = {}
    for path in sorted(
        [*(ROOT / "src" / "lifecycle").rglob("*.py"), *(ROOT / "flows").rglob("*.py")]
    ):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "src/lifecycle/words.py" or rel in KNOWN_ELSEWHERE:
            continue
        if lines := _label_dicts(path):
            offenders[rel] = lines
    assert offenders == {}


def test_every_label_has_one_spelling():
    assert words.REMINDER_STATE_DE["planned"] == words.STATE_DE["pending"]
    assert reminders.KIND_DE is words.REMINDER_KIND_DE
    assert reminders.STATE_DE is words.REMINDER_STATE_DE
