"""Approval: dangerous rules wait for a human.

A rule with `guards.approval: true` records a `needs_approval` decision; the
journal keeps it as a pending approval (with an expiry) that the override API
approves or rejects. Approving decides again with every other guard in force.
"""

from __future__ import annotations

from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.model import Decision, Outcome


class ApprovalGuard:
    name = "approval"

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        if not proposal.definition.guards.approval or proposal.dry_run:
            return None
        return Verdict(
            outcome=Outcome.NEEDS_APPROVAL,
            reason=f"needs approval: rule {proposal.rule!r} acts only when a human approves it",
        )

    def record(self, decision: Decision) -> Undo | None:
        return None
