"""Guards caught up with other replicas: what another replica did denies here as if done here."""

from __future__ import annotations

from datetime import timedelta

from remediator.clock import FakeClock
from remediator.config import BreakerSettings, GuardSettings
from remediator.guards.breaker import CircuitBreaker
from remediator.guards.concurrency import ConcurrencyGuard
from remediator.guards.cooldown import CooldownGuard
from remediator.guards.dedup import DedupGuard
from remediator.guards.inflight import InFlightGuard
from remediator.guards.ratelimit import RateLimitGuard
from remediator.guards.shared import SharedGuards
from remediator.metrics import Metrics
from remediator.model import AlertId, DecisionId, ExecutionId, Outcome, Target
from remediator.store import (
    ActRecord,
    EndRecord,
    GuardFeed,
    InterruptedExecution,
    OutcomeRecord,
    RunningRecord,
)
from tests.guards import ALERT, CHECKOUT, T0, acted, proposal

OTHER = Target(kind="Deployment", namespace="shop", name="search")


def shared(clock: FakeClock) -> SharedGuards:
    settings = GuardSettings(max_in_flight=2, max_in_flight_per_namespace=2)
    return SharedGuards(
        cooldown=CooldownGuard(default_s=900, clock=clock),
        ratelimit=RateLimitGuard(settings=settings, clock=clock),
        dedup=DedupGuard(default_cooldown_s=900, clock=clock),
        inflight=InFlightGuard(),
        concurrency=ConcurrencyGuard(max_global=2, max_per_namespace=2),
        breaker=CircuitBreaker(settings=BreakerSettings(failures=2), clock=clock, metrics=Metrics()),
        rules=lambda _: None,
    )


def act_elsewhere(target: Target = CHECKOUT, *, minutes_ago: float = 1) -> ActRecord:
    return ActRecord(
        rule="r1",
        target=target.key,
        dry_run=False,
        decided_at=T0 - timedelta(minutes=minutes_ago),
        fingerprint=ALERT.fingerprint,
        starts_at=ALERT.starts_at,
    )


async def test_an_act_on_another_replica_is_a_duplicate_and_a_cooldown_here() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    p = proposal()
    assert await g.dedup.check(p) is None and await g.cooldown.check(p) is None
    g.catch_up(GuardFeed(acts=(act_elsewhere(),)))
    dup = await g.dedup.check(p)
    assert dup is not None and dup.outcome is Outcome.DUPLICATE
    cool = await g.cooldown.check(p)
    assert cool is not None and "acted on shop/Deployment/checkout 1m ago" in cool.reason


async def test_rate_limit_windows_count_every_replicas_acts_in_time_order() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    g.ratelimit.record(acted(proposal(), T0 - timedelta(minutes=1)))
    # learnt later, but older: the window stays ordered, so the old one leaves it first
    g.catch_up(GuardFeed(acts=(act_elsewhere(minutes_ago=59), act_elsewhere(minutes_ago=30))))
    denied = await g.ratelimit.check(proposal())
    assert denied is not None and "3 actions on shop/Deployment/checkout" in denied.reason
    clock.advance(60)  # the 59-minute-old act leaves the one-hour window
    assert await g.ratelimit.check(proposal()) is None


async def test_in_flight_and_concurrency_are_what_runs_anywhere() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    mine = acted(proposal(OTHER), T0)
    for guard in (g.inflight, g.concurrency):
        guard.record(mine)
    running = (
        RunningRecord(rule="r1", target=CHECKOUT.key, dry_run=False),
        RunningRecord(rule="r1", target=OTHER.key, dry_run=False),
    )
    g.catch_up(GuardFeed(running=running))
    busy = await g.inflight.check(proposal())
    assert busy is not None and busy.outcome is Outcome.IN_FLIGHT
    third = Target(kind="Deployment", namespace="shop", name="cart")
    full = await g.concurrency.check(proposal(third))
    assert full is not None and "2 actions in flight" in full.reason
    # this replica's own execution ends (released here) and the next feed agrees: counted once
    g.concurrency.release(mine)
    g.concurrency.release(mine)
    g.catch_up(GuardFeed(running=running[:1]))
    assert await g.concurrency.check(proposal(third)) is None
    assert g.inflight.busy() == 1


