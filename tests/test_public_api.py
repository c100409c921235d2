from conftest import ROOT

import lifecycle


def test_every_export_resolves():
    for name in lifecycle.__all__:
        assert getattr(lifecycle, name) is not None, name


def test_python_example_from_the_readme(db_url, monkeypatch):
    monkeypatch.chdir(ROOT)
    import datetime as dt

    from lifecycle import decide_gate, load_scenario, session_scope, start

    with session_scope() as s:
        process = start(s, load_scenario("examples/waiblingen-2017.yaml"))
        decision = decide_gate(
            s,
            process.key,
            "ratsbeschluss",
            outcome="approve",
            on=dt.date(2017, 4, 27),
            by="sitzungsdienst",
            reference="BSV 3/2017",
            force_reason="Altverfahren",
        )
        assert decision.id is not None
