"""Whether the council has decided a Vorlage, and when: one answer for every path.

A Vorlage belongs to a stage (``Vorlage.stage_key``) and is decided at that stage's gate. Once
the gate is approved, the Vorlage is the record of what the council decided: its texts are not
edited any more (``services.save_vorlage_text`` refuses) and its document is not rewritten
(``documents.generate`` hands out the version generated up to the decision).

Sending a gate back or postponing it decides nothing. Only an approval closes a stage, and the
engine reopens no closed stage (a second decision on it is refused as "schon geschlossen");
should a stage ever be reopened, its state is what counts here: the Vorlage of a stage that is
not closed is not decided.

Read-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from .dates import short_de
from .models import GateDecision, Outcome, Stage, StageState, Vorlage
from .words import quoted


@dataclass(frozen=True)
class Decided:
    """The approval that decided a Vorlage."""

    vorlage: str  # how a clerk names it: its number ("BSV 21/2017"), else its stage
    on: dt.date  # the day of the decision (GateDecision.decided_on)
    # When the decision was recorded, as the database holds it (compared there with the
    # time a document version was recorded: what was generated until then is what was sent).
    recorded_at: dt.datetime

    @property
    def clause(self) -> str:
        """'die Vorlage „BSV 21/2017“ ist beschlossen (Freigabe am 14.12.2017)'."""
        return f"die Vorlage {self.vorlage} ist beschlossen (Freigabe am {short_de(self.on)})"

    @property
    def refusal(self) -> str:
        """Why its text cannot be saved: 'die Vorlage „…“ ist beschlossen (…); ihr Text
        bleibt, wie er beschlossen wurde'."""
        return f"{self.clause}; ihr Text bleibt, wie er beschlossen wurde"

    @property
    def sentence(self) -> str:
        """The clause opening a sentence: 'Die Vorlage …'."""
        return "D" + self.clause[1:]


def decided(session: Session, vorlage: Vorlage) -> Decided | None:
    """The approval of the gate of ``vorlage``'s stage, if that stage is closed by it; None
    while the Vorlage is not decided (the stage open or not begun, the gate sent back or
    postponed)."""
    row = session.exec(
        select(col(GateDecision.decided_on), col(GateDecision.recorded_at))
        .join(Stage, col(Stage.id) == GateDecision.stage_id)
        .where(Stage.fortschreibung_id == vorlage.fortschreibung_id,
               Stage.key == vorlage.stage_key, Stage.state == StageState.closed,
               GateDecision.outcome == Outcome.approve)
        .order_by(col(GateDecision.id).desc()).limit(1)
    ).first()  # fmt: skip
    if row is None:
        return None
    name = quoted(vorlage.reference) if vorlage.reference else \
        f"der Phase {quoted(vorlage.stage_key)}"  # fmt: skip
    return Decided(name, row[0], row[1])