async def test_failures_elsewhere_open_the_breaker_and_a_probe_elsewhere_holds_it() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    failed = OutcomeRecord(rule="r1", target=CHECKOUT.key, ok=False, finished_at=T0)
    g.catch_up(GuardFeed(outcomes=(failed, failed)))
    opened = await g.breaker.check(proposal())
    assert opened is not None and opened.outcome is Outcome.BREAKER_OPEN
    clock.advance(1800)  # half-open: one probe may act, and another replica just took it
    assert await g.breaker.check(proposal()) is None
    g.catch_up(GuardFeed(acts=(act_elsewhere(minutes_ago=-30),)))  # decided just now, over there
    probing = await g.breaker.check(proposal())
    assert probing is not None and "a probe is already running" in probing.reason


async def test_a_full_feed_replaces_the_history() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    g.cooldown.record(acted(proposal(), T0))
    g.dedup.record(acted(proposal(), T0))
    g.catch_up(GuardFeed(full=True, acts=(), running=()))
    assert await g.cooldown.check(proposal()) is None and await g.dedup.check(proposal()) is None


def interrupted(*, started: bool, minutes_ago: float = 1) -> InterruptedExecution:
    act = act_elsewhere(minutes_ago=minutes_ago)
    return InterruptedExecution(
        execution_id=ExecutionId(7),
        decision_id=DecisionId(7),
        alert_id=AlertId(7),
        rule=act.rule,
        target=act.target,
        started=started,
        dry_run=False,
        decided_at=act.decided_at,
        fingerprint=act.fingerprint,
        starts_at=act.starts_at,
    )


async def test_an_execution_taken_over_while_queued_holds_nothing_against_its_redecision() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    running = (RunningRecord(rule="r1", target=CHECKOUT.key, dry_run=False),)
    g.catch_up(GuardFeed(acts=(act_elsewhere(),), running=running))
    p = proposal(guards="{max_actions: {count: 1, per: 1h}}")
    for guard in (g.dedup, g.cooldown, g.inflight, g.ratelimit):
        assert await guard.check(p) is not None, guard.name
    g.interrupted(interrupted(started=False))
    for guard in (g.dedup, g.cooldown, g.inflight, g.ratelimit, g.concurrency):
        assert await guard.check(p) is None, f"{guard.name}: it never started, so it changed nothing"


async def test_an_execution_taken_over_while_running_still_counts_but_is_in_flight_nowhere() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    running = (RunningRecord(rule="r1", target=CHECKOUT.key, dry_run=False),)
    g.catch_up(GuardFeed(acts=(act_elsewhere(),), running=running))
    g.interrupted(interrupted(started=True))
    assert await g.inflight.check(proposal()) is None
    cool = await g.cooldown.check(proposal())
    assert cool is not None and cool.outcome is Outcome.COOLDOWN, "it may have changed the cluster"
    assert await g.dedup.check(proposal()) is not None


async def test_forgetting_a_queued_act_leaves_the_earlier_one_standing() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    g.catch_up(GuardFeed(acts=(act_elsewhere(minutes_ago=10), act_elsewhere(minutes_ago=1))))
    g.interrupted(interrupted(started=False, minutes_ago=1))
    cool = await g.cooldown.check(proposal())
    assert cool is not None and "10m ago" in cool.reason


async def test_a_half_open_probe_taken_over_while_queued_frees_the_probe() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    failed = OutcomeRecord(rule="r1", target=CHECKOUT.key, ok=False, finished_at=T0)
    g.catch_up(GuardFeed(outcomes=(failed, failed)))
    clock.advance(1800)  # half-open; another replica decides the probe, then dies before starting it
    g.catch_up(GuardFeed(acts=(act_elsewhere(minutes_ago=-30),)))
    assert await g.breaker.check(proposal()) is not None
    g.interrupted(interrupted(started=False, minutes_ago=-30))
    assert await g.breaker.check(proposal()) is None, "no probe is running: one may act"


async def test_a_half_open_probe_taken_over_while_running_frees_the_probe_and_still_counts() -> None:
    """Its execution ended without a result: the breaker must not wait for it forever."""
    clock = FakeClock(T0)
    g = shared(clock)
    failed = OutcomeRecord(rule="r1", target=CHECKOUT.key, ok=False, finished_at=T0)
    g.catch_up(GuardFeed(outcomes=(failed, failed)))
    clock.advance(1800)  # half-open; another replica decides the probe, starts it, then dies
    running = (RunningRecord(rule="r1", target=CHECKOUT.key, dry_run=False),)
    g.catch_up(GuardFeed(acts=(act_elsewhere(minutes_ago=-30),), running=running))
    probing = await g.breaker.check(proposal())
    assert probing is not None and "a probe is already running" in probing.reason
    note = g.interrupted(interrupted(started=True, minutes_ago=-30))
    assert "half-open probe" in note and "the next decision may probe" in note
    assert await g.breaker.check(proposal()) is None, "no probe is running: the next one may act"
    assert [v.state for v in g.breaker.views()] == ["half_open"], "no result: neither closed nor open"
    cool = await g.cooldown.check(proposal())
    assert cool is not None, "it may have changed the cluster: its cooldown stands"


