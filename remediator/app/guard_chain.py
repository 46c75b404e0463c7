"""The guard chain, in order, with its state rebuilt from the journal, and what ends an execution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from remediator.actions.dispatch import ActionRouter
from remediator.clock import Clock
from remediator.config import Settings
from remediator.engine import Guard
from remediator.engine.mode import Mode
from remediator.escalate.desk import IncidentDesk
from remediator.escalate.escalation import Escalator
from remediator.guards.approval import ApprovalGuard
from remediator.guards.breaker import CircuitBreaker
from remediator.guards.concurrency import ConcurrencyGuard
from remediator.guards.cooldown import CooldownGuard
from remediator.guards.dedup import DedupGuard
from remediator.guards.freshness import FreshnessGuard
from remediator.guards.inflight import InFlightGuard
from remediator.guards.namespaces import NamespaceGuard
from remediator.guards.paused import PausedGuard
from remediator.guards.prometheus import PrometheusClient
from remediator.guards.ratelimit import RateLimitGuard
from remediator.guards.shared import SharedGuards
from remediator.guards.target import TargetGuard
from remediator.guards.watch import WatchGuard
from remediator.metrics import Metrics
from remediator.model import Decision, ExecutionStatus
from remediator.outbound import HealthChecker
from remediator.override.restore import breaker_resets
from remediator.rules import RuleBook, RuleSet
from remediator.store import ExecutionUpdate, Journal


@dataclass(frozen=True, kw_only=True)
class GuardChain:
    """The guard chain, and the guards the rest of the wiring talks to by name."""

    chain: list[Guard]
    inflight: InFlightGuard
    cooldown: CooldownGuard
    breaker: CircuitBreaker
    concurrency: ConcurrencyGuard
    shared: SharedGuards
    """Catches the guards up with what other replicas wrote, at the start of every decision turn."""
    book: RuleBook

    def finished(self, decision: Decision, update: ExecutionUpdate) -> None:
        """An execution ended: free its slots; a real outcome counts toward the breaker."""
        self.inflight.release(decision)
        self.concurrency.release(decision)
        if update.try_later:  # nothing changed and it is deferred again: no cooldown, not a duplicate,
            self.cooldown.forget(decision)  # and no act toward any rate limit
            self.shared.dedup.forget(decision)
            self.shared.ratelimit.forget(decision)
        if update.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED):
            self.breaker.result(
                decision,
                ok=update.status is ExecutionStatus.SUCCEEDED,
                rule=self.book.get(decision.rule),
                error=update.error or "",
            )
        elif not decision.dry_run and decision.target is not None:
            # Ended without a result (skipped while acting, taken over before it started): if it was the
            # half-open probe, the next decision may probe.
            self.breaker.forget_probe(decision.rule, decision.target.key, at=decision.decided_at)


async def guard_chain(
    settings: Settings,
    *,
    journal: Journal,
    actions: ActionRouter,
    prometheus: PrometheusClient | None,
    health: HealthChecker,
    escalator: Escalator,
    desk: IncidentDesk,
    book: RuleBook,
    mode: Mode,
    metrics: Metrics,
    clock: Clock,
) -> GuardChain:
    """The guard chain, its state rebuilt from the last day of the journal."""
    g = settings.guards
    since = clock.now() - timedelta(days=1)
    recent = await journal.recent_acts(since)

    def breaker_opened(decision: Decision, reason: str) -> None:
        escalator.escalate(decision, book.get(decision.rule), reason=reason, execution_id=None)
        desk.escalate(decision, reason)

    inflight = InFlightGuard()
    cooldown = CooldownGuard(default_s=g.cooldown, clock=clock)
    cooldown.load(recent)
    dedup = DedupGuard(default_cooldown_s=g.cooldown, clock=clock)
    ratelimit = RateLimitGuard(settings=g, clock=clock)
    ratelimit.load(recent)
    breaker = CircuitBreaker(settings=g.circuit_breaker, clock=clock, metrics=metrics, on_open=breaker_opened)
    resets = breaker_resets(await journal.controls())  # a human's reset outlives a restart
    breaker.load(await journal.execution_outcomes(since), book.get, resets=resets)
    concurrency = ConcurrencyGuard(
        max_global=g.max_in_flight, max_per_namespace=g.max_in_flight_per_namespace
    )
    # Cheap, in-memory checks first; checks that ask Prometheus or the cluster only for what is left.
    chain: list[Guard] = [
        PausedGuard(mode=mode, clock=clock),
        NamespaceGuard(allowed=g.allowed_namespaces, denied=g.denied_namespaces),
        WatchGuard(watches=desk),  # a fix that did not hold is escalated, not repeated
        dedup,
        cooldown,  # before in_flight: a repeat of the same alert is a cooldown skip, however fast
        inflight,
        ratelimit,
        breaker,
        concurrency,
        FreshnessGuard(prometheus=prometheus, max_alert_age_s=g.max_alert_age, clock=clock, health=health),
        TargetGuard(kube=actions if actions.live else None),
        ApprovalGuard(),
    ]
    shared = SharedGuards(
        cooldown=cooldown,
        ratelimit=ratelimit,
        dedup=dedup,
        inflight=inflight,
        concurrency=concurrency,
        breaker=breaker,
        rules=book.get,
    )
    return GuardChain(
        chain=chain,
        inflight=inflight,
        cooldown=cooldown,
        breaker=breaker,
        concurrency=concurrency,
        shared=shared,
        book=book,
    )


def declare_rules(metrics: Metrics, breaker: CircuitBreaker, rules: RuleSet) -> None:
    """Every rule set put in force: its size and per-rule series; open breakers stay open."""
    metrics.rules_loaded.set(len(rules))
    for gone in metrics.declared_rules() - {rule.name for rule in rules}:
        metrics.forget_rule(gone)  # a removed rule's series go: /metrics stays the size of the rules
    for rule in rules:
        metrics.declare_rule(rule.name, tuple(a.kind for a in rule.actions))
    breaker.refresh_metrics()  # declare_rule zeroes the breaker gauge
