"""Word documents at every gate: render, version, record.

One renderer for the stage flows and the CLI. A document kind's context comes from
lifecycle.doc_context; its template from a municipality's own folder (``templates=`` or
LIFECYCLE_TEMPLATES), else the shipped templates/docx/. Rendering uses a sandboxed Jinja
environment with autoescape and StrictUndefined: user text appears verbatim, never runs as
template code, and a template naming a variable the context lacks is a clear error.

Every generation is recorded (DocumentVersion): unchanged inputs and template are a no-op;
a change writes version n+1 next to version n. A paper a Gremium has decided on or taken note
of is the exception (a Beschluss- or Sitzungsvorlage, the Sachstandsbericht: ``decided``): it
stays the version generated up to the decision, whatever changed since.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from . import dates, markup
from .decided import Decided, presented
from .doc_context import KINDS, Kind, build_context, default_stage, kind_for, vorlage_stage
from .errors import InputError, LifecycleError, Refused
from .models import DocumentVersion, Fortschreibung, Vorlage
from .plan_types import StageDef, plan_of
from .templates import SHIPPED
from .typing_helpers import ident
from .validation import is_safe_name
from .vorlage_hinweise import Hinweis, hinweise
from .words import quoted

GENERIC_TEMPLATE = "stage_bericht"


class TemplateError(InputError):
    """A template is missing, corrupt, or uses a name its context lacks."""

    def __init__(self, message: str):
        self.source, self.field, self.problem, self.line = "Vorlage", "", message, None
        LifecycleError.__init__(self, message)


@dataclass(frozen=True)
class DocumentResult:
    kind: str
    stage_key: str
    version: int
    path: Path
    created: bool
    pdf_path: Path | None = None
    # What the author should check in the Vorlage's own words and its Beratungsfolge
    # (vorlage_hinweise), and the sections those notes are on.
    hinweise: tuple[Hinweis, ...] = ()
    # The paper is decided (or taken note of): which version stays, in one German sentence.
    decided_note: str = ""

    @property
    def flagged(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.section for h in self.hinweise if not h.beratungsfolge))


# --- templates -----------------------------------------------------------------------------


def template_folders(
    templates: str | Path | None = None, process: Fortschreibung | None = None
) -> list[Path]:
    """Where templates are looked up, first match wins.

    The folder given explicitly, then the scenario's own (``templates:`` in the scenario
    file), then the Kommune's uploaded ones (``kommune_template_folder``), then the
    installation's (LIFECYCLE_TEMPLATES), then the shipped templates (package data
    ``lifecycle.templates``, found through importlib.resources, so a wheel install needs no
    checkout); a municipality restyles only the documents it wants to.
    """
    scenario = (process.scenario or {}).get("templates") if process is not None else None
    sources = (
        ("--templates", "", templates),
        (f"Szenario {process.key}" if process is not None else "Szenario", "templates", scenario),
        ("LIFECYCLE_TEMPLATES", "", os.environ.get("LIFECYCLE_TEMPLATES")),
    )
    folders = [_template_folder(source, field, value) for source, field, value in sources if value]
    own = kommune_template_folder(process) if process is not None else None
    if own is not None and own.is_dir():  # uploaded in the web app: before the installation's
        folders.insert(len(folders) - bool(os.environ.get("LIFECYCLE_TEMPLATES")), own)
    folders.append(SHIPPED)
    return folders


def kommune_template_folder(process: Fortschreibung) -> Path:
    """A Kommune's own templates, uploaded in the web app's Verwaltung (``_vorlagen/KOMMUNE``
    in the documents folder; process keys never start with '_')."""
    kommune = ((process.scenario or {}).get("kommune") or {}).get("key") or "_"
    base = os.environ.get("LIFECYCLE_OUTPUT")
    if base:
        return Path(base).expanduser() / "_vorlagen" / kommune
    from platformdirs import user_data_dir

    return Path(user_data_dir("lifecycle", appauthor=False)) / "documents" / "_vorlagen" / kommune


def _template_folder(source: str, field: str, custom: str | Path) -> Path:
    """A template folder of one's own, or one clear InputError naming where it was set."""
    folder = Path(custom).expanduser()
    if not folder.exists():
        problem = f"Vorlagenordner {quoted(str(folder))} existiert nicht"
    elif not folder.is_dir():
        problem = f"Vorlagenordner {quoted(str(folder))} ist eine Datei, kein Ordner"
    else:
        try:
            with os.scandir(folder) as entries:
                next(entries, None)
            return folder
        except OSError as exc:
            problem = f"Vorlagenordner {quoted(str(folder))} ist nicht lesbar ({exc.strerror})"
    raise InputError(source, field, problem)


