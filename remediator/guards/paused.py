"""Pause: a human has taken the wheel (globally or for one rule). First in the chain."""

from __future__ import annotations

from remediator.clock import Clock
from remediator.engine import Proposal, Verdict
from remediator.engine.mode import Mode
from remediator.engine.reservations import Undo
from remediator.model import Decision, Outcome


class PausedGuard:
    name = "paused"

    def __init__(self, *, mode: Mode, clock: Clock) -> None:
        self._mode = mode
        self._clock = clock

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        mode = self._mode
        if mode.paused is None and not mode.paused_rules:
            return None  # nothing paused: no clock to read
        pause = mode.pause_for(proposal.rule, self._clock.now())
        if pause is None:
            return None
        return Verdict(outcome=Outcome.PAUSED, reason=pause.describe())

    def record(self, decision: Decision) -> Undo | None:
        return None
