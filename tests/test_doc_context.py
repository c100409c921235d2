"""The context of each document kind, built from a real database."""

from __future__ import annotations

import datetime as dt

from lifecycle import replay
from lifecycle.doc_context import (
    apply_overrides,
    build_context,
    clean,
    heading,
    item,
    join_de,
    paragraphs,
    section,
    text,
)  # fmt: skip
from lifecycle.documents import inputs_hash


def test_paragraphs_split_at_blank_lines_only():
    assert paragraphs("eins\nzwei\r\n\r\ndrei\n\n\n") == ["eins zwei", "drei"]
    assert paragraphs("") == []


def test_clean_drops_only_characters_xml_forbids():
    value = {"a": ["x\x00y\x1b\tz\n", ("ä\ufffe",)], "b": 3, "d": dt.date(2017, 12, 14)}
    assert clean(value) == {"a": ["xy\tz\n", ["ä"]], "b": 3, "d": dt.date(2017, 12, 14)}


def test_join_de():
    assert [join_de([]), join_de(["a"]), join_de(["a", "b", "c"])] == ["", "a", "a, b und c"]


def test_user_text_replaces_prose_but_keeps_the_recorded_lists():
    sections = [section("Fazit", ["generiert"], [heading("Handlungsfeld „A“"), text("Projekt")]),
                section("Rückblick", ["alt"])]  # fmt: skip
    merged = apply_overrides(sections, {"Fazit": "Eigener Text", "Neu": "Zusatz"})
    assert [s["title"] for s in merged] == ["Fazit", "Rückblick", "Neu"]
    fazit = [b["text"] for b in merged[0]["blocks"]]
    assert fazit == ["Eigener Text", "Handlungsfeld „A“", "Projekt"]
    assert merged[1]["blocks"] == [text("alt")]
    assert item("1.", "x") == {"heading": False, "item": True, "label": "1.", "text": "x"}


def test_sitzungsvorlage_context_before_and_after_the_process(session, waiblingen):
    early = build_context(session, waiblingen, "sitzungsvorlage")
    fort = next(s for s in early["begruendung"] if s["title"] == "Fortschreibung")
    first = fort["blocks"][0]["text"]
    assert "soll der Fortschreibung des Integrationskonzeptes zugestimmt werden" in first
    replay.run(session, waiblingen)
    late = build_context(session, waiblingen, "sitzungsvorlage")
    fort = next(s for s in late["begruendung"] if s["title"] == "Fortschreibung")
    first = fort["blocks"][0]["text"]
    assert "wurde der Fortschreibung des Integrationskonzeptes zugestimmt" in first
    assert late["vorlage"]["datum"] == dt.date(2017, 11, 20)
    assert late["ansprechpartner"]["name_umgekehrt"] == "Ortolf, Ute"
    days = [b["datum"] for b in late["beratungsfolge"]]
    assert days == [dt.date(2017, 12, 6), dt.date(2017, 12, 14)]
    assert inputs_hash("sitzungsvorlage", early) != inputs_hash("sitzungsvorlage", late)
    assert inputs_hash("sitzungsvorlage", late) == inputs_hash(
        "sitzungsvorlage", build_context(session, waiblingen, "sitzungsvorlage")
    )


def test_working_group_context(session, waiblingen):
    ctx = build_context(session, waiblingen, "ag_protokoll")
    groups = ctx["arbeitsgruppen"]
    keys = [g["key"] for g in groups]
    assert keys == ["bildung", "kultur", "sport", "engagement", "asyl", "verwaltung"]
    assert sum(len(g["sitzungen"]) for g in groups) == 8
    assert groups[3]["handlungsfeld"].startswith("Bürgerschaftliches Engagement")
    assert [p["title"] for p in groups[3]["schluesselprojekte"]] == [
        "Heranführung an traditionelles Ehrenamt",
        "Integrationslotsen",
    ]
    moderation = "Moderation AG Sprache und Bildung (ag-bildung@waiblingen.example)"
    assert groups[0]["moderation"] == moderation


def test_participant_list_has_a_line_per_expected_participant(session, waiblingen):
    rows = build_context(session, waiblingen, "workshop_teilnehmerliste")["teilnehmer"]
    assert [r["nummer"] for r in rows] == list(range(1, 61))


def test_the_working_groups_of_a_paper_cost_the_same_however_many(session, waiblingen,
                                                                   waiblingen_scenario):
    """The Arbeitsgruppen's sessions, Schlüsselprojekte and Empfehlungen are read once for all
    of them: a process of two AGs and one of six send the same number of statements."""
    import copy

    from sqlalchemy import event

    from lifecycle import services

    small = copy.deepcopy(waiblingen_scenario)
    small.data["key"], small.data["kommune"]["key"] = "klein-2017", "klein"
    small.data["arbeitsgruppen"] = small.data["arbeitsgruppen"][:2]
    two = services.start(session, small, actor="test")

    def statements(process) -> tuple[int, int]:
        sent: list[str] = []
        listen = lambda *args: sent.append(args[2])  # noqa: E731
        event.listen(session.get_bind(), "before_cursor_execute", listen)
        try:
            groups = build_context(session, process, "ag_protokoll")["arbeitsgruppen"]
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", listen)
        return len(groups), len(sent)

    (six, many), (pair, few) = statements(waiblingen), statements(two)
    assert (six, pair) == (6, 2) and many == few


def test_the_sitzungsvorlage_reads_each_table_once(session, waiblingen):
    """Every query of a document costs more than its rows: the Vorlagen, their Beratungen and
    the Kommune's people are read once for all the paper cites (the earlier Vorlage, signers,
    the partner's contact), the Kommune and the Konzept together."""
    import re
    from collections import Counter

    from sqlalchemy import event

    replay.run(session, waiblingen)
    session.expunge_all()  # a document built in a session of its own, as the CLI builds it
    sent: list[str] = []
    listen = lambda *args: sent.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        build_context(session, session.merge(waiblingen, load=True), "sitzungsvorlage")
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    tables = Counter(re.search(r"\bFROM (\w+)", s).group(1) for s in sent)  # type: ignore[union-attr]
    assert [t for t, n in tables.items() if n > 1] == [], sent
    assert "konzept" not in tables  # read with the Kommune
