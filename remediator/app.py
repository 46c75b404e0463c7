"""The Application: owns every resource and wires the pipeline.

receive -> journal -> normalize -> match -> guard -> act -> record. Resources are
opened in one AsyncExitStack and closed in reverse order; long-lived loops run
in one TaskGroup. Nothing else in the daemon holds mutable global state.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import aiohttp.abc
from prometheus_client import CollectorRegistry

from remediator.actions.dispatch import ActionRouter
from remediator.actions.http import HttpActions
from remediator.actions.kube import KubeActions, open_kube
from remediator.actions.retry import RetryPolicy
from remediator.actions.runner import ActionRunner
from remediator.api import ApiState
from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.config import Settings
from remediator.engine import Decider, Guard, Processor
from remediator.engine.mode import Mode
from remediator.engine.processor import Normalizer
from remediator.engine.recovery import recover_interrupted
from remediator.engine.resolutions import ResolutionBoard
from remediator.escalate.escalation import Escalator
from remediator.escalate.incident import IncidentComms
from remediator.escalate.notify import Notifier, resolve_channels
from remediator.escalate.pagerduty import PagerDutyEvents
from remediator.escalate.silence import AlertmanagerSilences
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
from remediator.guards.target import TargetGuard
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, Decision, ExecutionStatus, PayloadId
from remediator.outbound import HealthChecker, OutboundHttp
from remediator.override.operator import Operator
from remediator.receivers import alertmanager, pagerduty
from remediator.rules import Rule, RuleSet, load_rules
from remediator.store import ExecutionUpdate, Journal
from remediator.store.sqlite import SqliteJournal
from remediator.verify.verifier import Verifier

log = get_logger("remediator")


def _normalize_alertmanager(body: bytes, payload_id: PayloadId) -> list[Alert]:
    return alertmanager.normalize_journaled(body, payload_id=payload_id)


def _normalize_pagerduty(body: bytes, payload_id: PayloadId) -> list[Alert]:
    return pagerduty.normalize(pagerduty.validate(body), payload_id=payload_id)


NORMALIZERS: dict[str, Normalizer] = {
    "alertmanager": _normalize_alertmanager,
    "pagerduty": _normalize_pagerduty,
}


@dataclass(kw_only=True)
class Application:
    settings: Settings
    clock: Clock
    metrics: Metrics
    journal: Journal
    kube: KubeActions | None
    mode: Mode
    rules: RuleSet
    decider: Decider
    processor: Processor
    runner: ActionRunner
    inflight: InFlightGuard
    cooldown: CooldownGuard
    breaker: CircuitBreaker
    escalator: Escalator
    comms: IncidentComms
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    webhook_token: str | None = None
    pagerduty_secrets: tuple[str, ...] = ()
    operator: Operator | None = None
    """The override API's operations; built once the Application exists (it reads `rules` from it)."""

    def api_state(self) -> ApiState:
        return ApiState(
            settings=self.settings,
            journal=self.journal,
            metrics=self.metrics,
            processor=self.processor,
            mode=self.mode,
            clock=self.clock,
            rules=lambda: self.rules,
            webhook_token=self.webhook_token,
            api_tokens=self.tokens,
            pagerduty_secrets=self.pagerduty_secrets,
            kube_ready=lambda: self.kube is not None,
            before_scrape=self.refresh_gauges,
            operator=self.operator,
        )

    def refresh_gauges(self) -> None:
        """Gauges that move with time: breakers turning half-open, pauses expiring."""
        self.breaker.refresh_metrics()
        if self.operator is not None:
            self.operator.refresh_metrics()

    async def drained(self, timeout_s: float = 10.0) -> None:
        """Every accepted payload decided and every execution finished (tests, shutdown)."""
        async with asyncio.timeout(timeout_s):
            while True:
                await self.processor.drained(timeout_s)
                await self.runner.idle()
                await self.escalator.idle()
                await self.comms.idle()
                if self.operator is not None:
                    await self.operator.idle()
                if self.journal.backlog() == 0 and self.runner.running() == 0:
                    return


