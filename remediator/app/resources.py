"""The Application's resources: tokens, rules, the journal, the cluster's mode, retries, the outside world.

Each builder opens or resolves one thing `open_app` needs, in the order it needs them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.abc

from remediator.actions.kube import KubeActions
from remediator.actions.retry import RetryPolicy
from remediator.api.auth import ApiCredential
from remediator.clock import Clock
from remediator.config import GuardSettings, Settings
from remediator.engine.mode import Mode
from remediator.escalate.notify import Notifier, resolve_channels
from remediator.escalate.pagerduty import PagerDutyEvents
from remediator.escalate.silence import AlertmanagerSilences
from remediator.guards.prometheus import PrometheusClient
from remediator.logs import get_logger
from remediator.outbound import OutboundHttp
from remediator.rules import RuleBook, load_rules
from remediator.secrets import Secret
from remediator.store import Journal
from remediator.store.sqlite import SqliteJournal

log = get_logger("remediator")


def resolve_tokens(settings: Settings) -> tuple[Secret | None, tuple[ApiCredential, ...], tuple[Secret, ...]]:
    """The webhook token, the API tokens and the PagerDuty signing secrets, as `Secret`s (never logged).
    A secret too short to be masked in log lines is warned about, by name."""
    webhook = settings.auth.webhook_token.resolve() if settings.auth.webhook_token else None
    tokens: list[ApiCredential] = []
    for t in settings.auth.api_tokens:
        value = t.resolve()
        if value is not None:
            tokens.append(ApiCredential(secret=value, name=t.name, scope=t.scope))
    if not tokens:
        log.warning(
            "no API token configured: the override API (/api/v1/) and remediator ctl answer 401",
            set_one_of=", ".join(f"{t.describe()} ({t.scope})" for t in settings.auth.api_tokens)
            or "auth.api_tokens in the config",
        )
    signing = tuple(v for ref in settings.pagerduty.webhook_secrets if (v := ref.resolve()))
    named: list[tuple[str, Secret | None]] = [("auth.webhook_token", webhook)]
    named += [("pagerduty.webhook_secrets", s) for s in signing]
    named += [(f"auth.api_tokens ({t.name})", t.secret) for t in tokens]
    for what, secret in named:
        if secret is not None and secret.weak:
            log.warning(
                "weak secret: shorter than 8 characters, so not masked in logs; use a long one", secret=what
            )
    return webhook, tuple(tokens), signing


def load_rule_book(settings: Settings) -> RuleBook:
    rules = load_rules(list(settings.rules))
    for warning in rules.warnings:
        log.warning("rule warning", warning=str(warning))
    return RuleBook(rules)


def open_journal(settings: Settings, *, clock: Clock) -> contextlib.AbstractAsyncContextManager[Journal]:
    """The shared PostgreSQL journal when `journal.url` is set (several replicas), else SQLite."""
    j, g = settings.journal, settings.guards
    if j.url is not None:
        # Imported here: a single SQLite replica does not pay for loading the PostgreSQL driver.
        from remediator.store.postgres import PostgresJournal

        return PostgresJournal.open(
            j.url,
            password=_revealed(j.password.resolve() if j.password is not None else None),
            lease_s=j.lease,
            pool_size=j.pool_size,
            max_pending=j.max_pending_writes,
            max_backlog=j.max_backlog_payloads,
            clock=clock,
            approval_expiry_s=g.approval_expiry,
        )
    return SqliteJournal.open(
        Path(j.path),
        synchronous=j.synchronous,
        max_pending=j.max_pending_writes,
        max_backlog=j.max_backlog_payloads,
        clock=clock,
        approval_expiry_s=g.approval_expiry,
        approval_remind_before_s=settings.incidents.approval_reminder,
        max_deferred=settings.deferral.max_waiting,
    )


def _revealed(secret: Secret | None) -> str | None:
    return secret.reveal() if secret is not None else None


def initial_mode(settings: Settings, kube: KubeActions | None) -> Mode:
    """Dry-run as configured; every action a dry-run when there is no cluster to act on."""
    mode = Mode(dry_run=settings.guards.dry_run)
    if kube is None:
        mode.no_cluster = (
            "kubernetes.mode is none"
            if settings.kubernetes.mode == "none"
            else "no cluster reachable at start-up"
        )
        log.warning("kubernetes unavailable: every action runs as dry-run", reason=mode.no_cluster)
    return mode


def actions_statement(*, kube_connected: bool, mode: Mode) -> str:
    """One sentence on whether actions change the cluster, instead of two flags to reconcile."""
    if not kube_connected:
        return f"dry-run: {mode.no_cluster}, so actions are planned and recorded, never applied"
    if mode.dry_run:
        return "dry-run: guards.dry_run is on, so actions are planned and recorded, never applied"
    return "live: actions change the cluster (rules or the override API can still put them in dry-run)"


def retry_policy(g: GuardSettings) -> RetryPolicy:
    return RetryPolicy(
        attempts=g.retry.attempts,
        backoff_min_s=g.retry.backoff_min,
        backoff_max_s=g.retry.backoff_max,
        deadline_s=g.retry.deadline,
    )


@contextlib.asynccontextmanager
async def open_outbound(
    settings: Settings, *, resolver: aiohttp.abc.AbstractResolver | None
) -> AsyncIterator[OutboundHttp]:
    """The HTTP client for the services remediator acts on and checks (`http_request`, `http` checks):
    a session of its own, with no cookies kept between calls, no proxy from the environment and its
    own connection limit."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=resolver, limit=20), cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        h = settings.http_actions
        yield OutboundHttp(
            session=session,
            allowed_hosts=h.allowed_hosts,
            max_redirects=h.max_redirects,
            max_body_bytes=h.max_response_bytes,
        )


@dataclass(frozen=True, kw_only=True)
class Outside:
    """The services remediator talks to besides the cluster; None where not configured."""

    pagerduty: PagerDutyEvents | None
    pagers: dict[str, PagerDutyEvents]
    """PagerDuty services by name, for escalation ladders (`default` is `pagerduty`)."""
    notifier: Notifier | None
    silences: AlertmanagerSilences | None
    prometheus: PrometheusClient | None


def outside_services(
    settings: Settings, *, session: aiohttp.ClientSession, clock: Clock, retry: RetryPolicy
) -> Outside:
    routing_key = settings.pagerduty.routing_key.resolve() if settings.pagerduty.routing_key else None
    channels = resolve_channels(settings.notify)

    def pager(key: Any) -> PagerDutyEvents:
        return PagerDutyEvents(
            session=session, routing_key=key, url=settings.pagerduty.events_url, clock=clock, retry=retry
        )

    default = pager(routing_key) if routing_key else None
    pagers = {"default": default} if default is not None else {}
    for name, ref in settings.pagerduty.routing_keys.items():
        if (key := ref.resolve()) is not None:
            pagers[name] = pager(key)
    return Outside(
        pagerduty=default,
        pagers=pagers,
        notifier=Notifier(
            session=session,
            channels=channels,
            templates_dir=settings.notify.templates_dir,
            clock=clock,
            retry=retry,
        )
        if channels
        else None,
        silences=AlertmanagerSilences(
            session=session, base_url=settings.alertmanager.url, clock=clock, retry=retry
        )
        if settings.alertmanager.url
        else None,
        prometheus=PrometheusClient(
            session=session, base_url=settings.prometheus.url, timeout_s=settings.prometheus.timeout
        )
        if settings.prometheus.url
        else None,
    )