def find_template(
    kind: Kind, templates: str | Path | None = None, process: Fortschreibung | None = None
) -> Path:
    names = [kind.template] if kind.name in KINDS else [kind.template, GENERIC_TEMPLATE]
    folders = template_folders(templates, process)
    for name in names:
        for folder in folders:
            path = folder / f"{name}.docx"
            if path.is_file():
                return path
    looked = ", ".join(str(f) for f in folders)
    raise TemplateError(
        f"keine Vorlage {names[0]}.docx für die Dokumentart {quoted(kind.name)} "
        f"(gesucht in {looked})"
    )


def _uhrzeit(value: dt.datetime) -> str:
    return f"{value:%H:%M} Uhr"


def _date_filter(fn):
    def apply(value: dt.date | dt.datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        if isinstance(value, dt.datetime):
            value = value.date()
        return fn(value)

    apply.__name__ = fn.__name__
    return apply


def _rich(value: str) -> Any:
    """``**bold**`` in scenario or author text as bold runs (docxtpl ``{{r … }}``); the rest
    is escaped by RichText, so user text stays literal."""
    from docxtpl import RichText

    out = RichText()
    for part, bold in markup.runs(str(value)):
        out.add(part, bold=bold)
    return out


@functools.cache
def jinja_env() -> SandboxedEnvironment:
    """The one environment every template is compiled in (compiled templates are cached
    per environment, see docx_render)."""
    env = SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update({
        "rich": _rich,
        "long_de": _date_filter(dates.long_de), "short_de": _date_filter(dates.short_de),
        "weekday_de": _date_filter(dates.weekday_short_de),
        "month_de": _date_filter(dates.month_de),
        "euro": dates.euro, "uhrzeit": _uhrzeit,
    })  # fmt: skip
    return env


def render(template: Path, context: dict[str, Any], out: Path) -> None:
    """Render ``template`` with ``context`` to ``out``; any template problem is a TemplateError
    with a German message (template_messages) naming the template and, where known, the
    paragraph."""
    from .docx_layout import STYLES, fit_columns, text_sizes
    from .docx_render import compile_docx, render_parts, write_docx
    from .template_messages import TEMPLATE_ERRORS, message

    name = template.name
    try:
        source = template.read_bytes()
    except OSError as exc:
        problem = "fehlt" if isinstance(exc, FileNotFoundError) else "ist nicht lesbar"
        raise TemplateError(f"Vorlage {name} {problem} ({template})") from None
    try:
        compiled = compile_docx(source, jinja_env(),
                                check=functools.partial(check_template, name=name))  # fmt: skip
        rendered = render_parts(compiled, context)
        # fixed column widths follow the paper's words (no "zurückgestell|t" in a PDF)
        fit_columns(rendered.body, text_sizes(compiled.by_name.get(STYLES, b"")))
    except TemplateError:
        raise
    except TEMPLATE_ERRORS as exc:
        raise TemplateError(message(name, exc)) from None
    try:
        data = write_docx(compiled, rendered, context.get("eigenschaften") or {})
    except ValueError:  # text the XML cannot carry (control characters)
        raise TemplateError(f"Vorlage {name}: ein Text enthält Steuerzeichen, die Word-XML nicht "
                            "darstellen kann") from None  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)  # a reader never sees half a file


def check_template(doc: Any, name: str) -> None:
    """A template must be German and define every style its paragraphs use: otherwise Word
    spell-checks the paper as English, or silently falls back to plain text."""
    from docx.oxml.ns import qn

    styles = doc.styles.element
    langs = [el.get(qn("w:val")) for el in styles.iter(qn("w:lang"))
             if el.getparent() is not None and el.getparent().getparent() is not None
             and el.getparent().getparent().tag == qn("w:rPrDefault")]  # fmt: skip
    if not langs or not (langs[0] or "").startswith("de"):
        found = f"ist {quoted(langs[0])}" if langs and langs[0] else "fehlt"
        raise TemplateError(f"Vorlage {name}: die Standardsprache {found}; erwartet Deutsch "
                            "(de-DE) in den Standardformaten (styles.xml)")  # fmt: skip
    defined = {el.get(qn("w:styleId")) for el in styles.iter(qn("w:style"))}
    used = {el.get(qn("w:val")) for el in doc.element.body.iter(qn("w:pStyle"))}
    missing = sorted(u for u in used - defined if u)
    if missing:
        raise TemplateError(f"Vorlage {name}: Formatvorlage {', '.join(missing)} wird benutzt, "
                            "ist aber nicht definiert")  # fmt: skip


