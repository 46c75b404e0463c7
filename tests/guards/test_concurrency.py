"""Concurrency: a bound on real actions in flight, overall and per namespace; dry-runs are free."""

from __future__ import annotations

from dataclasses import replace

from remediator.guards.concurrency import ConcurrencyGuard
from remediator.model import Outcome
from tests.guards import CHECKOUT, T0, acted, proposal


async def test_the_namespace_bound_then_the_global_bound() -> None:
    guard = ConcurrencyGuard(max_global=2, max_per_namespace=1)
    first = proposal()
    guard.record(acted(first, T0))
    verdict = await guard.check(proposal(replace(CHECKOUT, name="search")))
    assert verdict is not None and verdict.outcome is Outcome.CONCURRENCY_LIMITED
    assert verdict.reason == "concurrency: 1 actions in flight in namespace 'shop' (max 1)"
    other_ns = proposal(replace(CHECKOUT, namespace="billing"))
    assert await guard.check(other_ns) is None
    guard.record(acted(other_ns, T0))
    verdict = await guard.check(proposal(replace(CHECKOUT, namespace="ads")))
    assert verdict is not None and verdict.reason == "concurrency: 2 actions in flight (max 2)"
    assert await guard.check(proposal(replace(CHECKOUT, namespace="ads"), dry_run=True)) is None
    guard.release(acted(first, T0))
    assert await guard.check(proposal(replace(CHECKOUT, name="search"))) is None
