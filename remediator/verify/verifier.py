"""The verifier: did the action work? Bounded waits, in the injected clock's time.

After a successful action the rule may ask to wait until the rollout is complete
(observedGeneration and updated/available replicas, as `kubectl rollout status`),
until the alert resolves, until an HTTP health check passes (`healthy`), and/or
until a PromQL query is back under a threshold (`metric`: error rate, latency).
Each wait is bounded by its own window from the action's start; they run in that
order. Not verified in time counts as a failure: it feeds the circuit breaker and
runs the rule's `on_failure` steps.

A probe (the rollout read, the health check, the PromQL query) that has not answered
when its window ends is abandoned there, in the clock's time: its own timeout (up to
5 minutes for a health check) never holds the verdict past the window. A probe made
with the window already over (the action took longer) keeps only its own timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from remediator.actions.protocols import Verification
from remediator.clock import Clock, deadline_passes
from remediator.durations import format_duration
from remediator.engine.resolutions import ResolutionBoard
from remediator.errors import RemediatorError
from remediator.guards.prometheus import PrometheusClient, PrometheusUnavailable, promql_escape
from remediator.model import Alert, Decision, Target
from remediator.outbound import HealthChecker
from remediator.rules import RenderError, Rule
from remediator.rules.checks import HttpCheck, MetricCheck

T = TypeVar("T")


class _WindowEnded(Exception):
    """The window ended while a probe was still waiting for its answer."""


class RolloutReader(Protocol):
    async def rollout_status(self, target: Target) -> _Status: ...


class _Status(Protocol):
    @property
    def complete(self) -> bool: ...

    @property
    def reason(self) -> str: ...


class Verifier:
    def __init__(
        self,
        *,
        kube: RolloutReader | None,
        resolutions: ResolutionBoard,
        clock: Clock,
        poll_s: float,
        health: HealthChecker | None = None,
        prometheus: PrometheusClient | None = None,
    ) -> None:
        self._kube = kube
        self._health = health
        self._prom = prometheus
        self._resolutions = resolutions
        self._clock = clock
        self._poll_s = poll_s

    async def verify(
        self, decision: Decision, rule: Rule | None, *, started_at: datetime
    ) -> Verification | None:
        """None when the rule asks for no verification."""
        spec = rule.verify if rule is not None else None
        if spec is None or decision.target is None:
            return None
        done: list[str] = []
        if spec.rollout_complete_within_s is not None and self._kube is not None:
            deadline = started_at + timedelta(seconds=spec.rollout_complete_within_s)
            reason = "not checked"
            while True:
                try:
                    status = await self._before(deadline, self._kube.rollout_status(decision.target))
                    if status.complete:
                        break
                    reason = status.reason
                except RemediatorError as e:
                    reason = f"cannot read rollout status: {e}"
                except _WindowEnded:
                    reason = "the rollout status read had no answer when the window ended"
                if self._clock.now() >= deadline:
                    return Verification(
                        ok=False,
                        detail=f"not verified: rollout not complete after "
                        f"{format_duration(spec.rollout_complete_within_s)} ({reason})",
                    )
                await self._clock.sleep(self._poll_s)
            done.append("rollout complete")
        if spec.resolved_within_s is not None:
            deadline = started_at + timedelta(seconds=spec.resolved_within_s)
            while not self._resolutions.resolved_since(decision.alert.fingerprint, started_at):
                if self._clock.now() >= deadline:
                    return Verification(
                        ok=False,
                        detail=f"not verified: alert still firing {format_duration(spec.resolved_within_s)} "
                        "after the action",
                    )
                await self._clock.sleep(self._poll_s)
            done.append("alert resolved")
        if spec.healthy is not None and spec.healthy_within_s is not None:
            failed = await self._until_healthy(
                spec.healthy, decision.alert, started_at, spec.healthy_within_s
            )
            if failed is not None:
                return failed
            done.append("health check passed")
        if spec.metric is not None:
            failed, value = await self._until_below(spec.metric, decision.alert, started_at)
            if failed is not None:
                return failed
            done.append(f"metric back under {spec.metric.below:g} ({value:g})")
        return Verification(ok=True, detail="verified: " + ", ".join(done)) if done else None

    async def _until_healthy(
        self, check: HttpCheck, alert: Alert, started_at: datetime, within_s: float
    ) -> Verification | None:
        """None once the check passes; the failed Verification when the window ends first."""
        deadline = started_at + timedelta(seconds=within_s)
        while True:
            if self._health is None:
                detail = "health checks are not configured"
            else:
                try:
                    probe = await self._before(deadline, self._health.probe(check, alert))
                except _WindowEnded:
                    detail = "the health check had no answer when the window ended"
                else:
                    if probe.healthy:
                        return None
                    detail = probe.detail
            if self._clock.now() >= deadline:
                window = format_duration(within_s)
                return Verification(
                    ok=False, detail=f"not verified: not healthy {window} after the action ({detail})"
                )
            await self._clock.sleep(self._poll_s)

    async def _until_below(
        self, metric: MetricCheck, alert: Alert, started_at: datetime
    ) -> tuple[Verification | None, float]:
        """(None, value) once the query is under the threshold; (failure, last value) when the window ends."""
        deadline = started_at + timedelta(seconds=metric.within_s)
        query = metric.query.render(alert, escape=promql_escape)
        value = float("nan")
        while True:
            if isinstance(query, RenderError):
                detail = f"query: {query.reason}"
            elif self._prom is None:
                detail = "no Prometheus configured (prometheus.url)"
            else:
                try:
                    got = await self._before(deadline, self._prom.query(query))
                except PrometheusUnavailable as e:
                    detail = f"Prometheus unreachable: {e}"
                except _WindowEnded:
                    detail = "Prometheus had not answered when the window ended"
                else:
                    if got is not None and got < metric.below:
                        return None, got
                    detail = "the query returned no data" if got is None else f"still {got:g}"
                    value = got if got is not None else value
            if self._clock.now() >= deadline:
                return (
                    Verification(
                        ok=False,
                        detail=f"not verified: metric not under {metric.below:g} "
                        f"{format_duration(metric.within_s)} after the action ({detail})",
                    ),
                    value,
                )
            await self._clock.sleep(self._poll_s)

    async def _before(self, deadline: datetime, probe: Awaitable[T]) -> T:
        """`probe`'s answer, or _WindowEnded when the clock reaches `deadline` first (the probe is
        cancelled). Past the deadline already: the probe alone, under its own timeout."""
        remaining = (deadline - self._clock.now()).total_seconds()
        if remaining <= 0:
            return await probe
        answer = asyncio.ensure_future(probe)
        window = asyncio.ensure_future(deadline_passes(self._clock, remaining))
        try:
            done, _ = await asyncio.wait({answer, window}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            window.cancel()
            if not answer.done():
                answer.cancel()
            await asyncio.gather(answer, window, return_exceptions=True)
        if answer not in done:
            raise _WindowEnded
        return answer.result()
