"""One action at a time per target, across all rules.

Two rules acting on one Deployment at once (a restart racing a rollback) is how
automation makes an incident worse. The executor releases the target when its
execution ends, whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable

from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.model import Decision, Outcome

_Key = tuple[str, bool]


class InFlightGuard:
    name = "in_flight"

    def __init__(self) -> None:
        self._busy: dict[_Key, str] = {}

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        holder = self._busy.get((proposal.target.key, proposal.dry_run))
        if holder is None:
            return None
        return Verdict(
            outcome=Outcome.IN_FLIGHT,
            reason=f"in flight: rule {holder!r} is already acting on {proposal.target.key}",
            transient=True,
        )

    def record(self, decision: Decision) -> Undo | None:
        if decision.target is None:
            return None
        key = (decision.target.key, decision.dry_run)
        self._busy[key] = decision.rule
        return lambda: self._restore(key, decision.rule)

    def _restore(self, key: _Key, rule: str) -> None:
        if self._busy.get(key) == rule:
            del self._busy[key]

    def release(self, decision: Decision) -> None:
        if decision.target is not None:
            self._busy.pop((decision.target.key, decision.dry_run), None)

    def release_target(self, target: str, dry_run: bool, rule: str) -> None:
        """An execution taken over (interrupted): no longer in flight, unless another rule holds it."""
        if self._busy.get((target, dry_run)) == rule:
            del self._busy[(target, dry_run)]

    def busy(self) -> int:
        return len(self._busy)

    def replace(self, running: Iterable[tuple[str, bool, str]]) -> None:
        """What is in flight on every replica (target key, dry_run, rule), read from the journal."""
        self._busy = {(target, dry_run): rule for target, dry_run, rule in running}
