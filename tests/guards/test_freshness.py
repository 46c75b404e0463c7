"""Freshness and confirm: an old alert acts only if its rule's confirm query shows it still holds."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from remediator.clock import FakeClock
from remediator.guards.freshness import FreshnessGuard
from remediator.guards.prometheus import PrometheusClient, PrometheusUnavailable
from remediator.model import Outcome
from tests.guards import T0, make_rule, proposal

CONFIRM = """    confirm:
      query: 'sum(rate(errors_total[1m]))'
      when: result > 10
      on_unreachable: {on_unreachable}
"""


class FakePrometheus:
    """Answers every query with one value (None: no data), or fails."""

    def __init__(self, value: float | None = None, *, down: bool = False) -> None:
        self.value, self.down = value, down
        self.queries: list[str] = []

    async def query(self, promql: str) -> float | None:
        self.queries.append(promql)
        if self.down:
            raise PrometheusUnavailable("connection refused")
        return self.value


def guard(prometheus: FakePrometheus | None, clock: FakeClock) -> FreshnessGuard:
    return FreshnessGuard(prometheus=cast(PrometheusClient, prometheus), max_alert_age_s=3600, clock=clock)


def confirmed(on_unreachable: str = "skip") -> dict[str, object]:
    return {"definition": make_rule(extra=CONFIRM.format(on_unreachable=on_unreachable))}


async def test_a_stale_alert_without_confirm_is_skipped() -> None:
    clock = FakeClock(T0 + timedelta(hours=2))
    verdict = await guard(None, clock).check(proposal())
    assert verdict is not None and verdict.outcome is Outcome.STALE_ALERT
    assert "started 2h ago" in verdict.reason
    assert await guard(None, FakeClock(T0 + timedelta(minutes=5))).check(proposal()) is None


async def test_confirm_asks_prometheus_before_acting() -> None:
    clock = FakeClock(T0 + timedelta(hours=2))
    busy = FakePrometheus(42.0)
    assert await guard(busy, clock).check(proposal(**confirmed())) is None, "stale, but confirmed: act"
    assert busy.queries == ["sum(rate(errors_total[1m]))"]
    verdict = await guard(FakePrometheus(3.0), clock).check(proposal(**confirmed()))
    assert verdict is not None and verdict.outcome is Outcome.NOT_CONFIRMED
    verdict = await guard(FakePrometheus(None), clock).check(proposal(**confirmed()))
    assert verdict is not None and verdict.reason == "confirm: the query returned no data"


async def test_prometheus_down_skips_unless_the_rule_says_act_on_a_fresh_alert() -> None:
    fresh = FakeClock(T0 + timedelta(minutes=5))
    down = FakePrometheus(down=True)
    verdict = await guard(down, fresh).check(proposal(**confirmed()))
    assert verdict is not None and "Prometheus unreachable" in verdict.reason
    assert await guard(down, fresh).check(proposal(**confirmed("act"))) is None
    stale = FakeClock(T0 + timedelta(hours=2))
    assert await guard(down, stale).check(proposal(**confirmed("act"))) is not None, (
        "a stale alert acts only when confirmed"
    )
