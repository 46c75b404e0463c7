"""What the HTTP handlers may reach, typed, behind one `web.AppKey`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import Gauge

from remediator.api.auth import ApiCredential
from remediator.clock import Clock
from remediator.config import Settings
from remediator.metrics import IntakeMetrics, Metrics
from remediator.secrets import Secret
from remediator.store import Intake
from remediator.store.console_sessions import ConsoleSessionStore

if TYPE_CHECKING:  # an intake process loads this module and the webhooks only, not the layers below
    from remediator.engine import Processor
    from remediator.engine.mode import Mode
    from remediator.override.operator import Operator
    from remediator.rules import RuleSet


@dataclass(frozen=True, kw_only=True)
class WebhookState:
    """What the webhook handlers reach: all an intake process has (no processor, no rules)."""

    settings: Settings
    journal: Intake
    metrics: IntakeMetrics
    clock: Clock
    webhook_token: Secret | None
    pagerduty_secrets: tuple[Secret, ...] = ()
    queue_depth: Gauge | None = None
    """The backlog gauge, set after each accept where the backlog is this process's (not in an
    intake process: the main process exposes the backlog)."""


@dataclass(frozen=True, kw_only=True)
class ApiState:
    settings: Settings
    journal: Intake
    """The webhooks' intake (accept, backlog); reads go through the operator's journal."""
    metrics: Metrics
    processor: Processor
    mode: Mode
    clock: Clock
    rules: Callable[[], RuleSet]
    webhook_token: Secret | None
    """Resolved once at start-up; a `Secret`, so never logged."""
    api_tokens: tuple[ApiCredential, ...]
    """The override API's tokens, each with the name the audit trail shows and its scope."""
    sessions: ConsoleSessionStore
    """Where console logins are kept (the journal), so a restart keeps people logged in."""
    pagerduty_secrets: tuple[Secret, ...] = ()
    """Resolved PagerDuty webhook signing secrets (several while rotating); never logged."""
    kube_ready: Callable[[], bool] = lambda: False
    kube_ping: Callable[[], Awaitable[bool]] | None = None
    """Whether the API server answers now (GET /version); None: no cluster client."""
    cluster_required: bool = False
    """kubernetes.mode names a cluster (incluster, kubeconfig): not reaching it is not ready."""
    processing: bool = True
    """This daemon processes what it accepts (False: intake-only, tests of a crash's aftermath)."""
    before_scrape: Callable[[], None] = lambda: None
    """Refresh gauges that move with time (breakers turning half-open)."""
    operator: Operator | None = None
    """The override API's operations (pause, reload, trigger, approve...); None: /api/v1 answers 503."""
    webhooks: bool = True
    """This process serves the webhooks (False: an intake process does, `intake.processes: 1`)."""
    intake: Callable[[], str] | None = None
    """The intake process's state for /readyz ("ok" or why not); None: there is none."""

    def webhook_state(self) -> WebhookState:
        return WebhookState(
            settings=self.settings,
            journal=self.journal,
            metrics=self.metrics.intake,
            clock=self.clock,
            webhook_token=self.webhook_token,
            pagerduty_secrets=self.pagerduty_secrets,
            queue_depth=self.metrics.queue_depth,
        )


STATE = web.AppKey("remediator_state", ApiState)
WEBHOOKS = web.AppKey("remediator_webhooks", WebhookState)
BODY_TIMEOUT = web.AppKey("remediator_body_timeout_s", float)
"""How long a request body may take to arrive (http.body_timeout), for every handler that reads one."""
