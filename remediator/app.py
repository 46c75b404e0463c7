"""The Application: owns every resource and wires the pipeline.

receive -> journal -> normalize -> match -> guard -> act -> record. Resources are
opened in one AsyncExitStack and closed in reverse order; long-lived loops run
in one TaskGroup. Nothing else in the daemon holds mutable global state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

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
from remediator.guards.cooldown import CooldownGuard
from remediator.guards.inflight import InFlightGuard
from remediator.guards.namespaces import NamespaceGuard
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, PayloadId
from remediator.receivers import alertmanager
from remediator.rules import RuleSet, load_rules
from remediator.store.sqlite import SqliteJournal

log = get_logger("remediator")


def _normalize_alertmanager(body: bytes, payload_id: PayloadId) -> list[Alert]:
    return alertmanager.normalize(alertmanager.validate(body), payload_id=payload_id)


NORMALIZERS: dict[str, Normalizer] = {"alertmanager": _normalize_alertmanager}


@dataclass(kw_only=True)
class Application:
    settings: Settings
    clock: Clock
    metrics: Metrics
    journal: SqliteJournal
    kube: KubeActions | None
    mode: Mode
    rules: RuleSet
    decider: Decider
    processor: Processor
    runner: ActionRunner
    inflight: InFlightGuard
    cooldown: CooldownGuard
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    webhook_token: str | None = None

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
            kube_ready=lambda: self.kube is not None,
        )

    async def drained(self, timeout_s: float = 10.0) -> None:
        """Every accepted payload decided and every execution finished (tests, shutdown)."""
        async with asyncio.timeout(timeout_s):
            while True:
                await self.processor.drained(timeout_s)
                await self.runner.idle()
                if self.journal.backlog() == 0:
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
) -> AsyncIterator[Application]:
    """Open every resource and start processing. `process=False` only accepts into the journal
    (intake-only: what a crash between the 2xx and the processing leaves behind)."""
    rules = load_rules(list(settings.rules))
    metrics = Metrics(registry)
    webhook_token, tokens = _resolve_tokens(settings)
    async with contextlib.AsyncExitStack() as stack:
        j = settings.journal
        journal = await stack.enter_async_context(
            SqliteJournal.open(
                Path(j.path),
                synchronous=j.synchronous,
                max_pending=j.max_pending_writes,
                max_backlog=j.max_backlog_payloads,
                clock=clock,
            )
        )
        kube = await stack.enter_async_context(open_kube(settings.kubernetes, clock=clock))
        mode = Mode(dry_run=settings.guards.dry_run)
        if kube is None:
            mode.no_cluster = (
                "kubernetes.mode is none"
                if settings.kubernetes.mode == "none"
                else "no cluster reachable at start-up"
            )
            log.warning("kubernetes unavailable: every action runs as dry-run", reason=mode.no_cluster)
        inflight = InFlightGuard()
        cooldown = CooldownGuard(default_s=settings.guards.cooldown, clock=clock)
        cooldown.load(await journal.recent_acts(clock.now() - timedelta(days=1)))
        guards: list[Guard] = [
            NamespaceGuard(
                allowed=settings.guards.allowed_namespaces, denied=settings.guards.denied_namespaces
            ),
            cooldown,  # before in_flight: a repeat of the same alert is a cooldown skip, however fast
            inflight,
        ]
        runner = ActionRunner(
            journal=journal,
            kube=kube,
            metrics=metrics,
            clock=clock,
            retry=RetryPolicy(),
            on_finished=[inflight.release],
        )
        stack.push_async_callback(runner.aclose)
        app_ref: list[Application] = []
        decider = Decider(rules=lambda: app_ref[0].rules, guards=guards, mode=mode, clock=clock)
        processor = Processor(
            journal=journal,
            decider=decider,
            executor=runner,
            metrics=metrics,
            normalizers=NORMALIZERS,
            batch_size=j.batch_size,
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
            tokens=tokens,
            webhook_token=webhook_token,
        )
        app_ref.append(app)
        metrics.rules_loaded.set(len(rules))
        metrics.dry_run.set(1 if mode.dry_run or mode.no_cluster else 0)
        for rule in rules:
            metrics.declare_rule(rule.name, tuple(a.kind for a in rule.actions))
        await recover_interrupted(
            journal=journal, decider=decider, rules=rules, executor=runner, metrics=metrics
        )
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
