"""What the incident desk says: the notification templates' context for an escalation, an update and
a resolution, PagerDuty's custom details and the incident's link. A base of `IncidentDesk`.
"""

from __future__ import annotations

from typing import Any

from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.escalate.desk_protocols import DeskJournal
from remediator.escalate.notify import Notifier, TemplateName
from remediator.store.incidents import IncidentRecord


class DeskMessages:
    """Messages to a channel, and the context each template is rendered with."""

    _journal: DeskJournal
    _notifier: Notifier | None
    _public_url: str
    _clock: Clock

    async def _message(
        self, channel: str, template: TemplateName, ctx: dict[str, str]
    ) -> tuple[str, str, int]:
        if self._notifier is None or channel not in self._notifier.channels:
            return "skipped", f"no notification channel {channel!r} configured", 0
        result = await self._notifier.send(channel, template, ctx)
        return ("accepted" if result.ok else "failed"), result.error, result.attempts

    def _link(self, i: IncidentRecord) -> str:
        return f"{self._public_url}/api/v1/incident-board/{i.id}" if self._public_url else ""

    def _details(self, i: IncidentRecord, n: int) -> dict[str, Any]:
        return {
            "incident": i.id,
            "severity": i.severity,
            "state": i.state,
            "opened_at": i.opened_at.isoformat(),
            "escalation_step": n + 1,
            "reason": i.escalation_reason,
            "what_was_done": list(i.actions),
            "target": i.target,
        }

    def _context(self, i: IncidentRecord, status: str) -> dict[str, str]:
        return {
            "title": i.title,
            "severity": i.severity or "unknown",
            "status": status,
            "services": i.target or i.key,
            "link": self._link(i),
            "started_at": i.opened_at.isoformat(),
            "impact": i.title,
            "actions": i.escalation_reason or "; ".join(i.actions) or "remediator is on it",
            "next_update": format_duration(i.updates_every_s) if i.updates_every_s else "when it changes",
            "alert": i.title.split(" on ")[0],
            "rule": i.rule,
        }

    async def _update_context(self, i: IncidentRecord) -> dict[str, str]:
        pending = [d for d in await self._journal_deferrals() if d[0] in i.firing]
        waiting = "; ".join(f"{rule} on {target} waits: {reason}" for _, rule, target, reason in pending)
        ladder = ""
        if i.escalated_at is not None and i.acknowledged_at is None and i.step < len(i.ladder):
            nxt = i.ladder[i.step]
            ladder = f"; next escalation: {nxt.to} at +{format_duration(nxt.after_s)}"
        state = f"{i.state}" + (f", acknowledged by {i.acknowledged_by}" if i.acknowledged_by else "")
        if i.escalated_at is not None:
            state += f", escalated: {i.escalation_reason}"
        return {
            **self._context(i, i.state),
            "actions_tried": "; ".join(i.actions) or "nothing yet",
            "current_state": state + (f"; pending: {waiting}" if waiting else "") + ladder,
            "next_update": f"in {format_duration(i.updates_every_s or 0)}",
        }

    async def _journal_deferrals(self) -> list[tuple[str, str, str, str]]:
        deferrals = getattr(self._journal, "deferrals", None)
        if deferrals is None:
            return []
        return [(d.fingerprint, d.rule, d.target, d.reason) for d in await deferrals(limit=50)]

    def _resolution_context(self, i: IncidentRecord) -> dict[str, str]:
        end = i.resolved_at or self._clock.now()
        return {
            **self._context(i, "resolved"),
            "duration": format_duration(max(0, int((end - i.opened_at).total_seconds()))),
            "root_cause": "to be determined by the postmortem",
            "actions": "; ".join(i.actions) or "no action",
            "follow_ups": "review the timeline; write the postmortem",
        }
