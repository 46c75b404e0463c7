"""The Application: owns every resource and wires the pipeline.

receive -> journal -> normalize -> match -> guard -> act -> verify -> escalate, plus override.
`open_app` reads top to bottom in the pipeline's order: resources, the outside world, the
escalate stage, the guard chain, act and verify, decide and hand over, override, start. Resources
are opened in one AsyncExitStack and closed in reverse order; long-lived loops run in one
TaskGroup. The rule set in force lives in one `RuleBook`; nothing else in the daemon holds mutable
global state. This package is the only place that names the journal's implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiohttp
import aiohttp.abc
from prometheus_client import CollectorRegistry

from remediator.actions.dispatch import ActionRouter
from remediator.actions.evidence import EvidenceRecorder
from remediator.actions.http import HttpActions
from remediator.actions.kube import KubeActions, open_kube
from remediator.actions.runner import ActionRunner
from remediator.api import ApiState
from remediator.api.auth import ApiCredential
from remediator.app.acknowledgements import replay_acknowledgements
from remediator.app.guard_chain import declare_rules, guard_chain
from remediator.app.resources import (
    actions_statement,
    initial_mode,
    load_rule_book,
    open_journal,
    open_outbound,
    outside_services,
    resolve_tokens,
    retry_policy,
)
from remediator.clock import SYSTEM_CLOCK, Clock
from remediator.config import Settings
from remediator.engine import Decider, Processor
from remediator.engine.deferrals import KIND as DEFERRALS
from remediator.engine.deferrals import DeferralQueue
from remediator.engine.handover import HandOver, Recorded
from remediator.engine.mode import Mode
from remediator.engine.processor import Normalizer
from remediator.engine.recovery import recover_interrupted, take_over_forever
from remediator.engine.resolutions import ResolutionBoard
from remediator.escalate import desk_timers
from remediator.escalate.desk import IncidentDesk
from remediator.escalate.escalation import Escalator
from remediator.escalate.incident import IncidentComms
from remediator.guards.breaker import CircuitBreaker
from remediator.guards.cooldown import CooldownGuard
from remediator.guards.inflight import InFlightGuard
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, Outcome, PayloadId
from remediator.outbound import HealthChecker
from remediator.override import Operator, approval_notices
from remediator.override.approval_notices import ApprovalNotices
from remediator.override.restore import restore_mode
from remediator.receivers import alertmanager, pagerduty
from remediator.rules import RuleBook
from remediator.schedule import Scheduler, worker_id
from remediator.secrets import Secret
from remediator.store import Journal
from remediator.verify import Verifier

log = get_logger("remediator")

GC_ALLOCATIONS = 10_000
"""Allocations between two young-generation collections (Python's default is 700)."""


def _normalize_alertmanager(body: bytes, payload_id: PayloadId) -> list[Alert]:
    return alertmanager.normalize_journaled(body, payload_id=payload_id)


def _normalize_pagerduty(body: bytes, payload_id: PayloadId) -> list[Alert]:
    return pagerduty.normalize(pagerduty.validate(body), payload_id=payload_id)


NORMALIZERS: dict[str, Normalizer] = {
    "alertmanager": _normalize_alertmanager,
    "pagerduty": _normalize_pagerduty,
}


def _normalizers(desk: IncidentDesk) -> dict[str, Normalizer]:
    """NORMALIZERS, with PagerDuty's acknowledgements of remediator's own pages handed to the desk (they
    stop the ladder): read from the journal like every payload, so one accepted before a crash counts."""

    def pagerduty_events(body: bytes, payload_id: PayloadId) -> list[Alert]:
        webhook = pagerduty.validate(body)
        if (taken := pagerduty.taken(webhook)) is not None:
            desk.taken_in_pagerduty(incident_key=taken.incident_key, status=taken.status, by=taken.by)
        return pagerduty.normalize(webhook, payload_id=payload_id)

    return {**NORMALIZERS, "pagerduty": pagerduty_events}


@dataclass(kw_only=True)
class Application:
    settings: Settings
    clock: Clock
    metrics: Metrics
    journal: Journal
    kube: KubeActions | None
    mode: Mode
    rules: RuleBook
    decider: Decider
    processor: Processor
    runner: ActionRunner
    inflight: InFlightGuard
    cooldown: CooldownGuard
    breaker: CircuitBreaker
    escalator: Escalator
    comms: IncidentComms
    scheduler: Scheduler
    deferrals: DeferralQueue
    desk: IncidentDesk
    operator: Operator
    """The override API's operations (pause, reload, trigger, approve...); SIGHUP reloads through it."""
    tokens: tuple[ApiCredential, ...] = ()
    webhook_token: Secret | None = None
    pagerduty_secrets: tuple[Secret, ...] = ()
    processing: bool = True
    """False when opened intake-only (`process=False`)."""

    def api_state(self) -> ApiState:
        return ApiState(
            settings=self.settings,
            journal=self.journal,
            metrics=self.metrics,
            processor=self.processor,
            mode=self.mode,
            clock=self.clock,
            rules=self.rules.current,
            webhook_token=self.webhook_token,
            api_tokens=self.tokens,
            sessions=self.journal,
            pagerduty_secrets=self.pagerduty_secrets,
            kube_ready=lambda: self.kube is not None,
            kube_ping=self.kube.ping if self.kube is not None else None,
            cluster_required=self.settings.kubernetes.mode in ("incluster", "kubeconfig"),
            processing=self.processing,
            before_scrape=self.refresh_gauges,
            operator=self.operator,
        )

    def refresh_gauges(self) -> None:
        """Gauges that move with time: breakers turning half-open, pauses expiring."""
        self.breaker.refresh_metrics()
        self.operator.refresh_metrics()
        self.metrics.deferred_waiting.set(self.journal.deferred_waiting())
        self.desk.refresh_metrics()

    async def drained(self, timeout_s: float = 10.0) -> None:
        """Every accepted payload decided and every execution finished (tests, shutdown)."""
        async with asyncio.timeout(timeout_s):
            while True:
                await self.processor.drained(timeout_s)
                await self.runner.idle()
                await self.escalator.idle()
                await self.comms.idle()
                await self.operator.idle()
                await self.deferrals.idle()
                await self.desk.idle()
                if self.journal.backlog() == 0 and self.runner.running() == 0:
                    return


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
    book = load_rule_book(settings)
    # An intake process of its own exposes the webhooks' families (`IntakeMetrics`): not declared twice.
    metrics = Metrics(registry, webhooks=not settings.intake.processes)
    webhook_token, tokens, pd_secrets = resolve_tokens(settings)
    g = settings.guards
    async with contextlib.AsyncExitStack() as stack:
        # Resources: the journal, the cluster, one HTTP session for everything else.
        journal = await stack.enter_async_context(open_journal(settings, clock=clock))
        kube = await stack.enter_async_context(open_kube(settings.kubernetes, clock=clock, own=journal))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        outbound = await stack.enter_async_context(open_outbound(settings, resolver=outbound_resolver))
        health = HealthChecker(http=outbound)
        actions = ActionRouter(kube=kube, families=(HttpActions(client=outbound),), now=clock.now)
        mode = initial_mode(settings, kube)
        for line in restore_mode(mode, await journal.controls(), now=clock.now()):
            log.warning("human decision restored from the journal", decision=line)
        retry = retry_policy(g)
        outside = outside_services(settings, session=session, clock=clock, retry=retry)

        # Escalate: pages, channel messages, silences.
        public_url = settings.http.public_url
        escalator = Escalator(
            journal=journal,
            metrics=metrics,
            clock=clock,
            session=session,
            pagerduty=outside.pagerduty,
            notifier=outside.notifier,
            retry=retry,
            public_url=public_url,
        )
        stack.push_async_callback(escalator.aclose)
        # Later: one journaled scheduler for everything time-based, and the incidents it moves on.
        scheduler = Scheduler(
            store=journal,
            clock=clock,
            metrics=metrics,
            worker=worker_id(),
            lease_s=settings.scheduler.lease,
            poll_s=settings.scheduler.poll_interval,
        )
        desk = IncidentDesk(
            journal=journal,
            settings=settings.incidents,
            rules=book.get,
            pagers=outside.pagers,
            notifier=outside.notifier,
            metrics=metrics,
            clock=clock,
            wake=scheduler.wake,
            public_url=public_url,
        )
        stack.push_async_callback(desk.aclose)
        if live := await desk.restore():
            log.info("incidents restored from the journal", live=live)
            if stopped := await replay_acknowledgements(journal, desk):
                log.warning("PagerDuty acknowledgements lost in a crash replayed", ladders_stopped=stopped)
        for kind, handler in (
            (desk_timers.STEP, desk.fire_step),
            (desk_timers.UPDATE, desk.send_update),
            (desk_timers.WATCH, desk.end_watch),
            (desk_timers.CLOSE, desk.close),
        ):
            scheduler.register(kind, handler)
        comms = IncidentComms(
            silences=outside.silences,
            notifier=outside.notifier,
            journal=journal,
            metrics=metrics,
            clock=clock,
            public_url=public_url,
        )
        stack.push_async_callback(comms.aclose)

        # Guard: the chain, from the journal's history.
        guards = await guard_chain(
            settings,
            journal=journal,
            actions=actions,
            prometheus=outside.prometheus,
            health=health,
            escalator=escalator,
            desk=desk,
            book=book,
            mode=mode,
            metrics=metrics,
            clock=clock,
        )

        # Act and verify: the executor.
        resolutions = ResolutionBoard()
        runner = ActionRunner(
            journal=journal,
            actions=actions,
            metrics=metrics,
            clock=clock,
            retry=retry,
            rules=book.get,
            verifier=Verifier(
                kube=kube,
                resolutions=resolutions,
                clock=clock,
                poll_s=g.verify_poll_interval,
                health=health,
                prometheus=outside.prometheus,
            ),
            escalator=escalator,
            comms=comms,
            max_pods_per_delete=g.max_pods_per_delete,
            on_finished=[guards.finished],
            resolutions=resolutions,
            poll_s=g.verify_poll_interval,
            evidence=EvidenceRecorder(source=kube, journal=journal) if kube is not None else None,
        )

        # Decide and hand over: alerts from the journal's backlog, decisions back into it.
        decider = Decider(
            rules=book.current, guards=guards.chain, mode=mode, clock=clock, defer=settings.deferral.enabled
        )
        hand_over = HandOver(
            journal=journal,
            executor=runner,
            metrics=metrics,
            reservations=decider.reservations,
            catch_up=guards.shared.catch_up,
            interrupted=guards.shared.interrupted,
        )

        # Later: deferred decisions, through the scheduler.
        deferrals = DeferralQueue(
            journal=journal,
            decider=decider,
            hand_over=hand_over,
            rules=book.get,
            resolutions=resolutions,
            schedule=scheduler.schedule,
            metrics=metrics,
            clock=clock,
            worker=scheduler.worker,
            retry_s=settings.deferral.retry_every,
            max_alert_age_s=g.max_alert_age,
            lease_s=settings.scheduler.lease,
        )
        stack.push_async_callback(deferrals.aclose)
        scheduler.register(DEFERRALS, deferrals.sweep)
        hand_over.on_recorded(deferrals.deferred)
        hand_over.on_recorded(desk.observe)

        def asks_a_human(recorded: Sequence[Recorded]) -> None:
            # The journal scheduled the approval's notice in the decision's own transaction: run it now.
            if any(r.decision.outcome is Outcome.NEEDS_APPROVAL for r in recorded):
                scheduler.wake()

        hand_over.on_recorded(asks_a_human)
        runner.on_finished(desk.execution_finished)
        runner.on_finished(deferrals.slot_freed)  # after the guards released the slot
        runner.on_finished(deferrals.try_later)  # after the guards let go of its cooldown

        def resolved(alert: Alert) -> None:
            """An alert resolved: close its escalation and tell its channel."""
            escalator.resolved(alert)
            comms.resolved(alert, told_elsewhere=lambda channel: desk.tells_resolution(alert, channel))
            deferrals.resolved(alert)

        processor = Processor(
            journal=journal,
            decider=decider,
            hand_over=hand_over,
            metrics=metrics,
            normalizers=_normalizers(desk),
            batch_size=settings.journal.batch_size,
            resolutions=resolutions,
            on_resolved=resolved,
        )

        # Override: what on-call can do, through the same decider and hand-over.
        operator = Operator(
            journal=journal,
            decider=decider,
            hand_over=hand_over,
            mode=mode,
            metrics=metrics,
            breaker=guards.breaker,
            clock=clock,
            rules=book,
            rule_paths=settings.rules,
            planner=runner.preview,
            incidents=desk,
        )
        notices = ApprovalNotices(
            operator=operator,
            notifier=outside.notifier,
            channel=settings.incidents.approvals_channel,
            metrics=metrics,
            clock=clock,
            public_url=public_url,
        )
        for kind, handler in (
            (approval_notices.NOTIFY, notices.notify),
            (approval_notices.REMIND, notices.remind),
            (approval_notices.EXPIRE, notices.expire),
        ):
            scheduler.register(kind, handler)
        runner.on_finished(operator.execution_finished)  # a manual trigger's incident closes with it

        async def stop_executing() -> None:
            """The executions first, then the manual incidents their ends are still closing."""
            await runner.aclose()
            await operator.aclose()

        stack.push_async_callback(stop_executing)

        # Start: metrics for the rules in force, then decide again what a crash interrupted.
        book.subscribe(lambda rules: declare_rules(metrics, guards.breaker, rules))
        book.publish()
        metrics.dry_run.set(1 if mode.dry_run or mode.no_cluster else 0)
        if open_escalations := await escalator.restore():
            log.info("open escalations restored from the journal", open=open_escalations)
        await recover_interrupted(journal=journal, decider=decider, rules=book.current(), hand_over=hand_over)
        await deferrals.wake()  # what waited before a restart is decided again now

        app = Application(
            settings=settings,
            clock=clock,
            metrics=metrics,
            journal=journal,
            kube=kube,
            mode=mode,
            rules=book,
            decider=decider,
            processor=processor,
            runner=runner,
            inflight=guards.inflight,
            cooldown=guards.cooldown,
            breaker=guards.breaker,
            escalator=escalator,
            comms=comms,
            scheduler=scheduler,
            deferrals=deferrals,
            desk=desk,
            operator=operator,
            tokens=tokens,
            webhook_token=webhook_token,
            pagerduty_secrets=pd_secrets,
            processing=process,
        )
        # Everything loaded so far lives as long as the daemon: keep the collector from scanning it
        # again and again (a full pass over the client libraries' objects costs tens of ms).
        gc.collect()
        gc.freeze()
        # A batch allocates tens of thousands of short-lived objects and frees them (no cycles): a
        # collection every 700 allocations kept re-scanning the batch in hand (13% of processing CPU).
        gc.set_threshold(GC_ALLOCATIONS, *gc.get_threshold()[1:])
        tg = await stack.enter_async_context(asyncio.TaskGroup())
        if process:
            task = tg.create_task(processor.run(), name="processor")
            stack.callback(task.cancel)
            timers = tg.create_task(scheduler.run(), name="scheduler")
            stack.callback(timers.cancel)
            if journal.takeover_every_s is not None:  # several replicas: a dead one's work is taken over
                takeover = tg.create_task(
                    take_over_forever(
                        journal=journal,
                        decider=decider,
                        rules=book.current,
                        hand_over=hand_over,
                        every_s=journal.takeover_every_s,
                    ),
                    name="takeover",
                )
                stack.callback(takeover.cancel)
        log.info(
            "remediator started",
            rules=len(book.current()),
            journal=settings.journal.describe(),
            backlog=journal.backlog(),
            actions=actions_statement(kube_connected=kube is not None, mode=mode),
        )
        yield app
