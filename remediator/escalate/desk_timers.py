"""What the incident desk's journaled timers do, one kind each: a step of the escalation ladder
(`incident_step`), an update to the channel (`incident_update`), the end of a post-resolution watch
(`incident_watch`), and closing (`incident_close`: its pages resolved, its channel told). A base
of `IncidentDesk`, which schedules them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from remediator.durations import format_duration
from remediator.escalate._change import Change
from remediator.escalate._live import LiveIncidents
from remediator.escalate.desk_messages import DeskMessages
from remediator.escalate.desk_protocols import DeskJournal
from remediator.escalate.pagerduty import PagerDutyEvents, clip_dedup_key
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import EscalationStep
from remediator.schedule import Fired
from remediator.severity import pagerduty_severity
from remediator.store.incidents import IncidentRecord
from remediator.store.scheduling import NewTimer, Timer

log = get_logger("remediator.incidents")

STEP, UPDATE, WATCH, CLOSE = "incident_step", "incident_update", "incident_watch", "incident_close"
TIMER_KINDS = (STEP, UPDATE, WATCH, CLOSE)
OWN_PAGE_PREFIX = "remediator/incident/"


class DeskTimers(DeskMessages):
    """The timers' handlers (registered with the scheduler by the wiring) and the timers they set."""

    _journal: DeskJournal
    _pagers: Mapping[str, PagerDutyEvents]
    _metrics: Metrics
    _live: LiveIncidents
    _lock: asyncio.Lock

    if TYPE_CHECKING:

        async def _save(self, changes: Sequence[Change]) -> None: ...

        def acknowledgement_pending(self, i: IncidentRecord) -> bool: ...

    def _step_timer(self, i: IncidentRecord) -> NewTimer:
        assert i.escalated_at is not None
        due = i.escalated_at + timedelta(seconds=i.ladder[i.step].after_s)
        return NewTimer(kind=STEP, key=i.id, due_at=due, payload={"step": i.step})

    def _update_timer(self, i: IncidentRecord, now: datetime) -> NewTimer:
        return NewTimer(kind=UPDATE, key=i.id, due_at=now + timedelta(seconds=i.updates_every_s or 0))

    async def fire_step(self, timer: Timer) -> Fired:
        async with self._lock:
            i = self._live.get(timer.key)
            n = int(timer.payload.get("step", 0))
            if i is None or i.state != "open":
                return Fired(result=f"skipped: incident {timer.key} is {i.state if i else 'gone'}")
            if i.acknowledged_at is not None:
                return Fired(result=f"skipped: acknowledged by {i.acknowledged_by}")
            if self.acknowledgement_pending(i):
                # PagerDuty says a human has it; its save is being retried and cancels this ladder.
                return Fired(result="skipped: acknowledged in PagerDuty (its save is being retried)")
            if i.step != n or n >= len(i.ladder):
                # Fired already (a crash before this timer was finished): carry on with the ladder.
                then = [self._step_timer(i)] if i.step < len(i.ladder) else []
                return Fired(result=f"step {n + 1} fired already", then=then)
            step = i.ladder[n]
            now = self._clock.now()
            status, detail = await self._send_step(i, step, n)
            pages = (*i.pages, step.page) if step.page and step.page not in i.pages else i.pages
            change = Change(replace(i, step=n + 1, pages=pages))
            late = format_duration(step.after_s)
            change.event(
                now,
                "paged" if step.page else "notified",
                f"step {n + 1}/{len(i.ladder)} (+{late}): {step.to}: {status}{detail}",
            )
            await self._save([change])
            nxt = change.incident
            return Fired(
                result=f"step {n + 1}: {step.to}: {status}",
                then=[self._step_timer(nxt)] if nxt.step < len(nxt.ladder) else [],
            )

    async def _send_step(self, i: IncidentRecord, step: EscalationStep, n: int) -> tuple[str, str]:
        summary = f"[{i.severity or 'unknown'}] {i.title}: {i.escalation_reason}"
        if step.page is not None:
            pager = self._pagers.get(step.page)
            key = clip_dedup_key(f"{OWN_PAGE_PREFIX}{i.id}/{step.page}")
            if pager is None:
                status, error, attempts = "skipped", f"no routing key for {step.page!r}", 0
            else:
                result = await pager.trigger(
                    dedup_key=key,
                    summary=summary,
                    source="remediator",
                    severity=pagerduty_severity(i.severity),
                    component=i.target or "",
                    custom_details=self._details(i, n),
                    links=[(self._link(i), "remediator incident")] if self._link(i) else (),
                )
                status, error, attempts = result.status, result.error, result.attempts
            dest = f"pagerduty:{step.page}"
        else:
            assert step.notify is not None
            status, error, attempts = await self._message(
                step.notify, "incident", self._context(i, "escalated")
            )
            key, dest = i.id, step.notify
        self._metrics.escalations.labels(to=dest[:40], result=status).inc()
        await self._journal.record_escalation(
            rule=i.rule,
            target=i.target or i.key,
            dest=dest,
            kind="page" if step.page else "notify",
            dedup_key=key,
            status=status,
            attempts=attempts,
            error=error or None,
            execution_id=None,
            summary=f"incident {i.id} step {n + 1}: {summary}",
        )
        log.info(
            "incident escalation step",
            incident=i.id,
            step=n + 1,
            to=step.to,
            status=status,
            error=error or None,
        )
        return status, f" ({error})" if error else ""

    async def send_update(self, timer: Timer) -> Fired:
        i = self._live.get(timer.key)
        if i is None or i.state not in ("open", "mitigated") or not i.updates_every_s or not i.channel:
            return Fired(result=f"no update: incident {timer.key} is {i.state if i else 'gone'}")
        status, error, _ = await self._message(i.channel, "update", await self._update_context(i))
        now = self._clock.now()
        async with self._lock:
            current = self._live.get(i.id)
            if current is not None:
                change = Change(current)
                change.event(
                    now, "update", f"update to {i.channel}: {status}" + (f" ({error})" if error else "")
                )
                await self._save([change])
        return Fired(result=f"update to {i.channel}: {status}", then=[self._update_timer(i, now)])

    async def end_watch(self, timer: Timer) -> Fired:
        async with self._lock:
            i = self._live.get(timer.key)
            if i is None or i.state != "watching":
                return Fired(result=f"no watch: incident {timer.key} is {i.state if i else 'gone'}")
            now = self._clock.now()
            change = Change(replace(i, state="resolved", watch_until=None))
            change.event(
                now,
                "resolved",
                f"watch of {format_duration(i.watch_s or 0)} ended with no re-fire: the fix held",
            )
            await self._save([change])
            return Fired(result="the fix held: resolved")

    async def close(self, timer: Timer) -> Fired:
        """It stopped being open: resolve its pages, tell its channel."""
        i = self._live.get(timer.key) or await self._journal.incident(timer.key)
        if i is None:
            return Fired(result=f"incident {timer.key} is gone")
        done = []
        for page in i.pages:
            pager = self._pagers.get(page)
            if pager is None:
                continue
            key = clip_dedup_key(f"{OWN_PAGE_PREFIX}{i.id}/{page}")
            result = await pager.resolve(dedup_key=key)
            self._metrics.escalations.labels(to=f"pagerduty:{page}"[:40], result=result.status).inc()
            await self._journal.record_escalation(
                rule=i.rule,
                target=i.target or i.key,
                dest=f"pagerduty:{page}",
                kind="resolve",
                dedup_key=key,
                status=result.status,
                attempts=result.attempts,
                error=result.error or None,
                execution_id=None,
                summary=f"incident {i.id} is {i.state}",
            )
            done.append(f"resolved page {page}: {result.status}")
        if i.channel:
            status, _, _ = await self._message(i.channel, "resolution", self._resolution_context(i))
            done.append(f"resolution to {i.channel}: {status}")
        async with self._lock:
            current = self._live.get(i.id)
            if current is not None and current.pages == i.pages and done:
                change = Change(replace(current, pages=()))
                change.event(self._clock.now(), "closed", "; ".join(done))
                await self._save([change])
        return Fired(result="; ".join(done) or "nothing to tell")
