"""Approval: a rule that asks for a human acts only once one approves; a dry-run needs nobody."""

from __future__ import annotations

from remediator.guards.approval import ApprovalGuard
from remediator.model import Outcome
from tests.guards import proposal


async def test_a_rule_with_approval_waits_for_a_human() -> None:
    guard = ApprovalGuard()
    verdict = await guard.check(proposal(guards="{approval: true}"))
    assert verdict is not None and verdict.outcome is Outcome.NEEDS_APPROVAL
    assert verdict.reason == "needs approval: rule 'r1' acts only when a human approves it"


async def test_without_approval_or_in_dry_run_it_lets_through() -> None:
    guard = ApprovalGuard()
    assert await guard.check(proposal()) is None
    assert await guard.check(proposal(guards="{approval: true}", dry_run=True)) is None, (
        "a dry-run changes nothing, so it needs no approval"
    )