# --- versions ------------------------------------------------------------------------------


def _json_default(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"not plain data in a document context: {type(value).__name__}")


def inputs_hash(kind: str, context: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, "context": context}, sort_keys=True, ensure_ascii=False,
                      default=_json_default)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()


def default_out_dir(process: Fortschreibung) -> Path:
    base = os.environ.get("LIFECYCLE_OUTPUT")
    if base:
        return Path(base).expanduser() / process.key
    from platformdirs import user_data_dir

    return Path(user_data_dir("lifecycle", appauthor=False)) / "documents" / process.key


def versions(
    session: Session, process: Fortschreibung, kind: str | None = None, stage: str | None = None
) -> list[DocumentVersion]:
    query = select(DocumentVersion).where(DocumentVersion.fortschreibung_id == process.id)
    if kind:
        query = query.where(DocumentVersion.kind == kind)
    if stage:
        query = query.where(DocumentVersion.stage_key == stage)
    order = (
        col(DocumentVersion.kind),
        col(DocumentVersion.stage_key),
        col(DocumentVersion.version),
    )
    return list(session.exec(query.order_by(*order)).all())


def output_folder(out_dir: str | Path | None, process: Fortschreibung) -> Path:
    """The folder documents go to, absolute (a relative ``--out`` is the working directory's,
    now: the record must not depend on where a later command runs); an existing non-folder
    (a file, a device) is refused."""
    if out_dir:
        folder, source = Path(out_dir).expanduser(), "--out"
    else:
        folder = default_out_dir(process)
        source = "LIFECYCLE_OUTPUT" if os.environ.get("LIFECYCLE_OUTPUT") else "Dokumentordner"
    try:
        if folder.exists() and not folder.is_dir():
            raise InputError(source, "", f"{folder} ist kein Ordner")
        for parent in folder.parents:
            if parent.exists() and not parent.is_dir():
                raise InputError(source, "", f"{parent} ist kein Ordner")
        folder = folder.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(source, "", f"{folder} ist nicht nutzbar ({exc})") from None
    return folder


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused unless it stays inside ``folder`` (no path traversal)."""
    path = folder / name
    base = folder.resolve()
    if Path(name).name != name or not path.resolve().is_relative_to(base):
        raise InputError("docs", "kind", f"Dateiname {quoted(name)} verließe den Ausgabeordner")
    return path


def _vorlage(session: Session, process: Fortschreibung, kind: str) -> Vorlage | None:
    """The Vorlage the document ``kind`` prints, if it prints one."""
    stage_key = vorlage_stage(process, kind)
    if stage_key is None:
        return None
    return session.exec(select(Vorlage).where(Vorlage.fortschreibung_id == process.id,
                                              Vorlage.stage_key == stage_key)).first()  # fmt: skip


def _file_stem(kind: str, stage_key: str) -> str:
    # The generic stage report may sit at several gates: one file series per stage.
    return kind if kind in KINDS and kind != GENERIC_TEMPLATE else f"{kind}_{stage_key}"


# --- public API ----------------------------------------------------------------------------


def generate(
    session: Session, process: Fortschreibung, kind: str, *, out_dir: str | Path | None = None,
    pdf: bool = False, templates: str | Path | None = None, stage: str | None = None,
) -> DocumentResult:  # fmt: skip
    """Render one document of ``process``; a no-op when inputs and template are unchanged.

    ``stage`` matters only for a kind that sits at several gates (the generic stage report);
    by default a kind belongs to the gate that lists it.
    """
    if not is_safe_name(kind):
        raise InputError("docs", "kind", f"unzulässige Dokumentart {quoted(kind)}")
    spec = kind_for(process, kind)
    if not is_safe_name(spec.template):
        raise InputError("docs", "kind", f"unzulässiger Vorlagenname {quoted(spec.template)}")
    if out_dir is not None:
        output_folder(out_dir, process)  # fail before rendering, not after
    template = find_template(spec, templates, process)
    if stage is not None:
        _check_stage(process, stage)
    stage_key = stage or default_stage(session, process, kind)
    vorlage = _vorlage(session, process, kind)
    decision = presented(session, process, kind, stage_key)
    if decision is not None:
        kept = _decided_version(session, process, spec, template, out_dir, pdf, decision)
        if kept is not None:
            return kept
    for _attempt in range(3):
        result = _generate_once(session, process, spec, template, stage_key, out_dir, pdf)
        if result is None:
            continue
        if decision is not None:  # the first paper of one decided before any was made
            return replace(result, decided_note=(
                f"{decision.sentence}; vor der Freigabe war keine Fassung erzeugt worden: "
                f"v{result.version} ist nach dem heutigen Stand erzeugt und bleibt von nun an "
                f"{decision.version}."))  # fmt: skip
        notes = hinweise(session, process, vorlage) if vorlage is not None else []
        return replace(result, hinweise=tuple(notes))
    raise LifecycleError(f"{kind}: other writers keep taking the next version; try again")


def _decided_version(
    session: Session, process: Fortschreibung, spec: Kind, template: Path,
    out_dir: str | Path | None, pdf: bool, decision: Decided,
) -> DocumentResult | None:  # fmt: skip
    """The version of a decided paper that stays, handed out as it is; None when none was
    generated yet.

    It is the last version generated until the decision was recorded: the paper the Gremium
    had. If there was none, the first one generated after it (a clerk printing the decided
    paper late; it is rendered from the records as they are then: the Vorlage's texts are
    frozen from the decision on, the Sitzungen and other facts of the process are read as they
    stand at that first print). Either way, no later change (a Sitzung moved, an edit, a new
    template) makes a new version. The paper of a Vorlage is one whatever its stage series;
    any other paper is the one of the stage whose gate decided it. The notes asking the
    author to check a text (``vorlage_hinweise``) are left out: the text is decided.
    """
    row = _kept_version(session, process, spec.name, decision)
    if row is None:
        return None
    recorded = Path(row.path)
    if not (recorded.is_absolute() and recorded.is_file()):
        # Written again only if that reproduces it: same inputs, same template.
        context = build_context(session, process, spec.name, row.stage_key)
        same = (row.inputs_sha256 == inputs_hash(spec.name, context)
                and row.template_sha256 == hashlib.sha256(template.read_bytes()).hexdigest())
        if not same:
            raise Refused(f"{decision.sentence}; die Datei {decision.of_version} "
                          f"v{row.version} fehlt ({row.path}) und lässt sich aus dem heutigen "
                          "Stand nicht wiederherstellen: bitte die Datei aus der Ablage "
                          "zurücklegen")  # fmt: skip
        _write_again(session, process, row, template, context, out_dir)
    result = _unchanged(session, row, pdf, out_dir)
    return replace(result, decided_note=(f"{decision.sentence}; {decision.version} "
                                         f"v{row.version} bleibt unverändert."))  # fmt: skip


def _kept_version(
    session: Session, process: Fortschreibung, kind: str, decision: Decided
) -> DocumentVersion | None:
    """The last version of ``kind`` recorded until ``decision`` was, else the first after;
    of the decided stage's series unless ``kind`` prints a Vorlage (one paper per Vorlage)."""
    mine = select(DocumentVersion).where(DocumentVersion.fortschreibung_id == process.id,
                                         DocumentVersion.kind == kind)  # fmt: skip
    if vorlage_stage(process, kind) is None:
        mine = mine.where(DocumentVersion.stage_key == decision.stage_key)
    created, row_id = col(DocumentVersion.created_at), col(DocumentVersion.id)
    # compared in the database: both times as it stores them
    before = session.exec(mine.where(created <= decision.recorded_at)
                          .order_by(created.desc(), row_id.desc()).limit(1)).first()  # fmt: skip
    if before is not None:
        return before
    return session.exec(mine.where(created > decision.recorded_at)
                        .order_by(created, row_id).limit(1)).first()  # fmt: skip


