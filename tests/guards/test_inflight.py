"""In flight: one action at a time per target, whichever rule asks."""

from __future__ import annotations

from remediator.guards.inflight import InFlightGuard
from remediator.model import Outcome
from tests.guards import T0, acted, proposal


async def test_inflight_allows_one_action_per_target_across_rules() -> None:
    guard = InFlightGuard()
    p = proposal()
    guard.record(acted(p, T0))
    verdict = await guard.check(proposal(rule="other"))
    assert verdict is not None and verdict.outcome is Outcome.IN_FLIGHT and "'r1'" in verdict.reason
    guard.release(acted(p, T0))
    assert await guard.check(proposal(rule="other")) is None