def _resolve_tokens(settings: Settings) -> tuple[str | None, dict[str, tuple[str, str]]]:
    webhook = settings.auth.webhook_token.resolve() if settings.auth.webhook_token else None
    tokens: dict[str, tuple[str, str]] = {}
    for t in settings.auth.api_tokens:
        value = t.resolve()
        if value is not None:
            tokens[value] = (t.name, t.scope)
    return webhook, tokens


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    clock: Clock = SYSTEM_CLOCK,
    registry: CollectorRegistry | None = None,
    process: bool = True,
    outbound_resolver: aiohttp.abc.AbstractResolver | None = None,
) -> AsyncIterator[Application]:
    """Open every resource and start processing. `process=False` only accepts into the journal
    (intake-only: what a crash between the 2xx and the processing leaves behind).
    `outbound_resolver` resolves the hosts of `http_request` actions and `http` checks (rule tests
    point every host at their local stub service)."""
    rules = load_rules(list(settings.rules))
    for warning in rules.warnings:
        log.warning("rule warning", warning=str(warning))
    metrics = Metrics(registry)
    webhook_token, tokens = _resolve_tokens(settings)
    pd_secrets = tuple(v for ref in settings.pagerduty.webhook_secrets if (v := ref.resolve()))
    g = settings.guards
    async with contextlib.AsyncExitStack() as stack:
        j = settings.journal
        journal = await stack.enter_async_context(
            SqliteJournal.open(
                Path(j.path),
                synchronous=j.synchronous,
                max_pending=j.max_pending_writes,
                max_backlog=j.max_backlog_payloads,
                clock=clock,
                approval_expiry_s=g.approval_expiry,
            )
        )
        kube = await stack.enter_async_context(open_kube(settings.kubernetes, clock=clock))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        # A session of its own for the services remediator acts on: no cookies kept between calls,
        # no proxy from the environment, its own connection limit.
        outbound_session = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=outbound_resolver, limit=20),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        )
        h = settings.http_actions
        outbound = OutboundHttp(
            session=outbound_session,
            allowed_hosts=h.allowed_hosts,
            max_redirects=h.max_redirects,
            max_body_bytes=h.max_response_bytes,
        )
        health = HealthChecker(http=outbound)
        actions = ActionRouter(kube=kube, families=(HttpActions(client=outbound),), now=clock.now)
        mode = Mode(dry_run=g.dry_run)
        if kube is None:
            mode.no_cluster = (
                "kubernetes.mode is none"
                if settings.kubernetes.mode == "none"
                else "no cluster reachable at start-up"
            )
            log.warning("kubernetes unavailable: every action runs as dry-run", reason=mode.no_cluster)
        retry = RetryPolicy(
            attempts=g.retry.attempts,
            backoff_min_s=g.retry.backoff_min,
            backoff_max_s=g.retry.backoff_max,
            deadline_s=g.retry.deadline,
        )
        app_ref: list[Application] = []

        def rule_named(name: str) -> Rule | None:
            return app_ref[0].rules.get(name) if app_ref else rules.get(name)

        routing_key = settings.pagerduty.routing_key.resolve() if settings.pagerduty.routing_key else None
        pagerduty = (
            PagerDutyEvents(
                session=session,
                routing_key=routing_key,
                url=settings.pagerduty.events_url,
                clock=clock,
                retry=retry,
            )
            if routing_key
            else None
        )
        channels = resolve_channels(settings.notify)
        notifier = (
            Notifier(
                session=session,
                channels=channels,
                templates_dir=settings.notify.templates_dir,
                clock=clock,
                retry=retry,
            )
            if channels
            else None
        )
        escalator = Escalator(
            journal=journal,
            metrics=metrics,
            clock=clock,
            session=session,
            pagerduty=pagerduty,
            notifier=notifier,
            retry=retry,
            public_url=settings.http.public_url,
        )
        stack.push_async_callback(escalator.aclose)
        silences = (
            AlertmanagerSilences(
                session=session, base_url=settings.alertmanager.url, clock=clock, retry=retry
            )
            if settings.alertmanager.url
            else None
        )
        comms = IncidentComms(
            silences=silences,
            notifier=notifier,
            journal=journal,
            metrics=metrics,
            clock=clock,
            public_url=settings.http.public_url,
        )
        stack.push_async_callback(comms.aclose)
        prometheus = (
            PrometheusClient(
                session=session, base_url=settings.prometheus.url, timeout_s=settings.prometheus.timeout
            )
            if settings.prometheus.url
            else None
        )
        resolutions = ResolutionBoard()
        since = clock.now() - timedelta(days=1)
        recent = await journal.recent_acts(since)

        def breaker_opened(decision: Decision, reason: str) -> None:
            escalator.escalate(decision, rule_named(decision.rule), reason=reason, execution_id=None)

        inflight = InFlightGuard()
        cooldown = CooldownGuard(default_s=g.cooldown, clock=clock)
        cooldown.load(recent)
        dedup = DedupGuard(default_cooldown_s=g.cooldown, clock=clock)
        ratelimit = RateLimitGuard(settings=g, clock=clock)
        ratelimit.load(recent)
        breaker = CircuitBreaker(
            settings=g.circuit_breaker, clock=clock, metrics=metrics, on_open=breaker_opened
        )
        breaker.load(await journal.execution_outcomes(since), rule_named)
        concurrency = ConcurrencyGuard(
            max_global=g.max_in_flight, max_per_namespace=g.max_in_flight_per_namespace
        )
        # Cheap, in-memory checks first; checks that ask Prometheus or the cluster only for what is left.
        guards: list[Guard] = [
            PausedGuard(mode=mode, clock=clock),
            NamespaceGuard(allowed=g.allowed_namespaces, denied=g.denied_namespaces),
            dedup,
            cooldown,  # before in_flight: a repeat of the same alert is a cooldown skip, however fast
            inflight,
            ratelimit,
            breaker,
            concurrency,
            FreshnessGuard(
                prometheus=prometheus, max_alert_age_s=g.max_alert_age, clock=clock, health=health
            ),
            TargetGuard(kube=actions if kube is not None else None),
            ApprovalGuard(),
        ]

        def finished(decision: Decision, update: ExecutionUpdate) -> None:
            inflight.release(decision)
            concurrency.release(decision)
            if update.status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED):
                breaker.result(
                    decision,
                    ok=update.status is ExecutionStatus.SUCCEEDED,
                    rule=rule_named(decision.rule),
                    error=update.error or "",
                )

        def manual_finished(decision: Decision, update: ExecutionUpdate) -> None:
            if app_ref and app_ref[0].operator is not None:
                app_ref[0].operator.execution_finished(decision, update)

        async def close_operator() -> None:
            if app_ref and app_ref[0].operator is not None:
                await app_ref[0].operator.aclose()

        # Closed after the runner (callbacks run in reverse): executions ending then still close their
        # manual incidents.
        stack.push_async_callback(close_operator)
        runner = ActionRunner(
            journal=journal,
            actions=actions,
            metrics=metrics,
            clock=clock,
            retry=retry,
            rules=rule_named,
            verifier=Verifier(
                kube=kube,
                resolutions=resolutions,
                clock=clock,
                poll_s=g.verify_poll_interval,
                health=health,
                prometheus=prometheus,
            ),
            escalator=escalator,
            comms=comms,
            max_pods_per_delete=g.max_pods_per_delete,
            on_finished=[finished, manual_finished],
        )
        stack.push_async_callback(runner.aclose)
        decider = Decider(rules=lambda: app_ref[0].rules, guards=guards, mode=mode, clock=clock)

        def resolved(alert: Alert) -> None:
            """An alert resolved: close its escalation and tell its channel."""
            escalator.resolved(alert)
            comms.resolved(alert)

        processor = Processor(
            journal=journal,
            decider=decider,
            executor=runner,
            metrics=metrics,
            normalizers=NORMALIZERS,
            batch_size=j.batch_size,
            resolutions=resolutions,
            on_resolved=resolved,
        )
        app = Application(
            settings=settings,
            clock=clock,
            metrics=metrics,
            journal=journal,
            kube=kube,
            mode=mode,
            rules=rules,
            decider=decider,
            processor=processor,
            runner=runner,
            inflight=inflight,
            cooldown=cooldown,
            breaker=breaker,
            escalator=escalator,
            comms=comms,
            tokens=tokens,
            webhook_token=webhook_token,
            pagerduty_secrets=pd_secrets,
        )
        app_ref.append(app)

        def set_rules(new: RuleSet) -> None:
            app.rules = new  # the atomic switch: the decider and the runner read it per use

        app.operator = Operator(
            journal=journal,
            decider=decider,
            runner=runner,
            mode=mode,
            metrics=metrics,
            breaker=breaker,
            clock=clock,
            get_rules=lambda: app.rules,
            set_rules=set_rules,
            rule_paths=settings.rules,
        )
        metrics.rules_loaded.set(len(rules))
        metrics.dry_run.set(1 if mode.dry_run or mode.no_cluster else 0)
        for rule in rules:
            metrics.declare_rule(rule.name, tuple(a.kind for a in rule.actions))
        breaker.refresh_metrics()
        await recover_interrupted(
            journal=journal, decider=decider, rules=rules, executor=runner, metrics=metrics
        )
        # Everything loaded so far lives as long as the daemon: keep the collector from scanning it
        # again and again (a full pass over the client libraries' objects costs tens of ms).
        gc.collect()
        gc.freeze()
        tg = await stack.enter_async_context(asyncio.TaskGroup())
        if process:
            task = tg.create_task(processor.run(), name="processor")
            stack.callback(task.cancel)
        log.info(
            "remediator started",
            rules=len(rules),
            journal=str(j.path),
            backlog=journal.backlog(),
            kubernetes="connected" if kube else "dry-run",
            dry_run=mode.dry_run,
        )
        yield app
