"""The incident desk: incidents as first-class records that unfold over time.

An incident groups the alerts of one Alertmanager group (groupKey), or of one target: it opens when
remediator starts handling one of them (an action, a deferral, an approval), takes the worst severity
of its rules and alerts (P0-P4), and moves through open -> mitigated (an action succeeded) ->
watching (its alerts resolved after an action) -> resolved. Every change is journaled with its
timeline entry and the timers it sets, in one transaction (`IncidentStore.save_incidents`); the live
ones are kept in memory and read back at start-up.

Time-based work runs through the journaled scheduler, one timer kind each (their handlers are in
desk_timers.py, what they say in desk_messages.py):
- `incident_step`: the escalation ladder. When automation gives up (an action failed or was not
  verified, a breaker opened, a fix did not hold), the ladder starts: each step pages a PagerDuty
  service or notifies a channel `after` the escalation, while the incident is open and nobody has
  acknowledged it (the override API or PagerDuty's acknowledge stops it).
- `incident_update`: while open or mitigated, its state every `updates.every` to its channel.
- `incident_watch`: after an action fixed it and its alerts resolved, it is watched; a re-fire
  within the watch re-opens it and escalates (the guard `watch` stops the action being repeated).
- `incident_close`: when it stops being open, its pages are resolved and its channel is told.

Messages are sent before the record that they were sent is committed: a crash in between can send
one twice (PagerDuty folds a repeat into the same incident by its dedup key), never lose one.

A PagerDuty acknowledgement whose save fails is tried again while running (`_retry_taken`: a back-off
on the injected clock, bounded by `ACK_RETRY_FOR_S`); meanwhile the ladder pages nobody for it, since
PagerDuty says a human has it. Its payload stays in the journal: one not saved by the end of the
retries (or of the run) is replayed at the next start (app/acknowledgements.py).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from remediator.clock import Clock, wait_for_time
from remediator.config import IncidentSettings
from remediator.durations import format_duration
from remediator.escalate._change import Change
from remediator.escalate._live import LiveIncidents
from remediator.escalate.desk_protocols import DecidedAlert, DeskJournal
from remediator.escalate.desk_timers import CLOSE, OWN_PAGE_PREFIX, STEP, UPDATE, WATCH, DeskTimers
from remediator.escalate.notify import Notifier
from remediator.escalate.pagerduty import PagerDutyEvents
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import Alert, Decision, ExecutionStatus, Outcome, Target
from remediator.rules import Rule
from remediator.severity import most_severe
from remediator.store import ExecutionUpdate
from remediator.store.incidents import IncidentChange, IncidentEvent, IncidentRecord
from remediator.store.scheduling import NewTimer
from remediator.tasks import TaskSet

log = get_logger("remediator.incidents")

_OPENS = frozenset(
    {Outcome.ACT, Outcome.DEFERRED, Outcome.NEEDS_APPROVAL, Outcome.ESCALATED, Outcome.BREAKER_OPEN}
)
"""Decisions that mean remediator (or a human it asked) is handling the alert: they open an incident."""
ACK_RETRY_FIRST_S = 1.0
ACK_RETRY_MAX_S = 60.0
ACK_RETRY_FOR_S = 3600.0
"""How long a PagerDuty acknowledgement whose save fails is tried again (doubling from a second to a
minute between tries): an hour of a failing journal, then it waits for the next start's replay."""


def incident_key(alert: Alert, target: Target | None) -> str:
    """What groups alerts into one incident: the Alertmanager group, else the target, else the alert."""
    if alert.group_key:
        return f"group:{alert.group_key}"
    if target is not None:
        return f"target:{target.key}"
    return f"alert:{alert.fingerprint}"


def _incident_id(key: str, opened: datetime) -> str:
    """Readable and unique: when it opened (like the runbooks' #incident-YYYYMMDD-HHMM) and its group."""
    return f"{opened:%Y%m%d-%H%M%S}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


@functools.lru_cache(maxsize=1024)
def _worse(a: str | None, b: str | None) -> str:
    """`most_severe` of two words, "" for none: asked twice for every alert of a batch, of the same
    few words (cached: the answer depends on the words alone)."""
    return most_severe(a, b) or ""


