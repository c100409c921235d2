"""Whether a Gremium has decided on a paper, and when: one answer for every path.

A paper goes to a Gremium at the gate of a stage: the Beschluss- and the Sitzungsvorlage print
the Vorlage of their stage (``Vorlage.stage_key``), decided at that stage's gate; any other
document goes there when the plan lists it at a gate decided in a Sitzung (``sitzung:``, e.g.
the Sachstandsbericht the committee takes note of). Once that gate is approved, the paper is
the record of what the Gremium had before it: a Vorlage's texts are not edited any more
(``services.save_vorlage_text`` refuses) and the document is not rewritten
(``documents.generate`` hands out the version generated up to the decision).

Papers no Gremium sees are not frozen: a workshop's Einladung, Programm, Teilnehmerliste, the
Arbeitsgruppen's papers, an Abschlussbericht the Projektleitung accepts. Their gates are the
team's own steps, decided outside any Sitzung; their papers follow the records (a late
Teilnehmerliste, a corrected Protokoll, a report as of its stage's close).

Sending a gate back or postponing it decides nothing. Only an approval closes a stage, and the
engine reopens no closed stage (a second decision on it is refused as "schon geschlossen");
should a stage ever be reopened, its state is what counts here: the paper of a stage that is
not closed is not decided.

A Gremium decides (``beschlossen``) unless the paper goes to it only to be taken note of: a
Beratungsfolge of Kenntnisnahmen without an Entscheidung, or, for a paper without a Vorlage,
a plan Sitzung described as a Kenntnisnahme ("zur Kenntnis genommen").

Read-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from .dates import short_de
from .doc_context import vorlage_stage
from .models import (
    Beratung,
    BeratungRole,
    Fortschreibung,
    GateDecision,
    Outcome,
    Stage,
    StageState,
    Vorlage,
)
from .plan_types import StageDef, plan_of
from .typing_helpers import get_required
from .words import quoted

DECIDED = "beschlossen"
NOTED = "zur Kenntnis genommen"


@dataclass(frozen=True)
class Decided:
    """The approval that decided a paper."""

    vorlage: str  # how a clerk names it: its number ("BSV 21/2017"), else its stage
    on: dt.date  # the day of the decision (GateDecision.decided_on)
    # When the decision was recorded, as the database holds it (compared there with the
    # time a document version was recorded: what was generated until then is what was sent).
    recorded_at: dt.datetime
    stage_key: str = ""  # the stage whose gate decided it
    how: str = DECIDED  # "beschlossen", or "zur Kenntnis genommen" for a Kenntnisnahme

    @property
    def clause(self) -> str:
        """'die Vorlage „BSV 21/2017“ ist beschlossen (Freigabe am 14.12.2017)'."""
        return f"die Vorlage {self.vorlage} ist {self.how} (Freigabe am {short_de(self.on)})"

    @property
    def refusal(self) -> str:
        """Why its text cannot be saved: 'die Vorlage „…“ ist beschlossen (…); ihr Text
        bleibt, wie er beschlossen wurde'."""
        return f"{self.clause}; ihr Text bleibt, wie er {self.how} wurde"

    @property
    def sentence(self) -> str:
        """The clause opening a sentence: 'Die Vorlage …'."""
        return "D" + self.clause[1:]

    @property
    def text_kept(self) -> str:
        """'Die Vorlage „…“ ist beschlossen (…); der Text bleibt, wie er beschlossen wurde.'"""
        return f"{self.sentence}; der Text bleibt, wie er {self.how} wurde."

    @property
    def version(self) -> str:
        """The paper that stays, as the subject of a sentence: 'die beschlossene Fassung'."""
        return f"die {self.how}e Fassung"

    @property
    def of_version(self) -> str:
        """The same in the genitive: 'der beschlossenen Fassung'."""
        return f"der {self.how}en Fassung"


def decided(session: Session, vorlage: Vorlage) -> Decided | None:
    """The approval of the gate of ``vorlage``'s stage, if that stage is closed by it; None
    while the Vorlage is not decided (the stage open or not begun, the gate sent back or
    postponed)."""
    process = get_required(session, Fortschreibung, vorlage.fortschreibung_id)
    return _approval(session, process, vorlage.stage_key, vorlage)


def presented_at(process: Fortschreibung, kind: str, stage_key: str) -> str | None:
    """The stage at whose gate the document ``kind``, generated for ``stage_key``, goes to a
    Gremium: the stage of the Vorlage it prints (whatever its series), else ``stage_key`` if
    the plan lists ``kind`` at that stage's gate and a Sitzung decides the gate; None for a
    paper no Gremium sees."""
    own = vorlage_stage(process, kind)
    if own is not None:
        return own
    stage = plan_of(process.plan).find_stage(stage_key)
    if stage is None or kind not in stage.gate.documents or not stage.gate.sitzung:
        return None
    return stage.key


def presented(
    session: Session, process: Fortschreibung, kind: str, stage_key: str
) -> Decided | None:
    """The approval that decided the paper ``kind`` generated for ``stage_key`` (see
    ``presented_at``); None while it is not decided, or for a paper no Gremium sees."""
    at = presented_at(process, kind, stage_key)
    if at is None:
        return None
    vorlage = session.exec(select(Vorlage).where(Vorlage.fortschreibung_id == process.id,
                                                 Vorlage.stage_key == at)).first()  # fmt: skip
    return _approval(session, process, at, vorlage)


def _approval(
    session: Session, process: Fortschreibung, stage_key: str, vorlage: Vorlage | None
) -> Decided | None:
    row = session.exec(
        select(col(GateDecision.decided_on), col(GateDecision.recorded_at),
               col(GateDecision.reference))
        .join(Stage, col(Stage.id) == GateDecision.stage_id)
        .where(Stage.fortschreibung_id == process.id, Stage.key == stage_key,
               Stage.state == StageState.closed, GateDecision.outcome == Outcome.approve)
        .order_by(col(GateDecision.id).desc()).limit(1)
    ).first()  # fmt: skip
    if row is None:
        return None
    stage = plan_of(process.plan).find_stage(stage_key)
    if vorlage is not None and vorlage.reference:
        name = quoted(vorlage.reference)
    elif vorlage is None and row[2]:  # no Vorlage: the number the approval was recorded with
        name = quoted(row[2])
    else:
        name = f"der Phase {quoted(stage.title if stage is not None else stage_key)}"
    return Decided(name, row[0], row[1], stage_key, _how(session, process, stage, vorlage))


def _how(
    session: Session, process: Fortschreibung, stage: StageDef | None, vorlage: Vorlage | None
) -> str:
    """'zur Kenntnis genommen' for a paper a Gremium only takes note of; else 'beschlossen'."""
    if vorlage is not None:
        roles = set(session.exec(select(Beratung.role)
                                 .where(Beratung.vorlage_id == vorlage.id)).all())  # fmt: skip
        if roles:
            noted = BeratungRole.kenntnisnahme in roles and BeratungRole.entscheidung not in roles
            return NOTED if noted else DECIDED
    if stage is None or not stage.gate.sitzung:
        return DECIDED
    described = plan_of(process.plan).sitzungen.get(stage.gate.sitzung, "")
    return NOTED if "Kenntnisnahme" in described else DECIDED
