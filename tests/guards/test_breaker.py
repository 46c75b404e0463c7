"""Circuit breaker: closed, open after repeated failures (and escalate), half-open for one probe."""

from __future__ import annotations

from datetime import timedelta

from remediator.clock import FakeClock
from remediator.config import BreakerSettings
from remediator.guards.breaker import CircuitBreaker
from remediator.metrics import Metrics
from remediator.model import Decision, Outcome
from tests.guards import CHECKOUT, T0, acted, make_rule, proposal


def breaker(clock: FakeClock, opened: list[str] | None = None) -> CircuitBreaker:
    def on_open(decision: Decision, reason: str) -> None:
        if opened is not None:
            opened.append(reason)

    return CircuitBreaker(
        settings=BreakerSettings(failures=2, reset_after=600), clock=clock, metrics=Metrics(), on_open=on_open
    )


async def test_opens_after_consecutive_failures_and_escalates_once() -> None:
    clock = FakeClock(T0)
    opened: list[str] = []
    guard = breaker(clock, opened)
    decision = acted(proposal(), T0)
    guard.result(decision, ok=False, rule=None, error="boom")
    assert await guard.check(proposal()) is None, "one failure is not a pattern"
    guard.result(decision, ok=False, rule=None, error="boom")
    verdict = await guard.check(proposal())
    assert verdict is not None and verdict.outcome is Outcome.BREAKER_OPEN
    assert "2 consecutive failures" in verdict.reason
    assert opened == ["circuit breaker opened after 2 consecutive failures: boom"]
    assert await guard.check(proposal(dry_run=True)) is None, "a dry-run changes nothing: never blocked"


async def test_half_open_lets_one_probe_and_a_success_closes() -> None:
    clock = FakeClock(T0)
    guard = breaker(clock)
    guard.load([("r1", CHECKOUT.key, False, T0)] * 2, lambda name: None)
    assert guard.views()[0].state == "open"
    clock.advance(600)
    probe = proposal()
    assert await guard.check(probe) is None
    guard.record(acted(probe, clock.now()))
    verdict = await guard.check(proposal())
    assert verdict is not None and "a probe is already running" in verdict.reason
    guard.result(acted(probe, clock.now()), ok=True, rule=None)
    assert guard.views()[0].state == "closed" and await guard.check(proposal()) is None


async def test_a_rule_policy_overrides_the_default_and_a_reset_closes() -> None:
    clock = FakeClock(T0)
    guard = breaker(clock)
    strict = make_rule(guards="{circuit_breaker: {failures: 1, reset_after: 1h}}")
    guard.result(acted(proposal(), T0), ok=False, rule=strict)
    assert await guard.check(proposal()) is not None
    assert guard.reset("r1", CHECKOUT.key) and await guard.check(proposal()) is None


async def test_a_probe_that_ends_without_a_result_frees_the_slot_and_only_the_probe_does() -> None:
    clock = FakeClock(T0)
    guard = breaker(clock)
    guard.load([("r1", CHECKOUT.key, False, T0)] * 2, lambda name: None)
    clock.advance(600)
    probe_at = clock.now()
    guard.record(acted(proposal(), probe_at))
    assert not guard.forget_probe("r1", CHECKOUT.key, at=T0), "an earlier act was not the probe"
    assert await guard.check(proposal()) is not None
    assert guard.forget_probe("r1", CHECKOUT.key, at=probe_at)
    assert await guard.check(proposal()) is None
    assert guard.views()[0].state == "half_open"


async def test_rebuilt_at_start_up_an_act_decided_while_half_open_is_known_as_the_probe() -> None:
    """A restart rebuilds the breaker from outcomes and holds no probe; a crash-interrupted execution
    decided while half-open was the probe, and is said to be (nothing else could act then)."""
    clock = FakeClock(T0)
    guard = breaker(clock)
    guard.load([("r1", CHECKOUT.key, False, T0)] * 2, lambda name: None)
    clock.advance(900)
    assert guard.forget_probe("r1", CHECKOUT.key, at=T0 + timedelta(seconds=700))
    assert not guard.forget_probe("r1", CHECKOUT.key, at=T0 + timedelta(seconds=300)), "decided while open"
    assert await guard.check(proposal()) is None
