"""Stale alerts and PromQL confirmation: act only on a problem that still holds.

An alert is a report about the past. Before changing production, a rule can ask
Prometheus whether the problem is still there (`confirm`); an alert older than
`max_alert_age` acts only if such a query confirms it. A rule can confirm with an
HTTP health check instead (`confirm: {http: ...}`): the problem holds while the
check fails (ServiceDown: restart only if the health endpoint is still failing).
If Prometheus (or the health endpoint's host) cannot be asked, the rule says
whether to act anyway (`on_unreachable: act`) or skip (default, recorded as
`not_confirmed`).
"""

from __future__ import annotations

from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.guards.prometheus import PrometheusClient, PrometheusUnavailable, promql_escape
from remediator.model import Decision, Outcome
from remediator.outbound import HealthChecker
from remediator.rules import RenderError


class FreshnessGuard:
    name = "confirm"

    def __init__(
        self,
        *,
        prometheus: PrometheusClient | None,
        max_alert_age_s: float,
        clock: Clock,
        health: HealthChecker | None = None,
    ) -> None:
        self._prom = prometheus
        self._health = health
        self._max_age = max_alert_age_s
        self._clock = clock

    async def check(self, proposal: Proposal) -> Verdict | None:
        rule, alert = proposal.definition, proposal.alert
        max_age = rule.guards.max_alert_age_s if rule.guards.max_alert_age_s is not None else self._max_age
        age = (self._clock.now() - alert.starts_at).total_seconds()
        stale = age > max_age
        if rule.confirm is None:
            if stale:
                return Verdict(
                    outcome=Outcome.STALE_ALERT,
                    reason=f"stale: alert started {format_duration(int(age))} ago (max_alert_age "
                    f"{format_duration(max_age)}) and the rule has no confirm query to show it still holds",
                )
            return None
        if rule.confirm.http is not None:
            if self._health is None:
                return self._unreachable(proposal, stale, "health checks are not configured")
            probe = await self._health.probe(rule.confirm.http, alert)
            if probe.healthy is None:
                return self._unreachable(proposal, stale, probe.detail)
            if probe.healthy:
                return Verdict(outcome=Outcome.NOT_CONFIRMED, reason=f"confirm: {probe.detail}")
            return None
        assert rule.confirm.query is not None and rule.confirm.when is not None
        query = rule.confirm.query.render(alert, escape=promql_escape)
        if isinstance(query, RenderError):
            return Verdict(outcome=Outcome.NOT_CONFIRMED, reason=f"confirm: {query.reason}")
        if self._prom is None:
            return self._unreachable(proposal, stale, "no Prometheus configured (prometheus.url)")
        try:
            value = await self._prom.query(query)
        except PrometheusUnavailable as e:
            return self._unreachable(proposal, stale, f"Prometheus unreachable: {e}")
        if value is None:
            return Verdict(outcome=Outcome.NOT_CONFIRMED, reason="confirm: the query returned no data")
        result = rule.confirm.when.check(value)
        if not result.holds:
            return Verdict(outcome=Outcome.NOT_CONFIRMED, reason=f"confirm: {result.reason}")
        return None

    def _unreachable(self, proposal: Proposal, stale: bool, why: str) -> Verdict | None:
        confirm = proposal.definition.confirm
        if confirm is not None and confirm.on_unreachable == "act" and not stale:
            return None
        return Verdict(outcome=Outcome.NOT_CONFIRMED, reason=f"confirm: {why}")

    def record(self, decision: Decision) -> Undo | None:
        return None
