"""Approvals that tell people: a pending approval is announced, reminded before it expires, and its
expiry recorded and announced.

The journal schedules three timers with every new approval (one approval per alert episode, rule and
target): `approval_notify` at once, `approval_remind` `incidents.approval_reminder` before it expires,
`approval_expire` when it does. Their handlers are here, next to the Operator whose `preview` says
what approving would change (the diff, planned against the cluster), so the approvers read the change
before they decide. With no `incidents.approvals_channel` the timers still run (the expiry is still
recorded); nobody is told.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from remediator.clock import Clock
from remediator.escalate.notify import Notifier
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.override.operator import Operator
from remediator.schedule import Fired
from remediator.store.scheduling import Timer

log = get_logger("remediator.approvals")

NOTIFY, REMIND, EXPIRE = "approval_notify", "approval_remind", "approval_expire"
TIMER_KINDS = (NOTIFY, REMIND, EXPIRE)


class ApprovalNotices:
    def __init__(
        self,
        *,
        operator: Operator,
        notifier: Notifier | None,
        channel: str | None,
        metrics: Metrics,
        clock: Clock,
        public_url: str | None = None,
    ) -> None:
        self._op = operator
        self._notifier = notifier
        self._channel = channel
        self._metrics = metrics
        self._clock = clock
        self._public_url = (public_url or "").rstrip("/")

    async def notify(self, timer: Timer) -> Fired:
        return await self._tell(timer, "needed")

    async def remind(self, timer: Timer) -> Fired:
        return await self._tell(timer, "reminder")

    async def expire(self, timer: Timer) -> Fired:
        """Record the expiry (pending -> expired) and say so."""
        await self._op.journal.expire_approvals()
        approval = await self._op.journal.get_approval(int(timer.payload["approval"]))
        if approval is None:
            return Fired(result="the approval is gone")
        if approval["status"] != "expired":
            return Fired(result=f"not expired: {approval['status']}")
        log.warning(
            "approval expired", approval=approval["id"], rule=approval["rule"], target=approval["target"]
        )
        await self._op.journal.record_audit(
            actor="remediator",
            action="approval_expired",
            detail={"approval_id": approval["id"], "rule": approval["rule"], "target": approval["target"]},
        )
        return await self._send(approval, "expired")

    async def _tell(self, timer: Timer, status: str) -> Fired:
        approval = await self._op.journal.get_approval(int(timer.payload["approval"]))
        if approval is None:
            return Fired(result="the approval is gone")
        if approval["status"] != "pending":
            return Fired(result=f"nothing to tell: the approval is {approval['status']}")
        return await self._send(approval, status)

    async def _send(self, approval: dict[str, Any], status: str) -> Fired:
        if self._notifier is None or self._channel is None or self._channel not in self._notifier.channels:
            return Fired(result=f"approval {status}: no incidents.approvals_channel to tell")
        preview = await self._op.preview(approval)
        if preview.changes:
            changes = "; ".join(f"{c.path}: {c.before!r} → {c.after!r}" for c in preview.changes)
        else:
            changes = preview.summary or preview.error or "nothing known"
        expires = approval["expires_at"]
        link = (
            f"{self._public_url}/api/v1/approvals/{approval['id']}"
            if self._public_url
            else f"#{approval['id']}"
        )
        ctx = {
            "title": f"{approval['rule']} on {approval['target']}",
            "severity": "approval",
            "status": status,
            "services": approval["target"],
            "link": link,
            "rule": approval["rule"],
            "actions": "+".join(a.kind for a in preview.actions) or str(approval.get("actions", "")),
            "changes": changes,
            "reason": str(approval.get("reason", "")),
            "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()
            if isinstance(expires, int | float)
            else str(expires),
        }
        result = await self._notifier.send(self._channel, "approval", ctx)
        outcome = "accepted" if result.ok else "failed"
        self._metrics.escalations.labels(to=f"notify:{self._channel}"[:40], result=outcome).inc()
        log.info(
            "approval notice", approval=approval["id"], status=status, channel=self._channel, result=outcome
        )
        return Fired(result=f"approval {status} told to {self._channel}: {outcome}")
