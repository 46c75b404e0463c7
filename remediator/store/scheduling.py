"""What the journal keeps for work that happens later: timers and deferred decisions.

Everything time-based (escalation ladders, incident updates, the post-resolution watch, approval
reminders and expiry, retries of deferred decisions) is a row in one `timers` table: a kind, a key,
a due time and a payload. Any replica may claim a due timer; a claim is a lease (`claimed_by`,
`claimed_until`), taken atomically (one UPDATE ... RETURNING in SQLite, `FOR UPDATE SKIP LOCKED` in
PostgreSQL), so a timer runs once, and a replica that dies holding one gives it up when the lease
ends. At most one timer per (kind, key) is pending: scheduling it again moves it.

A deferred decision is an alert that would have acted but met a transient denial (the target
busy, the namespace at its concurrency limit, the storm brake): it waits here, ordered by severity
then age, bounded, until a slot frees or the alert resolves.

These are the records and protocols; `sqlite_scheduling.py` implements them for SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from remediator.model import AlertId, Decision, DecisionId, ExecutionId, Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTimer:
    """A timer to schedule: at `due_at`, run the handler of `kind` with `payload`."""

    kind: str
    key: str
    """With `kind`, what identifies the timer: scheduling the same (kind, key) again moves it."""
    due_at: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    only_if_earlier: bool = False
    """When one is already pending: keep the earlier due time of the two (a wake-up, not a move)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Timer:
    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    """Times it was claimed: above 1, an earlier run died or failed before finishing it."""
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    done_at: datetime | None = None
    result: str | None = None


class TimerStore(Protocol):
    async def schedule(self, timers: Sequence[NewTimer]) -> None:
        """Insert the timers; one already pending with the same (kind, key) is moved (its claim
        dropped, so a run in progress does not finish it)."""
        ...

    async def claim_timers(self, *, worker: str, lease_s: float, limit: int) -> list[Timer]:
        """Atomically claim up to `limit` due timers (unclaimed, or their lease ended), oldest due first."""
        ...

    async def finish_timer(
        self, timer_id: int, *, worker: str, result: str, then: Sequence[NewTimer] = ()
    ) -> bool:
        """Mark a claimed timer done and schedule `then`, in one transaction. False (and nothing
        scheduled) when the claim was lost: cancelled, moved, or taken over after the lease."""
        ...

    async def retry_timer(self, timer_id: int, *, worker: str, due_at: datetime, result: str) -> None:
        """Give a claimed timer back, due again at `due_at` (its handler failed)."""
        ...

    async def cancel_timers(self, keys: Sequence[tuple[str, str]], *, reason: str) -> int:
        """Cancel the pending timers of these (kind, key) pairs; a claimed one loses its claim."""
        ...

    async def next_timer_due(self) -> datetime | None:
        """When the earliest pending timer is due (None: nothing pending)."""
        ...

    async def timers(self, *, pending: bool = True, limit: int = 100) -> list[Timer]:
        """Pending timers soonest first, or (pending=False) finished ones newest first."""
        ...


DeferralStatus = Literal["waiting", "redecided", "cancelled", "expired", "shed"]
DEFERRAL_STATUSES: tuple[DeferralStatus, ...] = ("waiting", "redecided", "cancelled", "expired", "shed")


@dataclass(frozen=True, slots=True, kw_only=True)
class Deferral:
    id: int
    decision_id: DecisionId
    alert_id: AlertId | None
    rule: str
    target: str
    fingerprint: str
    starts_at: datetime
    severity: str
    reason: str
    """Why it waits, as last decided (e.g. the namespace's concurrency limit)."""
    skip_guards: tuple[str, ...]
    """Guards a human already answered for (an approved action waits without a second approval)."""
    created_at: datetime
    attempts: int
    """Times it was decided again and still had to wait."""
    status: DeferralStatus
    last_at: datetime | None = None
    done_at: datetime | None = None
    result: str | None = None
    decision: DecisionId | None = None
    """The decision that ended the wait (redecided)."""


class DeferralStore(Protocol):
    """Deferred rows are written with their decision (`record_batch`, `record_decisions`): a decision
    with outcome `deferred` gets one, in the same transaction, and the oldest of the least severe is
    shed (status `shed`) when more than the bound wait."""

    async def claim_deferrals(self, *, worker: str, lease_s: float, limit: int) -> list[Deferral]:
        """Atomically claim waiting deferrals, most severe first, then oldest."""
        ...

    async def settle_deferral(
        self, deferral_id: int, *, worker: str, decision: Decision, alert_id: AlertId | None
    ) -> tuple[DecisionId, ExecutionId | None] | None:
        """It was decided again and no longer waits: record the decision (and its execution) and close
        the deferral, in one transaction. None when the claim was lost (cancelled meanwhile)."""
        ...

    async def end_deferral(self, deferral_id: int, *, status: DeferralStatus, result: str) -> bool:
        """Close a waiting deferral without a decision (expired, cancelled)."""
        ...

    async def keep_deferred(self, deferral_id: int, *, worker: str, reason: str) -> None:
        """Decided again and still denied: count the attempt, keep the latest reason, drop the claim."""
        ...

    async def cancel_deferrals(self, fingerprint: str, *, reason: str) -> int:
        """The alert resolved: cancel its waiting deferrals."""
        ...

    async def deferrals(
        self, *, status: DeferralStatus | None = "waiting", limit: int = 100
    ) -> list[Deferral]:
        """Waiting ones in the order they will be retried (severity, then age); others newest first."""
        ...

    def deferred_waiting(self) -> int:
        """Deferrals waiting now (kept in memory after each commit: a gauge, read on every scrape)."""
        ...


def approval_timers(
    approval_ids: Sequence[int], *, now: float, expiry_s: float, remind_before_s: float
) -> list[NewTimer]:
    """Tell the approvers now, remind them before it expires, and record the expiry when it does:
    the timers every back-end writes with a new pending approval."""
    expires = now + expiry_s
    timers = []
    for aid in approval_ids:
        payload = {"approval": aid}
        at = datetime.fromtimestamp(now, UTC)
        timers.append(NewTimer(kind="approval_notify", key=str(aid), due_at=at, payload=payload))
        remind = expires - remind_before_s
        if remind_before_s > 0 and remind > now:
            due = datetime.fromtimestamp(remind, UTC)
            timers.append(NewTimer(kind="approval_remind", key=str(aid), due_at=due, payload=payload))
        due = datetime.fromtimestamp(expires, UTC)
        timers.append(NewTimer(kind="approval_expire", key=str(aid), due_at=due, payload=payload))
    return timers


WaitKey = tuple[str, float, str, str]
"""(fingerprint, startsAt, rule, target): one alert episode waiting for one rule and target."""


def wait_key(d: Decision) -> WaitKey:
    return (d.alert.fingerprint, d.alert.starts_at.timestamp(), d.rule, d.target.key if d.target else "")


def new_waits(
    rows: Sequence[tuple[DecisionId, AlertId | None, Decision]], waiting: set[WaitKey]
) -> list[tuple[DecisionId, AlertId | None, Decision]]:
    """The deferred decisions that need a deferral row: one per episode, rule and target, so a re-sent
    alert that is deferred again keeps its place in the queue instead of taking a second one.
    `waiting`: the keys already waiting in the journal (for these decisions' fingerprints)."""
    out = []
    seen = set(waiting)
    for did, aid, d in rows:
        if d.outcome is not Outcome.DEFERRED or d.target is None:
            continue
        key = wait_key(d)
        if key not in seen:
            seen.add(key)
            out.append((did, aid, d))
    return out
