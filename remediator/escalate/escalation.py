"""Escalation: hand the incident to a human when automation cannot fix it.

Runs a rule's `on_failure` steps when an action fails or is not verified, and
when a circuit breaker opens. One incident per rule and target: while an
escalation is open, further failures are journaled as `deduplicated` instead of
paging again; when the alert resolves, PagerDuty gets a `resolve` with the same
dedup key. Every attempt is journaled and counted; nothing here blocks the
pipeline (each escalation runs in its own tracked task) or raises out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from remediator.actions.retry import RetryPolicy, attempts_of
from remediator.clock import Clock
from remediator.errors import RemediatorError
from remediator.escalate._http import send_json_with_retries
from remediator.escalate.notify import Notifier
from remediator.escalate.pagerduty import PagerDutyEvents, dedup_key_for, severity_for
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, Decision
from remediator.rules import Rule
from remediator.store import OversightJournal
from remediator.store.incidents import OpenEscalation
from remediator.tasks import TaskSet

log = get_logger("remediator.escalation")


@dataclass
class _Open:
    rule: str
    target: str
    fingerprint: str
    pagerduty: bool = False


class Escalator:
    def __init__(
        self,
        *,
        journal: OversightJournal,
        metrics: Metrics,
        clock: Clock,
        session: aiohttp.ClientSession | None,
        pagerduty: PagerDutyEvents | None,
        notifier: Notifier | None,
        retry: RetryPolicy,
        public_url: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._journal = journal
        self._metrics = metrics
        self._clock = clock
        self._session = session
        self._pd = pagerduty
        self._notifier = notifier
        self._retry = retry
        self._public_url = (public_url or "").rstrip("/")
        self._timeout_s = timeout_s
        self._open: dict[str, _Open] = {}
        self._tasks = TaskSet()

    async def idle(self) -> None:
        await self._tasks.idle()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        await self._tasks.aclose(timeout_s)

    def escalate(
        self, decision: Decision, rule: Rule | None, *, reason: str, execution_id: int | None
    ) -> None:
        if rule is None or decision.target is None or not rule.on_failure:
            return
        self._tasks.spawn(self._escalate(decision, rule, reason, execution_id), f"escalate-{rule.name}")

    async def restore(self) -> int:
        """At start-up: take back the escalations the journal says are open, and resolve at once those
        whose alert resolved while the daemon was down. Returns how many are open."""
        for e in await self._journal.open_escalations():
            open_ = _Open(rule=e.rule, target=e.target, fingerprint=e.fingerprint, pagerduty=e.pagerduty)
            if e.resolved:
                self._tasks.spawn(self._resolve(e.dedup_key, open_), f"resolve-{e.rule}")
            else:
                self._open[e.dedup_key] = open_
        return len(self._open)

    def resolved(self, alert: Alert) -> None:
        """The alert behind an open escalation resolved: close the incident."""
        for key, open_ in list(self._open.items()):
            if open_.fingerprint == alert.fingerprint:
                del self._open[key]
                self._tasks.spawn(self._resolve(key, open_), f"resolve-{open_.rule}")

    def _link(self, execution_id: int | None) -> str:
        if execution_id is None or not self._public_url:
            return ""
        return f"{self._public_url}/api/v1/executions/{execution_id}"

    async def _escalate(self, d: Decision, rule: Rule, reason: str, execution_id: int | None) -> None:
        assert d.target is not None
        target = d.target.key
        key = dedup_key_for(rule.name, target)
        actions = "+".join(a.kind for a in d.actions)
        summary = f"remediator could not fix {d.alert.name or 'alert'} on {target}: {actions} — {reason}"
        if key in self._open:
            await self._record(
                rule=rule.name,
                target=target,
                dest="all",
                kind="trigger",
                key=key,
                status="deduplicated",
                attempts=0,
                error=None,
                execution_id=execution_id,
                summary=summary,
            )
            return
        pages = any(
            s.kind == "escalate" and s.params.get("to", "pagerduty") == "pagerduty" for s in rule.on_failure
        )
        self._open[key] = _Open(
            rule=rule.name, target=target, fingerprint=d.alert.fingerprint, pagerduty=pages
        )
        # On record before the page goes out: a restart must still resolve it when the alert does.
        await self._journal.open_escalation(
            OpenEscalation(
                dedup_key=key,
                rule=rule.name,
                target=target,
                fingerprint=d.alert.fingerprint,
                pagerduty=pages,
                opened_at=self._clock.now(),
            )
        )
        link = self._link(execution_id)
        details = {
            "rule": rule.name,
            "target": target,
            "alert": dict(d.alert.labels),
            "tried": actions,
            "reason": reason,
            "decision": d.reason,
            "execution": link or execution_id,
        }
        for step in rule.on_failure:
            try:
                if step.kind == "escalate" and step.params.get("to", "pagerduty") == "pagerduty":
                    await self._pagerduty(
                        rule, d, key=key, summary=summary, details=details, execution_id=execution_id
                    )
                elif step.kind in ("escalate", "notify"):
                    channel = str(step.params.get("to") or step.params.get("channel") or "")
                    await self._notify(
                        rule,
                        d,
                        channel=channel,
                        key=key,
                        summary=summary,
                        reason=reason,
                        link=link,
                        execution_id=execution_id,
                    )
                elif step.kind == "webhook":
                    await self._webhook(
                        rule,
                        target,
                        url=str(step.params.get("url", "")),
                        key=key,
                        summary=summary,
                        details=details,
                        execution_id=execution_id,
                    )
            except Exception as e:  # an escalation bug must never take the pipeline with it
                log.exception("escalation step failed", rule=rule.name, step=step.kind)
                await self._record(
                    rule=rule.name,
                    target=target,
                    dest=step.kind,
                    kind="trigger",
                    key=key,
                    status="failed",
                    attempts=1,
                    error=repr(e),
                    execution_id=execution_id,
                    summary=summary,
                )

    async def _pagerduty(
        self,
        rule: Rule,
        d: Decision,
        *,
        key: str,
        summary: str,
        details: dict[str, Any],
        execution_id: int | None,
    ) -> None:
        assert d.target is not None
        if self._pd is None:
            await self._record(
                rule=rule.name,
                target=d.target.key,
                dest="pagerduty",
                kind="trigger",
                key=key,
                status="skipped",
                attempts=0,
                error="no PagerDuty routing key configured",
                execution_id=execution_id,
                summary=summary,
            )
            return
        result = await self._pd.trigger(
            dedup_key=key,
            summary=summary,
            source="remediator",
            severity=severity_for(rule.severity),
            component=f"{d.target.kind.lower()}/{d.target.name}",
            group=d.target.namespace,
            custom_details=details,
            links=[(self._link(execution_id), "remediator execution")] if self._link(execution_id) else (),
        )
        await self._record(
            rule=rule.name,
            target=d.target.key,
            dest="pagerduty",
            kind="trigger",
            key=key,
            status=result.status,
            attempts=result.attempts,
            error=result.error,
            execution_id=execution_id,
            summary=summary,
        )

    async def _notify(
        self,
        rule: Rule,
        d: Decision,
        *,
        channel: str,
        key: str,
        summary: str,
        reason: str,
        link: str,
        execution_id: int | None,
    ) -> None:
        assert d.target is not None
        if self._notifier is None or channel not in self._notifier.channels:
            await self._record(
                rule=rule.name,
                target=d.target.key,
                dest=channel or "notify",
                kind="trigger",
                key=key,
                status="skipped",
                attempts=0,
                error=f"no notification channel {channel!r} configured",
                execution_id=execution_id,
                summary=summary,
            )
            return
        ctx = {
            "title": summary,
            "severity": rule.severity or "unknown",
            "status": "investigating",
            "services": d.target.key,
            "link": link,
            "started_at": d.alert.starts_at.isoformat(),
            "impact": d.alert.annotations.get("summary", d.alert.name),
            "actions": reason,
            "next_update": "when a human has looked",
            "alert": d.alert.name,
            "rule": rule.name,
        }
        result = await self._notifier.send(channel, "incident", ctx)
        await self._record(
            rule=rule.name,
            target=d.target.key,
            dest=channel,
            kind="trigger",
            key=key,
            status="accepted" if result.ok else "failed",
            attempts=result.attempts,
            error=result.error,
            execution_id=execution_id,
            summary=summary,
        )

    async def _webhook(
        self,
        rule: Rule,
        target: str,
        *,
        url: str,
        key: str,
        summary: str,
        details: dict[str, Any],
        execution_id: int | None,
    ) -> None:
        if self._session is None or not url:
            await self._record(
                rule=rule.name,
                target=target,
                dest="webhook",
                kind="trigger",
                key=key,
                status="skipped",
                attempts=0,
                error="no URL",
                execution_id=execution_id,
                summary=summary,
            )
            return
        body = {"event": "escalation", "dedup_key": key, "summary": summary, "details": details}
        try:
            _, attempts = await send_json_with_retries(
                self._session,
                "POST",
                url,
                what="escalation webhook",
                clock=self._clock,
                retry=self._retry,
                timeout_s=self._timeout_s,
                body=body,
                redact=(url,),
            )
            status, error = "accepted", None
        except RemediatorError as e:
            attempts, status, error = attempts_of(e), "failed", str(e)
        await self._record(
            rule=rule.name,
            target=target,
            dest="webhook",
            kind="trigger",
            key=key,
            status=status,
            attempts=attempts,
            error=error,
            execution_id=execution_id,
            summary=summary,
        )

    async def _resolve(self, key: str, open_: _Open) -> None:
        await self._send_resolve(key, open_)
        # Closed after the resolve went out: a crash in between resolves it again at start-up (harmless).
        await self._journal.close_escalation(key)

    async def _send_resolve(self, key: str, open_: _Open) -> None:
        if open_.pagerduty and self._pd is not None:
            result = await self._pd.resolve(dedup_key=key)
            await self._record(
                rule=open_.rule,
                target=open_.target,
                dest="pagerduty",
                kind="resolve",
                key=key,
                status=result.status,
                attempts=result.attempts,
                error=result.error,
                execution_id=None,
                summary="alert resolved",
            )

    async def _record(
        self,
        *,
        rule: str,
        target: str,
        dest: str,
        kind: str,
        key: str,
        status: str,
        attempts: int,
        error: str | None,
        execution_id: int | None,
        summary: str,
    ) -> None:
        self._metrics.escalations.labels(to=dest, result=status).inc()
        log.info(
            "escalation",
            rule=rule,
            target=target,
            to=dest,
            kind=kind,
            status=status,
            attempts=attempts,
            error=error,
        )
        await self._journal.record_escalation(
            rule=rule,
            target=target,
            dest=dest,
            kind=kind,
            dedup_key=key,
            status=status,
            attempts=attempts,
            error=error,
            execution_id=execution_id,
            summary=summary,
        )
