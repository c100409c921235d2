"""Benchmark: the Waiblingen Sitzungsvorlage, rendered many times in one process.

Prints its figures; nothing here asserts a time. Run:

    .venv/bin/python bench/bench_documents.py [--docs 1000] [--runs 200]

- ms per Sitzungsvorlage (median of --runs, interleaved): context from the database + render
  + save, and render + save alone, each against the floor: python-docx loading and saving the
  same template without rendering; and, as "before", docxtpl rendering the template anew each
  time (as documents.render did before the compiled renderer). Ratios are taken in one run.
- RSS after --docs documents in one process, gc.collect() after each (see
  shared/notes/docx-and-dates.md: without it RSS climbs by ~0.2 MiB per document).
- PDF/A-2b conversion by LibreOffice per document kind (median of --pdf-runs, a fresh
  soffice each time, as `docs generate --pdf` does) against the floor: the same DOCX converted
  to a plain PDF. Skipped without LibreOffice.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from lifecycle import replay, services
from lifecycle.db import engine_for
from lifecycle.doc_context import KINDS, build_context
from lifecycle.documents import find_template, render
from lifecycle.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def interleaved(fns: dict, runs: int) -> dict[str, float]:
    """Median ms of each function, run in turn round after round (load hits all alike).

    The collector runs before each call, untimed: otherwise the cycles one function leaves
    (docxtpl's, "before") are collected, and paid for, inside the next one's time."""
    for fn in fns.values():  # warm caches and imports
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1000 * statistics.median(ts) for name, ts in times.items()}


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        gc.collect()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--pdf-runs", type=int, default=3)
    args = parser.parse_args()
    import docx

    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite:///{work}/bench.db"
        with Session(engine_for(url), expire_on_commit=False) as session:
            process = services.start(session, load_scenario(ROOT / "examples/waiblingen-2017.yaml"))
            replay.run(session, process)
            template = find_template(KINDS["sitzungsvorlage"])
            out = Path(work) / "sitzungsvorlage.docx"
            context = build_context(session, process, "sitzungsvorlage")

            def floor() -> None:
                docx.Document(str(template)).save(str(out))

            def render_only() -> None:
                render(template, context, out)

            def full() -> None:
                render(template, build_context(session, process, "sitzungsvorlage"), out)

            def docxtpl_before() -> None:  # how documents.render rendered before issue 15
                from docxtpl import DocxTemplate

                from lifecycle.documents import jinja_env

                tpl = DocxTemplate(str(template))
                tpl.render(build_context(session, process, "sitzungsvorlage"),
                           jinja_env=jinja_env(), autoescape=True)  # fmt: skip
                tpl.save(str(out))

            fns = {"floor": floor, "render": render_only, "full": full, "before": docxtpl_before}
            times = interleaved(fns, args.runs)
            floor_ms, render_ms, full_ms = times["floor"], times["render"], times["full"]
            print(f"Sitzungsvorlage, median of {args.runs} ({out.stat().st_size // 1024} KiB):")
            print(f"  floor (python-docx load + save) : {floor_ms:7.1f} ms")
            print(f"  render + save                   : {render_ms:7.1f} ms"
                  f"  = {render_ms / floor_ms:.2f} x floor")  # fmt: skip
            print(f"  context + render + save         : {full_ms:7.1f} ms"
                  f"  = {full_ms / floor_ms:.2f} x floor")  # fmt: skip
            print(f"  the same with docxtpl per render: {times['before']:7.1f} ms"
                  f"  = {times['before'] / floor_ms:.2f} x floor (before)")  # fmt: skip
            ratio = full_ms / floor_ms
            print(f"ROW Sitzungsvorlage, context from the DB + render + save: {full_ms:.1f} ms | "
                  f"floor {floor_ms:.1f} ms | ratio {ratio:.2f}x | goal <= 1.3x | "
                  f"{'OK' if ratio <= 1.3 else 'MISS'}")  # fmt: skip

            gc.collect()
            marks = {}
            start = rss_mib()
            for n in range(1, args.docs + 1):
                full()
                gc.collect()
                if n in (10, 100, args.docs // 2, args.docs):
                    marks[n] = rss_mib()
            print(f"RSS in one process, gc.collect() after each document: start {start:.1f} MiB; "
                  + "; ".join(f"after {n}: {v:.1f} MiB" for n, v in marks.items()))  # fmt: skip
            pdf_times(session, process, Path(work), args.pdf_runs)


def pdf_times(session: Session, process, work: Path, runs: int) -> None:
    import shutil

    from lifecycle.documents import generate
    from lifecycle.pdf import to_pdf
    from lifecycle.plan_types import plan_of

    if runs < 1:
        print("PDF/A: not measured (--pdf-runs 0)")
        return
    if not (shutil.which("soffice") or shutil.which("libreoffice")):
        print("PDF/A: skipped, LibreOffice (soffice) is not installed")
        return
    print(f"PDF/A-2b by LibreOffice, median of {runs} (floor: the same DOCX as a plain PDF):")
    for kind in plan_of(process.plan).document_kinds:
        path = generate(session, process, kind, out_dir=work / "docs").path
        plain = median_ms(lambda p=path: to_pdf(p, work / "plain", pdfa=False), runs)
        pdfa = median_ms(lambda p=path: to_pdf(p, work / "pdfa"), runs)
        print(f"  {kind:26} PDF/A {pdfa:7.0f} ms   plain PDF {plain:7.0f} ms"
              f"  = {pdfa / plain:.2f} x floor")  # fmt: skip


if __name__ == "__main__":
    main()
