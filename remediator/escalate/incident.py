"""Incident communication around one remediation: silences and channel messages.

While a fix is being verified, the alert it answers is silenced in Alertmanager
(`silence:` in the rule) so on-call is not paged for a problem being fixed; the
silence is expired when verification ends, whichever way. A rule with
`notify: {channel: ...}` tells that channel the story in the runbooks' three
templates: incident (acting now), update (the action ended, how), resolution (the
alert resolved: duration, what was done). Failures here are journaled and
logged, never raised: communication must not block remediation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.errors import RemediatorError
from remediator.escalate.notify import Notifier, TemplateName
from remediator.escalate.silence import AlertmanagerSilences
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, Decision
from remediator.rules import Rule
from remediator.store import ExecutionUpdate, OversightJournal
from remediator.tasks import TaskSet

log = get_logger("remediator.incident")


@dataclass
class _Story:
    rule: str
    channel: str
    target: str
    started_at: datetime
    severity: str
    what: list[str]


class IncidentComms:
    def __init__(
        self,
        *,
        silences: AlertmanagerSilences | None,
        notifier: Notifier | None,
        journal: OversightJournal,
        metrics: Metrics,
        clock: Clock,
        public_url: str | None = None,
    ) -> None:
        self._silences = silences
        self._notifier = notifier
        self._journal = journal
        self._metrics = metrics
        self._clock = clock
        self._public_url = (public_url or "").rstrip("/")
        self._stories: dict[str, _Story] = {}
        self._tasks = TaskSet()

    async def idle(self) -> None:
        await self._tasks.idle()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        await self._tasks.aclose(timeout_s)

    def _link(self, execution_id: int) -> str:
        return (
            f"{self._public_url}/api/v1/executions/{execution_id}" if self._public_url else f"#{execution_id}"
        )

    # -- silences ----------------------------------------------------------------------------------

    async def silence(
        self, decision: Decision, rule: Rule | None, *, execution_id: int, window_s: float
    ) -> str | None:
        if rule is None or rule.silence is None or self._silences is None or decision.target is None:
            return None
        labels = dict(decision.alert.labels)
        if rule.silence.labels:
            labels = {k: v for k, v in labels.items() if k in rule.silence.labels}
        duration = rule.silence.duration_s or window_s
        comment = (
            f"remediator: {rule.name} is fixing {decision.target.key} "
            f"(execution {self._link(execution_id)}); expires when verification ends"
        )
        try:
            silence_id = await self._silences.create(labels=labels, duration_s=duration, comment=comment)
        except RemediatorError as e:
            await self._record(
                rule=rule.name,
                target=decision.target.key,
                kind="silence",
                key="",
                status="failed",
                error=str(e),
                execution_id=execution_id,
            )
            return None
        await self._record(
            rule=rule.name,
            target=decision.target.key,
            kind="silence",
            key=silence_id,
            status="accepted",
            error=None,
            execution_id=execution_id,
        )
        return silence_id

    async def unsilence(
        self, silence_id: str, decision: Decision, rule: Rule | None, *, execution_id: int
    ) -> None:
        if self._silences is None or decision.target is None:
            return
        name = rule.name if rule is not None else decision.rule
        try:
            await self._silences.expire(silence_id)
        except RemediatorError as e:
            await self._record(
                rule=name,
                target=decision.target.key,
                kind="expire",
                key=silence_id,
                status="failed",
                error=str(e),
                execution_id=execution_id,
            )
            return
        await self._record(
            rule=name,
            target=decision.target.key,
            kind="expire",
            key=silence_id,
            status="accepted",
            error=None,
            execution_id=execution_id,
        )

    async def _record(
        self,
        *,
        rule: str,
        target: str,
        kind: str,
        key: str,
        status: str,
        error: str | None,
        execution_id: int | None,
    ) -> None:
        self._metrics.escalations.labels(to="alertmanager", result=status).inc()
        log.info("silence", rule=rule, target=target, kind=kind, silence_id=key, status=status, error=error)
        await self._journal.record_escalation(
            rule=rule,
            target=target,
            dest="alertmanager",
            kind=kind,
            dedup_key=key,
            status=status,
            attempts=1,
            error=error,
            execution_id=execution_id,
            summary=f"{kind} {key}".strip(),
        )

    # -- channel messages --------------------------------------------------------------------------

    def acting(self, decision: Decision, rule: Rule | None, *, execution_id: int) -> None:
        if rule is None or rule.notify_channel is None or self._notifier is None or decision.target is None:
            return
        what = "+".join(a.kind for a in decision.actions)
        story = self._stories.setdefault(
            decision.alert.fingerprint,
            _Story(
                rule=rule.name,
                channel=rule.notify_channel,
                target=decision.target.key,
                started_at=decision.alert.starts_at,
                severity=rule.severity or "unknown",
                what=[],
            ),
        )
        story.what.append(f"{what} on {decision.target.key}")
        ctx = {
            "title": f"{decision.alert.name or 'alert'} on {decision.target.key}",
            "severity": story.severity,
            "status": "remediating",
            "services": decision.target.key,
            "link": self._link(execution_id),
            "started_at": decision.alert.starts_at.isoformat(),
            "impact": decision.alert.annotations.get("summary", decision.alert.name),
            "actions": f"remediator is running {what} (rule {rule.name}): {decision.reason}",
            "next_update": "when the action has been verified",
            "alert": decision.alert.name,
            "rule": rule.name,
        }
        self._tasks.spawn(self._send(story.channel, "incident", ctx), f"notify-incident-{rule.name}")

    def finished(
        self, decision: Decision, rule: Rule | None, update: ExecutionUpdate, *, execution_id: int
    ) -> None:
        story = self._stories.get(decision.alert.fingerprint)
        if story is None or rule is None or rule.name != story.rule:
            return
        state = update.summary or update.status.value
        if update.error:
            state = f"{update.status.value}: {update.error}"
        ctx = {
            "title": f"{decision.alert.name or 'alert'} on {story.target}",
            "severity": story.severity,
            "status": update.status.value,
            "services": story.target,
            "link": self._link(execution_id),
            "actions_tried": "; ".join(story.what),
            "current_state": state,
            "next_update": "when the alert resolves"
            if update.status.value == "succeeded"
            else "escalated to on-call",
        }
        self._tasks.spawn(self._send(story.channel, "update", ctx), f"notify-update-{rule.name}")

    def resolved(self, alert: Alert, *, told_elsewhere: Callable[[str], bool] | None = None) -> None:
        """The alert resolved: its resolution to the story's channel, unless `told_elsewhere(channel)`
        (the incident desk tells that channel when the whole incident closes)."""
        story = self._stories.pop(alert.fingerprint, None)
        if story is None or (told_elsewhere is not None and told_elsewhere(story.channel)):
            return
        ended = alert.ends_at or self._clock.now()
        ctx = {
            "title": f"{alert.name or 'alert'} on {story.target} resolved",
            "severity": story.severity,
            "status": "resolved",
            "services": story.target,
            "link": "",
            "duration": format_duration(max(0.0, (ended - story.started_at).total_seconds())),
            "root_cause": "to be determined by the postmortem",
            "actions": "; ".join(story.what),
            "follow_ups": "review the remediation in the journal; write the postmortem",
        }
        self._tasks.spawn(self._send(story.channel, "resolution", ctx), f"notify-resolution-{story.rule}")

    async def _send(self, channel: str, template: TemplateName, ctx: dict[str, str]) -> None:
        assert self._notifier is not None
        if channel not in self._notifier.channels:
            log.warning("notification channel not configured", channel=channel, template=template)
            return
        result = await self._notifier.send(channel, template, ctx)
        self._metrics.escalations.labels(
            to=f"notify:{channel}"[:40], result="accepted" if result.ok else "failed"
        ).inc()
        log.info(
            "notification",
            channel=channel,
            template=template,
            status=result.status,
            error=result.error or None,
        )
