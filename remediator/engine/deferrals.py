"""Deferred decisions: an alert that met a transient denial is decided again, not dropped.

The target was busy (`in_flight`), the namespace or the cluster at its concurrency limit, or the
storm brake on: the decider records the decision as `deferred`, and the journal keeps a deferral
row for it (bounded, most severe first). This queue decides them again, in that order, when an
execution ends (a slot freed) and every `retry_s` while any wait, through one journaled timer
(kind `deferrals`), so a restart loses none. A decision that no longer has to wait is journaled
with the deferral closed, in one transaction, and handed over like any other; one that still has
to wait keeps its place with the latest reason. The wait ends without acting when the alert
resolves (cancelled), its rule is gone, or the alert grew older than `max_alert_age` (recorded as
`stale_alert`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from remediator.clock import Clock
from remediator.durations import format_duration
from remediator.engine.decide import Decider
from remediator.engine.handover import HandOver, Recorded
from remediator.engine.resolutions import ResolutionBoard
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, AlertId, Decision, Outcome
from remediator.rules import Rule
from remediator.schedule import Fired
from remediator.store import ExecutionUpdate
from remediator.store.scheduling import Deferral, DeferralStore, NewTimer, Timer
from remediator.tasks import TaskSet

log = get_logger("remediator.engine")

KIND = "deferrals"
"""The timer kind of the sweep (one pending at a time, key `sweep`)."""


class DeferralJournal(DeferralStore, Protocol):
    async def get_alert(self, alert_id: AlertId) -> Alert | None: ...


Schedule = Callable[[Sequence[NewTimer]], Awaitable[None]]


class DeferralQueue:
    def __init__(
        self,
        *,
        journal: DeferralJournal,
        decider: Decider,
        hand_over: HandOver,
        rules: Callable[[str], Rule | None],
        resolutions: ResolutionBoard,
        schedule: Schedule,
        metrics: Metrics,
        clock: Clock,
        worker: str,
        retry_s: float,
        max_alert_age_s: float,
        lease_s: float = 60.0,
        batch: int = 200,
    ) -> None:
        self._journal = journal
        self._decider = decider
        self._hand_over = hand_over
        self._rules = rules
        self._resolutions = resolutions
        self._schedule = schedule
        self._metrics = metrics
        self._clock = clock
        self._worker = worker
        self._retry_s = retry_s
        self._max_age_s = max_alert_age_s
        self._lease_s = lease_s
        self._batch = batch
        self._tasks = TaskSet()
        self._waking = False
        self._wake_again = False

    async def idle(self) -> None:
        await self._tasks.idle()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        await self._tasks.aclose(timeout_s)

    def sweep_timer(self, *, delay_s: float = 0.0) -> NewTimer:
        due = self._clock.now() + timedelta(seconds=delay_s)
        return NewTimer(kind=KIND, key="sweep", due_at=due, only_if_earlier=True)

    async def wake(self) -> None:
        """Decide the waiting ones again now (a slot freed, decisions were deferred, start-up)."""
        if self._journal.deferred_waiting():
            await self._schedule([self.sweep_timer()])

    def slot_freed(self, *_: object) -> None:
        """An execution ended (the executor's on_finished hook): its slot may be what one waits for.
        Slots freed while a wake is on its way are answered by one more wake after it, not one each
        (a storm's executions end by the thousand, each wake a journal write)."""
        if not self._journal.deferred_waiting():
            return
        if self._waking:
            self._wake_again = True
            return
        self._waking = True
        self._tasks.spawn(self._wake_while_freed(), "deferrals-wake")

    async def _wake_while_freed(self) -> None:
        try:
            while True:
                self._wake_again = False
                await self.wake()
                if not self._wake_again:
                    return
        finally:
            self._waking = False

    def try_later(self, decision: Decision, update: ExecutionUpdate) -> None:
        """An execution ended try-later (a disruption budget refused it while acting; the guards have
        let go of its cooldown): the decision waits again, as a budget refusing the plan makes it."""
        if update.try_later and not decision.dry_run:
            self._tasks.spawn(self._defer_again(decision, update.error or ""), "deferrals-try-later")

    async def _defer_again(self, decision: Decision, error: str) -> None:
        again = replace(
            decision,
            outcome=Outcome.DEFERRED,
            reason=f"deferred until the disruption budget allows it: refused while acting: {error}",
            decided_at=self._clock.now(),
            id=None,
        )
        try:
            await self._hand_over.record([(decision.alert_id, again)])
        except Exception:  # the journal failed: the alert's next re-send is decided afresh
            log.exception("deferring again failed", rule=decision.rule)
            return
        log.info("deferred again: refused while acting", rule=decision.rule, error=error)

    def deferred(self, recorded: Sequence[Recorded]) -> None:
        """Decisions were just recorded (the hand-over's hook): make sure a sweep comes for new waits."""
        if any(r.decision.outcome is Outcome.DEFERRED for r in recorded):
            self._tasks.spawn(self._soon(), "deferrals-schedule")

    async def _soon(self) -> None:
        await self._schedule([self.sweep_timer(delay_s=self._retry_s)])

    def resolved(self, alert: Alert) -> None:
        """The alert resolved: nothing of it waits any longer."""
        self._tasks.spawn(self._cancel(alert), "deferrals-cancel")

    async def _cancel(self, alert: Alert) -> None:
        n = await self._journal.cancel_deferrals(alert.fingerprint, reason="the alert resolved")
        if n:
            self._metrics.deferrals.labels(result="cancelled").inc(n)
            log.info("deferred decisions cancelled: the alert resolved", alert=alert.fingerprint, count=n)

    async def sweep(self, timer: Timer) -> Fired:
        """The timer handler: decide again every claimable waiting decision, most severe first."""
        counts = {"acted": 0, "other": 0, "waiting": 0, "ended": 0}
        for d in await self._journal.claim_deferrals(
            worker=self._worker, lease_s=self._lease_s, limit=self._batch
        ):
            counts[await self._retry(d)] += 1
        waiting = self._journal.deferred_waiting()
        then = [self.sweep_timer(delay_s=self._retry_s)] if waiting else []
        return Fired(
            result=f"{counts['acted']} acted, {counts['other']} decided otherwise, {counts['waiting']} still "
            f"waiting, {counts['ended']} ended without a decision; {waiting} waiting now",
            then=then,
        )

    async def _retry(self, d: Deferral) -> str:
        alert = await self._journal.get_alert(d.alert_id) if d.alert_id is not None else None
        rule = self._rules(d.rule)
        if alert is None or rule is None:
            why = (
                "its alert is not in the journal" if alert is None else f"rule {d.rule!r} is no longer loaded"
            )
            await self._end(d, "cancelled", why)
            return "ended"
        if self._resolutions.resolved_since(alert.fingerprint, d.created_at):
            await self._end(d, "cancelled", "the alert resolved")
            return "ended"
        now = self._clock.now()
        waited = format_duration(int((now - d.created_at).total_seconds()))
        max_age = rule.guards.max_alert_age_s if rule.guards.max_alert_age_s is not None else self._max_age_s
        age = (now - alert.starts_at).total_seconds()
        async with self._hand_over.turn() as turn:  # decided with every replica's actions in view
            decision = await self._decider.decide_rule(alert, rule, skip_guards=frozenset(d.skip_guards))
            if decision.outcome is Outcome.DEFERRED and age > max_age:
                decision = replace(
                    decision,
                    outcome=Outcome.STALE_ALERT,
                    reason=f"stale: gave up after waiting {waited}: the alert started "
                    f"{format_duration(int(age))} ago (max_alert_age {format_duration(max_age)}); "
                    f"last: {decision.reason}",
                )
            elif decision.outcome is Outcome.DEFERRED:
                await self._journal.keep_deferred(d.id, worker=self._worker, reason=decision.reason)
                return "waiting"
            else:
                decision = replace(
                    decision, reason=f"after waiting {waited} (deferred: {d.reason}): {decision.reason}"
                )
            recorded = await turn.settle_deferral(
                d.id, worker=self._worker, decision=decision, alert_id=d.alert_id
            )
        if recorded is None:
            return "ended"  # cancelled or shed while it was decided: that record stands
        result = "expired" if decision.outcome is Outcome.STALE_ALERT else "redecided"
        self._metrics.deferrals.labels(result=result).inc()
        return "acted" if decision.acts else "other"

    async def _end(self, d: Deferral, status: str, why: str) -> None:
        if await self._journal.end_deferral(d.id, status="cancelled", result=why):
            self._metrics.deferrals.labels(result=status).inc()
            log.info("deferred decision ended", deferral=d.id, rule=d.rule, target=d.target, why=why)