def own_page(alert: Alert) -> bool:
    """A PagerDuty incident remediator opened itself, coming back as a webhook: not a new incident."""
    return alert.source == "pagerduty" and alert.labels.get("incident_key", "").startswith(OWN_PAGE_PREFIX)


class IncidentDesk(DeskTimers):
    def __init__(
        self,
        *,
        journal: DeskJournal,
        settings: IncidentSettings,
        rules: Callable[[str], Rule | None],
        pagers: Mapping[str, PagerDutyEvents],
        notifier: Notifier | None,
        metrics: Metrics,
        clock: Clock,
        wake: Callable[[], None] = lambda: None,
        public_url: str | None = None,
    ) -> None:
        self._journal = journal
        self._settings = settings
        self._rules = rules
        self._pagers = pagers
        self._notifier = notifier
        self._metrics = metrics
        self._clock = clock
        self._wake = wake
        self._public_url = (public_url or "").rstrip("/")
        self._live = LiveIncidents()
        self._lock = asyncio.Lock()
        self._tasks = TaskSet()
        self._retries = TaskSet()
        """Acknowledgements tried again: not awaited by `idle` (they sleep on the clock); cancelled
        first at close (the next start replays them)."""
        self._acks_pending: dict[str, datetime] = {}
        """Incidents acknowledged in PagerDuty whose save is being retried: when it was received."""

    # -- lifecycle -------------------------------------------------------------------------------

    async def restore(self) -> int:
        """Take back the live incidents from the journal (start-up)."""
        self._live = LiveIncidents(await self._journal.live_incidents())
        self.refresh_metrics()
        return len(self._live)

    async def idle(self) -> None:
        await self._tasks.idle()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        await self._retries.aclose(0.0)
        await self._tasks.aclose(timeout_s)

    def live(self) -> list[IncidentRecord]:
        return sorted(self._live.values(), key=lambda i: i.opened_at)

    def refresh_metrics(self) -> None:
        counts = dict.fromkeys(("open", "mitigated", "watching"), 0)
        for i in self._live.values():
            counts[i.state] = counts.get(i.state, 0) + 1
        for state, n in counts.items():
            self._metrics.incidents.labels(state=state).set(n)

    # -- finding an alert's incident ---------------------------------------------------------------

    def _find(self, alert: Alert, target: Target | None) -> IncidentRecord | None:
        return self._live.find(fingerprint=alert.fingerprint, key=incident_key(alert, target))

    def tells_resolution(self, alert: Alert, channel: str) -> bool:
        """Whether the incident this resolved alert belongs to tells `channel` its resolution itself
        (its close timer, journaled: also after a restart), so nobody else needs to: one message."""
        i = self._live.find(fingerprint=alert.fingerprint, key=incident_key(alert, None))
        return i is not None and i.channel == channel and i.state in ("open", "mitigated")

    def refire(self, alert: Alert, target: Target) -> str | None:
        """The `watch` guard's question: is this a re-fire of an incident an action fixed, within its
        watch? Then the reason to escalate instead of acting again."""
        i = self._find(alert, target)
        if i is None or i.state != "watching" or not i.acted or i.watch_until is None:
            return None
        done = "; ".join(i.actions[-2:]) or "an action"
        return (
            f"re-fired within the {format_duration(i.watch_s or 0)} watch of incident {i.id} "
            f"(until {i.watch_until.isoformat()}) after {done}: the fix did not hold, escalating "
            "instead of repeating it"
        )

    # -- what the pipeline reports ---------------------------------------------------------------

    def observe(self, recorded: Sequence[DecidedAlert]) -> None:
        """Decisions were journaled (the hand-over's listener): open, update or close incidents."""
        relevant = [
            r for r in recorded if r.decision.alert.source != "manual" and not own_page(r.decision.alert)
        ]
        if relevant:
            self._tasks.spawn(self._serially(self._observe, relevant), "incidents-observe")

    def execution_finished(self, decision: Decision, update: ExecutionUpdate) -> None:
        """An execution ended (the executor's hook): mitigated, or escalated when it did not work."""
        if not decision.dry_run and decision.alert.source != "manual":
            self._tasks.spawn(self._serially(self._finished, decision, update), "incidents-execution")

    def escalate(self, decision: Decision, reason: str) -> None:
        """Automation gave up on this decision's incident (a breaker opened): start its ladder."""
        self._tasks.spawn(self._serially(self._escalate_for, decision, reason), "incidents-escalate")

    async def _serially(self, fn: Callable[..., Any], *args: Any) -> None:
        # One change at a time, in the order reported: a resolution never overtakes its firing.
        async with self._lock:
            try:
                await fn(*args)
            except Exception:
                log.exception("incident update failed")

    async def _observe(self, recorded: Sequence[DecidedAlert]) -> None:
        now = self._clock.now()
        changes: dict[str, Change] = {}
        for r in recorded:
            d = r.decision
            alert = d.alert
            found = self._find(alert, d.target)
            change = changes.get(found.id) if found is not None else None
            if alert.status == "firing":
                if found is None:
                    if d.outcome not in _OPENS or d.target is None:
                        continue
                    change = self._open(d, now)
                else:
                    if change is None:
                        change = Change(found)
                    if change.state == "watching":
                        self._reopen(change, d, now)
                    change.fire(alert.fingerprint, _worse(change.severity, self._severity(d)))
                self._note(change, d, now)
            else:
                if found is None:
                    continue
                if change is None:
                    change = Change(found)
                self._alert_resolved(change, alert, now)
            if r.alert_id is not None:
                change.alert_ids.append(r.alert_id)
            changes[change.id] = change
        await self._save(list(changes.values()))

    def _severity(self, d: Decision) -> str:
        return _worse(d.severity, d.alert.labels.get("severity"))

    def _open(self, d: Decision, now: datetime) -> Change:
        rule = self._rules(d.rule)
        key = incident_key(d.alert, d.target)
        s = self._settings
        where = d.target.key if d.target else key
        incident = IncidentRecord(
            id=_incident_id(key, now),
            key=key,
            title=f"{d.alert.name or 'alert'} on {where}",
            severity=self._severity(d),
            state="open",
            rule=d.rule,
            target=d.target.key if d.target else None,
            opened_at=now,
            updated_at=now,
            channel=(rule.updates_channel or rule.notify_channel if rule else None) or s.updates.channel,
            firing=(d.alert.fingerprint,),
            updates_every_s=(rule.updates_every_s if rule and rule.updates_every_s else s.updates.every),
            watch_s=rule.watch_s if rule is not None and rule.watch_s is not None else s.watch,
        )
        change = Change(incident)
        change.event(now, "opened", f"opened: {incident.title} ({incident.severity or 'severity unknown'})")
        if incident.updates_every_s and incident.channel:
            change.timers.append(self._update_timer(incident, now))
        return change

    def _note(self, change: Change, d: Decision, now: datetime) -> None:
        if d.outcome in (Outcome.DEFERRED, Outcome.NEEDS_APPROVAL, Outcome.BREAKER_OPEN, Outcome.STALE_ALERT):
            change.event(now, d.outcome.value, f"{d.rule}: {d.outcome.value}: {d.reason}")
        elif d.acts and not d.dry_run:
            what = "+".join(a.kind for a in d.actions)
            change.incident = replace(change.incident, acting=change.incident.acting + 1)
            change.event(
                now, "acting", f"{d.rule}: {what} on {d.target.key if d.target else '?'}: {d.reason}"
            )

    def _reopen(self, change: Change, d: Decision, now: datetime) -> None:
        i = change.incident
        # A new round: the last ladder stopped when the alerts resolved; this one starts from its first step.
        change.incident = replace(
            i,
            state="open",
            reopened=i.reopened + 1,
            watch_until=None,
            acknowledged_at=None,
            acknowledged_by=None,
            escalated_at=None,
            ladder=(),
            step=0,
        )
        change.cancel.append((WATCH, i.id))
        change.event(now, "reopened", f"re-fired within the watch: {d.alert.name} ({d.reason})")
        if i.updates_every_s and i.channel:
            change.timers.append(self._update_timer(change.incident, now))
        if i.acted:
            self._start_ladder(
                change,
                now,
                f"re-fired within the {format_duration(i.watch_s or 0)} watch: "
                f"the fix did not hold ({'; '.join(i.actions[-2:])})",
            )

    def _alert_resolved(self, change: Change, alert: Alert, now: datetime) -> None:
        i = change.incident
        firing = tuple(fp for fp in i.firing if fp != alert.fingerprint)
        change.incident = i = replace(i, firing=firing)
        if firing or i.state not in ("open", "mitigated"):
            return
        # An action still verifying is what resolved it, most likely (verification waits for this):
        # watched like a fix, or a re-fire would repeat the action the watch is there to judge.
        if (i.acted or i.acting) and i.watch_s:
            until = now + timedelta(seconds=i.watch_s)
            change.incident = replace(i, state="watching", resolved_at=now, watch_until=until)
            change.event(
                now,
                "watching",
                f"alerts resolved; watching for {format_duration(i.watch_s)} "
                f"(until {until.isoformat()}) for a re-fire",
            )
            change.timers.append(NewTimer(kind=WATCH, key=i.id, due_at=until))
        else:
            change.incident = replace(i, state="resolved", resolved_at=now)
            change.event(now, "resolved", "alerts resolved")
        change.cancel += [(STEP, i.id), (UPDATE, i.id)]
        change.timers.append(NewTimer(kind=CLOSE, key=i.id, due_at=now))

    async def _finished(self, decision: Decision, update: ExecutionUpdate) -> None:
        i = self._find(decision.alert, decision.target)
        if i is None:
            return
        now = self._clock.now()
        was_acting = i.acting
        change = Change(replace(i, acting=max(i.acting - 1, 0)))
        i = change.incident
        where = decision.target.key if decision.target else "?"
        what = f"{'+'.join(a.kind for a in decision.actions)} on {where}"
        if update.status is ExecutionStatus.SUCCEEDED:
            line = f"{what}: {update.summary or 'succeeded'}"
            change.incident = replace(i, acted=True, actions=(*i.actions, line))
            if i.state == "open" and i.escalated_at is None:
                change.incident = replace(change.incident, state="mitigated", mitigated_at=now)
                change.event(now, "mitigated", f"mitigated: {line}")
            else:
                change.event(now, "acted", line)
        elif update.status is ExecutionStatus.FAILED:
            line = f"{what} failed: {update.error or 'unknown error'}"
            # Not verified is a failure that changed the cluster: if the alerts then resolve, watch it.
            change.incident = replace(i, actions=(*i.actions, line), acted=i.acted or bool(update.changes))
            change.event(now, "failed", line)
            self._start_ladder(change, now, line)
        elif not was_acting:
            return  # skipped, interrupted: nothing to record
        await self._save([change])

    async def _escalate_for(self, decision: Decision, reason: str) -> None:
        i = self._find(decision.alert, decision.target)
        if i is None:
            return
        change = Change(i)
        self._start_ladder(change, self._clock.now(), reason)
        await self._save([change])

    def _start_ladder(self, change: Change, now: datetime, reason: str) -> None:
        i = change.incident
        if i.state == "mitigated":
            i = replace(i, state="open", mitigated_at=None)
        if i.escalated_at is not None and i.state == "open" and i.step < len(i.ladder):
            change.incident = i
            change.event(now, "escalated", f"still failing (ladder running): {reason}")
            return
        rule = self._rules(i.rule)
        ladder = (
            rule.escalation
            if rule is not None and rule.escalation is not None
            else self._settings.ladder(i.severity)
        )
        change.incident = i = replace(i, escalated_at=now, escalation_reason=reason, ladder=ladder, step=0)
        plan = ", ".join(f"{s.to} at +{format_duration(s.after_s)}" for s in ladder) or "no ladder configured"
        change.event(now, "escalated", f"escalated: {reason}; ladder: {plan}")
        if ladder:
            change.timers.append(self._step_timer(i))

    # -- humans ----------------------------------------------------------------------------------

    async def acknowledge(self, incident_id: str, *, by: str, reason: str) -> IncidentRecord | None:
        """A human has it: the ladder stops (updates go on while it is open). None: no such live incident."""
        async with self._lock:
            i = self._live.get(incident_id)
            if i is None:
                return None
            return await self._acknowledge(i, by=by, reason=reason)

    async def _acknowledge(self, i: IncidentRecord, *, by: str, reason: str) -> IncidentRecord:
        now = self._clock.now()
        change = Change(replace(i, acknowledged_at=now, acknowledged_by=by))
        change.cancel.append((STEP, i.id))
        change.event(now, "acknowledged", f"acknowledged by {by}: {reason}")
        await self._save([change])
        return change.incident

    async def resolve(self, incident_id: str, *, by: str, reason: str) -> IncidentRecord | None:
        """A human declares it over: ladder, updates and watch stop; pages are resolved."""
        async with self._lock:
            i = self._live.get(incident_id)
            if i is None:
                return None
            now = self._clock.now()
            change = Change(replace(i, state="resolved", resolved_at=now, watch_until=None))
            change.cancel += [(STEP, i.id), (UPDATE, i.id), (WATCH, i.id)]
            change.timers.append(NewTimer(kind=CLOSE, key=i.id, due_at=now))
            change.event(now, "resolved", f"resolved by {by}: {reason}")
            await self._save([change])
            return change.incident

    def taken_in_pagerduty(self, *, incident_key: str, status: str, by: str) -> None:
        """Someone acknowledged or resolved one of remediator's own pages in PagerDuty (its webhook,
        read from the journal): a human has the incident, so its ladder stops. Other keys: not ours."""
        if not incident_key.startswith(OWN_PAGE_PREFIX):
            return
        incident_id = incident_key[len(OWN_PAGE_PREFIX) :].split("/")[0]
        self._tasks.spawn(self._serially(self._taken, incident_id, status, by), "incidents-pagerduty")

    async def _taken(self, incident_id: str, status: str, by: str) -> None:
        i = self._live.get(incident_id)
        if i is None or i.acknowledged_at is not None or incident_id in self._acks_pending:
            return  # (pending: its retry saves it)
        try:
            await self._acknowledge(i, by=by, reason=f"PagerDuty incident {status}")
        except Exception as e:
            self._acks_pending[incident_id] = self._clock.now()
            self._ack_failed(incident_id, by=by, attempt=1, error=e, retry_in_s=ACK_RETRY_FIRST_S)
            self._retries.spawn(self._retry_taken(incident_id, status, by), "incidents-pagerduty-retry")
            return
        self._metrics.acknowledgement_saves.labels(result="saved").inc()

    async def _retry_taken(self, incident_id: str, status: str, by: str) -> None:
        """Save a PagerDuty acknowledgement whose save failed, until it is saved, is moot (the incident
        is gone, acknowledged, or escalated again since), or `ACK_RETRY_FOR_S` has passed."""
        received = self._acks_pending[incident_id]
        started = self._clock.monotonic()
        delay, attempt = ACK_RETRY_FIRST_S, 1
        try:
            while True:
                await wait_for_time(self._clock, delay)
                attempt += 1
                async with self._lock:
                    i = self._live.get(incident_id)
                    if (
                        i is None
                        or i.acknowledged_at is not None
                        or (i.escalated_at is not None and i.escalated_at > received)
                    ):
                        return
                    try:
                        await self._acknowledge(i, by=by, reason=f"PagerDuty incident {status}")
                    except Exception as e:
                        delay = min(delay * 2, ACK_RETRY_MAX_S)
                        if self._clock.monotonic() - started + delay > ACK_RETRY_FOR_S:
                            self._ack_failed(incident_id, by=by, attempt=attempt, error=e, retry_in_s=None)
                            return
                        self._ack_failed(incident_id, by=by, attempt=attempt, error=e, retry_in_s=delay)
                        continue
                self._metrics.acknowledgement_saves.labels(result="saved").inc()
                log.info("PagerDuty acknowledgement saved", incident=incident_id, by=by, attempts=attempt)
                return
        except asyncio.CancelledError:
            log.warning(
                "PagerDuty acknowledgement not saved at shutdown: replayed at the next start",
                incident=incident_id,
                by=by,
            )
            raise
        finally:
            self._acks_pending.pop(incident_id, None)

    def _ack_failed(
        self, incident_id: str, *, by: str, attempt: int, error: Exception, retry_in_s: float | None
    ) -> None:
        said = log.bind(
            incident=incident_id, by=by, attempt=attempt, error=str(error) or type(error).__name__
        )
        if retry_in_s is not None:
            self._metrics.acknowledgement_saves.labels(result="failed").inc()
            said.warning("saving a PagerDuty acknowledgement failed: trying again", retry_in_s=retry_in_s)
        else:
            self._metrics.acknowledgement_saves.labels(result="gave_up").inc()
            said.error("saving a PagerDuty acknowledgement failed: giving up until the next start replays it")

    def acknowledgement_pending(self, i: IncidentRecord) -> bool:
        """Acknowledged in PagerDuty for this round of escalation, its save still being retried."""
        received = self._acks_pending.get(i.id)
        return received is not None and (i.escalated_at is None or i.escalated_at <= received)

    def paged_unacknowledged_since(self) -> datetime | None:
        """When the oldest live escalation no one has acknowledged yet began (None: there is none)."""
        waiting = [
            i.escalated_at for i in self._live.values() if i.escalated_at and i.acknowledged_at is None
        ]
        return min(waiting, default=None)

    async def taken_before_restart(
        self, *, incident_key: str, status: str, by: str, received_at: datetime
    ) -> bool:
        """A PagerDuty acknowledgement (or resolution) journaled and processed before a restart, replayed
        at start-up: the desk saves it in a task of its own, so a crash right after its payload was
        processed could lose it, and the ladder would page the human who had acknowledged. Applied
        only to an escalation it can be about (received since it began) and not acknowledged yet, so
        replaying one already saved changes nothing. True when it stopped a ladder."""
        if not incident_key.startswith(OWN_PAGE_PREFIX):
            return False
        incident_id = incident_key[len(OWN_PAGE_PREFIX) :].split("/")[0]
        async with self._lock:
            i = self._live.get(incident_id)
            if (
                i is None
                or i.acknowledged_at is not None
                or i.escalated_at is None
                or received_at < i.escalated_at
            ):
                return False
            await self._acknowledge(i, by=by, reason=f"PagerDuty incident {status}")
            return True

    # -- journal ---------------------------------------------------------------------------------

    async def _save(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        now = self._clock.now()
        written = [
            IncidentChange(
                incident=replace(c.incident, updated_at=now),
                events=c.events,
                alert_ids=c.alert_ids,
                timers=c.timers,
                cancel=c.cancel,
            )
            for c in changes
        ]
        await self._journal.save_incidents(written)
        for w in written:
            if w.incident.state == "resolved":
                self._live.pop(w.incident.id)
            else:
                self._live.put(w.incident)
            _log_events(w.incident, w.events)
        self.refresh_metrics()
        if any(w.timers for w in written):
            self._wake()


_REPEATED = "deferred"
"""The timeline entry a storm makes by the thousand (every deferred decision of the incident's alerts):
logged once per incident and save, with how many, the first one's text standing for the rest. Each is
on the incident's timeline in the journal (API, console, `remediator ctl`)."""


def _log_events(incident: IncidentRecord, events: Sequence[IncidentEvent]) -> None:
    said = log.bind(incident=incident.id, state=incident.state)
    repeated = [e for e in events if e.kind == _REPEATED]
    for e in events:
        if e.kind != _REPEATED or len(repeated) == 1:
            said.info("incident", kind=e.kind, text=e.text)
    if len(repeated) > 1:
        said.info("incident", kind=_REPEATED, text=repeated[0].text, count=len(repeated))
