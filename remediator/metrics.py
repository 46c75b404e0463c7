"""remediator's own Prometheus metrics, on an injected registry.

The names are a contract: the shipped Grafana dashboard and alert rules use them.
Labels are closed sets (source, status, outcome, action, route, rule names from
the rule files); never an alert fingerprint or a pod name. Every label set known in
advance starts at 0 (sources x statuses, routes x codes, and per rule its action x every
outcome and execution status), so a dashboard shows 0 rather than "no data"; and no
`_created` series (prometheus-client's default doubles every counter with one).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from remediator import __version__
from remediator.model import ACTION_KINDS, ExecutionStatus, Outcome

ACTION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
REMEDIATE_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
WEBHOOK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
WEBHOOK_ROUTES = ("alertmanager", "pagerduty")
# What the webhooks answer: accepted, bad payload, bad credentials, too large, overloaded.
WEBHOOK_CODES = ("202", "400", "401", "413", "503")
# How an execution ends (pending and running are not ends).
EXECUTION_ENDS = tuple(
    s for s in ExecutionStatus if s not in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)
)


class IntakeMetrics:
    """The families of whoever answers the webhooks: the daemon itself, or its intake process when one
    serves them (`Metrics(webhooks=False)` in the main process then). Each family is declared by exactly
    one process, so the front's /metrics (the main's exposition followed by the intake's) has every
    family once, as Prometheus requires."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.alerts_received = Counter(
            "remediator_alerts_received_total",
            "Alerts received, by source and status.",
            ["source", "status"],
            registry=r,
        )
        self.webhook_duration = Histogram(
            "remediator_webhook_request_duration_seconds",
            "Webhook handling time, journal write included.",
            ["route"],
            buckets=WEBHOOK_BUCKETS,
            registry=r,
        )
        self.webhook_requests = Counter(
            "remediator_webhook_requests_total",
            "Webhook requests by route and HTTP status code.",
            ["route", "code"],
            registry=r,
        )
        self.journal_errors = Counter(
            "remediator_journal_errors_total",
            "Journal writes that failed (the webhook answered 503).",
            registry=r,
        )
        self.last_alert = Gauge(
            "remediator_last_alert_received_timestamp_seconds",
            "When the last alert was received (Unix time).",
            registry=r,
        )
        for source in ("alertmanager", "pagerduty"):
            for status in ("firing", "resolved"):
                self.alerts_received.labels(source=source, status=status)
        for route in WEBHOOK_ROUTES:
            self.webhook_duration.labels(route=route)
            for code in WEBHOOK_CODES:
                self.webhook_requests.labels(route=route, code=code)


