"""Cooldown: one action per rule and target per cooldown, remembered across restarts."""

from __future__ import annotations

from dataclasses import replace

from remediator.clock import FakeClock
from remediator.guards.cooldown import CooldownGuard
from remediator.model import Outcome
from tests.guards import CHECKOUT, T0, acted, proposal


async def test_cooldown_denies_until_it_expires() -> None:
    clock = FakeClock(T0)
    guard = CooldownGuard(default_s=900, clock=clock)
    p = proposal()
    assert await guard.check(p) is None
    guard.record(acted(p, clock.now()))
    clock.advance(60)
    verdict = await guard.check(p)
    assert verdict is not None and verdict.outcome is Outcome.COOLDOWN
    assert verdict.reason == "cooldown: acted on shop/Deployment/checkout 1m ago, cooldown 15m"
    clock.advance(840)
    assert await guard.check(p) is None


async def test_cooldown_is_per_rule_target_and_mode() -> None:
    clock = FakeClock(T0)
    guard = CooldownGuard(default_s=900, clock=clock)
    guard.record(acted(proposal(), T0))
    assert await guard.check(proposal(rule="r2")) is None
    assert await guard.check(proposal(replace(CHECKOUT, name="search"))) is None
    assert await guard.check(proposal(dry_run=True)) is None, (
        "a real action must not block a dry-run, nor vice versa"
    )


async def test_rule_cooldown_overrides_default_and_state_loads_from_journal() -> None:
    clock = FakeClock(T0)
    guard = CooldownGuard(default_s=900, clock=clock)
    guard.load([("r1", CHECKOUT.key, False, T0)])
    clock.advance(120)
    assert await guard.check(proposal()) is not None
    assert await guard.check(proposal(cooldown_s=60)) is None


async def test_an_execution_refused_try_later_is_forgotten_but_a_later_act_stands() -> None:
    clock = FakeClock(T0)
    guard = CooldownGuard(default_s=900, clock=clock)
    p = proposal()
    refused = acted(p, clock.now())
    guard.record(refused)
    clock.advance(10)
    guard.forget(refused)
    assert await guard.check(p) is None, "it changed nothing: no cooldown"
    later = acted(p, clock.now())
    guard.record(later)
    guard.forget(refused)  # a stale forget never drops what was recorded since
    verdict = await guard.check(p)
    assert verdict is not None and verdict.outcome is Outcome.COOLDOWN
