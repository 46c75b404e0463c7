"""Dedup: the same alert episode acts once per rule and target, however often Alertmanager re-sends it."""

from __future__ import annotations

from dataclasses import replace

from remediator.clock import FakeClock
from remediator.guards.dedup import DedupGuard
from remediator.model import Outcome
from tests.guards import ALERT, T0, acted, proposal


async def test_a_resent_alert_is_a_duplicate_within_the_cooldown() -> None:
    clock = FakeClock(T0)
    guard = DedupGuard(default_cooldown_s=900, clock=clock)
    p = proposal()
    assert await guard.check(p) is None
    guard.record(acted(p, T0))
    clock.advance(60)
    verdict = await guard.check(p)
    assert verdict is not None and verdict.outcome is Outcome.DUPLICATE
    assert "fingerprint f" in verdict.reason and "shop/Deployment/checkout" in verdict.reason
    clock.advance(900)
    assert await guard.check(p) is None


async def test_a_new_episode_of_the_same_alert_is_not_a_duplicate() -> None:
    clock = FakeClock(T0)
    guard = DedupGuard(default_cooldown_s=900, clock=clock)
    guard.record(acted(proposal(), T0))
    later = replace(ALERT, starts_at=T0.replace(hour=1))
    assert await guard.check(proposal(alert=later)) is None
    assert await guard.check(proposal(rule="r2")) is None


async def test_an_episode_whose_execution_was_refused_try_later_has_not_acted() -> None:
    clock = FakeClock(T0)
    guard = DedupGuard(default_cooldown_s=900, clock=clock)
    p = proposal()
    refused = acted(p, clock.now())
    guard.record(refused)
    clock.advance(10)
    assert await guard.check(p) is not None
    guard.forget(refused)
    assert await guard.check(p) is None
    guard.record(acted(p, clock.now()))
    guard.forget(refused)
    verdict = await guard.check(p)
    assert verdict is not None and verdict.outcome is Outcome.DUPLICATE