async def test_an_interrupted_execution_that_was_not_the_probe_leaves_the_probe_running() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    failed = OutcomeRecord(rule="r1", target=CHECKOUT.key, ok=False, finished_at=T0)
    g.catch_up(GuardFeed(outcomes=(failed, failed)))
    clock.advance(1800)
    g.catch_up(GuardFeed(acts=(act_elsewhere(minutes_ago=-30),)))  # the probe, decided elsewhere
    assert g.interrupted(interrupted(started=True, minutes_ago=5)) == "", "decided while open: no probe"
    probing = await g.breaker.check(proposal())
    assert probing is not None and "a probe is already running" in probing.reason


async def test_a_full_feed_holds_no_probe_for_an_act_that_already_ended_without_a_result() -> None:
    """Rebuilt from the journal: the probe's act is there, its execution interrupted (running nowhere)."""
    clock = FakeClock(T0)
    g = shared(clock)
    failed = OutcomeRecord(rule="r1", target=CHECKOUT.key, ok=False, finished_at=T0)
    clock.advance(1860)
    probe = act_elsewhere(minutes_ago=-30)
    g.catch_up(GuardFeed(full=True, acts=(probe,), outcomes=(failed, failed), running=()))
    assert await g.breaker.check(proposal()) is None, "nothing runs: the next decision may probe"
    running = (RunningRecord(rule="r1", target=CHECKOUT.key, dry_run=False),)
    g.catch_up(GuardFeed(full=True, acts=(probe,), outcomes=(failed, failed), running=running))
    probing = await g.breaker.check(proposal())
    assert probing is not None and "a probe is already running" in probing.reason


async def test_an_act_refused_elsewhere_while_acting_counts_toward_nothing_here() -> None:
    """Another replica's execution was refused (try later): this one learnt of the act first, then of
    its end; the cooldown and the rate limits drop it, and an earlier act stands."""
    clock = FakeClock(T0)
    g = shared(clock)
    p = proposal(guards="{max_actions: {count: 2, per: 1h}}")
    earlier, refused = act_elsewhere(minutes_ago=20), act_elsewhere(minutes_ago=1)
    g.catch_up(GuardFeed(acts=(earlier, refused)))
    limited = await g.ratelimit.check(p)
    assert limited is not None and "2 actions on shop/Deployment/checkout" in limited.reason
    g.catch_up(GuardFeed(ends=(EndRecord(act=refused, counts=False),)))
    assert await g.ratelimit.check(p) is None, "one act in the hour: the refused one did nothing"
    cool = await g.cooldown.check(proposal(cooldown_s=3600))
    assert cool is not None and "20m ago" in cool.reason, "the earlier act's cooldown stands"


async def test_an_act_and_its_end_in_one_feed_count_as_nothing_and_hold_no_probe() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    failed = OutcomeRecord(rule="r1", target=CHECKOUT.key, ok=False, finished_at=T0)
    g.catch_up(GuardFeed(outcomes=(failed, failed)))
    clock.advance(1860)
    probe = act_elsewhere(minutes_ago=-30)
    g.catch_up(GuardFeed(acts=(probe,), ends=(EndRecord(act=probe, counts=False),)))
    p = proposal(guards="{max_actions: {count: 1, per: 1h}}")
    for guard in (g.dedup, g.cooldown, g.ratelimit, g.breaker):
        assert await guard.check(p) is None, f"{guard.name}: the probe was refused, nothing changed"


async def test_a_probe_taken_over_elsewhere_while_running_frees_the_probe_here_and_still_counts() -> None:
    clock = FakeClock(T0)
    g = shared(clock)
    failed = OutcomeRecord(rule="r1", target=CHECKOUT.key, ok=False, finished_at=T0)
    g.catch_up(GuardFeed(outcomes=(failed, failed)))
    clock.advance(1860)
    probe = act_elsewhere(minutes_ago=-30)
    running = (RunningRecord(rule="r1", target=CHECKOUT.key, dry_run=False),)
    g.catch_up(GuardFeed(acts=(probe,), running=running))
    assert await g.breaker.check(proposal()) is not None
    g.catch_up(GuardFeed(ends=(EndRecord(act=probe, counts=True),), running=()))
    assert await g.breaker.check(proposal()) is None, "the probe ended without a result: another may"
    assert await g.cooldown.check(proposal()) is not None, "it may have changed the cluster"