class Metrics:
    """Every family of the daemon. `webhooks=False`: an intake process of its own answers the webhooks
    and exposes their families (`IntakeMetrics`); this process's `intake` then counts into a registry
    nobody scrapes (nothing here should touch it), so the families are not exposed twice."""

    def __init__(self, registry: CollectorRegistry | None = None, *, webhooks: bool = True) -> None:
        # A process-wide switch in prometheus-client; every registry remediator makes wants it off.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.intake = IntakeMetrics(r if webhooks else CollectorRegistry())
        self.rule_matches = Counter(
            "remediator_rule_matches_total", "Alerts matched, by rule.", ["rule"], registry=r
        )
        self.decisions = Counter(
            "remediator_decisions_total",
            "Decisions, by rule, action and outcome (act, dry_run or a skip reason).",
            ["rule", "action", "outcome"],
            registry=r,
        )
        self.executions = Counter(
            "remediator_executions_total",
            "Action executions finished, by action and status.",
            ["action", "status"],
            registry=r,
        )
        self.execution_ends_unjournaled = Counter(
            "remediator_execution_ends_unjournaled_total",
            "Executions that ended after another replica took them over: their end is not journaled.",
            ["action", "status"],
            registry=r,
        )
        self.action_duration = Histogram(
            "remediator_action_duration_seconds",
            "Time to execute an action, retries included.",
            ["action"],
            buckets=ACTION_BUCKETS,
            registry=r,
        )
        self.time_to_remediate = Histogram(
            "remediator_time_to_remediate_seconds",
            "From the alert's start to a verified remediation.",
            buckets=REMEDIATE_BUCKETS,
            registry=r,
        )
        self.breaker_state = Gauge(
            "remediator_circuit_breaker_state",
            "Circuit breakers per rule: 0 closed, 1 half-open, 2 open.",
            ["rule"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "remediator_queue_depth",
            "Accepted payloads waiting to be processed (the journal backlog).",
            registry=r,
        )
        self.rules_loaded = Gauge("remediator_rules_loaded", "Rules in the active rule set.", registry=r)
        self.config_reloads = Counter(
            "remediator_config_reload_total", "Rule and config reloads, by result.", ["result"], registry=r
        )
        self.escalations = Counter(
            "remediator_escalations_total",
            "Escalations to humans, by destination and result.",
            ["to", "result"],
            registry=r,
        )
        self.paused = Gauge("remediator_paused", "1 while automation is paused globally.", registry=r)
        self.dry_run = Gauge("remediator_dry_run", "1 while every action runs as dry-run.", registry=r)
        self.build_info = Gauge("remediator_build_info", "Build information.", ["version"], registry=r)
        self.acknowledgement_saves = Counter(
            "remediator_pagerduty_acknowledgement_saves_total",
            "Saves of PagerDuty acknowledgements of remediator's own pages, by result: saved, failed "
            "(tried again), gave_up (replayed at the next start).",
            ["result"],
            registry=r,
        )
        for result in ("saved", "failed", "gave_up"):
            self.acknowledgement_saves.labels(result=result)
        self.timers = Counter(
            "remediator_timers_total",
            "Scheduled work run (escalation steps, updates, watches, approvals, deferred retries), by kind "
            "and result (fired, retry, failed, lost: cancelled or moved while it ran).",
            ["kind", "result"],
            registry=r,
        )
        self.deferred_waiting = Gauge(
            "remediator_deferred_decisions",
            "Decisions waiting for a slot (target busy, concurrency limit, storm brake) to be decided again.",
            registry=r,
        )
        self.deferrals = Counter(
            "remediator_deferrals_total",
            "Deferred decisions that stopped waiting, by result: redecided (acted or skipped), expired "
            "(older than max_alert_age), cancelled (the alert resolved), shed (the queue was full).",
            ["result"],
            registry=r,
        )
        for result in ("redecided", "expired", "cancelled", "shed"):
            self.deferrals.labels(result=result)
        self.incidents = Gauge(
            "remediator_incidents",
            "Incidents not yet resolved, by state: open, mitigated (an action worked, alerts still "
            "firing), watching (resolved after an action, watched for a re-fire).",
            ["state"],
            registry=r,
        )
        for state in ("open", "mitigated", "watching"):
            self.incidents.labels(state=state)
        self._forgotten: set[str] = set()
        self._declared: set[str] = set()
        self.build_info.labels(version=__version__).set(1)
        for result in ("success", "failure"):
            self.config_reloads.labels(result=result)
        for action in ACTION_KINDS:
            self.action_duration.labels(action=action)

    def declare_timer_kind(self, kind: str) -> None:
        for result in ("fired", "retry", "failed", "lost"):
            self.timers.labels(kind=kind, result=result)

    def declare_rule(self, rule: str, actions: tuple[str, ...]) -> None:
        """Pre-create a rule's series so dashboards show zeros, not gaps, before the first alert.

        `action` is labelled as the engine labels it: the rule's action kinds joined by '+'."""
        self._forgotten.discard(rule)
        self._declared.add(rule)
        action = "+".join(actions)
        self.rule_matches.labels(rule=rule)
        self.breaker_state.labels(rule=rule).set(0)
        for outcome in Outcome:
            self.decisions.labels(rule=rule, action=action, outcome=outcome.value)
        for status in EXECUTION_ENDS:
            self.executions.labels(action=action, status=status.value)
        self.action_duration.labels(action=action)

    def declared_rules(self) -> set[str]:
        return set(self._declared)

    def forget_rule(self, rule: str) -> None:
        """Drop every series of a rule a reload removed: /metrics stays the size of the rules in force."""
        self._forgotten.add(rule)
        self._declared.discard(rule)
        for family in (self.rule_matches, self.decisions, self.breaker_state):
            family.remove_by_labels({"rule": rule})

    def set_breaker_state(self, rule: str, value: int) -> None:
        """The breaker gauge of a rule still in force (a removed rule's breaker may linger in memory)."""
        if rule not in self._forgotten:
            self.breaker_state.labels(rule=rule).set(value)
