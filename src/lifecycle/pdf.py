"""DOCX -> PDF/A-2b with LibreOffice, where it is installed.

PDF/A-2b is what an E-Akte archives: fonts embedded, the title, author and language of the
Word file carried into the PDF's XMP metadata. LibreOffice (7.4 or newer) takes the export
options as JSON after the filter name.

Each conversion gets its own LibreOffice profile and HOME: concurrent conversions sharing a
profile fail silently. soffice exits 0 even when it could not load the input, so success
means the PDF exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import Unavailable

TIMEOUT_SECONDS = 180
PDF_VERSION = 2  # SelectPdfVersion: 1 = PDF/A-1b, 2 = PDF/A-2b, 3 = PDF/A-3b
PDFA_FILTER = ('pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"'
               f'{PDF_VERSION}"' + '}}')  # fmt: skip


class PdfError(Unavailable):
    """LibreOffice is missing or could not convert the file."""


def soffice() -> str:
    for name in ("soffice", "libreoffice"):
        path = shutil.which(name)
        if path:
            return path
    raise PdfError("LibreOffice (soffice) ist nicht installiert; ohne LibreOffice kein PDF")


def to_pdf(docx: Path, out_dir: Path | None = None, *, pdfa: bool = True) -> Path:
    """Convert ``docx`` to a PDF/A-2b next to it (or in ``out_dir``); returns the PDF's path.

    ``pdfa=False`` gives LibreOffice's plain PDF (the benchmark's floor).
    """
    binary = soffice()
    docx = Path(docx).resolve()
    target_dir = (out_dir or docx.parent).resolve()
    target = target_dir / f"{docx.stem}.pdf"
    with tempfile.TemporaryDirectory(prefix="lifecycle-soffice-") as work:
        profile = Path(work) / "profile"
        outdir = Path(work) / "out"
        env = {**os.environ, "HOME": work}
        cmd = [binary, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
               "--convert-to", PDFA_FILTER if pdfa else "pdf", "--outdir", str(outdir),
               str(docx)]  # fmt: skip
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                  timeout=TIMEOUT_SECONDS, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise PdfError(f"LibreOffice hat {docx.name} nicht innerhalb von "
                           f"{TIMEOUT_SECONDS} s umgewandelt") from None  # fmt: skip
        produced = outdir / f"{docx.stem}.pdf"
        if not produced.is_file() or produced.stat().st_size == 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise PdfError(f"LibreOffice konnte {docx.name} nicht umwandeln"
                           f"{': ' + detail[-1] if detail else ''}")  # fmt: skip
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), target)
    return target
