"""Watch: a re-fire soon after an action fixed the incident escalates instead of acting again.

After an incident's alerts resolve following an action, the incident is watched (`watch: 30m`).
If the alert fires again within the watch, the fix did not hold: repeating it would only hide the
problem (a restart loop), so the decision is `escalated` and the incident desk re-opens the same
incident and starts its escalation ladder. The desk answers through `Watches`.
"""

from __future__ import annotations

from typing import Protocol

from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.model import Alert, Decision, Outcome, Target


class Watches(Protocol):
    def refire(self, alert: Alert, target: Target) -> str | None:
        """Why this alert is a re-fire within a watch (None: it is not)."""
        ...


class WatchGuard:
    name = "watch"

    def __init__(self, *, watches: Watches) -> None:
        self._watches = watches

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        if proposal.dry_run:
            return None
        reason = self._watches.refire(proposal.alert, proposal.target)
        if reason is None:
            return None
        return Verdict(outcome=Outcome.ESCALATED, reason=reason)

    def record(self, decision: Decision) -> Undo | None:
        return None