def _generate_once(
    session: Session, process: Fortschreibung, spec: Kind, template: Path, stage_key: str,
    out_dir: str | Path | None, pdf: bool,
) -> DocumentResult | None:  # fmt: skip
    """One attempt; None when a concurrent writer took the version number first."""
    kind = spec.name
    context = build_context(session, process, kind, stage_key)
    in_sha = inputs_hash(kind, context)
    tpl_sha = hashlib.sha256(template.read_bytes()).hexdigest()
    previous = versions(session, process, kind, stage_key)
    latest = previous[-1] if previous else None
    if latest and latest.inputs_sha256 == in_sha and latest.template_sha256 == tpl_sha:
        recorded = Path(latest.path)
        if not (recorded.is_absolute() and recorded.is_file()):
            _write_again(session, process, latest, template, context, out_dir)
        return _unchanged(session, latest, pdf, out_dir)
    version = latest.version + 1 if latest else 1
    folder = output_folder(out_dir, process)
    path = _replaceable(inside(folder, f"{_file_stem(kind, stage_key)}_v{version}.docx"))
    # Rendered under a private name; it becomes version n only once the record of n is in.
    draft = _draft_for(path)
    render(template, context, draft)
    row = DocumentVersion(
        fortschreibung_id=ident(process), stage_key=stage_key, kind=kind, version=version,
        inputs_sha256=in_sha, template_sha256=tpl_sha, template_path=str(template),
        path=str(path),
    )  # fmt: skip
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        draft.unlink(missing_ok=True)
        return None
    draft.replace(path)
    pdf_path = _attach_pdf(session, row) if pdf else None  # the DOCX stays recorded if this fails
    return DocumentResult(kind, stage_key, version, path, True, pdf_path)


