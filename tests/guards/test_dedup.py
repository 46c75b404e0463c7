"""Dedup: the same alert episode acts once per rule and target, however often Alertmanager re-sends it."""

from __future__ import annotations

import time
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


async def test_past_100000_episodes_in_a_day_deciding_stays_fast_and_old_ones_go() -> None:
    """A storm acting on 100,000 distinct episodes within a day: each further act cost a rebuild of the
    whole table (16 ms a decision: a processor stuck at ~60 decisions/s). Episodes older than a day
    are still dropped."""
    clock = FakeClock(T0)
    guard = DedupGuard(default_cooldown_s=900, clock=clock)
    old = proposal(alert=replace(ALERT, fingerprint="old"))
    guard.record(acted(old, T0))
    clock.advance(86_400 + 1)
    act = acted(proposal(), clock.now())
    episodes = [replace(act, alert=replace(ALERT, fingerprint=f"{i:016x}")) for i in range(120_000)]
    started = time.perf_counter()
    for decision in episodes:
        guard.record(decision)
    assert time.perf_counter() - started < 15.0, "under 1 s here; 20,000 rebuilds took minutes"
    assert await guard.check(old) is None, "older than a day: forgotten"
    latest = proposal(alert=replace(ALERT, fingerprint=f"{119_999:016x}"))
    verdict = await guard.check(latest)
    assert verdict is not None and verdict.outcome is Outcome.DUPLICATE
