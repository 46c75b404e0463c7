"""Paused: a global pause or one rule's stops every decision until it is lifted or expires."""

from __future__ import annotations

from datetime import timedelta

from remediator.clock import FakeClock
from remediator.engine.mode import Mode, Pause
from remediator.guards.paused import PausedGuard
from remediator.model import Outcome
from tests.guards import T0, proposal


async def test_a_global_pause_stops_every_rule_and_says_who_and_why() -> None:
    mode = Mode(paused=Pause(by="alice", reason="database migration"))
    guard = PausedGuard(mode=mode, clock=FakeClock(T0))
    for rule in ("r1", "r2"):
        verdict = await guard.check(proposal(rule=rule))
        assert verdict is not None and verdict.outcome is Outcome.PAUSED
        assert verdict.reason == "paused by alice: database migration"


async def test_a_rule_pause_stops_that_rule_only_until_it_expires() -> None:
    clock = FakeClock(T0)
    mode = Mode(paused_rules={"r1": Pause(by="bob", reason="leak", until=T0 + timedelta(minutes=30))})
    guard = PausedGuard(mode=mode, clock=clock)
    assert await guard.check(proposal(rule="r2")) is None
    verdict = await guard.check(proposal(rule="r1"))
    assert verdict is not None and "until" in verdict.reason and "leak" in verdict.reason
    clock.advance(30 * 60)
    assert await guard.check(proposal(rule="r1")) is None
    assert mode.paused_rules == {}, "an expired pause is dropped"