def _write_again(
    session: Session, process: Fortschreibung, row: DocumentVersion, template: Path,
    context: dict[str, Any], out_dir: str | Path | None,
) -> None:  # fmt: skip
    """Version n is recorded with these inputs but its file is not there (killed between
    commit and rename, a writer still renaming, the file removed, or a path recorded relative
    to some earlier working directory): n is written again, never outside the folder this
    command names (``out_dir``, else the recorded folder, else the default one); where that is
    not the recorded place, the record follows the file."""
    recorded = Path(row.path)
    if out_dir is not None:
        folder = output_folder(out_dir, process)
    elif recorded.is_absolute():
        folder = recorded.parent
    else:
        folder = output_folder(None, process)
    path = _replaceable(inside(folder, recorded.name))
    _write(template, context, path)
    if str(path) != row.path:
        row.path = str(path)
        if row.pdf_path and Path(row.pdf_path).parent != path.parent:
            row.pdf_path = ""  # the PDF beside the old place is not this file's
        session.add(row)
        session.commit()


def _draft_for(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex}.docx")


def _replaceable(path: Path) -> Path:
    """``path``, refused before any rendering when a rename could not put a file there."""
    if path.exists() and not path.is_file():
        raise InputError("docs", "", f"{path} ist keine Datei (an ihrer Stelle steht etwa ein "
                                     "Ordner); bitte entfernen oder einen anderen Ordner wählen")
    return path


def _write(template: Path, context: dict[str, Any], path: Path) -> None:
    """Render to a private name, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = _draft_for(path)
    try:
        render(template, context, draft)
        draft.replace(path)
    finally:
        draft.unlink(missing_ok=True)


def _attach_pdf(session: Session, row: DocumentVersion) -> Path:
    pdf_path = _to_pdf(Path(row.path))
    row.pdf_path = str(pdf_path)
    session.add(row)
    session.commit()
    return pdf_path


def _unchanged(
    session: Session, row: DocumentVersion, pdf: bool, out_dir: str | Path | None
) -> DocumentResult:
    path = Path(row.path)
    recorded_pdf = Path(row.pdf_path) if row.pdf_path else None
    # a PDF recorded relative to some earlier working directory counts as missing
    pdf_path = recorded_pdf if recorded_pdf and recorded_pdf.is_absolute() and \
        recorded_pdf.is_file() else None  # fmt: skip
    if pdf and pdf_path is None:
        pdf_path = _attach_pdf(session, row)
    folder = Path(out_dir).expanduser().resolve() if out_dir else None
    if folder is not None and folder != path.parent.resolve():
        # Asked for elsewhere: hand out a copy of the current version; nothing new is recorded.
        path = _copy_into(path, folder)
        pdf_path = _copy_into(pdf_path, folder) if pdf_path else None
    return DocumentResult(row.kind, row.stage_key, row.version, path, False, pdf_path)


def _copy_into(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copy2(source, target)
    return target


def _to_pdf(path: Path) -> Path:
    from .pdf import to_pdf

    return to_pdf(path)


def _check_stage(process: Fortschreibung, stage_key: str) -> StageDef:
    plan = plan_of(process.plan)
    try:
        return plan.stage(stage_key)
    except KeyError:
        known = ", ".join(s.key for s in plan.stages)
        raise InputError("docs", "stage", f"{process.key} hat keine Phase {quoted(stage_key)} "
                         f"(Phasen: {known})") from None  # fmt: skip


def gate_kinds(process: Fortschreibung, stage_key: str) -> list[str]:
    return list(_check_stage(process, stage_key).gate.documents)


def generate_gate_documents(
    session: Session, process: Fortschreibung, stage_key: str, *, out_dir: str | Path | None = None,
) -> list[DocumentResult]:  # fmt: skip
    """Every document the plan lists for the gate of ``stage_key``."""
    kinds = gate_kinds(process, stage_key)
    for kind in kinds:  # fail before writing anything if the plan names an impossible kind
        find_template(kind_for(process, kind), process=process)
    return [generate(session, process, kind, out_dir=out_dir, stage=stage_key) for kind in kinds]
