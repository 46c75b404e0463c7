"""Rate limits: actions per target, per rule, overall and in a burst (the storm brake), in sliding windows."""

from __future__ import annotations

from dataclasses import replace

from remediator.clock import FakeClock
from remediator.config import GuardSettings, WindowLimit
from remediator.guards.ratelimit import RateLimitGuard
from remediator.model import Outcome
from tests.guards import CHECKOUT, T0, acted, proposal


async def test_per_target_limit_slides_with_time() -> None:
    clock = FakeClock(T0)
    guard = RateLimitGuard(
        settings=GuardSettings(max_actions_per_target=WindowLimit(count=2, per=3600)), clock=clock
    )
    for _ in range(2):
        p = proposal()
        assert await guard.check(p) is None
        guard.record(acted(p, clock.now()))
        clock.advance(60)
    verdict = await guard.check(proposal())
    assert verdict is not None and verdict.outcome is Outcome.RATE_LIMITED
    assert "(max 2)" in verdict.reason and "1h" in verdict.reason
    assert await guard.check(proposal(replace(CHECKOUT, name="search"))) is None, "another target is free"
    clock.advance(3600)
    assert await guard.check(proposal()) is None


async def test_the_storm_brake_counts_every_rule_and_target() -> None:
    clock = FakeClock(T0)
    guard = RateLimitGuard(settings=GuardSettings(storm_brake=WindowLimit(count=3, per=60)), clock=clock)
    for name in ("a", "b", "c"):
        guard.record(acted(proposal(replace(CHECKOUT, name=name), rule=f"rule-{name}"), clock.now()))
    verdict = await guard.check(proposal(replace(CHECKOUT, name="d"), rule="rule-d"))
    assert verdict is not None and verdict.outcome is Outcome.RATE_LIMITED
    assert await guard.check(proposal(replace(CHECKOUT, name="d"), dry_run=True)) is None, (
        "dry-runs are counted apart from real actions"
    )


async def test_a_rule_limit_overrides_the_default_and_history_loads_from_the_journal() -> None:
    clock = FakeClock(T0)
    guard = RateLimitGuard(settings=GuardSettings(), clock=clock)
    guard.load([("r1", CHECKOUT.key, False, T0)])
    assert await guard.check(proposal()) is None
    verdict = await guard.check(proposal(guards="{max_actions: {count: 1, per: 1h}}"))
    assert verdict is not None and verdict.outcome is Outcome.RATE_LIMITED


async def test_with_every_limit_off_a_rule_reloaded_with_its_own_limit_still_counts_the_acts_before() -> None:
    """Limits off (the settings hold for the daemon's life): nothing is counted, except per rule and
    target, which a reloaded rule's own `max_actions` may limit at any time."""
    clock = FakeClock(T0)
    off = GuardSettings(
        max_actions_per_target=None, max_actions_per_rule=None, max_actions_global=None, storm_brake=None
    )
    guard = RateLimitGuard(settings=off, clock=clock)
    for _ in range(3):
        p = proposal()
        assert await guard.check(p) is None
        guard.record(acted(p, clock.now()))
        clock.advance(60)
    assert await guard.check(proposal(replace(CHECKOUT, name="search"), rule="r2")) is None
    verdict = await guard.check(proposal(guards="{max_actions: {count: 3, per: 1h}}"))
    assert verdict is not None and verdict.outcome is Outcome.RATE_LIMITED
    assert "3 actions on" in verdict.reason
    assert await guard.check(proposal(guards="{max_actions: {count: 4, per: 1h}}")) is None


async def test_a_taken_back_act_counts_no_more_when_only_some_scopes_are_limited() -> None:
    clock = FakeClock(T0)
    guard = RateLimitGuard(
        settings=GuardSettings(
            max_actions_per_target=None,
            max_actions_per_rule=None,
            max_actions_global=WindowLimit(count=1, per=3600),
        ),
        clock=clock,
    )
    undo = guard.record(acted(proposal(), clock.now()))
    verdict = await guard.check(proposal(replace(CHECKOUT, name="search"), rule="r2"))
    assert verdict is not None and "across all rules" in verdict.reason
    assert undo is not None
    undo()
    assert await guard.check(proposal(replace(CHECKOUT, name="search"), rule="r2")) is None
